//! Cinder's `/backups/{id}` handlers: create (held `creating` for a while), show, delete.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::backups::{create_backup, delete_backup, find_backup, hold_new_backup};
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, reply, Caller, St};
use crate::store::public;

pub(super) async fn post_backup(
    State(s): St,
    Extension(ctx): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "backup")?;
    let (b, jobs) = {
        let mut st = s.lock();
        let b = create_backup(&mut st, &ctx, obj)?;
        let jobs = hold_new_backup(&mut st, &b);
        (b, jobs)
    };
    s.run_jobs(jobs);
    Ok(reply(
        StatusCode::ACCEPTED,
        json!({"backup": {"id": b["id"], "name": b["name"], "links": []}}),
    ))
}

pub(super) async fn get_backup(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(
        StatusCode::OK,
        json!({"backup": public(find_backup(&st, &ctx, &id)?)}),
    ))
}

pub(super) async fn delete_backup_h(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let jobs = delete_backup(&mut s.lock(), &ctx, &id)?;
    s.run_jobs(jobs);
    Ok(empty(StatusCode::ACCEPTED))
}
