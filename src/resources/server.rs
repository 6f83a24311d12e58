//! Nova servers: tags (microversion ≥ 2.26), metadata, `created`. Deleting one is
//! asynchronous; the ports Nova created for it and its `delete_on_termination` volumes
//! go with it.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Server,
    name: "server",
    service: Service::Compute,
    api: Api {
        list_path: "/servers/detail",
        collection: "servers",
        item_prefix: "/servers/",
        item_key: Some("server"),
    },
    parse,
    tags: true,
    metadata: true,
    deletes_asynchronously: true,
    blockers: &[Kind::Stack],
    rank: 20,
    stuck: &[],
    stuck_after_delete: &["ERROR"],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Server, v)?;
    let mut r = Resource::new(Kind::Server, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = match o.str("tenant_id")? {
        Some(p) => Some(p),
        None => o.str("project_id")?,
    };
    r.tags = o.strings("tags")?;
    r.metadata = o.string_map("metadata")?;
    r.created_at = o.time("created")?;
    // A task in progress (`deleting`) says more than the status, which Nova leaves at
    // `ACTIVE` or `ERROR` until the server is gone; `ERROR` with no task after a delete
    // means the delete failed.
    r.status = match o.str("OS-EXT-STS:task_state")? {
        Some(task) => Some(task),
        None => o.str("status")?,
    };
    r.description = o.string("description")?;
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A server's tags, metadata and creation time are read; unknown fields ignored.
    #[test]
    fn parses_a_server() {
        let r = parse(
            &json!({"id": "s1", "name": "k8s-master-1", "tenant_id": "p",
            "tags": ["ci"], "metadata": {"kubespray_groups": "etcd"}, "status": "ACTIVE",
            "created": "2026-11-22T06:11:02Z", "OS-EXT-STS:task_state": null, "flavor": {}}),
        )
        .unwrap();
        assert_eq!(r.metadata["kubespray_groups"], "etcd");
        assert_eq!(r.project_id.as_deref(), Some("p"));
        assert!(r.created_at.is_some());
    }
}
