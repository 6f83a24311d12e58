//! Cinder's `/snapshots/{id}` handlers: create, show, update, delete.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::common::{find_snapshot, snapshot_not_found, update_fields};
use super::snapshots::{create_snapshot, delete_snapshot};
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, reply, Caller, St};
use crate::store::public;

pub(super) async fn post_snapshot(
    State(s): St,
    Extension(ctx): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "snapshot")?;
    let v = create_snapshot(&mut s.lock(), &ctx, obj)?;
    Ok(reply(StatusCode::ACCEPTED, json!({"snapshot": public(&v)})))
}

pub(super) async fn get_snapshot(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(
        StatusCode::OK,
        json!({"snapshot": public(find_snapshot(&st, &ctx, &id)?)}),
    ))
}

pub(super) async fn put_snapshot(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "snapshot")?;
    let mut st = s.lock();
    find_snapshot(&st, &ctx, &id)?;
    let v = st
        .cinder
        .snapshots
        .get_mut(&id)
        .ok_or_else(|| snapshot_not_found(&id))?;
    update_fields(v, &obj);
    Ok(reply(StatusCode::OK, json!({"snapshot": public(v)})))
}

pub(super) async fn delete_snapshot_h(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let jobs = delete_snapshot(&mut s.lock(), &ctx, &id)?;
    s.run_jobs(jobs);
    Ok(empty(StatusCode::ACCEPTED))
}
