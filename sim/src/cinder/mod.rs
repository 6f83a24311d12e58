//! Cinder v3: volumes and snapshots with metadata (and the `?metadata=` filter),
//! asynchronous deletes through `deleting`, `error_deleting` when stuck, `cascade=true`,
//! and the 400 `badRequest` refusals real Cinder answers for volumes in use.

mod quota;
pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post};
use axum::{Extension, Router};
use jiff::Timestamp;
use serde_json::{json, Value};

pub use state::CinderState;

use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, protect, reply, Caller, Shared, St};
use crate::state::{Job, SimState};
use crate::store::{fmt_micro, new_id, next_link, page, public, str_of, Ctx, Obj, Params};

/// The refusal real Cinder answers for a volume attached, with snapshots, or in use.
pub const VOLUME_IN_USE: &str = "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.";
/// The refusal for a snapshot in a state that cannot be deleted.
pub const SNAPSHOT_BUSY: &str = "Invalid snapshot: Volume Snapshot status must be available or error and must not be part of a group.";
/// Volume states from which a delete is accepted.
const DELETABLE: [&str; 5] = [
    "available",
    "error",
    "error_restoring",
    "error_extending",
    "error_managing",
];
/// Most items in one page when no `limit` is given (`osapi_max_limit`).
const MAX_LIMIT: usize = 1000;
/// Highest volume microversion the simulator claims.
const MAX_MICROVERSION: &str = "3.71";

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::nova(StatusCode::BAD_REQUEST, msg)
}

fn volume_not_found(id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("Volume {id} could not be found."),
    )
}

fn snapshot_not_found(id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("Snapshot {id} could not be found."),
    )
}

fn set_status(o: &mut Obj, status: &str) {
    o.insert("status".into(), json!(status));
    o.insert("updated_at".into(), json!(fmt_micro(Timestamp::now())));
}

/// Creates a volume (`available` at once).
pub fn create_volume(st: &mut SimState, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
    let snapshot_id = body
        .get("snapshot_id")
        .and_then(Value::as_str)
        .map(String::from);
    let mut size = body.get("size").and_then(Value::as_u64);
    if let Some(sid) = &snapshot_id {
        let snap = st
            .cinder
            .snapshots
            .get(sid)
            .ok_or_else(|| snapshot_not_found(sid))?;
        size = size.or(snap.get("size").and_then(Value::as_u64));
    }
    let size = size.ok_or_else(|| bad("Invalid input received: \"size\" is required."))?;
    let id = new_id();
    let now = fmt_micro(Timestamp::now());
    let image = body
        .get("imageRef")
        .and_then(Value::as_str)
        .map(String::from);
    let base = st.base_url.clone();
    let v = json!({
        "id": id, "name": body.get("name").cloned().unwrap_or(Value::Null), "status": "available", "size": size,
        "availability_zone": body.get("availability_zone").cloned().unwrap_or(json!("nova")),
        "created_at": now, "updated_at": now, "attachments": [],
        "description": body.get("description").cloned().unwrap_or(Value::Null),
        "volume_type": body.get("volume_type").cloned().unwrap_or(json!("lvmdriver-1")),
        "snapshot_id": snapshot_id, "source_volid": body.get("source_volid").cloned().unwrap_or(Value::Null),
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
        "links": [{"rel": "self", "href": format!("{base}/volume/v3/{}/volumes/{id}", ctx.project_id)}],
        "user_id": ctx.user_id, "bootable": if image.is_some() { "true" } else { "false" }, "encrypted": false,
        "replication_status": null, "consistencygroup_id": null, "multiattach": false, "group_id": null,
        "os-vol-tenant-attr:tenant_id": ctx.project_id, "os-vol-mig-status-attr:migstat": null,
        "os-vol-mig-status-attr:name_id": null, "shared_targets": false, "service_uuid": null,
        "cluster_name": null, "provider_id": null, "consumes_quota": true,
    });
    let Value::Object(mut v) = v else {
        return Err(bad("internal"));
    };
    if let Some(img) = image {
        v.insert("volume_image_metadata".into(), json!({"image_id": img}));
    }
    st.cinder.volumes.insert(v.clone());
    Ok(v)
}

/// Marks a volume attached to a server (`in-use`).
pub fn attach(st: &mut SimState, volume_id: &str, server_id: &str, device: &str) {
    if let Some(v) = st.cinder.volumes.get_mut(volume_id) {
        let att = json!({"id": volume_id, "attachment_id": new_id(), "volume_id": volume_id, "server_id": server_id,
            "host_name": "sim-compute", "device": device, "attached_at": fmt_micro(Timestamp::now())});
        if let Some(Value::Array(a)) = v.get_mut("attachments") {
            a.push(att);
        }
        set_status(v, "in-use");
    }
}

/// Removes a server's attachment from a volume; `available` when none remain.
pub fn detach(st: &mut SimState, volume_id: &str, server_id: &str) {
    if let Some(v) = st.cinder.volumes.get_mut(volume_id) {
        if let Some(Value::Array(a)) = v.get_mut("attachments") {
            a.retain(|x| x["server_id"].as_str() != Some(server_id));
        }
        let attached = v["attachments"].as_array().is_some_and(|a| !a.is_empty());
        set_status(v, if attached { "in-use" } else { "available" });
    }
}

/// Creates a snapshot of a volume (`force` needed when it is in use).
pub fn create_snapshot(st: &mut SimState, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
    let vid = str_of(&body, "volume_id").to_string();
    let vol = find_volume(st, ctx, &vid)?;
    let status = str_of(vol, "status").to_string();
    let force = body
        .get("force")
        .is_some_and(|f| f == &json!(true) || f == "true" || f == "True");
    if status != "available" && !(force && status == "in-use") {
        return Err(bad(format!("Invalid volume: Volume {vid} status must be available, but current status is: {status}.")));
    }
    let now = fmt_micro(Timestamp::now());
    let s = json!({"id": new_id(), "name": body.get("name").cloned().unwrap_or(Value::Null), "status": "available",
        "size": vol["size"], "volume_id": vid, "created_at": now, "updated_at": now,
        "description": body.get("description").cloned().unwrap_or(Value::Null),
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
        "os-extended-snapshot-attributes:project_id": ctx.project_id,
        "os-extended-snapshot-attributes:progress": "100%", "user_id": ctx.user_id,
        "group_snapshot_id": null, "consumes_quota": true});
    let Value::Object(s) = s else {
        return Err(bad("internal"));
    };
    st.cinder.snapshots.insert(s.clone());
    Ok(s)
}

fn find_volume<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.cinder
        .volumes
        .get(id)
        .filter(|v| ctx.owns(str_of(v, "os-vol-tenant-attr:tenant_id")))
        .ok_or_else(|| volume_not_found(id))
}

fn find_snapshot<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.cinder
        .snapshots
        .get(id)
        .filter(|v| ctx.owns(str_of(v, "os-extended-snapshot-attributes:project_id")))
        .ok_or_else(|| snapshot_not_found(id))
}

/// Starts a volume delete: refusals as real Cinder, then `deleting`, then gone (or
/// `error_deleting` when stuck). `cascade` takes its snapshots along.
pub fn delete_volume(
    st: &mut SimState,
    ctx: &Ctx,
    id: &str,
    cascade: bool,
) -> Result<Vec<Job>, ApiError> {
    let vol = find_volume(st, ctx, id)?;
    let status = str_of(vol, "status").to_string();
    let attached = vol["attachments"].as_array().is_some_and(|a| !a.is_empty());
    let snaps = st.cinder.snapshots_of(id);
    if st.take_conflict("volume", id) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Volume {id} is busy (injected)."),
        ));
    }
    if !DELETABLE.contains(&status.as_str()) || attached || (!snaps.is_empty() && !cascade) {
        return Err(bad(VOLUME_IN_USE));
    }
    for s in &snaps {
        let ss = st
            .cinder
            .snapshots
            .get(s)
            .map(|x| str_of(x, "status").to_string())
            .unwrap_or_default();
        if ss != "available" && ss != "error" {
            return Err(bad(format!(
                "Invalid volume: Snapshot {s} is in status {ss}."
            )));
        }
    }
    for s in &snaps {
        if let Some(x) = st.cinder.snapshots.get_mut(s) {
            set_status(x, "deleting");
        }
    }
    if let Some(v) = st.cinder.volumes.get_mut(id) {
        set_status(v, "deleting");
    }
    let id = id.to_string();
    Ok(vec![Job::after(st.delays.volume_delete, move |st| {
        if st.take_stuck("volume", &id) {
            if let Some(v) = st.cinder.volumes.get_mut(&id) {
                set_status(v, "error_deleting");
            }
            for s in st.cinder.snapshots_of(&id) {
                if let Some(x) = st.cinder.snapshots.get_mut(&s) {
                    set_status(x, "error_deleting");
                }
            }
        } else {
            st.cinder.remove_volume(&id);
        }
        Vec::new()
    })])
}

/// Starts a snapshot delete: `deleting`, then gone (or `error_deleting` when stuck).
pub fn delete_snapshot(st: &mut SimState, ctx: &Ctx, id: &str) -> Result<Vec<Job>, ApiError> {
    let snap = find_snapshot(st, ctx, id)?;
    let status = str_of(snap, "status").to_string();
    if st.take_conflict("snapshot", id) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Snapshot {id} is busy (injected)."),
        ));
    }
    if status != "available" && status != "error" {
        return Err(bad(SNAPSHOT_BUSY));
    }
    if let Some(s) = st.cinder.snapshots.get_mut(id) {
        set_status(s, "deleting");
    }
    let id = id.to_string();
    Ok(vec![Job::after(st.delays.volume_delete, move |st| {
        if st.take_stuck("snapshot", &id) {
            if let Some(s) = st.cinder.snapshots.get_mut(&id) {
                set_status(s, "error_deleting");
            }
        } else {
            st.cinder.snapshots.remove(&id);
        }
        Vec::new()
    })])
}

/// A `metadata` filter: JSON, or the Python dict literal `openstack` sends (Cinder
/// evaluates it as a literal).
fn parse_metadata_filter(v: &str) -> Result<serde_json::Map<String, Value>, ApiError> {
    serde_json::from_str(v)
        .or_else(|_| serde_json::from_str(&v.replace('\'', "\"")))
        .map_err(|_| {
            bad(format!(
                "Invalid input received: Invalid filter metadata={v}"
            ))
        })
}

/// Whether a resource passes Cinder's list filters (`name`, `status`, `metadata`, ...).
fn matches(o: &Obj, p: &Params) -> Result<bool, ApiError> {
    for (k, v) in &p.0 {
        let ok = match k.as_str() {
            "limit" | "marker" | "sort" | "sort_key" | "sort_dir" | "all_tenants"
            | "with_count" | "offset" | "project_id" => true,
            "metadata" => {
                let want = parse_metadata_filter(v)?;
                let have = o.get("metadata");
                want.iter()
                    .all(|(mk, mv)| have.and_then(|m| m.get(mk)) == Some(mv))
            }
            "name" | "status" | "bootable" | "volume_id" | "availability_zone" => {
                o.get(k).is_some_and(|x| crate::store::field_matches(x, v))
            }
            _ => true,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn list(
    st: &SimState,
    ctx: &Ctx,
    p: &Params,
    snapshots: bool,
    detail: bool,
) -> Result<Value, ApiError> {
    let (table, key, owner) = if snapshots {
        (
            &st.cinder.snapshots,
            "snapshots",
            "os-extended-snapshot-attributes:project_id",
        )
    } else {
        (
            &st.cinder.volumes,
            "volumes",
            "os-vol-tenant-attr:tenant_id",
        )
    };
    for m in p.all("metadata") {
        parse_metadata_filter(m)?;
    }
    let all = ctx.admin && p.flag("all_tenants");
    let limit = p.limit().unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let (items, full) = page(table, p.get("marker"), Some(limit), |o| {
        (all || str_of(o, owner) == ctx.project_id) && matches(o, p).unwrap_or(false)
    });
    let out: Vec<Value> = items
        .iter()
        .map(|o| {
            if detail {
                public(o)
            } else if snapshots {
                summary_snapshot(o)
            } else {
                json!({"id": o["id"], "name": o["name"], "links": o["links"]})
            }
        })
        .collect();
    let mut body = json!({ key: out });
    if full {
        if let Some(last) = items.last() {
            let path = if detail {
                format!("{key}/detail")
            } else {
                key.to_string()
            };
            let href = format!("{}/volume/v3/{}/{path}", st.base_url, ctx.project_id);
            body[format!("{key}_links")] = json!([next_link(&href, p, str_of(last, "id"))]);
        }
    }
    Ok(body)
}

fn summary_snapshot(o: &Obj) -> Value {
    let mut v = public(o);
    if let Value::Object(m) = &mut v {
        m.remove("os-extended-snapshot-attributes:project_id");
        m.remove("os-extended-snapshot-attributes:progress");
    }
    v
}

/// `GET /{volumes,snapshots}[/detail]`, told apart by the path.
async fn list_h(
    State(s): St,
    Extension(ctx): Caller,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let path = uri.path().trim_end_matches('/');
    let snapshots = path.contains("/snapshots");
    let detail = path.ends_with("/detail");
    Ok(reply(
        StatusCode::OK,
        list(&s.lock(), &ctx, &p, snapshots, detail)?,
    ))
}

async fn post_volume(
    State(s): St,
    Extension(ctx): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "volume")?;
    let v = create_volume(&mut s.lock(), &ctx, obj)?;
    Ok(reply(StatusCode::ACCEPTED, json!({"volume": public(&v)})))
}

async fn post_snapshot(
    State(s): St,
    Extension(ctx): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "snapshot")?;
    let v = create_snapshot(&mut s.lock(), &ctx, obj)?;
    Ok(reply(StatusCode::ACCEPTED, json!({"snapshot": public(&v)})))
}

async fn get_volume(
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

async fn get_snapshot(
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

fn update_fields(o: &mut Obj, body: &Obj) {
    for k in ["name", "description", "metadata"] {
        if let Some(v) = body.get(k) {
            o.insert(k.into(), v.clone());
        }
    }
    o.insert("updated_at".into(), json!(fmt_micro(Timestamp::now())));
}

async fn put_volume(
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

async fn put_snapshot(
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

async fn delete_volume_h(
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

async fn delete_snapshot_h(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let jobs = delete_snapshot(&mut s.lock(), &ctx, &id)?;
    s.run_jobs(jobs);
    Ok(empty(StatusCode::ACCEPTED))
}

async fn volume_action(
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

async fn get_metadata(
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

async fn post_metadata(
    s: St,
    ctx: Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    edit_metadata(s, ctx, id, body, false).await
}

async fn put_metadata(
    s: St,
    ctx: Caller,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    edit_metadata(s, ctx, id, body, true).await
}

async fn delete_metadata_key(
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

async fn types(State(_s): St) -> Response {
    reply(
        StatusCode::OK,
        json!({"volume_types": [{"id": "lvmdriver-1", "name": "lvmdriver-1", "is_public": true, "description": null, "extra_specs": {}}]}),
    )
}

/// No backup service: every backup list is empty (openstacksdk's project cleanup asks).
async fn backups(State(_s): St) -> Response {
    reply(StatusCode::OK, json!({ "backups": [] }))
}

fn v3(base: &str) -> Value {
    json!({"id": "v3.0", "status": "CURRENT", "version": MAX_MICROVERSION, "min_version": "3.0",
        "updated": "2023-08-31T00:00:00Z", "links": [{"rel": "self", "href": format!("{base}/volume/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}]})
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": [v3(&base)]}),
    )
}

async fn version(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(StatusCode::OK, json!({"versions": [v3(&base)]}))
}

/// Echoes the volume microversion, as Cinder does.
async fn version_headers(req: Request, next: Next) -> Response {
    let asked = req
        .headers()
        .get("openstack-api-version")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .find_map(|p| p.strip_prefix("volume ").map(str::to_string))
        })
        .map(|v| {
            if v == "latest" {
                MAX_MICROVERSION.to_string()
            } else {
                v
            }
        })
        .unwrap_or_else(|| "3.0".into());
    let mut resp = next.run(req).await;
    if let Ok(v) = HeaderValue::from_str(&format!("volume {asked}")) {
        resp.headers_mut().insert("openstack-api-version", v);
    }
    resp
}

/// Cinder's routes under `/volume`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/volume/v3/{pid}/volumes", get(list_h).post(post_volume))
        .route("/volume/v3/{pid}/volumes/detail", get(list_h))
        .route(
            "/volume/v3/{pid}/volumes/{id}",
            get(get_volume).put(put_volume).delete(delete_volume_h),
        )
        .route("/volume/v3/{pid}/volumes/{id}/action", post(volume_action))
        .route(
            "/volume/v3/{pid}/volumes/{id}/metadata",
            get(get_metadata).post(post_metadata).put(put_metadata),
        )
        .route(
            "/volume/v3/{pid}/volumes/{id}/metadata/{key}",
            delete(delete_metadata_key),
        )
        .route(
            "/volume/v3/{pid}/snapshots",
            get(list_h).post(post_snapshot),
        )
        .route("/volume/v3/{pid}/snapshots/detail", get(list_h))
        .route(
            "/volume/v3/{pid}/snapshots/{id}",
            get(get_snapshot)
                .put(put_snapshot)
                .delete(delete_snapshot_h),
        )
        .route("/volume/v3/{pid}/types", get(types))
        .route("/volume/v3/{pid}/backups", get(backups))
        .route("/volume/v3/{pid}/backups/detail", get(backups))
        .route(
            "/volume/v3/{pid}/os-quota-sets/{id}",
            get(quota::cinder_quota_set),
        )
        .layer(middleware::from_fn(version_headers));
    Router::new()
        .route("/volume", get(versions))
        .route("/volume/", get(versions))
        .route("/volume/v3", get(version))
        .route("/volume/v3/", get(version))
        .merge(protect(api, &shared))
}
