//! Heat stacks: deleting one deletes everything it created, so the resources it owns
//! (read from `/stacks/{name}/{id}/resources`, nested too) wait for it.
//! `DELETE_FAILED` is stuck.

use serde_json::Value;

use super::{
    api_error, Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource,
    ResourceError,
};
use crate::openstack::{Service, Session};

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Stack,
    name: "stack",
    service: Service::Orchestration,
    api: Api {
        list_path: "/stacks",
        collection: "stacks",
        item_prefix: "/stacks/",
        item_key: Some("stack"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: true,
    blockers: &[],
    rank: 0,
    stuck: &["DELETE_FAILED"],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        after_list: Some(|session, r| Box::pin(add_owned(session, r))),
        after_read: Some(after_read),
        item_path: Some(path),
        ..Hooks::NONE
    },
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Stack, v)?;
    let mut r = Resource::new(Kind::Stack, o.required("id")?);
    r.name = o.string("stack_name")?;
    r.project_id = o.str("project")?;
    r.tags = o.strings("tags")?;
    r.created_at = o.time("creation_time")?;
    r.status = o.str("stack_status")?;
    r.description = o.string("description")?;
    Ok(r)
}

/// `/stacks/{name}/{id}`.
fn path(r: &Resource) -> String {
    format!(
        "/stacks/{}/{}",
        super::segment(&r.name),
        super::segment(&r.id)
    )
}

/// Adds an `Owns` reference for every physical resource the stack created.
async fn add_owned(session: &Session, r: &mut Resource) -> Result<(), ResourceError> {
    let url = format!("{}/resources?nested_depth=5", path(r));
    let items = session
        .list(Kind::Stack.service(), &url, "resources")
        .await
        .map_err(api_error(Kind::Stack))?;
    for item in &items {
        let o = Obj::new(Kind::Stack, item)?;
        if let Some(physical) = o.str("physical_resource_id")? {
            if !physical.is_empty() && physical != r.id {
                r.refs.push(Reference {
                    relation: Relation::Owns,
                    kind: None,
                    id: physical,
                    role: "stack",
                });
            }
        }
    }
    Ok(())
}

/// A stack in `DELETE_COMPLETE` is gone. Otherwise the show answer does not list what
/// the stack owns, so the references read at listing time are kept.
fn after_read(known: &Resource, mut fresh: Resource) -> Option<Resource> {
    if fresh.status.as_deref() == Some("DELETE_COMPLETE") {
        return None;
    }
    fresh.refs = known.refs.clone();
    Some(fresh)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Heat's field names map onto the resource; comma-separated tags split; the path
    /// names the stack by name and ID.
    #[test]
    fn parses_a_stack() {
        let r = parse(
            &json!({"id": "st1", "stack_name": "ci job", "stack_status": "DELETE_FAILED",
            "creation_time": "2026-11-22T06:11:02Z", "tags": "ci-1,ci-2", "project": "p"}),
        )
        .unwrap();
        assert_eq!(r.tags, vec!["ci-1", "ci-2"]);
        assert!(r.is_stuck());
        assert_eq!(path(&r), "/stacks/ci%20job/st1");
    }

    /// A stack read again keeps the owned resources found when listing; in
    /// `DELETE_COMPLETE` it is gone.
    #[test]
    fn read_again_keeps_owned_resources() {
        let mut known = parse(&json!({"id": "st1", "stack_name": "ci"})).unwrap();
        known.refs.push(Reference {
            relation: Relation::Owns,
            kind: None,
            id: "s1".into(),
            role: "stack",
        });
        let fresh =
            parse(&json!({"id": "st1", "stack_name": "ci", "stack_status": "DELETE_IN_PROGRESS"}))
                .unwrap();
        assert_eq!(after_read(&known, fresh).unwrap().refs, known.refs);
        let done =
            parse(&json!({"id": "st1", "stack_name": "ci", "stack_status": "DELETE_COMPLETE"}))
                .unwrap();
        assert!(after_read(&known, done).is_none());
    }
}
