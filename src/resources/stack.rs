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
