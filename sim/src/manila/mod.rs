//! Manila v2 (`sharev2`, an optional service: in the catalog only when enabled, at
//! `/share/v2/{project_id}`): shares, share snapshots and share networks, listed with
//! `limit`/`offset` (no marker, no links), shown wrapped (`{"share": …}`). Created as
//! Manila answers: a share network 200, a share 200 `creating`, a snapshot 202
//! `creating` (both `available` at once: a back end without delays); a share on an
//! unknown share network, or a snapshot of an unknown share, 404. A share
//! with snapshots, or not `available`/`error`, is refused with 403 (`InvalidShare`);
//! a share network with shares with 409; share and snapshot deletes answer 202 and
//! linger in `deleting`, then 404. Errors in the Nova/Cinder shape (`itemNotFound`,
//! `forbidden`, `conflictingRequest`).

pub mod state;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

pub use state::ManilaState;

use crate::error::ApiError;
use crate::error::Style;
use crate::http::{empty, parse_body, protect, reply, Caller, Shared, St};
use crate::state::{Job, SimState};
use crate::store::{public, str_of, Ctx, Obj, Params, Table};

/// A collection's table, its list key and its item key.
fn collection<'a>(st: &'a SimState, name: &str) -> Option<(&'a Table, &'static str, &'static str)> {
    let m = &st.manila;
    Some(match name {
        "shares" => (&m.shares, "shares", "share"),
        "snapshots" => (&m.snapshots, "snapshots", "snapshot"),
        "share-networks" => (&m.share_networks, "share_networks", "share_network"),
        _ => return None,
    })
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("{what} {id} could not be found."),
    )
}

fn unknown() -> ApiError {
    ApiError::nova(StatusCode::NOT_FOUND, "The resource could not be found.")
}

fn find<'a>(st: &'a SimState, ctx: &Ctx, name: &str, id: &str) -> Result<&'a Obj, ApiError> {
    let (table, _, item) = collection(st, name).ok_or_else(unknown)?;
    table
        .get(id)
        .filter(|o| ctx.owns(str_of(o, "project_id")))
        .ok_or_else(|| not_found(item, id))
}

async fn list(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, name)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let (table, key, _) = collection(&st, &name).ok_or_else(unknown)?;
    let offset: usize = p.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let limit = p.limit().unwrap_or(usize::MAX);
    let items: Vec<Value> = table
        .values()
        .filter(|o| ctx.owns(str_of(o, "project_id")))
        .skip(offset)
        .take(limit)
        .map(public)
        .collect();
    Ok(reply(StatusCode::OK, json!({ key: items })))
}

async fn show(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, name, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let (_, _, item) = collection(&st, &name).ok_or_else(unknown)?;
    let found = find(&st, &ctx, &name, &id)?;
    Ok(reply(StatusCode::OK, json!({ item: public(found) })))
}

/// The object a create request wraps in `item` (`{"share": {…}}`).
fn wrapped(body: &Bytes, item: &str) -> Result<Obj, ApiError> {
    parse_body(Style::Nova, body)?
        .get(item)
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| {
            ApiError::nova(
                StatusCode::BAD_REQUEST,
                format!("Missing required element '{item}' in request body."),
            )
        })
}

async fn create(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, name)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    let (_, _, item) = collection(&st, &name).ok_or_else(unknown)?;
    let fields = wrapped(&body, item)?;
    let (status, created, table): (_, _, fn(&mut SimState) -> &mut Table) = match item {
        "share_network" => {
            let net = st.manila.create_share_network(&ctx, &fields);
            return Ok(reply(StatusCode::OK, json!({ item: public(&net) })));
        }
        "share" => {
            if let Some(net) = fields.get("share_network_id").and_then(Value::as_str) {
                find(&st, &ctx, "share-networks", net)?;
            }
            let share = st.manila.create_share(&ctx, &fields);
            (StatusCode::OK, share, |st| &mut st.manila.shares)
        }
        _ => {
            let share = fields.get("share_id").and_then(Value::as_str).unwrap_or("");
            find(&st, &ctx, "shares", share)?;
            let name = fields.get("name").and_then(Value::as_str).unwrap_or("");
            let snap = st.manila.create_snapshot(&ctx, share, name);
            (StatusCode::ACCEPTED, snap, |st| &mut st.manila.snapshots)
        }
    };
    let id = str_of(&created, "id").to_string();
    set_status(table(&mut st), &id, "creating");
    let mut shown = public(&created);
    if let Some(o) = shown.as_object_mut() {
        o.insert("status".into(), json!("creating"));
    }
    drop(st);
    s.run_jobs(vec![Job::after(
        Duration::ZERO,
        move |st: &mut SimState| {
            set_status(table(st), &id, "available");
            Vec::new()
        },
    )]);
    Ok(reply(status, json!({ item: shown })))
}

/// Sets `status` of a share or snapshot.
fn set_status(table: &mut Table, id: &str, status: &str) {
    if let Some(o) = table.get_mut(id) {
        o.insert("status".into(), json!(status));
    }
}

async fn delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, name, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    let found = find(&st, &ctx, &name, &id)?;
    let status = str_of(found, "status").to_string();
    let delay = st.delays.volume_delete;
    let jobs = match name.as_str() {
        "share-networks" => {
            let shares = st.manila.shares_on(&id);
            if shares > 0 {
                return Err(ApiError::nova(
                    StatusCode::CONFLICT,
                    format!("Can not delete share network {id}, it has {shares} share(s)."),
                ));
            }
            st.manila.share_networks.remove(&id);
            Vec::new()
        }
        "shares" => {
            let snapshots = st.manila.snapshots_of(&id);
            if snapshots > 0 {
                return Err(ApiError::nova(
                    StatusCode::FORBIDDEN,
                    format!("Invalid share: Share still has {snapshots} dependent snapshots."),
                ));
            }
            if !["available", "error", "inactive"].contains(&status.as_str()) {
                return Err(ApiError::nova(
                    StatusCode::FORBIDDEN,
                    "Invalid share: Share status must be one of ('available', 'error', 'inactive').",
                ));
            }
            set_status(&mut st.manila.shares, &id, "deleting");
            vec![Job::after(delay, move |st: &mut SimState| {
                if st.take_stuck("share", &id) {
                    set_status(&mut st.manila.shares, &id, "error_deleting");
                } else {
                    st.manila.shares.remove(&id);
                }
                Vec::new()
            })]
        }
        _ => {
            if !["available", "error"].contains(&status.as_str()) {
                return Err(ApiError::nova(
                    StatusCode::FORBIDDEN,
                    "Invalid share snapshot: Share Snapshot status must be one of ('available', 'error').",
                ));
            }
            set_status(&mut st.manila.snapshots, &id, "deleting");
            vec![Job::after(delay, move |st: &mut SimState| {
                if st.take_stuck("share-snapshot", &id) {
                    set_status(&mut st.manila.snapshots, &id, "error_deleting");
                } else {
                    st.manila.snapshots.remove(&id);
                }
                Vec::new()
            })]
        }
    };
    drop(st);
    s.run_jobs(jobs);
    Ok(empty(StatusCode::ACCEPTED))
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::OK,
        json!({"versions": [{"id": "v2.0", "status": "CURRENT", "version": "2.79",
            "min_version": "2.0", "links": [{"rel": "self", "href": format!("{base}/share/v2/")}]}]}),
    )
}

/// Manila's routes under `/share/v2/{project_id}`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/share/v2/{project}/{name}/detail", get(list))
        .route("/share/v2/{project}/{name}", get(list).post(create))
        .route("/share/v2/{project}/{name}/{id}", get(show).delete(delete));
    Router::new()
        .route("/share", get(versions))
        .route("/share/", get(versions))
        .route("/share/v2", get(versions))
        .route("/share/v2/", get(versions))
        .merge(protect(api, &shared))
}
