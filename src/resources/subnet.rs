//! Neutron subnets: need their network; held by every port with an address in them.

use serde_json::Value;

use super::{neutron_common, Api, Kind, Obj, ParseError, Reference, Relation, Resource};

pub(super) const API: Api = Api {
    list_path: "/subnets",
    collection: "subnets",
    item_prefix: "/subnets/",
    item_key: Some("subnet"),
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
