//! Swift v1: containers and objects in the project's `AUTH_<project>` account; a
//! container with objects answers 409 to a delete; bulk delete; `/info`.

pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use jiff::Timestamp;
use serde_json::{json, Value};

pub use state::SwiftState;

use crate::error::{ApiError, Style};
use crate::http::{empty, protect, reply, Caller, Shared, St};
use crate::state::SimState;
use crate::store::{fmt_micro, str_of, Ctx, Obj, Params};

fn err(status: StatusCode, msg: &str) -> ApiError {
    ApiError::new(Style::Text, status, "", msg)
}

fn not_found() -> ApiError {
    err(StatusCode::NOT_FOUND, "The resource could not be found.")
}

/// The account must be the caller's own (`AUTH_<project>`).
fn check_account(ctx: &Ctx, account: &str) -> Result<(), ApiError> {
    if ctx.admin || account.strip_prefix("AUTH_") == Some(ctx.project_id.as_str()) {
        Ok(())
    } else {
        Err(err(
            StatusCode::FORBIDDEN,
            "Access was denied to this resource.",
        ))
    }
}

fn container<'a>(st: &'a SimState, ctx: &Ctx, name: &str) -> Result<&'a Obj, ApiError> {
    st.swift
        .containers
        .get(name)
        .filter(|c| ctx.owns(str_of(c, "_project")))
        .ok_or_else(not_found)
}

fn objects(c: &Obj) -> Vec<(String, Value)> {
    c.get("_objects")
        .and_then(Value::as_object)
        .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Creates a container (no-op when it exists).
pub fn create_container(st: &mut SimState, ctx: &Ctx, name: &str) -> bool {
    if st.swift.containers.contains(name) {
        return false;
    }
    let c = json!({"id": name, "name": name, "_project": ctx.project_id, "_objects": {},
        "last_modified": fmt_micro(Timestamp::now())});
    if let Value::Object(c) = c {
        st.swift.containers.insert(c);
    }
    true
}

/// Stores an object in a container.
pub fn put_object(st: &mut SimState, container: &str, name: &str, bytes: usize) -> bool {
    let Some(c) = st.swift.containers.get_mut(container) else {
        return false;
    };
    let entry = json!({"name": name, "bytes": bytes, "hash": format!("{:032x}", bytes), "content_type": "application/octet-stream",
        "last_modified": fmt_micro(Timestamp::now())});
    if let Some(Value::Object(objs)) = c.get_mut("_objects") {
        objs.insert(name.into(), entry);
    }
    true
}

fn listing(names: Vec<Value>, json_format: bool, key: &str) -> Response {
    if json_format {
        return reply(StatusCode::OK, Value::Array(names));
    }
    if names.is_empty() {
        return empty(StatusCode::NO_CONTENT);
    }
    let text: String = names
        .iter()
        .map(|n| format!("{}\n", n[key].as_str().unwrap_or("")))
        .collect();
    (StatusCode::OK, text).into_response()
}

fn wants_json(p: &Params) -> bool {
    p.get("format") == Some("json")
}

/// Marker/limit/prefix over sorted names.
fn window(mut items: Vec<Value>, p: &Params) -> Vec<Value> {
    items.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    let marker = p.get("marker").unwrap_or("");
    let prefix = p.get("prefix").unwrap_or("");
    items
        .into_iter()
        .filter(|i| {
            let n = i["name"].as_str().unwrap_or("");
            n > marker && n.starts_with(prefix)
        })
        .take(p.limit().unwrap_or(10_000))
        .collect()
}

async fn account(
    State(s): St,
    Extension(ctx): Caller,
    Path(acct): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    check_account(&ctx, &acct)?;
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let all: Vec<Value> = st
        .swift
        .containers
        .values()
        .filter(|c| str_of(c, "_project") == ctx.project_id)
        .map(|c| {
            let objs = objects(c);
            let bytes: u64 = objs.iter().map(|(_, o)| o["bytes"].as_u64().unwrap_or(0)).sum();
            json!({"name": c["name"], "count": objs.len(), "bytes": bytes, "last_modified": c["last_modified"]})
        })
        .collect();
    let count = all.len();
    let mut resp = listing(window(all, &p), wants_json(&p), "name");
    resp.headers_mut()
        .insert("x-account-container-count", HeaderValue::from(count));
    Ok(resp)
}

/// `POST /AUTH_x?bulk-delete`: newline-separated `/container[/object]` paths.
async fn bulk_delete(
    State(s): St,
    Extension(ctx): Caller,
    Path(acct): Path<String>,
    RawQuery(q): RawQuery,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_account(&ctx, &acct)?;
    if !Params::parse(q.as_deref())
        .0
        .iter()
        .any(|(k, _)| k == "bulk-delete")
    {
        return Err(err(StatusCode::BAD_REQUEST, "Unsupported account POST"));
    }
    let text = String::from_utf8_lossy(&body).to_string();
    let mut st = s.lock();
    let (mut deleted, mut missing, mut errors) = (0, 0, Vec::new());
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let path = url::form_urlencoded::parse(format!("p={line}").as_bytes())
            .next()
            .map(|(_, v)| v.to_string())
            .unwrap_or_default();
        let path = path.trim_start_matches('/');
        let (cname, oname) = path
            .split_once('/')
            .map_or((path, None), |(c, o)| (c, Some(o)));
        let Ok(c) = container(&st, &ctx, cname) else {
            missing += 1;
            continue;
        };
        match oname {
            Some(o) => {
                let had = objects(c).iter().any(|(n, _)| n == o);
                if let Some(Value::Object(objs)) = st
                    .swift
                    .containers
                    .get_mut(cname)
                    .and_then(|c| c.get_mut("_objects"))
                {
                    objs.remove(o);
                }
                if had {
                    deleted += 1;
                } else {
                    missing += 1;
                }
            }
            None if !objects(c).is_empty() => {
                errors.push(json!([format!("/{cname}"), "409 Conflict"]))
            }
            None => {
                st.swift.containers.remove(cname);
                deleted += 1;
            }
        }
    }
    let status = if errors.is_empty() {
        "200 OK"
    } else {
        "400 Bad Request"
    };
    Ok(reply(
        StatusCode::OK,
        json!({"Number Deleted": deleted, "Number Not Found": missing, "Response Status": status, "Response Body": "", "Errors": errors}),
    ))
}

async fn get_container(
    State(s): St,
    Extension(ctx): Caller,
    Path((acct, name)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    check_account(&ctx, &acct)?;
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let c = container(&st, &ctx, &name)?;
    let objs: Vec<Value> = objects(c).into_iter().map(|(_, o)| o).collect();
    let count = objs.len();
    let mut resp = listing(window(objs, &p), wants_json(&p), "name");
    resp.headers_mut()
        .insert("x-container-object-count", HeaderValue::from(count));
    Ok(resp)
}

async fn put_container(
    State(s): St,
    Extension(ctx): Caller,
    Path((acct, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_account(&ctx, &acct)?;
    let created = create_container(&mut s.lock(), &ctx, &name);
    Ok(empty(if created {
        StatusCode::CREATED
    } else {
        StatusCode::ACCEPTED
    }))
}

async fn delete_container(
    State(s): St,
    Extension(ctx): Caller,
    Path((acct, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    check_account(&ctx, &acct)?;
    let mut st = s.lock();
    let c = container(&st, &ctx, &name)?;
    if !objects(c).is_empty() || st.take_conflict("container", &name) {
        return Err(err(
            StatusCode::CONFLICT,
            "There was a conflict when trying to complete your request.",
        ));
    }
    st.swift.containers.remove(&name);
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn get_object(
    State(s): St,
    Extension(ctx): Caller,
    Path((acct, cname, oname)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    check_account(&ctx, &acct)?;
    let st = s.lock();
    let c = container(&st, &ctx, &cname)?;
    let (_, o) = objects(c)
        .into_iter()
        .find(|(n, _)| *n == oname)
        .ok_or_else(not_found)?;
    let bytes = usize::try_from(o["bytes"].as_u64().unwrap_or(0)).unwrap_or(0);
    Ok((StatusCode::OK, vec![b'x'; bytes]).into_response())
}

async fn put_object_h(
    State(s): St,
    Extension(ctx): Caller,
    Path((acct, cname, oname)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    check_account(&ctx, &acct)?;
    let mut st = s.lock();
    container(&st, &ctx, &cname)?;
    put_object(&mut st, &cname, &oname, body.len());
    Ok(empty(StatusCode::CREATED))
}

async fn delete_object(
    State(s): St,
    Extension(ctx): Caller,
    Path((acct, cname, oname)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    check_account(&ctx, &acct)?;
    let mut st = s.lock();
    container(&st, &ctx, &cname)?;
    let removed = st
        .swift
        .containers
        .get_mut(&cname)
        .and_then(|c| c.get_mut("_objects"))
        .and_then(Value::as_object_mut)
        .and_then(|objs| objs.remove(&oname));
    match removed {
        Some(_) => Ok(empty(StatusCode::NO_CONTENT)),
        None => Err(not_found()),
    }
}

async fn info() -> Response {
    reply(
        StatusCode::OK,
        json!({"swift": {"version": "2.34.0", "max_file_size": 5_368_709_122u64, "account_listing_limit": 10000,
            "container_listing_limit": 10000}, "bulk_delete": {"max_deletes_per_request": 10000, "max_failed_deletes": 1000}}),
    )
}

/// Swift's routes under `/swift`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route(
            "/swift/v1/{acct}",
            get(account).head(account).post(bulk_delete),
        )
        // openstacksdk lists containers with a trailing slash.
        .route("/swift/v1/{acct}/", get(account).head(account))
        .route(
            "/swift/v1/{acct}/{container}",
            get(get_container)
                .head(get_container)
                .put(put_container)
                .delete(delete_container),
        )
        .route(
            "/swift/v1/{acct}/{container}/{*object}",
            get(get_object)
                .head(get_object)
                .put(put_object_h)
                .delete(delete_object),
        );
    Router::new()
        .route("/swift/info", get(info))
        .route("/info", get(info))
        .merge(protect(api, &shared))
}
