//! Version discovery, the microversion every answer echoes, and the fixed answers of
//! what the simulator does not model (volume types).

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::{json, Value};

use crate::http::{reply, St};

/// Highest volume microversion the simulator claims.
const MAX_MICROVERSION: &str = "3.71";

fn v3(base: &str) -> Value {
    json!({"id": "v3.0", "status": "CURRENT", "version": MAX_MICROVERSION, "min_version": "3.0",
        "updated": "2023-08-31T00:00:00Z", "links": [{"rel": "self", "href": format!("{base}/volume/v3/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.volume+json;version=3"}]})
}

pub(super) async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": [v3(&base)]}),
    )
}

pub(super) async fn version(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(StatusCode::OK, json!({"versions": [v3(&base)]}))
}

/// Echoes the volume microversion, as Cinder does.
pub(super) async fn version_headers(req: Request, next: Next) -> Response {
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

pub(super) async fn types(State(_s): St) -> Response {
    reply(
        StatusCode::OK,
        json!({"volume_types": [{"id": "lvmdriver-1", "name": "lvmdriver-1", "is_public": true, "description": null, "extra_specs": {}}]}),
    )
}
