//! Cinder snapshots: metadata, no tags; a volume cannot go while it has snapshots.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Snapshot,
    name: "snapshot",
    service: Service::BlockStorage,
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
    rank: 90,
    stuck: &["error_deleting"],
    stuck_after_delete: &[],
    wrong_state_statuses: &[400],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Snapshot, v)?;
    let mut r = Resource::new(Kind::Snapshot, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("os-extended-snapshot-attributes:project_id")?;
    r.metadata = o.string_map("metadata")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("status")?;
    r.description = o.string("description")?;
    if let Some(volume) = o.str("volume_id")? {
        r.refs.push(Reference::new(
            Relation::Needs,
            Kind::Volume,
            volume,
            "volume",
        ));
    }
    Ok(r)
}
