//! What the janitor knows about each kind of OpenStack resource: how to list it, read
//! it again, tell what it references and when it is in use, detach and delete it. Each
//! kind's file declares all of that in one place, its `SPEC` (a `KindSpec`: name,
//! service, API paths, parser, tags and metadata, blockers, plan rank, stuck states,
//! hooks for what the generic code gets wrong). This module holds the shared
//! vocabulary ([`Kind`], [`Resource`], [`Reference`], [`Detach`]), the kind table
//! (`spec`) and the generic [`list`], [`read`] and [`delete`] driven by it.
//!
//! Nothing here decides *whether* to delete: that is [`crate::engine::select`] and
//! [`crate::engine::plan`]. Parsing is tolerant of unknown fields and strict on types.
//!
//! # How to add a kind
//! 1. Write `src/resources/<kind>.rs`: a `//!` on the kind's quirks, a `parse` for one
//!    item as the API sends it, and `pub(super) static SPEC: KindSpec` with the rest
//!    (name, service, API paths, tags and metadata, async delete, blockers, rank, stuck
//!    and wrong-state statuses). Hooks only for what the generic list, read and delete
//!    get wrong; `Hooks::NONE` otherwise. Pick an unused `rank` between the kinds it goes
//!    between.
//! 2. Add its row to `kind_table!` below (`/// doc` then `Variant => file,`): that makes
//!    the [`Kind`] variant, the module, its place in [`Kind::ALL`] and its arm in `spec`.
//!    If the new kind can hold others in use, name it in their `blockers`.
//! 3. Emit the kind's references in `parse` (the planner orders and skips from them).
//! 4. Serve it in the simulator (`sim/src/<service>/`): list, show and delete, with the
//!    same paths, shapes, status codes and error bodies as the real API.
//! 5. Test: a parse test in the kind file, and a sweep against the simulator in
//!    `tests/engine/`. The table's own tests then ask for the rest: the kind count in
//!    `kind_names_round_trip`, its place in `ranks_keep_the_plan_order`, and
//!    `the_kind_table_is_whole` checks the row.

mod fields;

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use futures::future::BoxFuture;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::openstack::{ApiError, DeleteOutcome, Service, Session};

pub(crate) use fields::Obj;
pub use fields::ParseError;
pub use keypair::keypair_details;

/// Declares the kinds from the table's rows (`Variant => file`, with the variant's doc):
/// each row makes the [`Kind`] variant, the `mod` of its file, its place in [`Kind::ALL`]
/// and its arm in `spec`, which returns the `SPEC` the file declares. One row, one file:
/// nothing about a kind is declared anywhere else.
macro_rules! kind_table {
    ($( $(#[$doc:meta])* $variant:ident => $file:ident, )+) => {
        $( mod $file; )+

        /// A kind of resource the janitor sweeps. The kebab-case names are CLI and config
        /// values and metric labels.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "kebab-case")]
        pub enum Kind {
            $( $(#[$doc])* $variant, )+
        }

        impl Kind {
            /// Every kind, in table order: network, compute and block-storage kinds first.
            pub const ALL: &'static [Kind] = &[ $( Kind::$variant, )+ ];
        }

        /// The kind table: the row of `kind`, declared in the kind's own file.
        fn spec(kind: Kind) -> &'static KindSpec {
            let row = match kind {
                $( Kind::$variant => &$file::SPEC, )+
            };
            debug_assert_eq!(row.kind, kind, "the kind table row of {kind} is another kind's");
            row
        }
    };
}

// The kind table: one row per kind, in the order kinds are listed and shown.
kind_table! {
    /// Nova server.
    Server => server,
    /// Nova server group.
    ServerGroup => server_group,
    /// Nova keypair (named, user-scoped).
    Keypair => keypair,
    /// Neutron port.
    Port => port,
    /// Neutron floating IP.
    FloatingIp => floating_ip,
    /// Neutron router.
    Router => router,
    /// Neutron subnet.
    Subnet => subnet,
    /// Neutron network.
    Network => network,
    /// Neutron security group.
    SecurityGroup => security_group,
    /// Cinder volume.
    Volume => volume,
    /// Cinder snapshot.
    Snapshot => snapshot,
    /// Octavia load balancer (deleted with `cascade`).
    LoadBalancer => load_balancer,
    /// Glance image.
    Image => image,
    /// Heat stack.
    Stack => stack,
    /// Swift container (emptied, then deleted).
    Container => container,
    /// Neutron trunk (trunk extension): sub-ports removed, then the trunk, then its
    /// parent port.
    Trunk => trunk,
    /// Neutron floating IP port forwarding (no tags: follows its floating IP).
    PortForwarding => port_forwarding,
    /// Cinder volume backup (incrementals before what they build on).
    VolumeBackup => volume_backup,
    /// Barbican secret container (before the secrets it groups).
    SecretContainer => secret_container,
    /// Barbican secret (after the containers and listeners that refer to it).
    Secret => secret,
    /// Designate recordset (SOA and apex NS never: Designate's own).
    Recordset => recordset,
    /// Designate zone (its delete takes its recordsets along).
    Zone => zone,
    /// Manila share snapshot (before its share).
    ShareSnapshot => share_snapshot,
    /// Manila share (its access rules go with it).
    Share => share,
    /// Manila share network (after its shares).
    ShareNetwork => share_network,
}

impl Kind {
    /// The kebab-case name (`floating-ip`).
    pub fn as_str(self) -> &'static str {
        spec(self).name
    }

    /// The service this kind lives in.
    pub fn service(self) -> Service {
        spec(self).service
    }

    /// Whether resources of this kind carry tags.
    pub fn has_tags(self) -> bool {
        spec(self).tags
    }

    /// Whether resources of this kind carry `key=value` metadata (image: properties).
    pub fn has_metadata(self) -> bool {
        spec(self).metadata
    }

    /// Whether a delete returns before the resource is gone (the sweep then polls).
    pub fn deletes_asynchronously(self) -> bool {
        spec(self).deletes_asynchronously
    }

    /// Whether the service answers a delete in the wrong state with `status` (besides
    /// 409): a conflict to retry, not a failure.
    pub fn refuses_wrong_state_with(self, status: u16) -> bool {
        status == 409 || spec(self).wrong_state_statuses.contains(&status)
    }

    /// Whether the description stands in for the name (floating IPs).
    pub fn named_by_description(self) -> bool {
        spec(self).named_by_description
    }

    /// Which kinds can hold a resource of this kind in use. When listing one of them
    /// failed, resources of this kind cannot be proven unused.
    pub fn blockers(self) -> &'static [Kind] {
        spec(self).blockers
    }

    /// For a kind without marks of its own, the role of the reference whose target's
    /// verdict it takes (a port forwarding follows its floating IP).
    pub fn follows(self) -> Option<&'static str> {
        spec(self).follows
    }

    /// Rank used to break ties in plan order so plans read naturally and stay stable.
    pub(crate) fn rank(self) -> usize {
        spec(self).rank
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
    /// whose rule names the target as remote group: Neutron would drop that rule; a
    /// subnet behind the target router: removing the interface cuts its way out).
    Guards,
    /// Deleting this one makes the cloud delete the target too (a server's boot volume
    /// with `delete_on_termination`): this one goes only if the target may go.
    Takes,
}

/// The role of a volume a server's deletion takes with it (`delete_on_termination`).
pub const DELETED_WITH_SERVER: &str = "deleted with the server";

/// The role of a port's guard on the port holding an address of its
/// `allowed_address_pairs` (a keepalived VIP): freeing that address breaks the holder.
/// Parsed with the address as ID; the inventory resolves it to the port.
pub const ALLOWED_ADDRESS_PAIR: &str = "allowed address pair";

/// The role of a port's guard on a router with an extra route through its address.
/// Parsed on the router with the next hop as ID; the inventory moves it to the port.
pub const ROUTE_NEXTHOP: &str = "route next hop";

/// The role of a subnet's guard on the router with an interface on it.
pub const ROUTER_OF_SUBNET: &str = "router of its interface";

pub use recordset::DELETED_WITH_ZONE;

/// The role of a volume attachment's server: Cinder keeps showing it for a few seconds
/// after the server is gone.
pub const ATTACHED_SERVER: &str = "attached server";

/// The role of a port's reference to the server its `device_id` names.
pub const BOUND_SERVER: &str = "server";

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
    /// Clear the router's extra routes (Neutron refuses to remove an interface a route
    /// goes through: 409 `RouterInterfaceInUseByRoute`).
    RouterRoutes {
        /// The router.
        router_id: String,
    },
    /// Disassociate a floating IP from its port.
    FloatingIp {
        /// The floating IP.
        floating_ip_id: String,
        /// The port it is associated with.
        port_id: String,
    },
    /// `remove_subports` of a trunk: every sub-port at once.
    TrunkSubports {
        /// The trunk.
        trunk_id: String,
        /// Its sub-ports.
        port_ids: Vec<String>,
    },
    /// Clear a port's `device_id` and `device_owner`: the binding to a server that is
    /// gone (Nova deleted it while Neutron could not be told). Neutron refuses a member
    /// the delete of a port owned by `compute:*` (403), not this update.
    PortBinding {
        /// The port.
        port_id: String,
        /// The gone server its `device_id` names.
        server_id: String,
    },
}

impl Detach {
    /// The resource this action belongs to (its deletion needs the action).
    pub fn owner(&self) -> ResourceKey {
        match self {
            Detach::RouterInterface { router_id, .. }
            | Detach::RouterGateway { router_id, .. }
            | Detach::RouterRoutes { router_id } => {
                ResourceKey::new(Kind::Router, router_id.clone())
            }
            Detach::FloatingIp { floating_ip_id, .. } => {
                ResourceKey::new(Kind::FloatingIp, floating_ip_id.clone())
            }
            Detach::TrunkSubports { trunk_id, .. } => {
                ResourceKey::new(Kind::Trunk, trunk_id.clone())
            }
            Detach::PortBinding { port_id, .. } => ResourceKey::new(Kind::Port, port_id.clone()),
        }
    }

    /// The port this action removes or frees, if any.
    pub fn port(&self) -> Option<&str> {
        match self {
            Detach::RouterInterface { port_id, .. } | Detach::FloatingIp { port_id, .. } => {
                Some(port_id)
            }
            Detach::RouterGateway { .. }
            | Detach::RouterRoutes { .. }
            | Detach::TrunkSubports { .. }
            | Detach::PortBinding { .. } => None,
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
            Detach::RouterRoutes { .. } => "clear extra routes".into(),
            Detach::FloatingIp { port_id, .. } => format!("disassociate from port {port_id}"),
            Detach::TrunkSubports { port_ids, .. } => {
                format!("remove sub-ports {}", port_ids.join(","))
            }
            Detach::PortBinding { server_id, .. } => {
                format!("clear binding to gone server {server_id}")
            }
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
            Detach::RouterRoutes { router_id } => {
                format!("clear extra routes of router {router_id}")
            }
            Detach::FloatingIp {
                floating_ip_id,
                port_id,
            } => {
                format!("disassociate floating IP {floating_ip_id} from port {port_id}")
            }
            Detach::TrunkSubports { trunk_id, port_ids } => {
                format!(
                    "remove sub-ports {} from trunk {trunk_id}",
                    port_ids.join(",")
                )
            }
            Detach::PortBinding { port_id, server_id } => {
                format!("clear port {port_id}'s binding to gone server {server_id}")
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
    /// IP addresses it holds (a port's fixed IPs): what address pairs and routes name.
    pub addresses: Vec<String>,
    /// What a kind's parser keeps for its `link` hook and nothing else reads (a
    /// backup's volume and place in its chain).
    #[serde(skip)]
    pub(crate) facts: BTreeMap<&'static str, String>,
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
            addresses: Vec::new(),
            facts: BTreeMap::new(),
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
        self.status_is(spec(self.kind).stuck)
    }

    /// Stuck once a delete was accepted: the kinds whose failed deletes end in `ERROR`.
    pub fn is_stuck_after_delete(&self) -> bool {
        self.is_stuck() || self.status_is(spec(self.kind).stuck_after_delete)
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

/// Everything the janitor knows about one kind, declared once as the `SPEC` of the
/// kind's own file and found through `spec`. [`Kind`]'s methods and the generic
/// [`list`], [`probe`], [`read`], [`delete`] and [`parse`] read it, so nothing else
/// matches on kinds.
pub(crate) struct KindSpec {
    /// The kind this row describes: `spec` (in debug builds) and the table test check
    /// that each row is its own kind's.
    kind: Kind,
    /// The kebab-case name: CLI and config value, metric label; serde's name too.
    name: &'static str,
    /// The service the kind lives in.
    service: Service,
    /// Where the kind lives in its API.
    api: Api,
    /// Reads one item as a list or show answer sends it.
    parse: fn(&Value) -> Result<Resource, ParseError>,
    /// Whether resources carry tags, so tag filters can apply to the kind.
    tags: bool,
    /// Whether resources carry `key=value` metadata (image: properties).
    metadata: bool,
    /// Whether a delete returns before the resource is gone (the sweep then polls).
    deletes_asynchronously: bool,
    /// Kinds that can hold a resource of this kind in use. When listing one of them
    /// failed, resources of this kind cannot be proven unused.
    blockers: &'static [Kind],
    /// Place among kinds when plan order ties, lowest first, so plans read naturally
    /// and stay stable. Unique; spaced by 10 so a new kind fits between two.
    rank: usize,
    /// Statuses (any case) in which a delete will not succeed by retrying.
    stuck: &'static [&'static str],
    /// Further statuses that mean stuck once a delete was accepted: a failed
    /// asynchronous delete that ends in `ERROR` rather than a status of its own.
    stuck_after_delete: &'static [&'static str],
    /// Statuses besides 409 with which the service refuses a delete in the wrong state,
    /// to be retried like a conflict (Cinder's 400 "Volume status must be ...").
    pub(crate) wrong_state_statuses: &'static [u16],
    /// Whether the description stands in for the name (floating IPs have none): name
    /// patterns and the protect list match it.
    pub(crate) named_by_description: bool,
    /// For a kind without marks of its own (port forwardings have no tags, name or
    /// age), the role of the reference whose target's verdict it takes: it is selected
    /// exactly when that target is (and the filters allow the kind).
    pub(crate) follows: Option<&'static str>,
    /// What the kind does differently from the generic code.
    hooks: Hooks,
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

/// Completes one listed resource with calls of its own (a stack's owned resources).
type ListHook =
    for<'a> fn(&'a Session, &'a mut Resource) -> BoxFuture<'a, Result<(), ResourceError>>;

/// Completes every listed resource of a kind with one more listing of its own (a load
/// balancer's listeners' TLS references).
type CompleteHook =
    for<'a> fn(&'a Session, &'a mut [Resource]) -> BoxFuture<'a, Result<(), ResourceError>>;

/// Lists every resource of a kind in its own way (port forwardings: one sub-collection
/// per floating IP).
type ListAllHook = for<'a> fn(&'a Session) -> BoxFuture<'a, Result<Vec<Resource>, ResourceError>>;

/// Reads a resource again in a kind's own way; `None` when it is gone.
type ReadHook =
    for<'a> fn(&'a Session, &'a Resource) -> BoxFuture<'a, Result<Option<Resource>, ResourceError>>;

/// Deletes a resource in a kind's own way.
type DeleteHook =
    for<'a> fn(&'a Session, &'a Resource) -> BoxFuture<'a, Result<DeleteOutcome, ResourceError>>;

/// The odd kinds' behaviour; each `None` means the generic way, which is what most
/// kinds want (`hooks: Hooks::NONE`).
pub(crate) struct Hooks {
    /// Replaces the generic listing, and so the preflight probe too (port forwardings
    /// live under each floating IP).
    list: Option<ListAllHook>,
    /// Adds to the kind's resources what only other resources of the inventory show
    /// (a trunk learns its parent port's server; a backup the incrementals on top of
    /// it). Runs once the whole inventory is listed, before linking.
    link: Option<fn(&mut [Resource])>,
    /// Runs on every listed resource (a stack reads the resources it owns).
    after_list: Option<ListHook>,
    /// Runs once on all the kind's listed resources (a load balancer learns its
    /// listeners' TLS references with one listing of the listeners).
    complete: Option<CompleteHook>,
    /// Replaces the generic show (a container is probed with a one-object listing).
    read: Option<ReadHook>,
    /// Turns a show answer into the fresh resource, given the resource as known
    /// before: keeps what a show does not repeat (a stack's owned resources, a
    /// router's interfaces), or says `None` when the answer means gone.
    after_read: Option<fn(&Resource, Resource) -> Option<Resource>>,
    /// Replaces the generic DELETE (a container is emptied first, a load balancer
    /// cascades).
    delete: Option<DeleteHook>,
    /// Replaces `item_prefix` + ID as one item's path (a stack: `/stacks/{name}/{id}`).
    item_path: Option<fn(&Resource) -> String>,
}

impl Hooks {
    /// The generic behaviour throughout.
    pub(crate) const NONE: Hooks = Hooks {
        list: None,
        link: None,
        after_list: None,
        complete: None,
        read: None,
        after_read: None,
        delete: None,
        item_path: None,
    };
}

/// Parses one item of `kind` as the API sends it in a list or show answer.
pub fn parse(kind: Kind, value: &Value) -> Result<Resource, ParseError> {
    (spec(kind).parse)(value)
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
    let spec = spec(kind);
    if let Some(list) = spec.hooks.list {
        return list(session).await;
    }
    let api = &spec.api;
    let parsed = session
        .list_map(spec.service, api.list_path, api.collection, |v| {
            (spec.parse)(&v)
        })
        .await
        .map_err(api_error(kind))?;
    let mut out = parsed.into_iter().collect::<Result<Vec<_>, _>>()?;
    if let Some(after_list) = spec.hooks.after_list {
        for r in &mut out {
            after_list(session, r).await?;
        }
    }
    if let Some(complete) = spec.hooks.complete {
        complete(session, &mut out).await?;
    }
    Ok(out)
}

/// Lists at most one resource of `kind` (one page, `limit=1`): proves listing works with
/// these credentials without reading the whole project (preflight).
pub async fn probe(session: &Session, kind: Kind) -> Result<(), ResourceError> {
    let spec = spec(kind);
    if let Some(list) = spec.hooks.list {
        return list(session).await.map(drop);
    }
    let api = &spec.api;
    let sep = if api.list_path.contains('?') {
        '&'
    } else {
        '?'
    };
    let body = session
        .get(spec.service, &format!("{}{sep}limit=1", api.list_path))
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

/// Lets every kind add what only other resources of the inventory show (its `link`
/// hook), before the inventory links the rest.
pub(crate) fn link_kinds(resources: &mut [Resource]) {
    for &kind in Kind::ALL {
        if let Some(link) = spec(kind).hooks.link {
            link(resources);
        }
    }
}

/// One item's path: the kind's item prefix and the encoded ID, unless the kind says.
fn item_path(r: &Resource) -> String {
    let spec = spec(r.kind);
    match spec.hooks.item_path {
        Some(path) => path(r),
        None => format!("{}{}", spec.api.item_prefix, segment(&r.id)),
    }
}

/// Reads `resource` again; `None` when it is gone (404, or a stack in `DELETE_COMPLETE`).
pub async fn read(
    session: &Session,
    resource: &Resource,
) -> Result<Option<Resource>, ResourceError> {
    let kind = resource.kind;
    let spec = spec(kind);
    if let Some(read) = spec.hooks.read {
        return read(session, resource).await;
    }
    let body = match session.get(spec.service, &item_path(resource)).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(api_error(kind)(e)),
    };
    let item = match spec.api.item_key {
        Some(key) => body.get(key).ok_or_else(|| ParseError {
            kind,
            field: key.into(),
            problem: "missing from the answer".into(),
        })?,
        None => &body,
    };
    let fresh = (spec.parse)(item)?;
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
    Ok(match spec.hooks.after_read {
        Some(after_read) => after_read(resource, fresh),
        None => Some(fresh),
    })
}

/// Deletes `resource` (a load balancer with `cascade`, a container after its objects).
pub async fn delete(
    session: &Session,
    resource: &Resource,
) -> Result<DeleteOutcome, ResourceError> {
    let kind = resource.kind;
    let spec = spec(kind);
    if let Some(delete) = spec.hooks.delete {
        return delete(session, resource).await;
    }
    session
        .delete(spec.service, &item_path(resource))
        .await
        .map_err(api_error(kind))
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
        Detach::RouterRoutes { router_id } => (
            Kind::Router,
            format!("/routers/{}", segment(router_id)),
            json!({ "router": { "routes": [] } }),
        ),
        Detach::FloatingIp { floating_ip_id, .. } => (
            Kind::FloatingIp,
            format!("/floatingips/{}", segment(floating_ip_id)),
            json!({ "floatingip": { "port_id": null } }),
        ),
        Detach::TrunkSubports { trunk_id, port_ids } => (
            Kind::Trunk,
            format!("/trunks/{}/remove_subports", segment(trunk_id)),
            json!({ "sub_ports": port_ids.iter().map(|p| json!({ "port_id": p })).collect::<Vec<_>>() }),
        ),
        Detach::PortBinding { port_id, .. } => (
            Kind::Port,
            format!("/ports/{}", segment(port_id)),
            json!({ "port": { "device_id": "", "device_owner": "" } }),
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
        assert_eq!(Kind::ALL.len(), 25);
        assert!("floating_ip".parse::<Kind>().is_err());
    }

    /// Every kind has its own row in the table, under a name and rank of its own; `ALL`
    /// holds every variant once; blockers are listed kinds.
    #[test]
    fn the_kind_table_is_whole() {
        let mut names = std::collections::HashSet::new();
        let mut ranks = std::collections::HashSet::new();
        for &kind in Kind::ALL {
            let row = spec(kind);
            assert_eq!(row.kind, kind);
            assert!(names.insert(row.name), "{kind:?}: name used twice");
            assert!(ranks.insert(row.rank), "{kind:?}: rank used twice");
            for blocker in row.blockers {
                assert!(Kind::ALL.contains(blocker), "{kind:?}: blocker {blocker:?}");
            }
        }
        // `ALL` is every variant once: serde's derive knows them all.
        let mut variants: Vec<&str> = every_variant_name().to_vec();
        let mut listed: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        variants.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, variants);
    }

    /// Every variant's name, from the derived `Deserialize`: it hands the whole list to
    /// `deserialize_enum`, which this deserializer keeps and then refuses.
    fn every_variant_name() -> &'static [&'static str] {
        use serde::de::{Error, Visitor};
        struct Grab<'a>(&'a mut &'static [&'static str]);
        impl<'de> serde::Deserializer<'de> for Grab<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(Error::custom("not an enum"))
            }
            fn deserialize_enum<V: Visitor<'de>>(
                self,
                _: &'static str,
                variants: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                *self.0 = variants;
                Err(Error::custom("names taken"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map
                struct identifier ignored_any
            }
        }
        let mut names: &'static [&'static str] = &[];
        assert!(Kind::deserialize(Grab(&mut names)).is_err());
        assert!(!names.is_empty());
        names
    }

    /// Ranks order the kinds totally, in the plan order plans and their snapshots show.
    #[test]
    fn ranks_keep_the_plan_order() {
        use Kind::*;
        let mut by_rank = Kind::ALL.to_vec();
        by_rank.sort_by_key(|k| k.rank());
        assert!(by_rank.windows(2).all(|w| w[0].rank() < w[1].rank()));
        assert_eq!(
            by_rank,
            [
                Stack,
                LoadBalancer,
                Server,
                PortForwarding,
                FloatingIp,
                Trunk,
                Port,
                Router,
                Subnet,
                Network,
                SecurityGroup,
                Snapshot,
                VolumeBackup,
                Volume,
                Image,
                ServerGroup,
                Keypair,
                Container,
                SecretContainer,
                Secret,
                Recordset,
                Zone,
                ShareSnapshot,
                Share,
                ShareNetwork,
            ]
        );
    }

    /// Stuck states come from the table: before a delete a failed delete's own status,
    /// after one also `ERROR` for the kinds that end there; case does not matter.
    #[test]
    fn stuck_states() {
        let with = |kind: Kind, status: &str| {
            let mut r = Resource::new(kind, "x");
            r.status = Some(status.into());
            (r.is_stuck(), r.is_stuck_after_delete())
        };
        assert_eq!(with(Kind::Volume, "ERROR_DELETING"), (true, true));
        assert_eq!(with(Kind::Snapshot, "error_deleting"), (true, true));
        assert_eq!(with(Kind::Stack, "DELETE_FAILED"), (true, true));
        assert_eq!(with(Kind::Server, "ERROR"), (false, true));
        assert_eq!(with(Kind::LoadBalancer, "error"), (false, true));
        assert_eq!(with(Kind::Volume, "error"), (false, false));
        assert_eq!(with(Kind::Port, "DELETE_FAILED"), (false, false));
        assert!(!Resource::new(Kind::Volume, "x").is_stuck());
    }

    /// Path segments are percent-encoded so a keypair name cannot change the path.
    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("my key/../x"), "my%20key%2F..%2Fx");
    }
}
