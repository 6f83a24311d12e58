//! Neutron trunks (the `trunk` extension, `/v2.0/trunks`). A trunk's sub-ports are
//! removed with `PUT /trunks/{id}/remove_subports` as a step of its own, then the trunk
//! goes, then its parent port: Neutron refuses to delete a parent port (409
//! `PortInUseAsTrunkParent`) or an attached sub-port (409 `PortInUseAsSubPort`). A
//! trunk whose parent port is bound to a live server is refused too (409 `TrunkInUse`);
//! the trunk API does not say which server, the parent port does, so the inventory
//! gives the trunk its parent port's server as a holder (`link`). Read again before its
//! delete, a trunk with a sub-port the plan did not know is skipped (its delete would
//! free that port). A cloud without the extension answers 404 on `/trunks`: the kind is
//! then absent.

use std::collections::HashMap;

use serde_json::Value;

use super::{
    neutron_common, Api, Detach, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation,
    Resource,
};
use crate::openstack::Service;

/// The role of a trunk's reference to its parent port.
const PARENT_PORT: &str = "parent port";

/// The role of the holder a trunk takes from its parent port.
const PARENT_SERVER: &str = "server of its parent port";

/// The role of a trunk's reference to a sub-port.
const SUB_PORT: &str = "sub-port";

/// The role of a sub-port found on a trunk read again that the plan did not know: the
/// trunk's delete would free it, so it holds the trunk (skipped, not deleted).
const NEW_SUB_PORT: &str = "sub-port added since the plan was made";

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Trunk,
    name: "trunk",
    service: Service::Network,
    api: Api {
        list_path: "/trunks",
        collection: "trunks",
        item_prefix: "/trunks/",
        item_key: Some("trunk"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Server, Kind::Port, Kind::Stack],
    rank: 35,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        link: Some(link),
        after_read: Some(after_read),
        ..Hooks::NONE
    },
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Trunk, v)?;
    let mut r = neutron_common(Kind::Trunk, &o)?;
    let parent = o.required("port_id")?;
    r.refs.push(Reference::new(
        Relation::Needs,
        Kind::Port,
        parent,
        PARENT_PORT,
    ));
    let mut subports = Vec::new();
    for sub in o.objs("sub_ports")? {
        let port = sub.required("port_id")?;
        r.refs.push(Reference::new(
            Relation::Needs,
            Kind::Port,
            port.clone(),
            SUB_PORT,
        ));
        subports.push(port);
    }
    if !subports.is_empty() {
        subports.sort();
        r.detach.push(Detach::TrunkSubports {
            trunk_id: r.id.clone(),
            port_ids: subports,
        });
    }
    Ok(r)
}

/// Gives each trunk its parent port's server (a port owned by a server) as a holder.
fn link(resources: &mut [Resource]) {
    let servers: HashMap<String, String> = resources
        .iter()
        .filter(|r| r.kind == Kind::Port)
        .filter_map(|p| {
            let server = p.refs.iter().find(|x| {
                x.relation == Relation::OwnedBy && x.kind == Some(Kind::Server)
            })?;
            Some((p.id.clone(), server.id.clone()))
        })
        .collect();
    for trunk in resources.iter_mut().filter(|r| r.kind == Kind::Trunk) {
        let parent = trunk
            .refs
            .iter()
            .find(|x| x.role == PARENT_PORT)
            .and_then(|x| servers.get(&x.id));
        if let Some(server) = parent {
            let held = Reference::new(Relation::HeldBy, Kind::Server, server.clone(), PARENT_SERVER);
            if !trunk.refs.contains(&held) {
                trunk.refs.push(held);
            }
        }
    }
}

/// Keeps the server learnt from the parent port, which a show does not repeat; a
/// sub-port the plan did not know holds the trunk (its delete would free that port).
fn after_read(known: &Resource, mut fresh: Resource) -> Option<Resource> {
    let planned = |id: &str| {
        known
            .refs
            .iter()
            .any(|x| x.role == SUB_PORT && x.id == id)
    };
    let added: Vec<Reference> = fresh
        .refs
        .iter()
        .filter(|x| x.role == SUB_PORT && !planned(&x.id))
        .map(|x| Reference::new(Relation::HeldBy, Kind::Port, x.id.clone(), NEW_SUB_PORT))
        .collect();
    fresh.refs.extend(added);
    let held = known.refs.iter().filter(|x| x.role == PARENT_SERVER);
    fresh.refs.extend(held.cloned());
    Some(fresh)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A trunk needs its parent port and sub-ports, carries one `remove_subports` step,
    /// and takes its parent port's server as a holder; a bare trunk has no step.
    #[test]
    fn parses_and_links_a_trunk() {
        let t = parse(&json!({"id": "t1", "name": "ci-trunk", "port_id": "parent",
            "status": "ACTIVE", "tags": ["ci"], "created_at": "2026-11-22T06:11:02Z",
            "sub_ports": [{"port_id": "sp2", "segmentation_type": "vlan", "segmentation_id": 102},
                          {"port_id": "sp1", "segmentation_type": "vlan", "segmentation_id": 101}]}))
        .unwrap();
        assert_eq!(
            t.detach,
            vec![Detach::TrunkSubports {
                trunk_id: "t1".into(),
                port_ids: vec!["sp1".into(), "sp2".into()]
            }]
        );
        assert_eq!(t.refs.len(), 3);
        let mut port = Resource::new(Kind::Port, "parent");
        port.refs.push(Reference::new(Relation::OwnedBy, Kind::Server, "s1", "server"));
        let mut all = vec![t, port];
        link(&mut all);
        let holders: Vec<_> = all[0].holders().map(|h| h.id.clone()).collect();
        assert_eq!(holders, vec!["s1".to_string()]);
        let fresh = parse(&json!({"id": "t1", "port_id": "parent", "sub_ports": []})).unwrap();
        let fresh = after_read(&all[0], fresh).unwrap();
        assert_eq!(fresh.holders().count(), 1);
        assert!(fresh.detach.is_empty());
        // A sub-port added since the plan holds the trunk; a planned one does not.
        let fresh = parse(&json!({"id": "t1", "port_id": "parent",
            "sub_ports": [{"port_id": "sp1"}, {"port_id": "new"}]}))
        .unwrap();
        let holders: Vec<String> = after_read(&all[0], fresh)
            .unwrap()
            .holders()
            .map(|h| h.id.clone())
            .collect();
        assert_eq!(holders, vec!["new".to_string(), "s1".to_string()]);
        assert!(parse(&json!({"id": "t2", "sub_ports": []})).is_err());
    }
}
