//! Neutron networks: the last of the network kinds to go. Shared and external networks
//! owned by another project (the admin's `public`) are listed but never ours.

use serde_json::Value;

use super::{neutron_common, Api, Hooks, Kind, KindSpec, Obj, ParseError, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Network,
    name: "network",
    service: Service::Network,
    api: Api {
        list_path: "/networks",
        collection: "networks",
        item_prefix: "/networks/",
        item_key: Some("network"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[
        Kind::Port,
        Kind::Subnet,
        Kind::Router,
        Kind::LoadBalancer,
        Kind::Stack,
    ],
    rank: 70,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Network, v)?;
    let r = neutron_common(Kind::Network, &o)?;
    // Read for type-checking only: a network is judged by its project, not these flags.
    o.bool("router:external")?;
    o.bool("shared")?;
    Ok(r)
}
