//! Property tests of the engine over random projects, on an in-memory cloud that
//! refuses wrong-order deletes the way OpenStack does: no unselected resource is ever
//! deleted (even one sharing a network or group with selected ones, or another project's
//! look-alike of a selected one), every selected and unblocked one is, and the order
//! never violates an edge.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use crate::support::fast_sweep_options;
use jiff::Timestamp;
use proptest::prelude::*;
use regex::Regex;
use stacksweep::engine::execute::{self as sweep, Cloud, CloudError, SweepOptions};
use stacksweep::engine::inventory::Inventory;
use stacksweep::engine::plan::{self, Action, Plan};
use stacksweep::engine::report::{Outcome, Report};
use stacksweep::engine::select::{self, Filters, Marks, Selector};
use stacksweep::openstack::DeleteOutcome;
use stacksweep::resources::{
    self, Detach, DetachOutcome, Kind, Reference, Relation, Resource, ResourceKey,
};
use tokio_util::sync::CancellationToken;

const PROJECT: &str = "proj";

/// A mutating call the fake saw, with what was live at that moment.
#[derive(Debug, Clone)]
enum Call {
    Delete(ResourceKey, BTreeSet<ResourceKey>),
    Detach(Detach),
}

#[derive(Default)]
struct State {
    live: BTreeMap<ResourceKey, Resource>,
    /// Accepted asynchronous deletes: reads left before the resource is gone.
    dying: BTreeMap<ResourceKey, u32>,
    calls: Vec<Call>,
    conflicts: u64,
    /// Conflicts to answer before accepting a delete (a blocker the fake does not model).
    forced: BTreeMap<ResourceKey, u32>,
}

/// An in-memory cloud enforcing OpenStack's ordering rules with 409s.
#[derive(Default)]
struct FakeCloud {
    state: Mutex<State>,
}

impl FakeCloud {
    fn new(resources: &[Resource]) -> Self {
        let live = resources.iter().map(|r| (r.key(), r.clone())).collect();
        FakeCloud {
            state: Mutex::new(State {
                live,
                ..State::default()
            }),
        }
    }

    fn live(&self) -> BTreeSet<ResourceKey> {
        self.state.lock().unwrap().live.keys().cloned().collect()
    }

    fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }
}

fn target(r: &Reference) -> Option<ResourceKey> {
    r.kind.map(|k| ResourceKey::new(k, r.id.clone()))
}

impl State {
    /// Why `key` cannot be deleted now, if it cannot.
    fn blocker(&self, key: &ResourceKey) -> Option<String> {
        let r = self.live.get(key)?;
        if let Some(d) = r.detach.first() {
            return Some(format!("still has {}", d.describe()));
        }
        for h in r.holders() {
            if let Some(t) = target(h) {
                if self.live.contains_key(&t) {
                    return Some(format!("held by {t}"));
                }
            }
        }
        // What the delete takes with it does not hold it (Designate deletes a zone's
        // recordsets with the zone).
        let takes = |other: &ResourceKey| {
            r.refs
                .iter()
                .any(|x| x.relation == Relation::Takes && target(x).as_ref() == Some(other))
        };
        for other in self.live.values() {
            for x in &other.refs {
                let holds = matches!(x.relation, Relation::Needs | Relation::AttachedTo);
                if holds
                    && target(x).as_ref() == Some(key)
                    && !self.dying.contains_key(&other.key())
                    && !takes(&other.key())
                {
                    return Some(format!("in use by {}", other.key()));
                }
            }
        }
        None
    }

    /// Removes `key` and, as the cloud would, what it owns.
    fn remove(&mut self, key: &ResourceKey) {
        let gone = self.live.remove(key);
        self.dying.remove(key);
        // A server's `delete_on_termination` volumes go with it.
        let taken = gone.iter().flat_map(|r| &r.refs);
        for t in taken.filter(|x| x.relation == Relation::Takes) {
            if let Some(t) = target(t) {
                self.remove(&t);
            }
        }
        let owned: Vec<ResourceKey> = self
            .live
            .values()
            .filter(|r| {
                r.refs
                    .iter()
                    .any(|x| x.relation == Relation::OwnedBy && target(x).as_ref() == Some(key))
            })
            .map(Resource::key)
            .collect();
        for o in owned {
            self.remove(&o);
        }
    }
}

impl Cloud for FakeCloud {
    async fn read(&self, resource: &Resource) -> Result<Option<Resource>, CloudError> {
        let mut s = self.state.lock().unwrap();
        let key = resource.key();
        if let Some(left) = s.dying.get_mut(&key) {
            if *left == 0 {
                s.remove(&key);
                return Ok(None);
            }
            *left -= 1;
        }
        Ok(s.live.get(&key).cloned())
    }

    async fn delete(&self, resource: &Resource) -> Result<DeleteOutcome, CloudError> {
        let mut s = self.state.lock().unwrap();
        let key = resource.key();
        if !s.live.contains_key(&key) {
            return Ok(DeleteOutcome::AlreadyGone);
        }
        let live = s.live.keys().cloned().collect();
        s.calls.push(Call::Delete(key.clone(), live));
        if let Some(left) = s.forced.get_mut(&key).filter(|n| **n > 0) {
            *left -= 1;
            s.conflicts += 1;
            return Err(CloudError::Conflict("SecurityGroupInUse".into()));
        }
        if let Some(why) = s.blocker(&key) {
            s.conflicts += 1;
            return Err(CloudError::Conflict(why));
        }
        if key.kind.deletes_asynchronously() {
            s.dying.insert(key, 2);
        } else {
            s.remove(&key);
        }
        Ok(DeleteOutcome::Accepted)
    }

    async fn detach(&self, action: &Detach) -> Result<DetachOutcome, CloudError> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(Call::Detach(action.clone()));
        let owner = action.owner();
        let Some(r) = s.live.get(&owner) else {
            return Ok(DetachOutcome::AlreadyGone);
        };
        if !r.detach.contains(action) {
            return Ok(DetachOutcome::AlreadyGone);
        }
        if owner.kind == Kind::Router {
            // A floating IP through this router blocks removing its interfaces and gateway.
            let fip_blocks = s.live.values().any(|f| {
                !f.detach.is_empty()
                    && f.refs
                        .iter()
                        .any(|x| x.kind == Some(Kind::Router) && x.id == owner.id)
            });
            if fip_blocks {
                s.conflicts += 1;
                return Err(CloudError::Conflict(
                    "RouterInterfaceInUseByFloatingIP".into(),
                ));
            }
        }
        let r = s.live.get_mut(&owner).unwrap();
        r.detach.retain(|d| d != action);
        if let Detach::FloatingIp { .. } = action {
            r.refs.retain(|x| x.relation != Relation::AttachedTo);
        }
        if let Detach::RouterInterface { port_id, .. } = action {
            s.remove(&ResourceKey::new(Kind::Port, port_id.clone()));
        }
        Ok(DetachOutcome::Done)
    }
}

/// Raw choices a random project is built from.
#[derive(Debug, Clone)]
struct Shape {
    nets: Vec<bool>,
    groups: Vec<(bool, Option<u8>)>,
    servers: Vec<bool>,
    ports: Vec<(bool, u8, u8, u8)>,
    routers: Vec<(bool, bool)>,
    fips: Vec<(bool, Option<u8>)>,
    /// (marked, attached to server, snapshot, snapshot marked, boot volume the server's
    /// delete takes along)
    volumes: Vec<(bool, Option<u8>, bool, bool, bool)>,
    /// (marked, used by server)
    keypairs: Vec<(bool, Option<u8>)>,
    protect: Option<u8>,
    /// Trunks, port forwardings and backups: (which, marked, a, b). Drawn last, so the
    /// rest of a shape (and the recorded regressions) are what they were before them.
    extras: Vec<(u8, bool, u8, u8)>,
    /// Barbican secrets, containers and load balancers using them, Designate zones and
    /// recordsets, Manila share networks, shares and share snapshots: (which, marked,
    /// a, b). Drawn after everything else, for the same
    /// reason.
    keys: Vec<(u8, bool, u8, u8)>,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop::collection::vec(any::<bool>(), 1..4),
        prop::collection::vec((any::<bool>(), any::<Option<u8>>()), 0..4),
        prop::collection::vec(any::<bool>(), 0..4),
        prop::collection::vec(any::<(bool, u8, u8, u8)>(), 0..8),
        prop::collection::vec((any::<bool>(), any::<bool>()), 0..3),
        prop::collection::vec((any::<bool>(), any::<Option<u8>>()), 0..3),
        prop::collection::vec(
            (
                any::<bool>(),
                any::<Option<u8>>(),
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
            ),
            0..4,
        ),
        prop::collection::vec((any::<bool>(), any::<Option<u8>>()), 0..3),
        any::<Option<u8>>(),
        prop::collection::vec(any::<(u8, bool, u8, u8)>(), 0..5),
        prop::collection::vec(any::<(u8, bool, u8, u8)>(), 0..6),
    )
        .prop_map(
            |(
                nets,
                groups,
                servers,
                ports,
                routers,
                fips,
                volumes,
                keypairs,
                protect,
                extras,
                keys,
            )| {
                Shape {
                    nets,
                    groups,
                    servers,
                    ports,
                    routers,
                    fips,
                    volumes,
                    keypairs,
                    protect,
                    extras,
                    keys,
                }
            },
        )
}

fn res(kind: Kind, id: String, marked: bool) -> Resource {
    let mut r = Resource::new(kind, id.clone());
    r.name = if marked {
        format!("ci-{id}")
    } else {
        format!("keep-{id}")
    };
    r.project_id = Some(PROJECT.into());
    r.created_at = Some(Timestamp::UNIX_EPOCH);
    r
}

fn needs(r: &mut Resource, relation: Relation, kind: Kind, id: &str, role: &'static str) {
    r.refs.push(Reference::new(relation, kind, id, role));
}

/// Builds a project from a shape: networks with a subnet each, groups with remote-group
/// rules, servers, ports (free, on a server, or a router interface), routers with a
/// gateway on the admin's network, floating IPs, volumes (attached or not, taken along
/// by their server's delete or not, with a snapshot or not), keypairs (used by a server
/// or not). `ci-` names are ours.
fn project(s: &Shape) -> Vec<Resource> {
    let mut out = Vec::new();
    let mut ext = res(Kind::Network, "public".into(), true);
    ext.project_id = Some("admin".into());
    out.push(ext);
    for (i, &m) in s.nets.iter().enumerate() {
        out.push(res(Kind::Network, format!("net{i}"), m));
        let mut sub = res(Kind::Subnet, format!("sub{i}"), m);
        needs(
            &mut sub,
            Relation::Needs,
            Kind::Network,
            &format!("net{i}"),
            "network",
        );
        out.push(sub);
    }
    let ng = s.groups.len();
    for (i, &(m, remote)) in s.groups.iter().enumerate() {
        let mut g = res(Kind::SecurityGroup, format!("sg{i}"), m);
        if let Some(x) = remote {
            let other = usize::from(x) % ng;
            if other != i {
                needs(
                    &mut g,
                    Relation::Guards,
                    Kind::SecurityGroup,
                    &format!("sg{other}"),
                    "remote group",
                );
            }
        }
        out.push(g);
    }
    let mut servers: Vec<Resource> = s
        .servers
        .iter()
        .enumerate()
        .map(|(i, &m)| res(Kind::Server, format!("srv{i}"), m))
        .collect();
    for (i, &(m, user)) in s.keypairs.iter().enumerate() {
        let key = format!("kp{i}");
        out.push(res(Kind::Keypair, key.clone(), m));
        if let (Some(x), false) = (user, servers.is_empty()) {
            let n = servers.len();
            needs(
                &mut servers[usize::from(x) % n],
                Relation::Needs,
                Kind::Keypair,
                &key,
                "keypair",
            );
        }
    }
    let mut routers: Vec<Resource> = s
        .routers
        .iter()
        .enumerate()
        .map(|(i, &(m, gw))| {
            let mut r = res(Kind::Router, format!("r{i}"), m);
            if gw {
                needs(
                    &mut r,
                    Relation::Needs,
                    Kind::Network,
                    "public",
                    "gateway network",
                );
                r.detach.push(Detach::RouterGateway {
                    router_id: r.id.clone(),
                    network_id: "public".into(),
                });
            }
            r
        })
        .collect();
    let mut port_routers = BTreeMap::new();
    for (i, &(m, net, group, device)) in s.ports.iter().enumerate() {
        let n = usize::from(net) % s.nets.len();
        let mut p = res(Kind::Port, format!("port{i}"), m);
        needs(
            &mut p,
            Relation::Needs,
            Kind::Network,
            &format!("net{n}"),
            "network",
        );
        needs(
            &mut p,
            Relation::Needs,
            Kind::Subnet,
            &format!("sub{n}"),
            "subnet",
        );
        if ng > 0 && group % 2 == 0 {
            let g = usize::from(group / 2) % ng;
            needs(
                &mut p,
                Relation::Needs,
                Kind::SecurityGroup,
                &format!("sg{g}"),
                "group",
            );
        }
        match device % 4 {
            1 | 2 if !s.servers.is_empty() => {
                let srv = usize::from(device) % s.servers.len();
                needs(
                    &mut p,
                    Relation::OwnedBy,
                    Kind::Server,
                    &format!("srv{srv}"),
                    "server",
                );
            }
            3 if !routers.is_empty() => {
                let r = usize::from(device) % routers.len();
                needs(
                    &mut p,
                    Relation::OwnedBy,
                    Kind::Router,
                    &format!("r{r}"),
                    "router interface",
                );
                port_routers.insert(p.id.clone(), r);
            }
            _ => {}
        }
        out.push(p);
    }
    let ports: Vec<String> = out
        .iter()
        .filter(|r| r.kind == Kind::Port)
        .map(|r| r.id.clone())
        .collect();
    for (i, &(m, port)) in s.fips.iter().enumerate() {
        let mut f = res(Kind::FloatingIp, format!("fip{i}"), false);
        f.name = format!("172.24.4.{i}");
        f.description = if m { "ci-fip".into() } else { String::new() };
        if let (Some(x), false) = (port, ports.is_empty()) {
            let p = &ports[usize::from(x) % ports.len()];
            needs(&mut f, Relation::AttachedTo, Kind::Port, p, "port");
            f.detach.push(Detach::FloatingIp {
                floating_ip_id: f.id.clone(),
                port_id: p.clone(),
            });
            if let Some(&r) =
                port_routers
                    .get(p)
                    .or(if routers.is_empty() { None } else { Some(&0) })
            {
                needs(
                    &mut f,
                    Relation::Needs,
                    Kind::Router,
                    &format!("r{r}"),
                    "router",
                );
            }
        }
        out.push(f);
    }
    for (i, &(m, server, snap, snap_marked, taken)) in s.volumes.iter().enumerate() {
        let mut v = res(Kind::Volume, format!("vol{i}"), m);
        if let (Some(x), false) = (server, s.servers.is_empty()) {
            let srv = usize::from(x) % s.servers.len();
            needs(
                &mut v,
                Relation::HeldBy,
                Kind::Server,
                &format!("srv{srv}"),
                "attached server",
            );
            if taken {
                needs(
                    &mut servers[srv],
                    Relation::Takes,
                    Kind::Volume,
                    &v.id,
                    "deleted with the server",
                );
            }
        }
        out.push(v);
        if snap {
            let mut sn = res(Kind::Snapshot, format!("snap{i}"), snap_marked);
            needs(
                &mut sn,
                Relation::Needs,
                Kind::Volume,
                &format!("vol{i}"),
                "volume",
            );
            out.push(sn);
        }
    }
    out.append(&mut routers);
    out.append(&mut servers);
    extras(s, &mut out);
    keys(s, &mut out);
    out
}

/// Adds the shape's trunks (on a free or server port, with a free sub-port), port
/// forwardings (of an unassociated floating IP, to any port) and backups (each
/// volume's chain: a full one, then incrementals, a minute apart). The fake orders them
/// only through references; the chain Cinder really enforces is checked on the
/// simulator (`tests/reliability/props.rs`).
fn extras(s: &Shape, out: &mut Vec<Resource>) {
    let ports: Vec<(String, bool)> = out
        .iter()
        .filter(|r| r.kind == Kind::Port)
        .filter(|r| !r.refs.iter().any(|x| x.role == "router interface"))
        .map(|r| {
            (
                r.id.clone(),
                r.refs.iter().all(|x| x.relation == Relation::Needs),
            )
        })
        .collect();
    let fips: Vec<String> = out
        .iter()
        .filter(|r| r.kind == Kind::FloatingIp && r.detach.is_empty())
        .map(|r| r.id.clone())
        .collect();
    let volumes = s.volumes.len();
    let mut trunked: BTreeSet<String> = BTreeSet::new();
    let mut chains: BTreeMap<usize, u32> = BTreeMap::new();
    for (i, &(which, m, a, b)) in s.extras.iter().enumerate() {
        match which % 3 {
            0 if !ports.is_empty() => {
                let (parent, _) = &ports[usize::from(a) % ports.len()];
                if !trunked.insert(parent.clone()) {
                    continue;
                }
                let mut t = res(Kind::Trunk, format!("trunk{i}"), m);
                needs(&mut t, Relation::Needs, Kind::Port, parent, "parent port");
                let (sub, free) = &ports[usize::from(b) % ports.len()];
                if *free && b % 2 == 0 && trunked.insert(sub.clone()) {
                    needs(&mut t, Relation::Needs, Kind::Port, sub, "sub-port");
                    t.detach.push(Detach::TrunkSubports {
                        trunk_id: t.id.clone(),
                        port_ids: vec![sub.clone()],
                    });
                    let port = out
                        .iter_mut()
                        .find(|r| r.kind == Kind::Port && r.id == *sub);
                    if let Some(port) = port {
                        needs(port, Relation::HeldBy, Kind::Trunk, &t.id.clone(), "trunk");
                    }
                }
                out.push(t);
            }
            1 if !fips.is_empty() && !ports.is_empty() => {
                let fip = &fips[usize::from(a) % fips.len()];
                let (port, _) = &ports[usize::from(b) % ports.len()];
                let mut pf = res(Kind::PortForwarding, format!("pf{i}"), m);
                pf.name = format!("tcp/{}", 2200 + i);
                pf.project_id = None;
                pf.created_at = None;
                needs(
                    &mut pf,
                    Relation::Needs,
                    Kind::FloatingIp,
                    fip,
                    "floating IP",
                );
                needs(
                    &mut pf,
                    Relation::AttachedTo,
                    Kind::Port,
                    port,
                    "internal port",
                );
                out.push(pf);
            }
            2 if volumes > 0 => {
                let v = usize::from(a) % volumes;
                let n = chains.entry(v).or_default();
                let name = if m {
                    format!("ci-bk{i}")
                } else {
                    format!("keep-bk{i}")
                };
                let backup = resources::parse(
                    Kind::VolumeBackup,
                    &serde_json::json!({"id": format!("bk{i}"), "name": name,
                        "volume_id": format!("vol{v}"), "status": "available",
                        "is_incremental": *n > 0, "has_dependent_backups": true,
                        "os-backup-project-attr:project_id": PROJECT,
                        "created_at": format!("2026-11-22T06:{:02}:00.000000", *n)}),
                )
                .unwrap();
                *n += 1;
                out.push(backup);
            }
            _ => {}
        }
    }
}

/// Adds Barbican's and Designate's kinds: secrets, containers needing up to two of
/// them, load balancers whose listeners use a container or a secret; zones, and
/// recordsets in them (some Designate's own SOA or apex NS). Barbican refuses none of
/// these deletes; the fake refuses them all the same, so a wrong order shows. A zone's
/// delete takes its recordsets (the `Takes` the inventory links), as Designate's does:
/// the fake accepts it with them still there. Manila share
/// networks, shares (on a network or not) and their snapshots.
fn keys(s: &Shape, out: &mut Vec<Resource>) {
    let mut secrets: Vec<String> = Vec::new();
    let mut used: Vec<(Kind, String)> = Vec::new();
    let mut zones: Vec<String> = Vec::new();
    let mut share_nets: Vec<String> = Vec::new();
    let mut shares: Vec<String> = Vec::new();
    for (i, &(which, m, a, b)) in s.keys.iter().enumerate() {
        match which % 8 {
            5 => {
                let n = res(Kind::ShareNetwork, format!("sn{i}"), m);
                share_nets.push(n.id.clone());
                out.push(n);
            }
            6 => {
                let mut share = res(Kind::Share, format!("sh{i}"), m);
                if let Some(net) = share_nets.get(usize::from(a) % share_nets.len().max(1)) {
                    if b % 3 != 0 {
                        needs(
                            &mut share,
                            Relation::Needs,
                            Kind::ShareNetwork,
                            net,
                            "share network",
                        );
                    }
                }
                shares.push(share.id.clone());
                out.push(share);
            }
            7 if !shares.is_empty() => {
                let mut snap = res(Kind::ShareSnapshot, format!("ss{i}"), m);
                let share = &shares[usize::from(a) % shares.len()];
                needs(&mut snap, Relation::Needs, Kind::Share, share, "share");
                out.push(snap);
            }
            3 => {
                let zone = res(Kind::Zone, format!("zn{i}"), m);
                zones.push(zone.name.clone());
                out.push(zone);
            }
            4 if !zones.is_empty() => {
                let zone_name = &zones[usize::from(a) % zones.len()];
                let zone_id = zone_name
                    .trim_start_matches("ci-")
                    .trim_start_matches("keep-");
                let (name, kind) = match b % 4 {
                    0 => (zone_name.clone(), "SOA"),
                    1 => (zone_name.clone(), "NS"),
                    _ if m => (format!("ci-rr{i}.{zone_name}"), "A"),
                    _ => (format!("keep-rr{i}.{zone_name}"), "A"),
                };
                let rs = resources::parse(
                    Kind::Recordset,
                    &serde_json::json!({"id": format!("rr{i}"), "zone_id": zone_id,
                        "zone_name": zone_name, "name": name, "type": kind,
                        "project_id": PROJECT, "status": "ACTIVE", "action": "NONE",
                        "created_at": "1970-01-01T00:00:00Z"}),
                )
                .unwrap();
                out.push(rs);
            }
            0 => {
                let secret = res(Kind::Secret, format!("sec{i}"), m);
                secrets.push(secret.id.clone());
                used.push((Kind::Secret, secret.id.clone()));
                out.push(secret);
            }
            1 => {
                let mut c = res(Kind::SecretContainer, format!("ctr{i}"), m);
                let mut members: Vec<&String> = Vec::new();
                for pick in [a, b] {
                    if let Some(x) = secrets.get(usize::from(pick) % secrets.len().max(1)) {
                        if !members.contains(&x) {
                            members.push(x);
                        }
                    }
                }
                for x in members {
                    needs(
                        &mut c,
                        Relation::Needs,
                        Kind::Secret,
                        x,
                        "secret of the container",
                    );
                }
                used.push((Kind::SecretContainer, c.id.clone()));
                out.push(c);
            }
            2 if !used.is_empty() => {
                let mut lb = res(Kind::LoadBalancer, format!("lbk{i}"), m);
                let (kind, id) = &used[usize::from(a) % used.len()];
                needs(
                    &mut lb,
                    Relation::Needs,
                    *kind,
                    id,
                    "TLS certificate of its listener",
                );
                out.push(lb);
            }
            _ => {}
        }
    }
}

fn selector(protect: Vec<String>) -> Selector {
    let marks = Marks {
        name_regex: Some(Regex::new("^ci-").unwrap()),
        ..Marks::default()
    };
    Selector::new(
        marks,
        Filters {
            protect,
            ..Filters::default()
        },
    )
    .unwrap()
}

/// Another project's look-alikes of `ours`: the same kinds, names, marks and shapes, in
/// project `other-proj`, with `other-` IDs (those with detach actions, or references
/// outside the copied set, are left out, so the copies hold nothing of ours). They stand
/// for what a listing of another project would show: derived from the shape, with no
/// draw of their own, so recorded regressions keep their meaning.
fn look_alikes(ours: &[Resource]) -> Vec<Resource> {
    let mut ids: BTreeSet<String> = ours
        .iter()
        .filter(|r| r.project_id.as_deref() == Some(PROJECT) && r.detach.is_empty())
        .map(|r| r.id.clone())
        .collect();
    loop {
        let keep: BTreeSet<String> = ours
            .iter()
            .filter(|r| ids.contains(&r.id))
            .filter(|r| {
                r.refs
                    .iter()
                    .all(|x| ids.contains(&x.id) || x.id == "public")
            })
            .map(|r| r.id.clone())
            .collect();
        if keep == ids {
            break;
        }
        ids = keep;
    }
    ours.iter()
        .filter(|r| ids.contains(&r.id))
        .map(|r| {
            let mut c = r.clone();
            c.id = format!("other-{}", r.id);
            c.project_id = Some("other-proj".into());
            for x in &mut c.refs {
                if ids.contains(&x.id) {
                    x.id = format!("other-{}", x.id);
                }
            }
            c
        })
        .collect()
}

/// Plans and executes a project on the fake; returns the inventory, plan and report.
fn sweep_project(
    resources: Vec<Resource>,
    protect: Vec<String>,
) -> (FakeCloud, Inventory, Plan, Report) {
    run(
        resources,
        protect,
        fast_sweep_options(),
        CancellationToken::new(),
        |_| {},
    )
}

/// Plans and executes on the fake with the given options; `tweak` changes the cloud
/// after the inventory was taken (what changed since the plan was made).
fn run(
    resources: Vec<Resource>,
    protect: Vec<String>,
    options: SweepOptions,
    cancel: CancellationToken,
    tweak: impl FnOnce(&mut State),
) -> (FakeCloud, Inventory, Plan, Report) {
    // The fake holds the linked resources (routers know their interfaces).
    let inventory = Inventory::new(PROJECT, resources);
    let cloud = FakeCloud::new(inventory.resources());
    tweak(&mut cloud.state.lock().unwrap());
    let selection = select::evaluate(&inventory, &selector(protect), Timestamp::now());
    let plan = plan::build(&inventory, &selection);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let report = rt.block_on(sweep::execute(
        &cloud,
        &inventory,
        &selection,
        plan.clone(),
        &options,
        cancel,
    ));
    (cloud, inventory, plan, report)
}

/// [`run`] with the default options and no cancellation.
fn run_with(resources: Vec<Resource>, tweak: impl FnOnce(&mut State)) -> (FakeCloud, Report) {
    let (cloud, _, _, report) = run(
        resources,
        vec![],
        fast_sweep_options(),
        CancellationToken::new(),
        tweak,
    );
    (cloud, report)
}

/// The outcome of resource `id` in `report`.
fn outcome_of(report: &Report, id: &str) -> stacksweep::engine::report::ResourceOutcome {
    report
        .resources
        .iter()
        .find(|r| r.id == id)
        .unwrap()
        .clone()
}

/// 300 cases unless `PROPTEST_CASES` asks for another count (a long run, once).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    /// No unselected resource is ever deleted or detached; every selected, unskipped one
    /// is deleted and gone; skipped ones survive; every delete call came after the
    /// steps the plan put before it.
    #[test]
    fn sweeps_are_safe_complete_and_ordered(s in shape()) {
        let mut resources = project(&s);
        // Another project's look-alikes, as if a listing showed them: never touched.
        let others = look_alikes(&resources);
        resources.extend(others.iter().cloned());
        let protect: Vec<String> = s.protect.iter().filter_map(|x| resources.get(usize::from(*x) % resources.len().max(1)).map(|r| r.id.clone())).collect();
        let (cloud, inventory, plan, report) = sweep_project(resources, protect);
        let selected: BTreeSet<ResourceKey> = report.resources.iter().filter(|r| r.selected).map(|r| ResourceKey::new(r.kind, r.id.clone())).collect();
        let live = cloud.live();
        let calls = cloud.calls();
        // Another project's look-alikes (there is always a network) are never selected
        // nor touched.
        prop_assert!(!others.is_empty());
        for o in &others {
            let key = o.key();
            prop_assert!(!selected.contains(&key), "selected {key} of another project");
            prop_assert!(live.contains(&key), "{key} of another project is gone");
        }
        // Safety: only selected resources are deleted or detached.
        for call in &calls {
            match call {
                Call::Delete(key, _) => prop_assert!(selected.contains(key), "deleted unselected {key}"),
                Call::Detach(d) => prop_assert!(selected.contains(&d.owner()), "detached unselected {:?}", d),
            }
        }
        // Unselected resources are still there unless the cloud removed them with an
        // owner we deleted (a server's port, a router interface).
        for r in inventory.resources() {
            let key = r.key();
            if selected.contains(&key) || live.contains(&key) {
                continue;
            }
            let outcome = report.resources.iter().find(|o| o.id == r.id && o.kind == r.kind).unwrap();
            prop_assert_eq!(outcome.outcome, Outcome::GoneWithOwner, "{} vanished", key);
        }
        // Completeness: every selected resource the plan did not skip is deleted.
        let skipped: BTreeSet<ResourceKey> = plan.skipped.iter().map(|x| ResourceKey::new(x.kind, x.id.clone())).collect();
        for o in report.resources.iter().filter(|o| o.selected) {
            let key = ResourceKey::new(o.kind, o.id.clone());
            if skipped.contains(&key) {
                prop_assert!(live.contains(&key), "skipped {} is gone", key);
                prop_assert_eq!(o.outcome, Outcome::Skipped);
            } else {
                prop_assert_eq!(o.outcome, Outcome::Deleted, "{} {}: {}\n{}", o.kind, o.id, o.reason, plan.render_text());
                prop_assert!(!live.contains(&key));
            }
        }
        // Order: at each delete call, the resources of the delete and await steps
        // before it in the plan were already gone, and its detaches already done.
        for step in plan.steps.iter().filter(|x| x.action == Action::Delete) {
            let Some(Call::Delete(_, live_then)) = calls.iter().find(|c| matches!(c, Call::Delete(k, _) if *k == step.key())) else {
                continue; // gone with an owner before its turn: 404, no call
            };
            let at = calls.iter().position(|c| matches!(c, Call::Delete(k, _) if *k == step.key())).unwrap();
            for &a in &step.after {
                let before = &plan.steps[a - 1];
                match &before.action {
                    Action::Detach { detach } => prop_assert!(calls[..at].iter().any(|c| matches!(c, Call::Detach(d) if d == detach))),
                    _ => prop_assert!(!live_then.contains(&before.key()), "{} deleted before {} was gone", step.key(), before.key()),
                }
            }
        }
        prop_assert_eq!(report.is_clean(), plan.skipped.is_empty());
    }
}

/// A plan larger than `max_deletes` deletes nothing and says why.
#[test]
fn max_deletes_refuses_everything() {
    let resources = vec![
        res(Kind::Network, "a".into(), true),
        res(Kind::Network, "b".into(), true),
    ];
    let options = SweepOptions {
        max_deletes: Some(1),
        ..fast_sweep_options()
    };
    let (cloud, _, _, report) = run(resources, vec![], options, CancellationToken::new(), |_| {});
    assert!(cloud.calls().is_empty());
    assert!(report
        .aborted
        .as_deref()
        .unwrap()
        .contains("max_deletes = 1"));
    assert!(!report.is_clean());
    assert_eq!(report.totals().failed, 2);
}

/// A cancelled sweep starts nothing.
#[test]
fn cancelled_sweep_starts_nothing() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let resources = vec![res(Kind::Network, "a".into(), true)];
    let (cloud, _, _, report) = run(resources, vec![], fast_sweep_options(), cancel, |_| {});
    assert!(cloud.calls().is_empty());
    assert_eq!(report.resources[0].outcome, Outcome::NotAttempted);
    assert_eq!(report.resources[0].reason, "not attempted: sweep cancelled");
}

/// A resource that became in use by something unselected after planning is skipped at
/// run time, never force-detached; a stuck volume is reported as stuck.
#[test]
fn runtime_checks() {
    let resources = vec![
        res(Kind::Port, "p".into(), true),
        res(Kind::Volume, "v".into(), true),
    ];
    let (cloud, report) = run_with(resources, |s| {
        let p = s.live.get_mut(&ResourceKey::new(Kind::Port, "p")).unwrap();
        needs(p, Relation::OwnedBy, Kind::Server, "intruder", "server");
        let v = s
            .live
            .get_mut(&ResourceKey::new(Kind::Volume, "v"))
            .unwrap();
        v.status = Some("error_deleting".into());
    });
    assert!(cloud.calls().is_empty());
    let by_id = |id: &str| outcome_of(&report, id);
    assert_eq!(by_id("p").outcome, Outcome::Skipped);
    assert!(by_id("p")
        .reason
        .contains("became in use by server intruder"));
    assert_eq!(by_id("v").outcome, Outcome::Stuck);
    assert_eq!(report.kinds[&Kind::Volume].stuck, 1);
}

/// A step waiting for its volume to go gives up its slot: with one acting step allowed
/// per service, the next volume's delete goes out while the first is still being
/// deleted, not after it is gone.
#[test]
fn waiting_for_a_delete_does_not_hold_back_the_next() {
    let resources = vec![
        res(Kind::Volume, "v1".into(), true),
        res(Kind::Volume, "v2".into(), true),
    ];
    let options = SweepOptions {
        concurrency: 1,
        ..fast_sweep_options()
    };
    let (cloud, _, _, report) = run(resources, vec![], options, CancellationToken::new(), |_| {});
    assert!(report.is_clean(), "{}", report.render_text());
    let calls = cloud.calls();
    let Some(Call::Delete(second, live_then)) = calls.get(1) else {
        panic!("two deletes expected: {calls:?}");
    };
    let first = match &calls[0] {
        Call::Delete(first, _) => first,
        other => panic!("a delete expected first: {other:?}"),
    };
    assert_ne!(first, second);
    assert!(
        live_then.contains(first),
        "{second} waited until {first} was gone"
    );
    assert!(cloud.live().is_empty());
}

/// Conflicts are retried with backoff until the blocker goes, and counted per kind.
#[test]
fn conflicts_are_retried_and_counted() {
    let resources = vec![
        res(Kind::SecurityGroup, "g".into(), true),
        res(Kind::Network, "n".into(), true),
    ];
    let (cloud, report) = run_with(resources, |s| {
        s.forced
            .insert(ResourceKey::new(Kind::SecurityGroup, "g"), 3);
    });
    assert!(report.is_clean(), "{}", report.render_text());
    assert!(cloud.live().is_empty());
    assert_eq!(report.kinds[&Kind::SecurityGroup].conflict_retries, 3);
    assert_eq!(report.kinds[&Kind::Network].conflict_retries, 0);
}

/// Conflicts that outlast the deadline end as failed with the retries counted, and what
/// waits on the resource is skipped naming it.
#[test]
fn conflicts_until_the_deadline_fail() {
    let mut sub = res(Kind::Subnet, "s".into(), true);
    needs(&mut sub, Relation::Needs, Kind::Network, "n", "network");
    let resources = vec![sub, res(Kind::Network, "n".into(), true)];
    let (cloud, report) = run_with(resources, |s| {
        s.forced
            .insert(ResourceKey::new(Kind::Subnet, "s"), u32::MAX);
    });
    assert!(!report.is_clean());
    let by_id = |id: &str| outcome_of(&report, id);
    assert_eq!(by_id("s").outcome, Outcome::Failed);
    assert!(
        by_id("s")
            .reason
            .contains("still conflicting at the deadline"),
        "{}",
        by_id("s").reason
    );
    assert_eq!(by_id("n").outcome, Outcome::Skipped);
    assert_eq!(
        by_id("n").reason,
        "skipped: waits on subnet s, which failed"
    );
    assert!(report.kinds[&Kind::Subnet].conflict_retries > 10);
    assert_eq!(cloud.live().len(), 2);
}

/// A dry run calls nothing that changes the cloud and reports every planned delete as
/// "would delete" (counted as deleted), skipped ones as skipped.
#[test]
fn dry_run_changes_nothing() {
    let mut port = res(Kind::Port, "p".into(), false);
    needs(&mut port, Relation::Needs, Kind::Network, "n", "network");
    let resources = vec![
        port,
        res(Kind::Network, "n".into(), true),
        res(Kind::Image, "i".into(), true),
    ];
    let options = SweepOptions {
        dry_run: true,
        ..fast_sweep_options()
    };
    let (cloud, _, plan, report) =
        run(resources, vec![], options, CancellationToken::new(), |_| {});
    assert!(cloud.calls().is_empty());
    assert_eq!(plan.delete_count(), 1);
    assert_eq!(outcome_of(&report, "i").outcome, Outcome::WouldDelete);
    assert_eq!(outcome_of(&report, "n").outcome, Outcome::Skipped);
    assert_eq!(outcome_of(&report, "p").outcome, Outcome::Kept);
    assert_eq!(report.kinds[&Kind::Image].deleted, 1);
    assert!(report.render_text().contains("WOULD-DELETE"));
    assert!(!report.is_clean());
}

/// Arbitrary JSON: scalars, lists and objects, with OpenStack's field names mixed in.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        "[a-z0-9:._ -]{0,12}".prop_map(Value::String),
        Just(Value::String("2026-11-22T06:11:02Z".into())),
    ];
    let keys = prop_oneof![
        Just("id".to_string()),
        Just("name".to_string()),
        Just("tags".to_string()),
        Just("metadata".to_string()),
        Just("created_at".to_string()),
        Just("fixed_ips".to_string()),
        Just("device_owner".to_string()),
        Just("attachments".to_string()),
        Just("security_group_rules".to_string()),
        Just("external_gateway_info".to_string()),
        Just("network_id".to_string()),
        Just("keypair".to_string()),
        "[a-z_]{1,8}",
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
            prop::collection::btree_map(keys.clone(), inner, 0..6)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    /// Parsing any JSON as any kind never panics; what parses has the ID it was given.
    #[test]
    fn parsing_garbage_never_panics(value in json_value()) {
        for kind in Kind::ALL {
            if let Ok(r) = stacksweep::resources::parse(*kind, &value) {
                prop_assert!(!r.id.is_empty());
                prop_assert_eq!(r.kind, *kind);
            }
        }
    }
}

/// Records the fields of every `deleted` event.
#[derive(Clone, Default)]
struct DeleteEvents(std::sync::Arc<Mutex<Vec<BTreeMap<String, String>>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for DeleteEvents {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        struct Fields(BTreeMap<String, String>);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.insert(
                    field.name().to_string(),
                    format!("{value:?}").trim_matches('"').to_string(),
                );
            }
            fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
                self.0.insert(field.name().to_string(), value.to_string());
            }
        }
        let mut fields = Fields(BTreeMap::new());
        event.record(&mut fields);
        if fields.0.get("message").map(String::as_str) == Some("deleted") {
            self.0.lock().unwrap().push(fields.0);
        }
    }
}

/// Every delete is logged as one info event with kind, ID, name, project and reason.
#[test]
fn one_structured_event_per_delete() {
    use tracing_subscriber::layer::SubscriberExt;
    let events = DeleteEvents::default();
    let subscriber = tracing_subscriber::registry().with(events.clone());
    let mut sub = res(Kind::Subnet, "s".into(), true);
    needs(&mut sub, Relation::Needs, Kind::Network, "n", "network");
    let resources = vec![
        sub,
        res(Kind::Network, "n".into(), true),
        res(Kind::Network, "k".into(), false),
    ];
    let (_, report) = tracing::subscriber::with_default(subscriber, || run_with(resources, |_| {}));
    assert!(report.is_clean());
    let events = events.0.lock().unwrap().clone();
    assert_eq!(events.len(), 2);
    let subnet = events.iter().find(|e| e["kind"] == "subnet").unwrap();
    assert_eq!(subnet["id"], "s");
    assert_eq!(subnet["name"], "ci-s");
    assert_eq!(subnet["project"], PROJECT);
    assert!(
        subnet["reason"].starts_with("selected: name ci-s"),
        "{}",
        subnet["reason"]
    );
}
