//! Cinder's `/volumes/{id}` handlers: create, show, update, delete, and the actions
//! (`os-attach`, `os-detach`, `os-reset_status`, ...).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use super::common::{bad, find_volume, set_status, update_fields, volume_not_found};
use super::volumes::{create_volume, delete_volume};
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, reply, Caller, St};
use crate::store::{public, Params};

pub(super) async fn post_volume(
    State(s): St,
    Extension(ctx): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "volume")?;
    let v = create_volume(&mut s.lock(), &ctx, obj)?;
    Ok(reply(StatusCode::ACCEPTED, json!({"volume": public(&v)})))
}

pub(super) async fn get_volume(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(
        StatusCode::OK,
        json!({"volume": public(find_volume(&st, &ctx, &id)?)}),
    ))
}

pub(super) async fn put_volume(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "volume")?;
    let mut st = s.lock();
    find_volume(&st, &ctx, &id)?;
    let v = st
        .cinder
        .volumes
        .get_mut(&id)
        .ok_or_else(|| volume_not_found(&id))?;
    update_fields(v, &obj);
    Ok(reply(StatusCode::OK, json!({"volume": public(v)})))
}

pub(super) async fn delete_volume_h(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let cascade = Params::parse(q.as_deref()).flag("cascade");
    let jobs = delete_volume(&mut s.lock(), &ctx, &id, cascade)?;
    s.run_jobs(jobs);
    Ok(empty(StatusCode::ACCEPTED))
}

pub(super) async fn volume_action(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let mut st = s.lock();
    find_volume(&st, &ctx, &id)?;
    let action = body
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    match action.as_str() {
        "os-reset_status" | "os-force_delete" if !ctx.admin => Err(ApiError::nova(
            StatusCode::FORBIDDEN,
            format!(
                "Policy doesn't allow volume_extension:volume_admin_actions:{} to be performed.",
                action.trim_start_matches("os-")
            ),
        )),
        "os-reset_status" => {
            let status = body[&action]["status"]
                .as_str()
                .unwrap_or("available")
                .to_string();
            if let Some(v) = st.cinder.volumes.get_mut(&id) {
                set_status(v, &status);
            }
            Ok(empty(StatusCode::ACCEPTED))
        }
        "os-force_delete" => {
            st.cinder.remove_volume(&id);
            Ok(empty(StatusCode::ACCEPTED))
        }
        "os-extend" => {
            if let Some(v) = st.cinder.volumes.get_mut(&id) {
                v.insert("size".into(), body[&action]["new_size"].clone());
            }
            Ok(empty(StatusCode::ACCEPTED))
        }
        "os-set_bootable" => {
            let b = body[&action]["bootable"].as_bool().unwrap_or(false);
            if let Some(v) = st.cinder.volumes.get_mut(&id) {
                v.insert("bootable".into(), json!(if b { "true" } else { "false" }));
            }
            Ok(empty(StatusCode::OK))
        }
        other => Err(bad(format!(
            "Invalid request: There is no such action: {other}"
        ))),
    }
}
