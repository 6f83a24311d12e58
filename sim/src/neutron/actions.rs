//! Neutron's `/{kind}/{id}/{action}` and tag handlers: tags (the whole list or one tag),
//! router interfaces, and a project's quota details.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::api::{kind_of, trim_json};
use super::kind::NKind;
use super::state::{bad, policy, touch, NeutronState};
use crate::error::{ApiError, Style};
use crate::http::{empty, parse_body, reply, Caller, St};
use crate::store::{strs_of, Ctx};

pub(super) async fn sub_get(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, action)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    if coll == "quotas" && action == "details" {
        if !ctx.owns(&id) {
            return Err(policy("get_quota"));
        }
        return Ok(reply(
            StatusCode::OK,
            super::quota::neutron_details(&st, &id),
        ));
    }
    let k = kind_of(&coll)?;
    let obj = st.neutron.find(k, &id, &ctx)?;
    if action != "tags" {
        return Err(ApiError::neutron(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        ));
    }
    Ok(reply(
        StatusCode::OK,
        json!({"tags": obj.get("tags").cloned().unwrap_or(json!([]))}),
    ))
}

pub(super) async fn sub_put(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, action)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let body = parse_body(Style::Neutron, &body)?;
    let mut st = s.lock();
    match (k, trim_json(&action)) {
        (NKind::Router, "add_router_interface") => Ok(reply(
            StatusCode::OK,
            st.neutron.add_router_interface(&ctx, &id, &body)?,
        )),
        (NKind::Router, "remove_router_interface") => Ok(reply(
            StatusCode::OK,
            st.neutron.remove_router_interface(&ctx, &id, &body)?,
        )),
        (NKind::Trunk, "remove_subports") => {
            st.neutron.check_kind(k)?;
            Ok(reply(
                StatusCode::OK,
                st.neutron.remove_subports(&ctx, &id, &body)?,
            ))
        }
        (_, "tags") => {
            let tags = body
                .get("tags")
                .cloned()
                .filter(Value::is_array)
                .ok_or_else(|| bad("Invalid input: tags must be a list"))?;
            set_tags(&mut st.neutron, k, &ctx, &id, |t| {
                *t = tags.as_array().cloned().unwrap_or_default()
            })?;
            Ok(reply(StatusCode::OK, json!({ "tags": tags })))
        }
        _ => Err(ApiError::neutron(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        )),
    }
}

pub(super) async fn sub_delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, action)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    if action != "tags" {
        return Err(ApiError::neutron(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        ));
    }
    set_tags(&mut s.lock().neutron, k, &ctx, &id, Vec::clear)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn set_tags(
    n: &mut NeutronState,
    k: NKind,
    ctx: &Ctx,
    id: &str,
    f: impl FnOnce(&mut Vec<Value>),
) -> Result<(), ApiError> {
    n.find_owned(k, id, ctx, "update")?;
    let obj = n.table_mut(k).get_mut(id).ok_or_else(|| k.not_found(id))?;
    let mut tags = obj
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    f(&mut tags);
    obj.insert("tags".into(), Value::Array(tags));
    touch(obj);
    Ok(())
}

fn tag_not_found(tag: &str) -> ApiError {
    ApiError::neutron(
        StatusCode::NOT_FOUND,
        "TagNotFound",
        format!("Tag {tag} could not be found."),
    )
}

pub(super) async fn tag_get(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let st = s.lock();
    let obj = st.neutron.find(k, &id, &ctx)?;
    if strs_of(obj, "tags").contains(&tag) {
        Ok(empty(StatusCode::NO_CONTENT))
    } else {
        Err(tag_not_found(&tag))
    }
}

pub(super) async fn tag_put(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let t = json!(tag);
    set_tags(&mut s.lock().neutron, k, &ctx, &id, |tags| {
        if !tags.contains(&t) {
            tags.push(t);
        }
    })?;
    Ok(empty(StatusCode::CREATED))
}

pub(super) async fn tag_delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let mut st = s.lock();
    let has = strs_of(st.neutron.find(k, &id, &ctx)?, "tags").contains(&tag);
    if !has {
        return Err(tag_not_found(&tag));
    }
    set_tags(&mut st.neutron, k, &ctx, &id, |tags| {
        tags.retain(|t| t.as_str() != Some(tag.as_str()))
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}
