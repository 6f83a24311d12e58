//! Neutron subnets: need their network; held by every port with an address in them.

use serde_json::Value;

use super::{
    neutron_common, Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource,
};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Subnet,
    name: "subnet",
    service: Service::Network,
    api: Api {
        list_path: "/subnets",
        collection: "subnets",
        item_prefix: "/subnets/",
        item_key: Some("subnet"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Port, Kind::Router, Kind::LoadBalancer, Kind::Stack],
    rank: 60,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Subnet, v)?;
    let mut r = neutron_common(Kind::Subnet, &o)?;
    let network = o.required("network_id")?;
    r.refs.push(Reference::new(
        Relation::Needs,
        Kind::Network,
        network,
        "network",
    ));
    Ok(r)
}
