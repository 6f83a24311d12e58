//! Octavia load balancers, deleted with `cascade=true` (listeners, pools, members go
//! with them, and so does the VIP port). `PENDING_*` answers 409 until it settles.

use serde_json::Value;

use super::{Api, Kind, Obj, ParseError, Reference, Relation, Resource};

pub(super) const API: Api = Api {
    list_path: "/lbaas/loadbalancers",
    collection: "loadbalancers",
    item_prefix: "/lbaas/loadbalancers/",
    item_key: Some("loadbalancer"),
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::LoadBalancer, v)?;
    let mut r = Resource::new(Kind::LoadBalancer, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("project_id")?;
    r.tags = o.strings("tags")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("provisioning_status")?;
    r.description = o.string("description")?;
    if let Some(port) = o.str("vip_port_id")? {
        r.refs
            .push(Reference::new(Relation::Owns, Kind::Port, port, "VIP port"));
    }
    if let Some(subnet) = o.str("vip_subnet_id")? {
        r.refs.push(Reference::new(
            Relation::Needs,
            Kind::Subnet,
            subnet,
            "VIP subnet",
        ));
    }
    Ok(r)
}
