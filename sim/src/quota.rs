//! Quota limits and usage, as Nova (`GET /limits`), Neutron (`GET
//! /v2.0/quotas/{project_id}/details`), Cinder (`GET /os-quota-sets/{project_id}?usage=true`)
//! and Octavia (`GET /v2/lbaas/quotas/{project_id}`) answer a member of the project.
//!
//! Usage follows the live state (flavors give cores and RAM; a server counts until it is
//! gone, as in Nova). Limits are per simulator, settable by tests; `-1` is unlimited.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map, Value};

use super::http::{reply, ApiError, Caller, St, Style};
use super::store::{str_of, Obj, SimState};

/// Every quota name the simulator knows, with its default limit. Names are the services'
/// own (`instances`, `ram` in MiB, `floatingip`, `gigabytes`, `load_balancer`, ...).
const DEFAULTS: &[(&str, i64)] = &[
    // Nova
    ("instances", 100),
    ("cores", 200),
    ("ram", 512_000),
    ("key_pairs", 100),
    ("server_groups", 10),
    ("server_group_members", 10),
    // Neutron
    ("network", 200),
    ("subnet", 200),
    ("port", 500),
    ("router", 200),
    ("floatingip", 200),
    ("security_group", 200),
    ("security_group_rule", 1000),
    // Cinder
    ("volumes", 200),
    ("gigabytes", 2000),
    ("snapshots", 200),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("groups", 10),
    ("per_volume_gigabytes", -1),
    // Octavia
    ("load_balancer", -1),
    ("listener", -1),
    ("pool", -1),
    ("member", -1),
    ("health_monitor", -1),
    ("l7policy", -1),
    ("l7rule", -1),
];

/// The simulator's quota limits (one set for every project). `-1` is unlimited.
#[derive(Debug, Clone)]
pub struct QuotaLimits(BTreeMap<String, i64>);

impl Default for QuotaLimits {
    fn default() -> QuotaLimits {
        QuotaLimits(
            DEFAULTS
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
        )
    }
}

impl QuotaLimits {
    /// The limit of `name` (`-1` unlimited; unknown names are unlimited).
    pub fn get(&self, name: &str) -> i64 {
        self.0.get(name).copied().unwrap_or(-1)
    }

    /// Sets the limit of `name` (`-1`: unlimited).
    pub fn set(&mut self, name: &str, limit: i64) {
        self.0.insert(name.to_string(), limit);
    }
}

fn count<'a>(objs: impl Iterator<Item = &'a Obj>, key: &str, project: &str) -> u64 {
    objs.filter(|o| str_of(o, key) == project).count() as u64
}

/// Nova `GET /limits`: absolute limits and the caller's project's usage.
pub async fn nova_limits(State(s): St, Extension(ctx): Caller) -> Response {
    let st = s.lock();
    let q = &st.quota;
    let pid = ctx.project_id.as_str();
    let mine: Vec<&Obj> = st
        .nova
        .servers
        .values()
        .filter(|x| str_of(x, "tenant_id") == pid)
        .collect();
    let flavor_sum = |k: &str| -> u64 {
        mine.iter()
            .map(|x| x["flavor"][k].as_u64().unwrap_or(0))
            .sum()
    };
    let groups = count(st.nova.server_groups.values(), "project_id", pid);
    reply(
        StatusCode::OK,
        json!({"limits": {"rate": [], "absolute": {
            "maxTotalInstances": q.get("instances"), "totalInstancesUsed": mine.len(),
            "maxTotalCores": q.get("cores"), "totalCoresUsed": flavor_sum("vcpus"),
            "maxTotalRAMSize": q.get("ram"), "totalRAMUsed": flavor_sum("ram"),
            "maxTotalKeypairs": q.get("key_pairs"),
            "maxServerGroups": q.get("server_groups"), "totalServerGroupsUsed": groups,
            "maxServerGroupMembers": q.get("server_group_members"),
            "maxServerMeta": 128, "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
            "maxSecurityGroups": -1, "maxSecurityGroupRules": -1, "maxTotalFloatingIps": -1,
            "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0}}}),
    )
}

/// The Neutron quota names, in the order Neutron lists them.
const NEUTRON: &[&str] = &[
    "network",
    "subnet",
    "port",
    "router",
    "floatingip",
    "security_group",
    "security_group_rule",
];

/// Neutron `GET /v2.0/quotas/{project_id}` (limits only).
pub fn neutron_limits(st: &SimState) -> Value {
    let quota: Map<String, Value> = NEUTRON
        .iter()
        .map(|n| ((*n).to_string(), json!(st.quota.get(n))))
        .collect();
    json!({ "quota": quota })
}

/// Neutron `GET /v2.0/quotas/{project_id}/details`: limit, used, reserved per resource.
pub fn neutron_details(st: &SimState, project: &str) -> Value {
    let n = &st.neutron;
    let quota: Map<String, Value> = NEUTRON
        .iter()
        .map(|name| {
            let table = match *name {
                "network" => &n.networks,
                "subnet" => &n.subnets,
                "port" => &n.ports,
                "router" => &n.routers,
                "floatingip" => &n.floatingips,
                "security_group" => &n.security_groups,
                _ => &n.security_group_rules,
            };
            let used = count(table.values(), "project_id", project);
            let body = json!({"limit": st.quota.get(name), "used": used, "reserved": 0});
            ((*name).to_string(), body)
        })
        .collect();
    json!({ "quota": quota })
}

/// Cinder `GET /os-quota-sets/{project_id}?usage=true` (without `usage`, Cinder sends
/// bare limits; the janitor always asks for usage, so this always answers with it).
pub async fn cinder_quota_set(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, pid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !ctx.owns(&pid) {
        return Err(ApiError::nova(
            StatusCode::FORBIDDEN,
            "Policy doesn't allow volume_extension:quotas:show to be performed.",
        ));
    }
    let st = s.lock();
    let vols: Vec<&Obj> = st
        .cinder
        .volumes
        .values()
        .filter(|v| str_of(v, "os-vol-tenant-attr:tenant_id") == pid)
        .collect();
    let gigs: u64 = vols.iter().map(|v| v["size"].as_u64().unwrap_or(0)).sum();
    let snaps = count(
        st.cinder.snapshots.values(),
        "os-extended-snapshot-attributes:project_id",
        &pid,
    );
    let used = [
        ("volumes", vols.len() as u64),
        ("gigabytes", gigs),
        ("snapshots", snaps),
        ("backups", 0),
        ("backup_gigabytes", 0),
        ("groups", 0),
        ("per_volume_gigabytes", 0),
    ];
    let mut set = Map::new();
    set.insert("id".into(), json!(pid));
    for (name, in_use) in used {
        set.insert(
            name.into(),
            json!({"limit": st.quota.get(name), "in_use": in_use, "reserved": 0, "allocated": 0}),
        );
    }
    Ok(reply(StatusCode::OK, json!({ "quota_set": set })))
}

/// Octavia `GET /v2/lbaas/quotas/{project_id}`: limits only (Octavia reports no usage).
pub async fn octavia_quota(
    State(s): St,
    Extension(ctx): Caller,
    Path(pid): Path<String>,
) -> Result<Response, ApiError> {
    if !ctx.owns(&pid) {
        return Err(ApiError::new(
            Style::Octavia,
            StatusCode::FORBIDDEN,
            "",
            "Policy does not allow this request to be performed.",
        ));
    }
    let st = s.lock();
    let q = &st.quota;
    Ok(reply(
        StatusCode::OK,
        json!({"quota": {"load_balancer": q.get("load_balancer"), "listener": q.get("listener"),
            "pool": q.get("pool"), "member": q.get("member"), "health_monitor": q.get("health_monitor"),
            "l7policy": q.get("l7policy"), "l7rule": q.get("l7rule")}}),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Unknown names are unlimited; set limits stick, including `-1`.
    #[test]
    fn limits_default_and_set() {
        let mut q = QuotaLimits::default();
        assert_eq!(q.get("instances"), 100);
        assert_eq!(q.get("no-such"), -1);
        q.set("instances", -1);
        q.set("cores", 8);
        assert_eq!(q.get("instances"), -1);
        assert_eq!(q.get("cores"), 8);
    }
}
