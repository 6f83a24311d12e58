//! Server tags (microversion 2.26 and later): the whole list or one tag.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::common::{bad, find_server, not_found, server_not_found};
use crate::error::{ApiError, Style};
use crate::http::{empty, parse_body, reply, Caller, St};
use crate::state::SimState;
use crate::store::{fmt_z, strs_of, Ctx};

fn edit_tags(
    st: &mut SimState,
    ctx: &Ctx,
    id: &str,
    f: impl FnOnce(&mut Vec<Value>) -> Result<(), ApiError>,
) -> Result<Vec<Value>, ApiError> {
    find_server(st, ctx, id)?;
    let server = st
        .nova
        .servers
        .get_mut(id)
        .ok_or_else(|| server_not_found(id))?;
    let mut tags = server
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    f(&mut tags)?;
    server.insert("tags".into(), Value::Array(tags.clone()));
    server.insert("updated".into(), json!(fmt_z(Timestamp::now())));
    Ok(tags)
}

pub(super) async fn get_tags(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    Ok(reply(StatusCode::OK, json!({"tags": server["tags"]})))
}

pub(super) async fn put_tags(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let new = body["tags"]
        .as_array()
        .cloned()
        .ok_or_else(|| bad("'tags' is a required property"))?;
    let tags = edit_tags(&mut s.lock(), &ctx, &id, |t| {
        *t = new;
        Ok(())
    })?;
    Ok(reply(StatusCode::OK, json!({ "tags": tags })))
}

pub(super) async fn delete_tags(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    edit_tags(&mut s.lock(), &ctx, &id, |t| {
        t.clear();
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn get_tag(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    if strs_of(server, "tags").contains(&tag) {
        Ok(empty(StatusCode::NO_CONTENT))
    } else {
        Err(not_found("Tag", &tag))
    }
}

pub(super) async fn put_tag(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    edit_tags(&mut s.lock(), &ctx, &id, |t| {
        if !t.contains(&json!(tag)) {
            t.push(json!(tag));
        }
        Ok(())
    })?;
    Ok(empty(StatusCode::CREATED))
}

pub(super) async fn delete_tag(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    edit_tags(&mut s.lock(), &ctx, &id, |t| {
        let before = t.len();
        t.retain(|x| x.as_str() != Some(tag.as_str()));
        if t.len() == before {
            return Err(not_found("Tag", &tag));
        }
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}
