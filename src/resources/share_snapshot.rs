//! Manila share snapshots (`/v2/snapshots/detail`). No tags (metadata only from
//! microversion 2.73, read when sent): a name pattern and the age mark them. A snapshot
//! needs its share (Manila refuses to delete a share with snapshots), so it goes first.
//! A delete answers 202; the snapshot lingers in `deleting`, then 404
//! (`error_deleting` is stuck); a snapshot in the wrong state is refused with 403
//! (`InvalidShareSnapshot`), retried like a conflict.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::ShareSnapshot,
    name: "share-snapshot",
    service: Service::SharedFileSystem,
    api: Api {
        list_path: "/snapshots/detail",
        collection: "snapshots",
        item_prefix: "/snapshots/",
        item_key: Some("snapshot"),
    },
    parse,
    tags: false,
    metadata: true,
    deletes_asynchronously: true,
    blockers: &[Kind::Stack],
    rank: 190,
    stuck: &["error_deleting"],
    stuck_after_delete: &[],
    wrong_state_statuses: &[403],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::ShareSnapshot, v)?;
    let mut r = Resource::new(Kind::ShareSnapshot, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("project_id")?;
    r.metadata = o.string_map("metadata")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("status")?;
    r.description = o.string("description")?;
    let share = o.required("share_id")?;
    r.refs
        .push(Reference::new(Relation::Needs, Kind::Share, share, "share"));
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A snapshot needs its share; one without a share is an error.
    #[test]
    fn parses_a_share_snapshot() {
        let r = parse(&json!({"id": "sn1", "share_id": "s1", "name": "snapshot-1",
            "status": "available", "size": 1, "share_proto": "NFS", "share_size": 1,
            "project_id": "p", "user_id": "u", "created_at": "2026-11-22T06:11:02.000000"}))
        .unwrap();
        assert_eq!(r.refs[0].kind, Some(Kind::Share));
        assert_eq!(r.refs[0].relation, Relation::Needs);
        assert!(parse(&json!({"id": "sn2"})).is_err());
    }
}
