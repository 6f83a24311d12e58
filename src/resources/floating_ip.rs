//! Neutron floating IPs: no name (the description stands in for it when matching); an
//! associated one is disassociated as a step of its own before its port and router are
//! touched.

use serde_json::Value;

use super::{
    neutron_common, Api, Detach, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation,
    Resource,
};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::FloatingIp,
    name: "floating-ip",
    service: Service::Network,
    api: Api {
        list_path: "/floatingips",
        collection: "floatingips",
        item_prefix: "/floatingips/",
        item_key: Some("floatingip"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Port, Kind::PortForwarding, Kind::Stack],
    rank: 30,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: true,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::FloatingIp, v)?;
    let mut r = neutron_common(Kind::FloatingIp, &o)?;
    r.name = o.string("floating_ip_address")?;
    if let Some(port) = o.str("port_id")? {
        r.refs.push(Reference::new(
            Relation::AttachedTo,
            Kind::Port,
            port.clone(),
            "port",
        ));
        r.detach.push(Detach::FloatingIp {
            floating_ip_id: r.id.clone(),
            port_id: port,
        });
    }
    if let Some(router) = o.str("router_id")? {
        r.refs.push(Reference::new(
            Relation::Needs,
            Kind::Router,
            router,
            "router",
        ));
    }
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// An associated floating IP is attached to its port, needs its router and carries
    /// its disassociation; a free one has neither.
    #[test]
    fn association() {
        let v = json!({"id": "f1", "floating_ip_address": "172.24.4.9", "port_id": "p1",
            "router_id": "r1", "project_id": "p", "description": "ci-42"});
        let r = parse(&v).unwrap();
        assert_eq!(r.name, "172.24.4.9");
        assert_eq!(r.refs.len(), 2);
        assert_eq!(r.detach.len(), 1);
        let free = parse(&json!({"id": "f2", "port_id": null, "router_id": null})).unwrap();
        assert!(free.refs.is_empty() && free.detach.is_empty());
    }
}
