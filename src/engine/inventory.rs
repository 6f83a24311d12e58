//! The inventory: every resource of every kind in the project, selected or not (the
//! unselected ones are what keeps a selected one in use), linked so that each resource
//! carries the references the API only shows from the other side (router interfaces
//! from ports, the subnets behind a router, what a stack or load balancer owns).

use std::collections::{BTreeMap, HashMap};

use futures::future::join_all;

use crate::openstack::{ApiError, Session};
use crate::resources::{self, Detach, Kind, Reference, Relation, Resource, ResourceKey};

/// Everything found in one project.
#[derive(Debug, Clone, Default)]
pub struct Inventory {
    project_id: String,
    resources: Vec<Resource>,
    index: HashMap<ResourceKey, usize>,
    sort_names: HashMap<ResourceKey, String>,
    errors: BTreeMap<Kind, String>,
    absent: Vec<Kind>,
}

impl Inventory {
    /// An inventory of `resources` found in `project_id`, linked, in kind and name order.
    pub fn new(project_id: impl Into<String>, mut resources: Vec<Resource>) -> Self {
        resources.sort_by(|a, b| (a.kind, &a.id).cmp(&(b.kind, &b.id)));
        resources.dedup_by(|a, b| a.kind == b.kind && a.id == b.id);
        resources::link_kinds(&mut resources);
        link(&mut resources);
        // Kind, then name: IDs are random, names are what a reader (and a snapshot)
        // follows. Unnamed resources (Nova's ports) go by the names they reference.
        let names: HashMap<&str, &str> = resources
            .iter()
            .map(|r| (r.id.as_str(), r.name.as_str()))
            .collect();
        let sort_names: HashMap<ResourceKey, String> = resources
            .iter()
            .map(|r| {
                let name = if r.name.is_empty() {
                    let referenced = r
                        .refs
                        .iter()
                        .filter_map(|x| names.get(x.id.as_str()).copied());
                    format!("~{}", referenced.collect::<Vec<_>>().join(","))
                } else {
                    r.name.clone()
                };
                (r.key(), name)
            })
            .collect();
        resources.sort_by_cached_key(|r| (r.kind, sort_names.get(&r.key()).cloned(), r.id.clone()));
        let index = resources
            .iter()
            .enumerate()
            .map(|(i, r)| (r.key(), i))
            .collect();
        Inventory {
            project_id: project_id.into(),
            resources,
            index,
            sort_names,
            errors: BTreeMap::new(),
            absent: Vec::new(),
        }
    }

    /// The name `r` is ordered by: its name, or for an unnamed one the names of what it
    /// references (stable where IDs are random).
    pub fn sort_name<'a>(&'a self, r: &'a Resource) -> &'a str {
        self.sort_names
            .get(&r.key())
            .map_or(r.name.as_str(), String::as_str)
    }

    /// Records that listing `kind` failed.
    pub fn record_error(&mut self, kind: Kind, error: impl Into<String>) {
        self.errors.insert(kind, error.into());
    }

    /// Records that the cloud has no endpoint for `kind`'s service.
    pub fn record_absent(&mut self, kind: Kind) {
        self.absent.push(kind);
    }

    /// The project listed.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Every resource, in kind and name order.
    pub fn resources(&self) -> &[Resource] {
        &self.resources
    }

    /// One resource by key.
    pub fn get(&self, key: &ResourceKey) -> Option<&Resource> {
        self.index.get(key).map(|&i| &self.resources[i])
    }

    /// The one resource with this ID whatever its kind (references of unknown kind).
    pub fn find_id(&self, id: &str) -> Option<&Resource> {
        let mut found = self.resources.iter().filter(|r| r.id == id);
        match (found.next(), found.next()) {
            (Some(r), None) => Some(r),
            _ => None,
        }
    }

    /// Resolves a reference to the resource it names, when listed.
    pub fn resolve(&self, reference: &Reference) -> Option<&Resource> {
        match reference.kind {
            Some(kind) => self.get(&ResourceKey::new(kind, reference.id.clone())),
            None => self.find_id(&reference.id),
        }
    }

    /// Kinds whose listing failed, with the error.
    pub fn errors(&self) -> &BTreeMap<Kind, String> {
        &self.errors
    }

    /// Kinds not offered by this cloud.
    pub fn absent(&self) -> &[Kind] {
        &self.absent
    }

    /// When a kind that can hold `kind` in use failed to list, that kind and its error:
    /// resources of `kind` cannot then be proven unused.
    pub fn unverifiable(&self, kind: Kind) -> Option<(Kind, &str)> {
        kind.blockers()
            .iter()
            .find_map(|b| self.errors.get(b).map(|e| (*b, e.as_str())))
    }

    /// Whether `kind` was listed completely (offered, visible, and without error).
    pub fn listed(&self, kind: Kind) -> bool {
        !self.errors.contains_key(&kind) && !self.absent.contains(&kind)
    }

    /// A volume attachment to a server that is not in the (complete) server list: the
    /// server is gone and Cinder has not caught up yet. Not a blocker: Cinder refuses the
    /// delete (400, retried) for as long as the attachment is real.
    pub fn is_stale_attachment(&self, reference: &Reference) -> bool {
        reference.relation == Relation::HeldBy
            && reference.kind == Some(Kind::Server)
            && reference.role == resources::ATTACHED_SERVER
            && self.resolve(reference).is_none()
            && self.listed(Kind::Server)
    }

    /// A port still bound to a server that is not in the (complete) server list: Nova
    /// deleted the server while Neutron could not be told (Neutron down during the
    /// delete), so the port's `device_id` names a server that is gone. Not a blocker at
    /// plan time: Nova binds only ports of the server's own project, so the project's
    /// complete server list is the whole truth. Neutron would not refuse the port's
    /// delete, so the sweep reads the server by ID right before it ([`Self::is_orphan_binding`]
    /// references are confirmed gone, never assumed).
    pub fn is_orphan_binding(&self, reference: &Reference) -> bool {
        reference.relation == Relation::OwnedBy
            && reference.kind == Some(Kind::Server)
            && reference.role == resources::BOUND_SERVER
            && self.resolve(reference).is_none()
            && self.listed(Kind::Server)
    }

    /// How many resources of `kind` were found.
    pub fn count(&self, kind: Kind) -> usize {
        self.resources.iter().filter(|r| r.kind == kind).count()
    }
}

/// The network a port is on.
fn network_of(port: &Resource) -> Option<&str> {
    port.refs
        .iter()
        .find(|x| x.kind == Some(Kind::Network) && x.role == "network")
        .map(|x| x.id.as_str())
}

/// Adds what only the other side shows: router interfaces (from their ports) and the
/// `OwnedBy` side of every `Owns`.
fn link(resources: &mut [Resource]) {
    let index: HashMap<ResourceKey, usize> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key(), i))
        .collect();
    let mut by_id: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in resources.iter().enumerate() {
        by_id.entry(r.id.as_str()).or_default().push(i);
    }
    let mut by_address: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, r) in resources.iter().enumerate() {
        for address in &r.addresses {
            by_address.entry(address.as_str()).or_default().push(i);
        }
    }
    let mut additions: Vec<(usize, Option<Reference>, Option<Detach>)> = Vec::new();
    // Routers by the subnets they have an interface on: every port on such a subnet
    // goes out through the router, so while the port stays, the router stays (the
    // subnet keeps it too, below, even with no port on it).
    let mut routers_of: HashMap<&str, Vec<&str>> = HashMap::new();
    for r in resources.iter().filter(|r| r.kind == Kind::Port) {
        let router = r
            .refs
            .iter()
            .find(|x| x.relation == Relation::OwnedBy && x.role == "router interface");
        for (router, subnet) in router.into_iter().flat_map(|x| {
            let subnets = r.refs.iter().filter(|s| s.kind == Some(Kind::Subnet));
            subnets.map(move |s| (x.id.as_str(), s.id.as_str()))
        }) {
            routers_of.entry(subnet).or_default().push(router);
        }
    }
    let interface = |r: &Resource| r.refs.iter().any(|x| x.role == "router interface");
    let ports = resources.iter().enumerate();
    for (ri, r) in ports.filter(|(_, r)| r.kind == Kind::Port && !interface(r)) {
        let own = |router: &str| {
            r.refs
                .iter()
                .any(|x| x.relation == Relation::OwnedBy && x.id == router)
        };
        for subnet in r.refs.iter().filter(|x| x.kind == Some(Kind::Subnet)) {
            for &router in routers_of.get(subnet.id.as_str()).into_iter().flatten() {
                if !own(router) && index.contains_key(&ResourceKey::new(Kind::Router, router)) {
                    let guard = Reference::new(
                        Relation::Guards,
                        Kind::Router,
                        router,
                        resources::ROUTER_OF_SUBNET,
                    );
                    additions.push((ri, Some(guard), None));
                }
            }
        }
    }
    // An address names a port only within a network: a port's pairs name addresses on
    // its own network; a route's next hop is on a subnet the router has an interface on,
    // or on its gateway network (Neutron refuses any other next hop).
    let reaches = |router: &Resource, holder: &Resource| {
        let gateway = router.refs.iter().find(|x| x.role == "gateway network");
        let on_gateway = gateway.is_some_and(|g| network_of(holder) == Some(g.id.as_str()));
        let on_interface = holder
            .refs
            .iter()
            .filter(|x| x.kind == Some(Kind::Subnet))
            .any(|s| {
                let routers = routers_of.get(s.id.as_str());
                routers.is_some_and(|rs| rs.contains(&router.id.as_str()))
            });
        on_gateway || on_interface
    };
    for (ri, r) in resources.iter().enumerate() {
        for reference in &r.refs {
            let holders = || {
                let found = by_address.get(reference.id.as_str());
                found
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(move |&h| h != ri)
            };
            match reference.relation {
                // A port keeps the ports of its network holding its address pairs'
                // addresses.
                Relation::Guards if reference.role == resources::ALLOWED_ADDRESS_PAIR => {
                    let network = network_of(r);
                    for h in holders().filter(|&h| network_of(&resources[h]) == network) {
                        let guard = Reference::new(
                            Relation::Guards,
                            Kind::Port,
                            resources[h].id.clone(),
                            resources::ALLOWED_ADDRESS_PAIR,
                        );
                        additions.push((ri, Some(guard), None));
                    }
                }
                // The port a route goes through keeps the router.
                Relation::Guards if reference.role == resources::ROUTE_NEXTHOP => {
                    for h in holders().filter(|&h| reaches(r, &resources[h])) {
                        let guard = Reference::new(
                            Relation::Guards,
                            r.kind,
                            r.id.clone(),
                            resources::ROUTE_NEXTHOP,
                        );
                        additions.push((h, Some(guard), None));
                    }
                }
                Relation::OwnedBy if reference.role == "router interface" => {
                    let router = ResourceKey::new(Kind::Router, reference.id.clone());
                    if let Some(&i) = index.get(&router) {
                        let subnet_id = r
                            .refs
                            .iter()
                            .find(|x| x.kind == Some(Kind::Subnet))
                            .map(|x| x.id.clone());
                        // The subnet relies on the router for its way out (SNAT,
                        // floating IPs): while the subnet stays, the router stays.
                        let subnet = subnet_id
                            .as_ref()
                            .and_then(|s| index.get(&ResourceKey::new(Kind::Subnet, s.clone())));
                        if let Some(&s) = subnet {
                            let guard = Reference::new(
                                Relation::Guards,
                                Kind::Router,
                                reference.id.clone(),
                                resources::ROUTER_OF_SUBNET,
                            );
                            additions.push((s, Some(guard), None));
                        }
                        let detach = Detach::RouterInterface {
                            router_id: reference.id.clone(),
                            port_id: r.id.clone(),
                            subnet_id,
                        };
                        additions.push((i, None, Some(detach)));
                    }
                }
                Relation::Owns => {
                    let target = match reference.kind {
                        Some(kind) => index
                            .get(&ResourceKey::new(kind, reference.id.clone()))
                            .copied(),
                        None => match by_id.get(reference.id.as_str()).map(Vec::as_slice) {
                            Some([only]) => Some(*only),
                            _ => None,
                        },
                    };
                    if let Some(i) = target {
                        let owned = Reference::new(
                            Relation::OwnedBy,
                            r.kind,
                            r.id.clone(),
                            r.kind.as_str(),
                        );
                        additions.push((i, Some(owned), None));
                    }
                }
                _ => {}
            }
        }
    }
    for (i, reference, detach) in additions {
        let target = &mut resources[i];
        if let Some(reference) = reference {
            if !target.refs.contains(&reference) {
                target.refs.push(reference);
            }
        }
        if let Some(detach) = detach {
            if !target.detach.contains(&detach) {
                target.detach.push(detach);
            }
        }
    }
    for r in resources.iter_mut() {
        // Address references are resolved above: the addresses themselves name nothing.
        r.refs.retain(|x| {
            !(x.relation == Relation::Guards
                && x.kind == Some(Kind::Port)
                && matches!(
                    x.role,
                    resources::ALLOWED_ADDRESS_PAIR | resources::ROUTE_NEXTHOP
                )
                && x.id.parse::<std::net::IpAddr>().is_ok())
        });
        r.detach.sort();
    }
}

/// Lists every kind the cloud offers, then learns the age of the keypairs for which
/// `needs_age` says only their age could keep them from being selected (a keypair's
/// `created_at` is only in its details).
pub async fn collect(session: &Session, needs_age: impl Fn(&Resource) -> bool) -> Inventory {
    let project = session.project_id().to_string();
    let offered: Vec<Kind> = Kind::ALL
        .iter()
        .copied()
        .filter(|k| session.has_service(k.service()))
        .collect();
    let lists = join_all(offered.iter().map(|&kind| resources::list(session, kind))).await;
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let mut forbidden = Vec::new();
    for (kind, result) in offered.iter().zip(lists) {
        match result {
            Ok(mut list) => found.append(&mut list),
            // The policy hides this kind from us (Heat often wants a role of its own):
            // there is nothing of it we could have made, so treat it as not offered.
            // A 404 on the collection itself: the catalog names an API that is not there.
            Err(e) if matches!(e.api().and_then(ApiError::status), Some(403 | 404)) => {
                tracing::warn!(kind = kind.as_str(), error = %e, "listing refused; kind not swept");
                forbidden.push(*kind);
            }
            Err(e) => errors.push((*kind, e.to_string())),
        }
    }
    // The keypairs' details, all at once (the session paces Nova).
    let aged = found
        .iter_mut()
        .filter(|r| r.kind == Kind::Keypair && needs_age(r));
    join_all(aged.map(|r| async move {
        match resources::keypair_details(session, &r.id).await {
            Ok(details) => r.created_at = details.created_at,
            Err(e) => {
                tracing::warn!(kind = "keypair", id = %r.id, error = %e, "could not read keypair age")
            }
        }
    }))
    .await;
    let mut inventory = Inventory::new(project, found);
    for (kind, error) in errors {
        tracing::warn!(kind = kind.as_str(), %error, "listing failed");
        inventory.record_error(kind, error);
    }
    for kind in Kind::ALL
        .iter()
        .filter(|k| !offered.contains(k) || forbidden.contains(k))
    {
        inventory.record_absent(*kind);
    }
    inventory
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A router learns its interfaces from ports; an `Owns` becomes the target's `OwnedBy`.
    #[test]
    fn linking() {
        let mut port = Resource::new(Kind::Port, "p1");
        port.refs.push(Reference::new(
            Relation::Needs,
            Kind::Subnet,
            "s1",
            "subnet",
        ));
        port.refs.push(Reference::new(
            Relation::OwnedBy,
            Kind::Router,
            "r1",
            "router interface",
        ));
        let router = Resource::new(Kind::Router, "r1");
        let mut vip = Resource::new(Kind::Port, "vip");
        vip.refs.clear();
        let mut lb = Resource::new(Kind::LoadBalancer, "lb1");
        lb.refs.push(Reference::new(
            Relation::Owns,
            Kind::Port,
            "vip",
            "VIP port",
        ));
        let inv = Inventory::new("p", vec![port, router, vip, lb]);
        let r = inv.get(&ResourceKey::new(Kind::Router, "r1")).unwrap();
        assert_eq!(r.detach.len(), 1);
        assert_eq!(r.detach[0].port(), Some("p1"));
        let vip = inv.get(&ResourceKey::new(Kind::Port, "vip")).unwrap();
        assert_eq!(vip.refs[0].relation, Relation::OwnedBy);
        assert_eq!(vip.refs[0].id, "lb1");
    }

    /// A failed port listing makes networks unverifiable, not images.
    #[test]
    fn unverifiable_kinds() {
        let mut inv = Inventory::new("p", vec![]);
        inv.record_error(Kind::Port, "boom");
        assert_eq!(
            inv.unverifiable(Kind::Network).map(|x| x.0),
            Some(Kind::Port)
        );
        assert!(inv.unverifiable(Kind::Image).is_none());
    }
}
