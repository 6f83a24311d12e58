//! Designate v2 (`dns`, an optional service: in the catalog only when enabled): zones
//! and their recordsets as bare objects, pages with `limit`/`marker` and a `links.next`
//! URL, `metadata.total_count`. Creates and deletes answer 202 and go `PENDING` (action
//! `CREATE` or `DELETE`) until done; a zone's delete takes all its recordsets. The SOA
//! and apex NS recordsets are Designate's: deleting one answers 400, and so does any
//! recordset change in a zone whose delete runs ("Can not update a deleting zone"); a
//! recordset whose zone is gone is `recordset_not_found`. Errors are
//! `{"code", "type", "message", "request_id"}` (`zone_not_found`,
//! `recordset_not_found`, `bad_request`).

pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

pub use state::DesignateState;

use crate::error::{ApiError, Style};
use crate::http::{parse_body, protect, reply, Caller, Shared, St};
use crate::state::{Job, SimState};
use crate::store::{page, public, str_of, Ctx, Obj, Params};

/// Designate's default page.
const DEFAULT_LIMIT: usize = 20;

fn err(status: StatusCode, kind: &str, message: &str) -> ApiError {
    ApiError::new(Style::Designate, status, kind, message)
}

fn zone_not_found() -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        "zone_not_found",
        "Could not find Zone",
    )
}

fn recordset_not_found() -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        "recordset_not_found",
        "Could not find RecordSet",
    )
}

/// Designate's `/v2` URL on the simulator.
pub fn v2(base: &str) -> String {
    format!("{base}/dns/v2")
}

fn find_zone<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.designate
        .zones
        .get(id)
        .filter(|z| ctx.owns(str_of(z, "project_id")))
        .ok_or_else(zone_not_found)
}

/// A recordset of `zone`: Designate looks the recordset up first, so one whose zone is
/// gone (taken by the zone's delete) answers `recordset_not_found`, not `zone_not_found`.
fn find_recordset<'a>(
    st: &'a SimState,
    ctx: &Ctx,
    zone: &str,
    id: &str,
) -> Result<&'a Obj, ApiError> {
    let rs = st
        .designate
        .recordsets
        .get(id)
        .filter(|r| str_of(r, "zone_id") == zone)
        .ok_or_else(recordset_not_found)?;
    find_zone(st, ctx, zone)?;
    Ok(rs)
}

/// Designate refuses any recordset change in a zone whose delete runs (action `DELETE`,
/// whatever its status), before it looks at the recordset itself.
fn refuse_if_deleting(zone: &Obj) -> Result<(), ApiError> {
    if str_of(zone, "action") == "DELETE" {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "Can not update a deleting zone",
        ));
    }
    Ok(())
}

fn set_state(obj: Option<&mut Obj>, status: &str, action: &str) {
    if let Some(o) = obj {
        o.insert("status".into(), json!(status));
        o.insert("action".into(), json!(action));
    }
}

/// One page of `table` items passing `keep`, as Designate answers a list.
fn listing(
    key: &str,
    table: &crate::store::Table,
    url: &str,
    p: &Params,
    keep: impl Fn(&Obj) -> bool,
) -> Response {
    let limit = p.limit().unwrap_or(DEFAULT_LIMIT);
    let total = table.values().filter(|o| keep(o)).count();
    let (items, full) = page(table, p.get("marker"), Some(limit), &keep);
    let out: Vec<Value> = items.iter().map(|o| public(o)).collect();
    let mut links = json!({ "self": url });
    if let Some(last) = items.last().filter(|_| full) {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &p.0 {
            if k != "marker" {
                q.append_pair(k, v);
            }
        }
        q.append_pair("marker", str_of(last, "id"));
        links["next"] = json!(format!("{url}?{}", q.finish()));
    }
    reply(
        StatusCode::OK,
        json!({ key: out, "links": links, "metadata": {"total_count": total} }),
    )
}

async fn list_zones(State(s): St, Extension(ctx): Caller, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let url = format!("{}/zones", v2(&st.base_url));
    listing("zones", &st.designate.zones, &url, &p, |z| {
        ctx.owns(str_of(z, "project_id")) && p.get("name").is_none_or(|n| str_of(z, "name") == n)
    })
}

async fn create_zone(
    State(s): St,
    Extension(ctx): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Designate, &body)?;
    let obj = body.as_object().cloned().unwrap_or_default();
    if !str_of(&obj, "name").ends_with('.') {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "invalid_object",
            "Provided object does not match schema 'zone'",
        ));
    }
    let mut st = s.lock();
    let base = v2(&st.base_url);
    let zone = st.designate.create_zone(&ctx, &base, &obj, "PENDING");
    let id = str_of(&zone, "id").to_string();
    let delay = st.delays.other_delete;
    drop(st);
    s.run_jobs(vec![Job::after(delay, move |st| {
        set_state(st.designate.zones.get_mut(&id), "ACTIVE", "NONE");
        for rs in st.designate.recordsets.values_mut() {
            if str_of(rs, "zone_id") == id {
                set_state(Some(rs), "ACTIVE", "NONE");
            }
        }
        Vec::new()
    })]);
    Ok(reply(StatusCode::ACCEPTED, public(&zone)))
}

async fn show_zone(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(StatusCode::OK, public(find_zone(&st, &ctx, &id)?)))
}

async fn delete_zone(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    find_zone(&st, &ctx, &id)?;
    if st.take_conflict("zone", &id) {
        return Err(err(StatusCode::CONFLICT, "duplicate_zone", "Zone is busy"));
    }
    set_state(st.designate.zones.get_mut(&id), "PENDING", "DELETE");
    let zone = public(find_zone(&st, &ctx, &id)?);
    let delay = st.delays.other_delete;
    drop(st);
    s.run_jobs(vec![Job::after(delay, move |st| {
        if st.take_stuck("zone", &id) {
            set_state(st.designate.zones.get_mut(&id), "ERROR", "DELETE");
        } else {
            st.designate.remove_zone(&id);
        }
        Vec::new()
    })]);
    Ok(reply(StatusCode::ACCEPTED, zone))
}

async fn list_recordsets(
    State(s): St,
    Extension(ctx): Caller,
    Path(zone): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    find_zone(&st, &ctx, &zone)?;
    let url = format!("{}/zones/{zone}/recordsets", v2(&st.base_url));
    Ok(listing(
        "recordsets",
        &st.designate.recordsets,
        &url,
        &p,
        |r| {
            str_of(r, "zone_id") == zone
                && p.get("type").is_none_or(|t| str_of(r, "type") == t)
                && p.get("name").is_none_or(|n| str_of(r, "name") == n)
        },
    ))
}

async fn create_recordset(
    State(s): St,
    Extension(ctx): Caller,
    Path(zone): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Designate, &body)?;
    let obj = body.as_object().cloned().unwrap_or_default();
    let mut st = s.lock();
    let z = find_zone(&st, &ctx, &zone)?.clone();
    refuse_if_deleting(&z)?;
    let records: Vec<String> = crate::store::strs_of(&obj, "records");
    let base = v2(&st.base_url);
    let rs = st.designate.add_recordset(
        &ctx,
        &base,
        &z,
        str_of(&obj, "name"),
        str_of(&obj, "type"),
        records,
        "PENDING",
    );
    let id = str_of(&rs, "id").to_string();
    let delay = st.delays.other_delete;
    drop(st);
    s.run_jobs(vec![Job::after(delay, move |st| {
        set_state(st.designate.recordsets.get_mut(&id), "ACTIVE", "NONE");
        Vec::new()
    })]);
    Ok(reply(StatusCode::ACCEPTED, public(&rs)))
}

async fn show_recordset(
    State(s): St,
    Extension(ctx): Caller,
    Path((zone, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(
        StatusCode::OK,
        public(find_recordset(&st, &ctx, &zone, &id)?),
    ))
}

async fn delete_recordset(
    State(s): St,
    Extension(ctx): Caller,
    Path((zone, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    let rs = find_recordset(&st, &ctx, &zone, &id)?;
    refuse_if_deleting(find_zone(&st, &ctx, &zone)?)?;
    if DesignateState::is_managed(rs) {
        let message = if str_of(rs, "type") == "SOA" {
            "Deleting a SOA recordset is not allowed"
        } else {
            "Managed records may not be deleted"
        };
        return Err(err(StatusCode::BAD_REQUEST, "bad_request", message));
    }
    set_state(st.designate.recordsets.get_mut(&id), "PENDING", "DELETE");
    let rs = public(find_recordset(&st, &ctx, &zone, &id)?);
    let delay = st.delays.other_delete;
    drop(st);
    s.run_jobs(vec![Job::after(delay, move |st| {
        if st.take_stuck("recordset", &id) {
            set_state(st.designate.recordsets.get_mut(&id), "ERROR", "DELETE");
        } else {
            st.designate.recordsets.remove(&id);
        }
        Vec::new()
    })]);
    Ok(reply(StatusCode::ACCEPTED, rs))
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::OK,
        json!({"versions": [{"id": "v2.0", "status": "CURRENT",
            "links": [{"rel": "self", "href": v2(&base)}]}]}),
    )
}

/// Designate's routes under `/dns`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/dns/v2/zones", get(list_zones).post(create_zone))
        .route("/dns/v2/zones/{id}", get(show_zone).delete(delete_zone))
        .route(
            "/dns/v2/zones/{zone}/recordsets",
            get(list_recordsets).post(create_recordset),
        )
        .route(
            "/dns/v2/zones/{zone}/recordsets/{id}",
            get(show_recordset).delete(delete_recordset),
        );
    Router::new()
        .route("/dns", get(versions))
        .route("/dns/", get(versions))
        .merge(protect(api, &shared))
}
