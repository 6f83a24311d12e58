//! Heat stacks: deleting one deletes everything it created, so the resources it owns
//! (read from `/stacks/{name}/{id}/resources`, nested too) wait for it.
//! `DELETE_FAILED` is stuck.

use serde_json::Value;

use super::{api_error, Api, Kind, Obj, ParseError, Reference, Relation, Resource, ResourceError};
use crate::openstack::Session;

pub(super) const API: Api = Api {
    list_path: "/stacks",
    collection: "stacks",
    item_prefix: "/stacks/",
    item_key: Some("stack"),
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
pub(super) fn path(r: &Resource) -> String {
    format!(
        "/stacks/{}/{}",
        super::segment(&r.name),
        super::segment(&r.id)
    )
}

/// Adds an `Owns` reference for every physical resource the stack created.
pub(super) async fn add_owned(session: &Session, r: &mut Resource) -> Result<(), ResourceError> {
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
}
