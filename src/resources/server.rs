//! Nova servers: tags (microversion ≥ 2.26), metadata, `created`. Deleting one is
//! asynchronous; the ports Nova created for it and its `delete_on_termination` volumes
//! (`os-extended-volumes:volumes_attached`, the flag from microversion 2.3) go with it,
//! so a server *takes* those volumes. It needs its keypair (by name): a rebuild or an
//! evacuation of a server we keep reads the key again.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource};
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
    for volume in o.objs("os-extended-volumes:volumes_attached")? {
        // Without the flag (microversion < 2.3) the volume may go with the server: when
        // in doubt, it does.
        if volume.bool("delete_on_termination")? != Some(false) {
            if let Some(id) = volume.str("id")? {
                r.refs.push(Reference::new(
                    Relation::Takes,
                    Kind::Volume,
                    id,
                    super::DELETED_WITH_SERVER,
                ));
            }
        }
    }
    if let Some(key) = o.str("key_name")?.filter(|k| !k.is_empty()) {
        r.refs
            .push(Reference::new(Relation::Needs, Kind::Keypair, key, "keypair"));
    }
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

    /// A `delete_on_termination` volume (or one whose flag is not shown) is taken with
    /// the server; a kept one is not; the keypair is needed.
    #[test]
    fn takes_its_delete_on_termination_volumes_and_needs_its_key() {
        let r = parse(&json!({"id": "s1", "key_name": "k", "os-extended-volumes:volumes_attached": [
            {"id": "v1", "delete_on_termination": true},
            {"id": "v2", "delete_on_termination": false},
            {"id": "v3"}]}))
        .unwrap();
        let refs: Vec<(Relation, &str)> =
            r.refs.iter().map(|x| (x.relation, x.id.as_str())).collect();
        assert_eq!(
            refs,
            vec![
                (Relation::Takes, "v1"),
                (Relation::Takes, "v3"),
                (Relation::Needs, "k")
            ]
        );
        assert!(r.holders().next().is_none());
    }
}
