//! Neutron routers: a gateway on an external network (cleared as a step of its own) and
//! interfaces (found from ports with a `network:router_interface*` owner, removed one by
//! one) must go before the router. Extra routes (`routes`) are cleared as a step of
//! their own before any interface goes (Neutron refuses to remove an interface a route
//! goes through), unless a route goes through a port we keep: then the router stays
//! (the inventory turns the next hop into that port's guard on the router).

use serde_json::Value;

use super::{
    neutron_common, Api, Detach, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation,
    Resource,
};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Router,
    name: "router",
    service: Service::Network,
    api: Api {
        list_path: "/routers",
        collection: "routers",
        item_prefix: "/routers/",
        item_key: Some("router"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Port, Kind::FloatingIp, Kind::Stack],
    rank: 50,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        after_read: Some(keep_interfaces),
        ..Hooks::NONE
    },
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Router, v)?;
    let mut r = neutron_common(Kind::Router, &o)?;
    if let Some(gateway) = o.obj("external_gateway_info")? {
        if let Some(network) = gateway.str("network_id")? {
            r.refs.push(Reference::new(
                Relation::Needs,
                Kind::Network,
                network.clone(),
                "gateway network",
            ));
            r.detach.push(Detach::RouterGateway {
                router_id: r.id.clone(),
                network_id: network,
            });
        }
    }
    let routes = o.objs("routes")?;
    if !routes.is_empty() {
        r.detach.push(Detach::RouterRoutes {
            router_id: r.id.clone(),
        });
    }
    for route in routes {
        if let Some(nexthop) = route.str("nexthop")? {
            r.refs.push(Reference::new(
                Relation::Guards,
                Kind::Port,
                nexthop,
                super::ROUTE_NEXTHOP,
            ));
        }
    }
    Ok(r)
}

/// Keeps the interfaces, found from the port list, which a show does not repeat; they
/// come before what the show says (the gateway).
fn keep_interfaces(known: &Resource, mut fresh: Resource) -> Option<Resource> {
    let interfaces = known
        .detach
        .iter()
        .filter(|d| matches!(d, Detach::RouterInterface { .. }));
    let mut detach: Vec<Detach> = interfaces.cloned().collect();
    detach.append(&mut fresh.detach);
    fresh.detach = detach;
    Some(fresh)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A gateway becomes a reference and a clear-gateway step; none, nothing.
    #[test]
    fn gateway() {
        let r = parse(
            &json!({"id": "r1", "external_gateway_info": {"network_id": "ext",
            "external_fixed_ips": []}}),
        )
        .unwrap();
        assert_eq!(
            r.detach,
            vec![Detach::RouterGateway {
                router_id: "r1".into(),
                network_id: "ext".into()
            }]
        );
        let bare = parse(&json!({"id": "r2", "external_gateway_info": null})).unwrap();
        assert!(bare.detach.is_empty() && bare.refs.is_empty());
    }

    /// A router read again keeps the interfaces found from ports, ahead of the gateway
    /// the show answer reports now.
    #[test]
    fn read_again_keeps_interfaces() {
        let mut known =
            parse(&json!({"id": "r1", "external_gateway_info": {"network_id": "old"}})).unwrap();
        let interface = Detach::RouterInterface {
            router_id: "r1".into(),
            port_id: "p1".into(),
            subnet_id: None,
        };
        known.detach.push(interface.clone());
        let fresh =
            parse(&json!({"id": "r1", "external_gateway_info": {"network_id": "ext"}})).unwrap();
        assert_eq!(
            keep_interfaces(&known, fresh).unwrap().detach,
            vec![
                interface,
                Detach::RouterGateway {
                    router_id: "r1".into(),
                    network_id: "ext".into()
                }
            ]
        );
    }
}
