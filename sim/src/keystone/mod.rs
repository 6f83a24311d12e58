//! Keystone v3: password and application-credential tokens scoped to a project, the
//! service catalog on the simulator's own address, token expiry, version discovery.

pub mod catalog;
pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use serde_json::{json, Value};
use tokio::time::Instant;

pub use catalog::{catalog, OPTIONAL_SERVICES};
pub use state::{
    AppCred, KeystoneState, Project, User, ADMIN_PASSWORD, CI_PASSWORD, CI_PROJECT, CI_USER,
};

use crate::error::{ApiError, Style};
use crate::http::{parse_body, reply, Shared, St};
use crate::store::Ctx;

fn version_doc(base: &str) -> Value {
    json!({
        "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
        "links": [{"rel": "self", "href": format!("{base}/identity/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}]
    })
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": {"values": [version_doc(&base)]}}),
    )
}

async fn version(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(StatusCode::OK, json!({"version": version_doc(&base)}))
}

async fn create_token(State(s): St, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(Style::Keystone, &body)?;
    let mut st = s.lock();
    let (ctx, methods, app_cred) = st.keystone.authenticate(&body)?;
    let (id, expires_at) = st.keystone.issue(ctx.clone());
    let base = st.base_url.clone();
    let out = st
        .keystone
        .token_body(&ctx, &methods, app_cred.as_deref(), expires_at, &base);
    let mut resp = reply(StatusCode::CREATED, out);
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-subject-token", v);
    }
    Ok(resp)
}

async fn check_token(State(s): St, headers: HeaderMap) -> Result<Response, ApiError> {
    let header = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let (caller, subject) = (header("x-auth-token"), header("x-subject-token"));
    let st = s.lock();
    st.keystone
        .validate(&caller)
        .ok_or_else(ApiError::unauthorized)?;
    let t = st
        .keystone
        .tokens
        .get(&subject)
        .filter(|t| Instant::now() < t.expires)
        .ok_or_else(|| {
            ApiError::new(
                Style::Keystone,
                StatusCode::NOT_FOUND,
                "Not Found",
                "Could not find token.",
            )
        })?;
    let out = st
        .keystone
        .token_body(&t.ctx, &["password"], None, t.expires_at, &st.base_url);
    let mut resp = reply(StatusCode::OK, out);
    if let Ok(v) = HeaderValue::from_str(&subject) {
        resp.headers_mut().insert("x-subject-token", v);
    }
    Ok(resp)
}

/// The caller behind the request's `X-Auth-Token`, or 401.
fn caller(ks: &KeystoneState, headers: &HeaderMap) -> Result<Ctx, ApiError> {
    let token = headers
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    ks.validate(token).ok_or_else(ApiError::unauthorized)
}

/// `GET /v3/auth/projects`: the projects the caller's user may scope a token to (any
/// role on them), each once, as Keystone answers it.
async fn auth_projects(State(s): St, headers: HeaderMap) -> Result<Response, ApiError> {
    let st = s.lock();
    let ctx = caller(&st.keystone, &headers)?;
    let base = format!("{}/identity/v3", st.base_url);
    let mut ids: Vec<&String> = st
        .keystone
        .users
        .get(&ctx.user_id)
        .map(|u| u.roles.iter().map(|(pid, _)| pid).collect())
        .unwrap_or_default();
    ids.sort();
    ids.dedup();
    let projects: Vec<Value> = ids
        .into_iter()
        .filter_map(|pid| st.keystone.projects.get(pid).map(|p| (pid, p)))
        .map(|(pid, p)| {
            json!({"id": pid, "name": p.name, "domain_id": "default", "description": "",
                   "enabled": true, "is_domain": false, "parent_id": "default", "tags": [],
                   "options": {}, "links": {"self": format!("{base}/projects/{pid}")}})
        })
        .collect();
    Ok(reply(
        StatusCode::OK,
        json!({ "projects": projects,
                "links": {"self": format!("{base}/auth/projects"), "previous": null, "next": null} }),
    ))
}

async fn auth_catalog(State(s): St, headers: HeaderMap) -> Result<Response, ApiError> {
    let st = s.lock();
    let ctx = caller(&st.keystone, &headers)?;
    Ok(reply(
        StatusCode::OK,
        json!({"catalog": catalog(&st.base_url, &ctx.project_id, &st.keystone.regions, &st.keystone.optional_services)}),
    ))
}

/// Keystone's routes, under `/identity` and at the root (`/`, `/v3`).
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let _ = shared;
    let v3 = || {
        Router::new()
            .route("/", get(version))
            .route(
                "/auth/tokens",
                get(check_token).head(check_token).post(create_token),
            )
            .route("/auth/projects", get(auth_projects))
            .route("/auth/catalog", get(auth_catalog))
    };
    Router::new()
        .route("/", get(versions))
        .route("/identity", get(versions))
        .route("/identity/", get(versions))
        .route("/v3/", get(version))
        .route("/identity/v3/", get(version))
        .nest("/identity/v3", v3())
        .nest("/v3", v3())
}
