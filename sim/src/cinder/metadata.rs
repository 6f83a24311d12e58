//! Volume and snapshot metadata: show, merge (`POST`), replace (`PUT`), delete a key.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::common::{bad, find_volume, volume_not_found};
use crate::error::{ApiError, Style};
use crate::http::{empty, parse_body, reply, Caller, St};
use crate::store::Obj;

pub(super) async fn get_metadata(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let v = find_volume(&st, &ctx, &id)?;
    Ok(reply(StatusCode::OK, json!({"metadata": v["metadata"]})))
}

async fn edit_metadata(
    s: St,
    ctx: Caller,
    id: String,
    body: Bytes,
    replace: bool,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let new = body["metadata"]
        .as_object()
        .cloned()
        .ok_or_else(|| bad("Malformed request body"))?;
    let mut st = s.lock();
    find_volume(&st, &ctx, &id)?;
    let v = st
        .cinder
        .volumes
        .get_mut(&id)
        .ok_or_else(|| volume_not_found(&id))?;
    let mut meta = if replace {
        Obj::new()
    } else {
        v["metadata"].as_object().cloned().unwrap_or_default()
    };
    meta.extend(new);
    v.insert("metadata".into(), Value::Object(meta.clone()));
    Ok(reply(StatusCode::OK, json!({ "metadata": meta })))
}

pub(super) async fn post_metadata(
    s: St,
    ctx: Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    edit_metadata(s, ctx, id, body, false).await
}

pub(super) async fn put_metadata(
    s: St,
    ctx: Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    edit_metadata(s, ctx, id, body, true).await
}

pub(super) async fn delete_metadata_key(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id, key)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    find_volume(&st, &ctx, &id)?;
    let v = st
        .cinder
        .volumes
        .get_mut(&id)
        .ok_or_else(|| volume_not_found(&id))?;
    let removed = v
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.remove(&key));
    if removed.is_none() {
        return Err(ApiError::nova(
            StatusCode::NOT_FOUND,
            format!("Volume {id} has no metadata with key {key}."),
        ));
    }
    Ok(empty(StatusCode::OK))
}
