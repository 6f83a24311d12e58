//! Version discovery, and the microversion every answer echoes in its headers.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

use super::common::{microversion, MAX_MICROVERSION};
use crate::http::{reply, St};

fn v21(base: &str) -> Value {
    json!({"id": "v2.1", "status": "CURRENT", "version": format!("{}.{}", MAX_MICROVERSION.0, MAX_MICROVERSION.1),
        "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]})
}

pub(super) async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    let v2 = json!({"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2/")}]});
    reply(StatusCode::OK, json!({"versions": [v2, v21(&base)]}))
}

pub(super) async fn version(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(StatusCode::OK, json!({ "version": v21(&base) }))
}

/// Echoes the negotiated microversion in the response headers, as Nova does.
pub(super) async fn version_headers(req: Request, next: Next) -> Response {
    let (a, b) = microversion(req.headers());
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {a}.{b}")) {
        h.insert("openstack-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{a}.{b}")) {
        h.insert("x-openstack-nova-api-version", v);
    }
    resp
}
