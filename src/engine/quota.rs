//! Quota accounting: what the project may use and what it uses, read as a project member
//! can (Nova `/limits`, Neutron `/quotas/{id}/details`, Cinder `/os-quota-sets/{id}?usage=true`,
//! Octavia `/lbaas/quotas/{id}` plus a count of load balancers), and what a sweep freed.
//!
//! Leaks hurt because they eat quota until the next CI job cannot boot; this is what
//! people watch. A service that will not say (403, 404, no endpoint, an error) is recorded
//! as unavailable and never stops a sweep.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::openstack::{ApiError, Service, Session};

/// A quota resource stacksweep reports: a bounded set, used as a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaResource {
    /// Nova servers.
    Instances,
    /// Nova vCPUs.
    Cores,
    /// Nova RAM, in MiB.
    RamMib,
    /// Nova server groups.
    ServerGroups,
    /// Neutron networks.
    Networks,
    /// Neutron subnets.
    Subnets,
    /// Neutron ports.
    Ports,
    /// Neutron routers.
    Routers,
    /// Neutron floating IPs.
    FloatingIps,
    /// Neutron security groups.
    SecurityGroups,
    /// Neutron security group rules.
    SecurityGroupRules,
    /// Cinder volumes.
    Volumes,
    /// Cinder volume and snapshot size, in GiB.
    VolumeGigabytes,
    /// Cinder snapshots.
    Snapshots,
    /// Octavia load balancers.
    LoadBalancers,
}

impl QuotaResource {
    /// Every quota resource, in report order.
    pub const ALL: &'static [QuotaResource] = &[
        QuotaResource::Instances,
        QuotaResource::Cores,
        QuotaResource::RamMib,
        QuotaResource::ServerGroups,
        QuotaResource::Networks,
        QuotaResource::Subnets,
        QuotaResource::Ports,
        QuotaResource::Routers,
        QuotaResource::FloatingIps,
        QuotaResource::SecurityGroups,
        QuotaResource::SecurityGroupRules,
        QuotaResource::Volumes,
        QuotaResource::VolumeGigabytes,
        QuotaResource::Snapshots,
        QuotaResource::LoadBalancers,
    ];

    /// The snake_case name (metric label, JSON key).
    pub fn as_str(self) -> &'static str {
        match self {
            QuotaResource::Instances => "instances",
            QuotaResource::Cores => "cores",
            QuotaResource::RamMib => "ram_mib",
            QuotaResource::ServerGroups => "server_groups",
            QuotaResource::Networks => "networks",
            QuotaResource::Subnets => "subnets",
            QuotaResource::Ports => "ports",
            QuotaResource::Routers => "routers",
            QuotaResource::FloatingIps => "floating_ips",
            QuotaResource::SecurityGroups => "security_groups",
            QuotaResource::SecurityGroupRules => "security_group_rules",
            QuotaResource::Volumes => "volumes",
            QuotaResource::VolumeGigabytes => "volume_gigabytes",
            QuotaResource::Snapshots => "snapshots",
            QuotaResource::LoadBalancers => "load_balancers",
        }
    }

    /// The service that accounts for it.
    pub fn service(self) -> Service {
        use QuotaResource::*;
        match self {
            Instances | Cores | RamMib | ServerGroups => Service::Compute,
            Networks | Subnets | Ports | Routers | FloatingIps | SecurityGroups
            | SecurityGroupRules => Service::Network,
            Volumes | VolumeGigabytes | Snapshots => Service::BlockStorage,
            LoadBalancers => Service::LoadBalancer,
        }
    }

    /// `n` of this resource in words (`16 cores`, `32 GiB RAM`, `1 floating IP`).
    pub fn describe(self, n: u64) -> String {
        use QuotaResource::*;
        let (one, many) = match self {
            RamMib => return format!("{} RAM", mib(n)),
            VolumeGigabytes => return format!("{n} GiB of volumes"),
            Instances => ("instance", "instances"),
            Cores => ("core", "cores"),
            ServerGroups => ("server group", "server groups"),
            Networks => ("network", "networks"),
            Subnets => ("subnet", "subnets"),
            Ports => ("port", "ports"),
            Routers => ("router", "routers"),
            FloatingIps => ("floating IP", "floating IPs"),
            SecurityGroups => ("security group", "security groups"),
            SecurityGroupRules => ("security group rule", "security group rules"),
            Volumes => ("volume", "volumes"),
            Snapshots => ("snapshot", "snapshots"),
            LoadBalancers => ("load balancer", "load balancers"),
        };
        format!("{n} {}", if n == 1 { one } else { many })
    }
}

impl std::fmt::Display for QuotaResource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// MiB as people say it: whole GiB when it divides, else MiB.
fn mib(n: u64) -> String {
    if n.is_multiple_of(1024) {
        format!("{} GiB", n / 1024)
    } else {
        format!("{n} MiB")
    }
}

/// Limit and usage of one quota resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QuotaUsage {
    /// The limit; `None` is unlimited (`-1`).
    pub limit: Option<u64>,
    /// In use now.
    pub used: u64,
}

impl QuotaUsage {
    /// `used / limit`, `None` when unlimited (or a limit of 0).
    pub fn ratio(&self) -> Option<f64> {
        self.limit
            .filter(|l| *l > 0)
            .map(|l| self.used as f64 / l as f64)
    }
}

/// What the project's quotas looked like at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QuotaSnapshot {
    /// Per quota resource, those the services told.
    pub usage: BTreeMap<QuotaResource, QuotaUsage>,
    /// Services that would not tell, by service name (`compute`, ...), with why.
    pub unavailable: BTreeMap<String, String>,
}

/// Reads limits and usage from every quota-keeping service in the catalog. Never fails:
/// what cannot be read is recorded in [`QuotaSnapshot::unavailable`].
pub async fn read(session: &Session) -> QuotaSnapshot {
    let pid = session.project_id().to_owned();
    let (compute, network, volume, lb) = futures::join!(
        read_service(session, Service::Compute, "/limits".to_owned()),
        read_service(session, Service::Network, format!("/quotas/{pid}/details")),
        read_service(
            session,
            Service::BlockStorage,
            format!("/os-quota-sets/{pid}?usage=true")
        ),
        read_load_balancers(session, &pid),
    );
    let mut snapshot = QuotaSnapshot::default();
    let parsed = [
        (Service::Compute, parse_with(compute, parse_nova)),
        (Service::Network, parse_with(network, parse_neutron)),
        (Service::BlockStorage, parse_with(volume, parse_cinder)),
        (Service::LoadBalancer, lb),
    ];
    for (service, result) in parsed {
        match result {
            Ok(Some(usage)) => snapshot.usage.extend(usage),
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(%service, %reason, "quota unavailable");
                snapshot
                    .unavailable
                    .insert(service.as_str().to_owned(), reason);
            }
        }
    }
    snapshot
}

type Usage = Vec<(QuotaResource, QuotaUsage)>;

/// Parses a fetched document; an answer without the documented shape is unavailable.
fn parse_with(
    fetched: Result<Option<Value>, String>,
    parse: fn(&Value) -> Option<Usage>,
) -> Result<Option<Usage>, String> {
    match fetched? {
        None => Ok(None),
        Some(body) => parse(&body)
            .map(Some)
            .ok_or_else(|| "unexpected answer (not the documented quota shape)".to_owned()),
    }
}

/// GETs one quota document; `Ok(None)` when the service is not in the catalog.
async fn read_service(
    session: &Session,
    service: Service,
    path: String,
) -> Result<Option<Value>, String> {
    if !session.has_service(service) {
        return Ok(None);
    }
    session
        .get(service, &path)
        .await
        .map(Some)
        .map_err(|e| unavailable_reason(&e))
}

/// Why a quota read failed, in words.
fn unavailable_reason(e: &ApiError) -> String {
    match e.status() {
        Some(403) => "not permitted for these credentials (HTTP 403)".to_owned(),
        Some(404) => "not offered by this cloud (HTTP 404)".to_owned(),
        _ => e.to_string(),
    }
}

/// Octavia gives limits only; usage is the number of load balancers listed.
async fn read_load_balancers(session: &Session, pid: &str) -> Result<Option<Usage>, String> {
    let Some(quota) = read_service(
        session,
        Service::LoadBalancer,
        format!("/lbaas/quotas/{pid}"),
    )
    .await?
    else {
        return Ok(None);
    };
    let q = &quota["quota"];
    let limit = q
        .get("load_balancer")
        .or_else(|| q.get("loadbalancer"))
        .and_then(limit_of);
    let Some(limit) = limit else {
        return Err("unexpected answer: no load_balancer limit".to_owned());
    };
    let lbs = session
        .list(
            Service::LoadBalancer,
            "/lbaas/loadbalancers?fields=id",
            "loadbalancers",
        )
        .await
        .map_err(|e| unavailable_reason(&e))?;
    let used = QuotaUsage {
        limit,
        used: lbs.len() as u64,
    };
    Ok(Some(vec![(QuotaResource::LoadBalancers, used)]))
}

/// A limit as the services send it: `-1` (any negative) is unlimited → `Some(None)`.
fn limit_of(v: &Value) -> Option<Option<u64>> {
    let n = v.as_i64()?;
    Some(u64::try_from(n).ok())
}

/// Nova `/limits`: `{"limits": {"absolute": {"maxTotalCores": 200, "totalCoresUsed": 4, ...}}}`.
pub fn parse_nova(body: &Value) -> Option<Usage> {
    let abs = body.get("limits")?.get("absolute")?;
    let pairs = [
        (
            QuotaResource::Instances,
            "maxTotalInstances",
            "totalInstancesUsed",
        ),
        (QuotaResource::Cores, "maxTotalCores", "totalCoresUsed"),
        (QuotaResource::RamMib, "maxTotalRAMSize", "totalRAMUsed"),
        (
            QuotaResource::ServerGroups,
            "maxServerGroups",
            "totalServerGroupsUsed",
        ),
    ];
    Some(
        pairs
            .into_iter()
            .filter_map(|(r, max, used)| {
                let limit = abs.get(max).and_then(limit_of)?;
                let used = abs.get(used).and_then(Value::as_u64)?;
                Some((r, QuotaUsage { limit, used }))
            })
            .collect(),
    )
}

/// Reads `{name: {"limit": L, <used_key>: U}}` entries of a quota document.
fn parse_detailed(set: &Value, used_key: &str, names: &[(QuotaResource, &str)]) -> Usage {
    names
        .iter()
        .filter_map(|(r, name)| {
            let entry = set.get(*name)?;
            let limit = entry.get("limit").and_then(limit_of)?;
            let used = entry.get(used_key).and_then(Value::as_u64)?;
            Some((*r, QuotaUsage { limit, used }))
        })
        .collect()
}

/// Neutron `/quotas/{id}/details`: `{"quota": {"network": {"limit": 200, "used": 9, "reserved": 0}, ...}}`.
pub fn parse_neutron(body: &Value) -> Option<Usage> {
    let names = [
        (QuotaResource::Networks, "network"),
        (QuotaResource::Subnets, "subnet"),
        (QuotaResource::Ports, "port"),
        (QuotaResource::Routers, "router"),
        (QuotaResource::FloatingIps, "floatingip"),
        (QuotaResource::SecurityGroups, "security_group"),
        (QuotaResource::SecurityGroupRules, "security_group_rule"),
    ];
    Some(parse_detailed(body.get("quota")?, "used", &names))
}

/// Cinder `/os-quota-sets/{id}?usage=true`: `{"quota_set": {"volumes": {"limit": 200, "in_use": 16, "reserved": 0}, ...}}`.
pub fn parse_cinder(body: &Value) -> Option<Usage> {
    let names = [
        (QuotaResource::Volumes, "volumes"),
        (QuotaResource::VolumeGigabytes, "gigabytes"),
        (QuotaResource::Snapshots, "snapshots"),
    ];
    Some(parse_detailed(body.get("quota_set")?, "in_use", &names))
}

/// Usage before and after a sweep, and what it freed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QuotaReport {
    /// Before the sweep.
    pub before: QuotaSnapshot,
    /// After it (`None` for a dry run, which frees nothing).
    pub after: Option<QuotaSnapshot>,
    /// Per quota resource, how much less is in use after than before (resources whose
    /// usage did not drop are left out). A CI job creating things during the sweep makes
    /// this smaller than what the sweep deleted, never larger.
    pub freed: BTreeMap<QuotaResource, u64>,
}

impl QuotaReport {
    /// Builds the report from the two snapshots.
    pub fn new(before: QuotaSnapshot, after: Option<QuotaSnapshot>) -> QuotaReport {
        let freed = after
            .as_ref()
            .map(|a| freed(&before, a))
            .unwrap_or_default();
        QuotaReport {
            before,
            after,
            freed,
        }
    }

    /// The freed quota in words: `8 instances, 16 cores, 32 GiB RAM, 4 floating IPs`.
    pub fn freed_text(&self) -> String {
        describe(&self.freed)
    }

    /// A small table: each resource's usage before → after, its limit, and what was freed.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        if self.before.usage.is_empty() && self.before.unavailable.is_empty() {
            return out;
        }
        let _ = writeln!(out, "quota:");
        let _ = writeln!(
            out,
            "  {:<22} {:>10} {:>10} {:>10}",
            "RESOURCE", "BEFORE", "AFTER", "LIMIT"
        );
        for (r, b) in &self.before.usage {
            let after = self
                .after
                .as_ref()
                .and_then(|a| a.usage.get(r))
                .map_or_else(|| "-".to_owned(), |a| a.used.to_string());
            let limit = b
                .limit
                .map_or_else(|| "unlimited".to_owned(), |l| l.to_string());
            let _ = writeln!(
                out,
                "  {:<22} {:>10} {:>10} {:>10}",
                r.as_str(),
                b.used,
                after,
                limit
            );
        }
        for (service, why) in &self.before.unavailable {
            let _ = writeln!(out, "  {service} quota unavailable: {why}");
        }
        if self.after.is_some() {
            let freed = self.freed_text();
            let freed = if freed.is_empty() { "nothing" } else { &freed };
            let _ = writeln!(out, "freed: {freed}");
        }
        out
    }
}

/// Per resource, `before.used - after.used` where positive.
pub fn freed(before: &QuotaSnapshot, after: &QuotaSnapshot) -> BTreeMap<QuotaResource, u64> {
    before
        .usage
        .iter()
        .filter_map(|(r, b)| {
            let a = after.usage.get(r)?;
            let n = b.used.saturating_sub(a.used);
            (n > 0).then_some((*r, n))
        })
        .collect()
}

/// `8 instances, 16 cores, 32 GiB RAM`, in [`QuotaResource::ALL`] order; empty for nothing.
pub fn describe(amounts: &BTreeMap<QuotaResource, u64>) -> String {
    amounts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(r, n)| r.describe(*n))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usage(limit: Option<u64>, used: u64) -> QuotaUsage {
        QuotaUsage { limit, used }
    }

    /// Nova's absolute limits map to instances, cores, RAM and server groups; -1 is unlimited.
    #[test]
    fn parses_nova() {
        let body = json!({"limits": {"rate": [], "absolute": {"maxTotalCores": 200, "totalCoresUsed": 16,
            "maxTotalInstances": 100, "totalInstancesUsed": 8, "maxTotalRAMSize": -1, "totalRAMUsed": 32768,
            "maxTotalKeypairs": 100, "maxServerGroups": 10, "totalServerGroupsUsed": 1, "extra": "x"}}});
        let u: BTreeMap<_, _> = parse_nova(&body).unwrap().into_iter().collect();
        assert_eq!(u[&QuotaResource::Cores], usage(Some(200), 16));
        assert_eq!(u[&QuotaResource::Instances], usage(Some(100), 8));
        assert_eq!(u[&QuotaResource::RamMib], usage(None, 32768));
        assert_eq!(u[&QuotaResource::ServerGroups], usage(Some(10), 1));
        assert!(parse_nova(&json!({"nope": 1})).is_none());
    }

    /// Neutron details and Cinder usage parse as the real services send them.
    #[test]
    fn parses_neutron_and_cinder() {
        let n = json!({"quota": {"network": {"limit": 200, "used": 9, "reserved": 0},
            "floatingip": {"limit": -1, "used": 4, "reserved": 0}, "rbac_policy": {"limit": 10, "used": 0}}});
        let u: BTreeMap<_, _> = parse_neutron(&n).unwrap().into_iter().collect();
        assert_eq!(u[&QuotaResource::Networks], usage(Some(200), 9));
        assert_eq!(u[&QuotaResource::FloatingIps], usage(None, 4));
        assert_eq!(u.len(), 2);
        let c = json!({"quota_set": {"id": "p", "volumes": {"limit": 200, "in_use": 16, "reserved": 0},
            "gigabytes": {"limit": 1000, "in_use": 120, "reserved": 0, "allocated": 0}, "snapshots": {"limit": "bad", "in_use": 1}}});
        let u: BTreeMap<_, _> = parse_cinder(&c).unwrap().into_iter().collect();
        assert_eq!(u[&QuotaResource::Volumes], usage(Some(200), 16));
        assert_eq!(u[&QuotaResource::VolumeGigabytes], usage(Some(1000), 120));
        assert!(!u.contains_key(&QuotaResource::Snapshots));
    }

    /// Freed is the drop in usage, never negative, and reads as people say it.
    #[test]
    fn freed_and_words() {
        let mut before = QuotaSnapshot::default();
        let mut after = QuotaSnapshot::default();
        for (r, b, a) in [
            (QuotaResource::Instances, 8, 0),
            (QuotaResource::Cores, 16, 0),
            (QuotaResource::RamMib, 32768, 0),
            (QuotaResource::VolumeGigabytes, 130, 10),
            (QuotaResource::FloatingIps, 5, 1),
            (QuotaResource::Ports, 3, 7),
            (QuotaResource::Networks, 2, 2),
        ] {
            before.usage.insert(r, usage(Some(100), b));
            after.usage.insert(r, usage(Some(100), a));
        }
        let report = QuotaReport::new(before, Some(after));
        assert_eq!(
            report.freed_text(),
            "8 instances, 16 cores, 32 GiB RAM, 4 floating IPs, 120 GiB of volumes"
        );
        assert!(!report.freed.contains_key(&QuotaResource::Ports));
        assert_eq!(QuotaResource::FloatingIps.describe(1), "1 floating IP");
        assert_eq!(QuotaResource::RamMib.describe(640), "640 MiB RAM");
        let text = report.render_text();
        assert!(text.contains("freed: 8 instances"), "{text}");
    }

    /// Ratios ignore unlimited quotas.
    #[test]
    fn ratio() {
        assert_eq!(usage(None, 5).ratio(), None);
        assert_eq!(usage(Some(0), 5).ratio(), None);
        assert_eq!(usage(Some(10), 5).ratio(), Some(0.5));
    }
}
