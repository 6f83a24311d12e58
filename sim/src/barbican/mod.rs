//! Barbican v1 (`key-manager`, an optional service: in the catalog only when enabled):
//! secrets and containers listed with `limit`/`offset` and a `next` URL (never a
//! marker), shown by ID, deleted with 204, 404 in Barbican's own body (`{"code": 404,
//! "title": "Not Found", "description": "Secret not found."}`, as Barbican 23 answers on
//! the real test bed). Deleting a secret a container or a listener still refers to is
//! allowed, as in Barbican: nothing is refused, and the secret drops out of the
//! containers' `secret_refs`.

pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

pub use state::BarbicanState;

use crate::error::{ApiError, Style};
use crate::http::{empty, parse_body, protect, reply, Caller, Shared, St};
use crate::store::{Obj, Params};
use state::{render, visible};

/// Barbican's default and largest page.
const DEFAULT_LIMIT: usize = 10;
const MAX_LIMIT: usize = 100;

fn not_found(collection: &str) -> ApiError {
    let description = if collection == "containers" {
        "Secrets container not found."
    } else {
        "Secret not found."
    };
    ApiError::new(Style::Barbican, StatusCode::NOT_FOUND, "", description)
}

/// Barbican's `/v1` URL on the simulator.
pub fn v1(base: &str) -> String {
    format!("{base}/key-manager/v1")
}

fn known(collection: &str) -> Result<(), ApiError> {
    match collection {
        "secrets" | "containers" => Ok(()),
        _ => Err(ApiError::new(
            Style::Barbican,
            StatusCode::NOT_FOUND,
            "",
            "The resource could not be found.",
        )),
    }
}

async fn list(
    State(s): St,
    Extension(ctx): Caller,
    Path(collection): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    known(&collection)?;
    let p = Params::parse(q.as_deref());
    let limit = p.limit().unwrap_or(DEFAULT_LIMIT).min(MAX_LIMIT);
    let offset: usize = p.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let st = s.lock();
    let table = st
        .barbican
        .table(&collection)
        .ok_or_else(|| not_found(&collection))?;
    let all: Vec<&Obj> = table
        .values()
        .filter(|o| visible(&ctx, o))
        .filter(|o| {
            p.get("name")
                .is_none_or(|n| o.get("name").and_then(Value::as_str) == Some(n))
        })
        .collect();
    let total = all.len();
    let items: Vec<Value> = all
        .iter()
        .skip(offset)
        .take(limit)
        .map(|o| render(o))
        .collect();
    let url = format!("{}/{collection}", v1(&st.base_url));
    let mut body = json!({ collection.clone(): items, "total": total });
    if offset + limit < total {
        body["next"] = json!(format!("{url}?limit={limit}&offset={}", offset + limit));
    }
    if offset > 0 {
        body["previous"] = json!(format!(
            "{url}?limit={limit}&offset={}",
            offset.saturating_sub(limit)
        ));
    }
    Ok(reply(StatusCode::OK, body))
}

async fn create(
    State(s): St,
    Extension(ctx): Caller,
    Path(collection): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    known(&collection)?;
    let body = parse_body(Style::Barbican, &body)?;
    let obj = body.as_object().cloned().unwrap_or_default();
    let mut st = s.lock();
    let base = v1(&st.base_url);
    Ok(if collection == "secrets" {
        let secret = st.barbican.create_secret(&ctx, &base, &obj);
        reply(
            StatusCode::CREATED,
            json!({"secret_ref": secret.get("secret_ref")}),
        )
    } else {
        let container = st.barbican.create_container(&ctx, &base, &obj);
        reply(
            StatusCode::CREATED,
            json!({"container_ref": container.get("container_ref")}),
        )
    })
}

async fn show(
    State(s): St,
    Extension(ctx): Caller,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    known(&collection)?;
    let st = s.lock();
    let found = st
        .barbican
        .table(&collection)
        .and_then(|t| t.get(&id))
        .filter(|o| visible(&ctx, o))
        .ok_or_else(|| not_found(&collection))?;
    Ok(reply(StatusCode::OK, render(found)))
}

async fn delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((collection, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    known(&collection)?;
    let mut st = s.lock();
    let kind = if collection == "secrets" {
        "secret"
    } else {
        "secret-container"
    };
    let visible_here = st
        .barbican
        .table(&collection)
        .and_then(|t| t.get(&id))
        .is_some_and(|o| visible(&ctx, o));
    if !visible_here {
        return Err(not_found(&collection));
    }
    if st.take_conflict(kind, &id) {
        return Err(ApiError::new(
            Style::Barbican,
            StatusCode::CONFLICT,
            "",
            "Conflict.",
        ));
    }
    if st.take_stuck(kind, &id) {
        return Err(ApiError::new(
            Style::Barbican,
            StatusCode::INTERNAL_SERVER_ERROR,
            "",
            "Internal Server Error.",
        ));
    }
    if let Some(t) = st.barbican.table_mut(&collection) {
        t.remove(&id);
    }
    if collection == "secrets" {
        st.barbican.forget_secret(&id);
    }
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": {"values": [{"id": "v1", "status": "stable",
            "links": [{"rel": "self", "href": v1(&base)}]}]}}),
    )
}

/// Barbican's routes under `/key-manager`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/key-manager/v1/{collection}", get(list).post(create))
        .route(
            "/key-manager/v1/{collection}/{id}",
            get(show).delete(delete),
        );
    Router::new()
        .route("/key-manager", get(versions))
        .route("/key-manager/", get(versions))
        .merge(protect(api, &shared))
}
