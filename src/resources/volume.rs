//! Cinder volumes: no tags, metadata instead; `created_at` without a zone (UTC). An
//! attached volume, or one with snapshots, is refused with 400 (not 409) until the
//! server is gone and the volume is `available` again.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Volume,
    name: "volume",
    service: Service::BlockStorage,
    api: Api {
        list_path: "/volumes/detail",
        collection: "volumes",
        item_prefix: "/volumes/",
        item_key: Some("volume"),
    },
    parse,
    tags: false,
    metadata: true,
    deletes_asynchronously: true,
    blockers: &[Kind::Server, Kind::Snapshot, Kind::Stack],
    rank: 100,
    stuck: &["error_deleting"],
    stuck_after_delete: &[],
    wrong_state_statuses: &[400],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Volume, v)?;
    let mut r = Resource::new(Kind::Volume, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("os-vol-tenant-attr:tenant_id")?;
    r.metadata = o.string_map("metadata")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("status")?;
    r.description = o.string("description")?;
    for attachment in o.objs("attachments")? {
        if let Some(server) = attachment.str("server_id")? {
            r.refs.push(Reference::new(
                Relation::HeldBy,
                Kind::Server,
                server,
                super::ATTACHED_SERVER,
            ));
        }
    }
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Attachments hold the volume; Cinder's zone-less time parses; a volume in
    /// `error_deleting` is stuck.
    #[test]
    fn parses_a_volume() {
        let r = parse(&json!({"id": "v1", "name": null, "status": "error_deleting",
            "created_at": "2026-11-22T06:14:46.000000", "metadata": {"cinder.csi.openstack.org/cluster": "ci"},
            "attachments": [{"server_id": "s1", "attachment_id": "a"}]}))
        .unwrap();
        assert_eq!(r.holders().count(), 1);
        assert!(r.is_stuck());
        assert_eq!(r.name, "");
    }
}
