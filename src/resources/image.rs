//! Glance images: tags, and properties as extra top-level fields. A protected image is
//! refused with 403 and never selected; images owned by another project (public ones)
//! are never ours.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Image,
    name: "image",
    service: Service::Image,
    api: Api {
        list_path: "/images",
        collection: "images",
        item_prefix: "/images/",
        item_key: None,
    },
    parse,
    tags: true,
    metadata: true,
    deletes_asynchronously: false,
    blockers: &[Kind::Stack],
    rank: 110,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        after_read: Some(gone_if_deleted),
        ..Hooks::NONE
    },
};

/// An image Glance shows as `deleted` is gone. Glance records the status and then
/// removes the row in two writes; a database outage between them (seen on the real bed
/// when MariaDB stopped mid-sweep) leaves the row listed, and every further delete is
/// refused with 400 "Image status transition from deleted to deleted".
fn gone_if_deleted(_known: &Resource, fresh: Resource) -> Option<Resource> {
    let deleted = fresh
        .status
        .as_deref()
        .is_some_and(|s| s.eq_ignore_ascii_case("deleted"));
    (!deleted).then_some(fresh)
}

/// Glance's own fields; every other scalar is a user property.
const CORE: &[&str] = &[
    "id",
    "name",
    "owner",
    "status",
    "tags",
    "created_at",
    "updated_at",
    "visibility",
    "protected",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "min_disk",
    "min_ram",
    "disk_format",
    "container_format",
    "file",
    "self",
    "schema",
    "direct_url",
    "locations",
    "os_hidden",
    "stores",
];

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Image, v)?;
    let mut r = Resource::new(Kind::Image, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("owner")?;
    r.tags = o.strings("tags")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("status")?;
    r.description = o.string("description")?;
    r.metadata = o.extra_scalars(CORE);
    if o.bool("protected")? == Some(true) {
        r.undeletable = Some("protected image".into());
    }
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// An image Glance shows as `deleted` reads as gone; any other status is there.
    #[test]
    fn a_deleted_image_is_gone() {
        let known = Resource::new(Kind::Image, "i1");
        let with = |status: &str| {
            parse(&serde_json::json!({"id": "i1", "name": "x", "status": status})).unwrap()
        };
        assert!(gone_if_deleted(&known, with("deleted")).is_none());
        assert!(gone_if_deleted(&known, with("active")).is_some());
        assert!(gone_if_deleted(&known, with("pending_delete")).is_some());
    }
    use serde_json::json;

    /// Extra scalar fields are properties; protected images are undeletable.
    #[test]
    fn properties_and_protection() {
        let r = parse(
            &json!({"id": "i1", "owner": "p", "protected": true, "ci_job": "42",
            "size": 10, "tags": []}),
        )
        .unwrap();
        assert_eq!(r.metadata.get("ci_job").map(String::as_str), Some("42"));
        assert!(!r.metadata.contains_key("size"));
        assert!(r.undeletable.is_some());
    }
}
