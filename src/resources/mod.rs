//! What the janitor knows about each kind of OpenStack resource: how to list it, read
//! it again, tell what it references and when it is in use, detach and delete it. One
//! file per kind; this module holds the shared vocabulary ([`Kind`], [`Resource`],
//! [`Reference`], [`Detach`]) and dispatches the HTTP side to the kind files.
//!
//! Nothing here decides *whether* to delete: that is [`crate::select`] and
//! [`crate::plan`]. Parsing is tolerant of unknown fields and strict on types.

mod container;
mod fields;
mod floating_ip;
mod image;
mod keypair;
mod load_balancer;
mod network;
mod port;
mod router;
mod security_group;
mod server;
mod server_group;
mod snapshot;
mod stack;
mod subnet;
mod volume;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::openstack::{ApiError, DeleteOutcome, Service, Session};

pub(crate) use fields::Obj;
pub use fields::ParseError;

/// A kind of resource the janitor sweeps. The kebab-case names are CLI and config values
/// and metric labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Nova server.
    Server,
    /// Nova server group.
    ServerGroup,
    /// Nova keypair (named, user-scoped).
    Keypair,
    /// Neutron port.
    Port,
    /// Neutron floating IP.
    FloatingIp,
    /// Neutron router.
    Router,
    /// Neutron subnet.
    Subnet,
    /// Neutron network.
    Network,
    /// Neutron security group.
    SecurityGroup,
    /// Cinder volume.
    Volume,
    /// Cinder snapshot.
    Snapshot,
    /// Octavia load balancer (deleted with `cascade`).
    LoadBalancer,
    /// Glance image.
    Image,
    /// Heat stack.
    Stack,
    /// Swift container (emptied, then deleted).
    Container,
}

impl Kind {
    /// Every kind, network, compute and block-storage kinds first.
    pub const ALL: &'static [Kind] = &[
        Kind::Server,
        Kind::ServerGroup,
        Kind::Keypair,
        Kind::Port,
        Kind::FloatingIp,
        Kind::Router,
        Kind::Subnet,
        Kind::Network,
        Kind::SecurityGroup,
        Kind::Volume,
        Kind::Snapshot,
        Kind::LoadBalancer,
        Kind::Image,
        Kind::Stack,
        Kind::Container,
    ];

    /// The kebab-case name (`floating-ip`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Server => "server",
            Kind::ServerGroup => "server-group",
            Kind::Keypair => "keypair",
            Kind::Port => "port",
            Kind::FloatingIp => "floating-ip",
            Kind::Router => "router",
            Kind::Subnet => "subnet",
            Kind::Network => "network",
            Kind::SecurityGroup => "security-group",
            Kind::Volume => "volume",
            Kind::Snapshot => "snapshot",
            Kind::LoadBalancer => "load-balancer",
            Kind::Image => "image",
            Kind::Stack => "stack",
            Kind::Container => "container",
        }
    }

    /// The service this kind lives in.
    pub fn service(self) -> Service {
        match self {
            Kind::Server | Kind::ServerGroup | Kind::Keypair => Service::Compute,
            Kind::Port
            | Kind::FloatingIp
            | Kind::Router
            | Kind::Subnet
            | Kind::Network
            | Kind::SecurityGroup => Service::Network,
            Kind::Volume | Kind::Snapshot => Service::BlockStorage,
            Kind::LoadBalancer => Service::LoadBalancer,
            Kind::Image => Service::Image,
            Kind::Stack => Service::Orchestration,
            Kind::Container => Service::ObjectStore,
        }
    }

    /// Whether resources of this kind carry tags.
    pub fn has_tags(self) -> bool {
        matches!(
            self,
            Kind::Port
                | Kind::FloatingIp
                | Kind::Router
                | Kind::Subnet
                | Kind::Network
                | Kind::SecurityGroup
                | Kind::Server
                | Kind::Image
                | Kind::LoadBalancer
                | Kind::Stack
        )
    }

    /// Whether resources of this kind carry `key=value` metadata (image: properties).
    pub fn has_metadata(self) -> bool {
        matches!(
            self,
            Kind::Volume | Kind::Snapshot | Kind::Server | Kind::Image
        )
    }

    /// Whether a delete returns before the resource is gone (the sweep then polls).
    pub fn deletes_asynchronously(self) -> bool {
        matches!(
            self,
            Kind::Server | Kind::Volume | Kind::Snapshot | Kind::LoadBalancer | Kind::Stack
        )
    }

    /// Which kinds can hold a resource of this kind in use. When listing one of them
    /// failed, resources of this kind cannot be proven unused.
    pub fn blockers(self) -> &'static [Kind] {
        use Kind::*;
        match self {
            Server | Keypair | Image | Container => &[Stack],
            ServerGroup => &[Server, Stack],
            Port => &[Server, FloatingIp, Router, LoadBalancer, Stack],
            FloatingIp => &[Port, Stack],
            Router => &[Port, FloatingIp, Stack],
            Subnet => &[Port, Router, LoadBalancer, Stack],
            Network => &[Port, Subnet, Router, LoadBalancer, Stack],
            SecurityGroup => &[Port, SecurityGroup, Stack],
            Volume => &[Server, Snapshot, Stack],
            Snapshot => &[Stack],
            LoadBalancer => &[Stack],
            Stack => &[],
        }
    }

    /// Rank used to break ties in plan order so plans read naturally and stay stable.
    pub(crate) fn rank(self) -> usize {
        use Kind::*;
        const ORDER: &[Kind] = &[
            Stack,
            LoadBalancer,
            Server,
            FloatingIp,
            Port,
            Router,
            Subnet,
            Network,
            SecurityGroup,
            Snapshot,
            Volume,
            Image,
            ServerGroup,
            Keypair,
            Container,
        ];
        ORDER.iter().position(|k| *k == self).unwrap_or(ORDER.len())
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown kind name.
#[derive(Debug, Clone, thiserror::Error)]
#[error("unknown resource kind `{0}` (expected one of: {kinds})", kinds = Kind::ALL.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", "))]
pub struct UnknownKind(pub String);

impl FromStr for Kind {
    type Err = UnknownKind;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_string()))
    }
}

/// Identifies one resource: its kind and ID (keypairs and containers: their name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct ResourceKey {
    /// The kind.
    pub kind: Kind,
    /// The ID.
    pub id: String,
}

impl ResourceKey {
    /// Builds a key.
    pub fn new(kind: Kind, id: impl Into<String>) -> Self {
        ResourceKey {
            kind,
            id: id.into(),
        }
    }
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.id)
    }
}

/// How a resource relates to one it references; decides plan order and what blocks what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relation {
    /// This resource must be gone before the target can be deleted (port → network).
    /// While this one stays, the target stays.
    Needs,
    /// The target must be gone before this one can be deleted (a volume attached to a
    /// server). While the target stays, this one stays.
    HeldBy,
    /// Like [`Relation::HeldBy`], and the cloud deletes this one with the target (a
    /// server's ports, a stack's resources).
    OwnedBy,
    /// The inverse of [`Relation::OwnedBy`], as the owner sees it (a load balancer's VIP
    /// port, a stack's resources); turned around when the inventory is linked.
    Owns,
    /// Like [`Relation::Needs`], and releasing this one changes the target, so this one
    /// stays while the target stays (a floating IP associated with a port).
    AttachedTo,
    /// No order, but while this one stays the target must stay too (a security group
    /// whose rule names the target as remote group: Neutron would drop that rule).
    Guards,
}

/// The role of a volume attachment's server: Cinder keeps showing it for a few seconds
/// after the server is gone.
pub const ATTACHED_SERVER: &str = "attached server";

/// One reference held by a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Reference {
    /// How the two relate.
    pub relation: Relation,
    /// The target's kind, when the API says it (a port's device may be anything).
    pub kind: Option<Kind>,
    /// The target's ID.
    pub id: String,
    /// What the target is to this resource, for reasons (`network`, `device`, ...).
    pub role: &'static str,
}

impl Reference {
    /// A reference to a target of known kind.
    pub fn new(relation: Relation, kind: Kind, id: impl Into<String>, role: &'static str) -> Self {
        Reference {
            relation,
            kind: Some(kind),
            id: id.into(),
            role,
        }
    }
}

/// A detach action: a step of its own, done before the resources it frees can go.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Detach {
    /// `remove_router_interface` for one interface port.
    RouterInterface {
        /// The router.
        router_id: String,
        /// The interface port.
        port_id: String,
        /// The subnet behind it, when known.
        subnet_id: Option<String>,
    },
    /// Clear the router's external gateway.
    RouterGateway {
        /// The router.
        router_id: String,
        /// The external network.
        network_id: String,
    },
    /// Disassociate a floating IP from its port.
    FloatingIp {
        /// The floating IP.
        floating_ip_id: String,
        /// The port it is associated with.
        port_id: String,
    },
}

impl Detach {
    /// The resource this action belongs to (its deletion needs the action).
    pub fn owner(&self) -> ResourceKey {
        match self {
            Detach::RouterInterface { router_id, .. } | Detach::RouterGateway { router_id, .. } => {
                ResourceKey::new(Kind::Router, router_id.clone())
            }
            Detach::FloatingIp { floating_ip_id, .. } => {
                ResourceKey::new(Kind::FloatingIp, floating_ip_id.clone())
            }
        }
    }

    /// The port this action removes or frees, if any.
    pub fn port(&self) -> Option<&str> {
        match self {
            Detach::RouterInterface { port_id, .. } | Detach::FloatingIp { port_id, .. } => {
                Some(port_id)
            }
            Detach::RouterGateway { .. } => None,
        }
    }

    /// Whether this action releases everything its owner references (a floating IP's
    /// disassociation frees its port and router), so the owner's references are ordered
    /// after it rather than after the owner's deletion.
    pub fn releases_owner(&self) -> bool {
        matches!(self, Detach::FloatingIp { .. })
    }

    /// What the action does, as seen from its owner (`remove interface on subnet S`).
    pub fn short(&self) -> String {
        match self {
            Detach::RouterInterface {
                port_id, subnet_id, ..
            } => match subnet_id {
                Some(s) => format!("remove interface on subnet {s}"),
                None => format!("remove interface port {port_id}"),
            },
            Detach::RouterGateway { network_id, .. } => {
                format!("clear gateway to network {network_id}")
            }
            Detach::FloatingIp { port_id, .. } => format!("disassociate from port {port_id}"),
        }
    }

    /// A short human description (`remove interface port P from router R`).
    pub fn describe(&self) -> String {
        match self {
            Detach::RouterInterface {
                router_id,
                port_id,
                subnet_id,
            } => match subnet_id {
                Some(s) => format!("remove interface (subnet {s}) from router {router_id}"),
                None => format!("remove interface port {port_id} from router {router_id}"),
            },
            Detach::RouterGateway {
                router_id,
                network_id,
            } => {
                format!("clear gateway (network {network_id}) of router {router_id}")
            }
            Detach::FloatingIp {
                floating_ip_id,
                port_id,
            } => {
                format!("disassociate floating IP {floating_ip_id} from port {port_id}")
            }
        }
    }
}

/// A compact view of one resource: what selection looks at and what planning needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Resource {
    /// The kind.
    pub kind: Kind,
    /// ID (keypairs, containers: the name).
    pub id: String,
    /// Name (floating IPs: their address); may be empty.
    pub name: String,
    /// Owning project, when the API says.
    pub project_id: Option<String>,
    /// Tags (kinds that have them).
    pub tags: Vec<String>,
    /// Metadata or image properties.
    pub metadata: BTreeMap<String, String>,
    /// Creation time; `None` when the API does not say (keypairs in lists, containers).
    pub created_at: Option<Timestamp>,
    /// Status as sent (`ACTIVE`, `available`, `error_deleting`, Octavia provisioning status).
    pub status: Option<String>,
    /// Description; may be empty.
    pub description: String,
    /// References this resource holds.
    pub refs: Vec<Reference>,
    /// Detach actions that must precede this resource's deletion.
    pub detach: Vec<Detach>,
    /// Why this resource can never be deleted by the janitor (the project's `default`
    /// security group, a protected image).
    pub undeletable: Option<String>,
}

impl Resource {
    /// An empty resource of `kind` with `id`.
    pub fn new(kind: Kind, id: impl Into<String>) -> Self {
        Resource {
            kind,
            id: id.into(),
            name: String::new(),
            project_id: None,
            tags: Vec::new(),
            metadata: BTreeMap::new(),
            created_at: None,
            status: None,
            description: String::new(),
            refs: Vec::new(),
            detach: Vec::new(),
            undeletable: None,
        }
    }

    /// This resource's key.
    pub fn key(&self) -> ResourceKey {
        ResourceKey::new(self.kind, self.id.clone())
    }

    /// `kind id "name"`, for reasons and logs.
    pub fn label(&self) -> String {
        if self.name.is_empty() || self.name == self.id {
            format!("{} {}", self.kind, self.id)
        } else {
            format!("{} {} ({})", self.kind, self.id, self.name)
        }
    }

    fn status_is(&self, values: &[&str]) -> bool {
        self.status
            .as_deref()
            .is_some_and(|s| values.iter().any(|v| s.eq_ignore_ascii_case(v)))
    }

    /// In a terminal bad state from which a delete will not succeed by retrying.
    pub fn is_stuck(&self) -> bool {
        match self.kind {
            Kind::Volume | Kind::Snapshot => self.status_is(&["error_deleting"]),
            Kind::Stack => self.status_is(&["DELETE_FAILED"]),
            _ => false,
        }
    }

    /// Stuck once a delete was accepted: the kinds whose failed deletes end in `ERROR`.
    pub fn is_stuck_after_delete(&self) -> bool {
        self.is_stuck()
            || match self.kind {
                Kind::Server | Kind::LoadBalancer => self.status_is(&["ERROR"]),
                _ => false,
            }
    }

    /// Already being deleted (by us in an earlier run, or by the job's own cleanup): a
    /// new delete would only be refused, so the sweep just waits for it to go.
    pub fn is_deleting(&self) -> bool {
        self.status_is(&["deleting", "DELETE_IN_PROGRESS", "PENDING_DELETE"])
    }

    /// References that must be gone before this resource can be deleted (its holders).
    pub fn holders(&self) -> impl Iterator<Item = &Reference> {
        self.refs
            .iter()
            .filter(|r| matches!(r.relation, Relation::HeldBy | Relation::OwnedBy))
    }
}

/// Why an operation on one kind failed.
#[derive(Debug, thiserror::Error)]
pub enum ResourceError {
    /// The API call failed.
    #[error("{kind}: {source}")]
    Api {
        /// The kind.
        kind: Kind,
        /// The client's error.
        #[source]
        source: ApiError,
    },
    /// The answer did not have the documented shape.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl ResourceError {
    /// The API error, when there was one.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            ResourceError::Api { source, .. } => Some(source),
            ResourceError::Parse(_) => None,
        }
    }
}

/// What a detach action came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DetachOutcome {
    /// The cloud accepted it.
    Done,
    /// The attachment (or its owner) was already gone.
    AlreadyGone,
}

/// Where a kind lives in its API.
pub(crate) struct Api {
    /// Collection path (`/ports`).
    list_path: &'static str,
    /// Key of the array in a list answer (`ports`); empty for a top-level array.
    collection: &'static str,
    /// Prefix of one item's path (`/ports/`).
    item_prefix: &'static str,
    /// Key of the object in a show answer (`port`); `None` when it is the body itself.
    item_key: Option<&'static str>,
}

fn api(kind: Kind) -> &'static Api {
    match kind {
        Kind::Server => &server::API,
        Kind::ServerGroup => &server_group::API,
        Kind::Keypair => &keypair::API,
        Kind::Port => &port::API,
        Kind::FloatingIp => &floating_ip::API,
        Kind::Router => &router::API,
        Kind::Subnet => &subnet::API,
        Kind::Network => &network::API,
        Kind::SecurityGroup => &security_group::API,
        Kind::Volume => &volume::API,
        Kind::Snapshot => &snapshot::API,
        Kind::LoadBalancer => &load_balancer::API,
        Kind::Image => &image::API,
        Kind::Stack => &stack::API,
        Kind::Container => &container::API,
    }
}

/// Parses one item of `kind` as the API sends it in a list or show answer.
pub fn parse(kind: Kind, value: &Value) -> Result<Resource, ParseError> {
    match kind {
        Kind::Server => server::parse(value),
        Kind::ServerGroup => server_group::parse(value),
        Kind::Keypair => keypair::parse(value),
        Kind::Port => port::parse(value),
        Kind::FloatingIp => floating_ip::parse(value),
        Kind::Router => router::parse(value),
        Kind::Subnet => subnet::parse(value),
        Kind::Network => network::parse(value),
        Kind::SecurityGroup => security_group::parse(value),
        Kind::Volume => volume::parse(value),
        Kind::Snapshot => snapshot::parse(value),
        Kind::LoadBalancer => load_balancer::parse(value),
        Kind::Image => image::parse(value),
        Kind::Stack => stack::parse(value),
        Kind::Container => container::parse(value),
    }
}

/// The fields every Neutron resource has: ID, name, project, tags, times, status,
/// description.
pub(crate) fn neutron_common(kind: Kind, o: &Obj<'_>) -> Result<Resource, ParseError> {
    let mut r = Resource::new(kind, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = match o.str("project_id")? {
        Some(p) => Some(p),
        None => o.str("tenant_id")?,
    };
    r.tags = o.strings("tags")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("status")?;
    r.description = o.string("description")?;
    Ok(r)
}

/// Percent-encodes one path segment (names of keypairs, containers, objects).
pub(crate) fn segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn api_error(kind: Kind) -> impl FnOnce(ApiError) -> ResourceError {
    move |source| ResourceError::Api { kind, source }
}

/// Lists every resource of `kind` in the project (all pages).
pub async fn list(session: &Session, kind: Kind) -> Result<Vec<Resource>, ResourceError> {
    let api = api(kind);
    let parsed = session
        .list_map(kind.service(), api.list_path, api.collection, |v| {
            parse(kind, &v)
        })
        .await
        .map_err(api_error(kind))?;
    let mut out = parsed.into_iter().collect::<Result<Vec<_>, _>>()?;
    if kind == Kind::Stack {
        for r in &mut out {
            stack::add_owned(session, r).await?;
        }
    }
    Ok(out)
}

/// Lists at most one resource of `kind` (one page, `limit=1`): proves listing works with
/// these credentials without reading the whole project (preflight).
pub async fn probe(session: &Session, kind: Kind) -> Result<(), ResourceError> {
    let api = api(kind);
    let sep = if api.list_path.contains('?') {
        '&'
    } else {
        '?'
    };
    let body = session
        .get(kind.service(), &format!("{}{sep}limit=1", api.list_path))
        .await
        .map_err(api_error(kind))?;
    let items = if api.collection.is_empty() {
        &body
    } else {
        &body[api.collection]
    };
    if items.is_array() {
        Ok(())
    } else {
        Err(ResourceError::Api {
            kind,
            source: ApiError::Other(format!(
                "{kind} list answer has no `{}` array",
                api.collection
            )),
        })
    }
}

fn item_path(r: &Resource) -> String {
    match r.kind {
        Kind::Stack => stack::path(r),
        kind => format!("{}{}", api(kind).item_prefix, segment(&r.id)),
    }
}

/// Reads `resource` again; `None` when it is gone (404, or a stack in `DELETE_COMPLETE`).
pub async fn read(
    session: &Session,
    resource: &Resource,
) -> Result<Option<Resource>, ResourceError> {
    let kind = resource.kind;
    if kind == Kind::Container {
        return container::read(session, resource).await;
    }
    let body = match session.get(kind.service(), &item_path(resource)).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(api_error(kind)(e)),
    };
    let item = match api(kind).item_key {
        Some(key) => body.get(key).ok_or_else(|| ParseError {
            kind,
            field: key.into(),
            problem: "missing from the answer".into(),
        })?,
        None => &body,
    };
    let mut fresh = parse(kind, item)?;
    // Everything after a read acts on what it returned: an answer about another
    // resource must never become that resource's delete.
    if fresh.id != resource.id {
        return Err(ParseError {
            kind,
            field: "id".into(),
            problem: format!("the answer is about {}, not {}", fresh.id, resource.id),
        }
        .into());
    }
    if kind == Kind::Stack {
        if fresh.status.as_deref() == Some("DELETE_COMPLETE") {
            return Ok(None);
        }
        fresh.refs = resource.refs.clone();
    }
    if kind == Kind::Router {
        // Interfaces come from the port list, which a show does not repeat.
        let interfaces = resource
            .detach
            .iter()
            .filter(|d| matches!(d, Detach::RouterInterface { .. }));
        let mut detach: Vec<Detach> = interfaces.cloned().collect();
        detach.append(&mut fresh.detach);
        fresh.detach = detach;
    }
    Ok(Some(fresh))
}

/// Reads one keypair's details (the list has no `created_at`).
pub async fn keypair_details(session: &Session, name: &str) -> Result<Resource, ResourceError> {
    let probe = Resource::new(Kind::Keypair, name);
    read(session, &probe)
        .await?
        .ok_or_else(|| ResourceError::Api {
            kind: Kind::Keypair,
            source: ApiError::Other(format!("keypair {name} vanished")),
        })
}

/// Deletes `resource` (a load balancer with `cascade`, a container after its objects).
pub async fn delete(
    session: &Session,
    resource: &Resource,
) -> Result<DeleteOutcome, ResourceError> {
    let kind = resource.kind;
    let result = match kind {
        Kind::Container => return container::delete(session, resource).await,
        Kind::LoadBalancer => {
            let path = format!("{}?cascade=true", item_path(resource));
            session.delete(kind.service(), &path).await
        }
        _ => session.delete(kind.service(), &item_path(resource)).await,
    };
    result.map_err(api_error(kind))
}

/// Carries out one detach action; a 404 means it is already done.
pub async fn detach(session: &Session, action: &Detach) -> Result<DetachOutcome, ResourceError> {
    let (kind, path, body) = match action {
        Detach::RouterInterface {
            router_id, port_id, ..
        } => (
            Kind::Router,
            format!("/routers/{}/remove_router_interface", segment(router_id)),
            json!({ "port_id": port_id }),
        ),
        Detach::RouterGateway { router_id, .. } => (
            Kind::Router,
            format!("/routers/{}", segment(router_id)),
            json!({ "router": { "external_gateway_info": {} } }),
        ),
        Detach::FloatingIp { floating_ip_id, .. } => (
            Kind::FloatingIp,
            format!("/floatingips/{}", segment(floating_ip_id)),
            json!({ "floatingip": { "port_id": null } }),
        ),
    };
    match session.put(kind.service(), &path, &body).await {
        Ok(_) => Ok(DetachOutcome::Done),
        Err(e) if e.is_not_found() => Ok(DetachOutcome::AlreadyGone),
        Err(e) => Err(api_error(kind)(e)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Kind names round-trip through `as_str`/`FromStr` and serde, and are kebab-case.
    #[test]
    fn kind_names_round_trip() {
        for kind in Kind::ALL {
            assert_eq!(kind.as_str().parse::<Kind>().unwrap(), *kind);
            let json = serde_json::to_string(kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
        }
        assert_eq!(Kind::ALL.len(), 15);
        assert!("floating_ip".parse::<Kind>().is_err());
    }

    /// Path segments are percent-encoded so a keypair name cannot change the path.
    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("my key/../x"), "my%20key%2F..%2Fx");
    }
}
