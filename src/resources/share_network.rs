//! Manila share networks (`/v2/share-networks/detail`): where a share's servers are
//! plugged. No tags or metadata: a name pattern, the description and the age mark
//! them. Manila refuses to delete one with shares (409 "Can not delete share network
//! …, it has N share(s)."): its shares go first, and a kept share keeps it, named.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::ShareNetwork,
    name: "share-network",
    service: Service::SharedFileSystem,
    api: Api {
        list_path: "/share-networks/detail",
        collection: "share_networks",
        item_prefix: "/share-networks/",
        item_key: Some("share_network"),
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Share, Kind::Stack],
    rank: 210,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::ShareNetwork, v)?;
    let mut r = Resource::new(Kind::ShareNetwork, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("project_id")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("status")?;
    r.description = o.string("description")?;
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A share network parses with its name, project and age; it references nothing.
    #[test]
    fn parses_a_share_network() {
        let r = parse(&json!({"id": "n1", "name": "ocp-abc12-share-network",
            "project_id": "p", "neutron_net_id": "net", "neutron_subnet_id": "sub",
            "created_at": "2026-11-22T06:11:02.000000", "description": null,
            "share_network_subnets": []}))
        .unwrap();
        assert_eq!(r.name, "ocp-abc12-share-network");
        assert!(r.refs.is_empty() && r.created_at.is_some());
    }
}
