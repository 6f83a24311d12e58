//! Manila shares (`shared-file-system`/`sharev2`, `/v2/shares/detail`, microversion
//! 2.17 in `X-OpenStack-Manila-API-Version`; `limit`/`offset` pages). No tags: metadata
//! (the CSI driver's), a name pattern and the age mark them. A share needs its share
//! network. Manila refuses to delete a share with snapshots, and one in the wrong
//! state, with 403 (`InvalidShare`: "Share still has N dependent snapshots."): its
//! snapshots go first (a kept one keeps it, named), and a 403 is retried like a
//! conflict. A delete answers 202; the share lingers in `deleting`, then 404
//! (`error_deleting` is stuck). Its access rules go with it.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Share,
    name: "share",
    service: Service::SharedFileSystem,
    api: Api {
        list_path: "/shares/detail",
        collection: "shares",
        item_prefix: "/shares/",
        item_key: Some("share"),
    },
    parse,
    tags: false,
    metadata: true,
    deletes_asynchronously: true,
    blockers: &[Kind::ShareSnapshot, Kind::Stack],
    rank: 200,
    stuck: &["error_deleting"],
    stuck_after_delete: &[],
    wrong_state_statuses: &[403],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Share, v)?;
    let mut r = Resource::new(Kind::Share, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("project_id")?;
    r.metadata = o.string_map("metadata")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("status")?;
    r.description = o.string("description")?;
    if let Some(net) = o.str("share_network_id")? {
        r.refs.push(Reference::new(
            Relation::Needs,
            Kind::ShareNetwork,
            net,
            "share network",
        ));
    }
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A share needs its share network; metadata, age and status parse; a share
    /// without a network (DHSS=false) needs nothing.
    #[test]
    fn parses_a_share() {
        let r = parse(&json!({"id": "s1", "name": "pvc-1", "status": "available",
            "size": 1, "share_proto": "NFS", "share_network_id": "n1",
            "project_id": "p", "metadata": {"manila.csi.openstack.org/cluster": "ocp"},
            "created_at": "2026-11-22T06:11:02.000000", "description": null,
            "is_public": false, "share_type": "default"}))
        .unwrap();
        assert_eq!(r.refs[0].kind, Some(Kind::ShareNetwork));
        assert_eq!(r.metadata.len(), 1);
        assert!(r.created_at.is_some());
        let bare = parse(&json!({"id": "s2", "share_network_id": null})).unwrap();
        assert!(bare.refs.is_empty());
        let mut stuck = bare;
        stuck.status = Some("error_deleting".into());
        assert!(stuck.is_stuck());
    }
}
