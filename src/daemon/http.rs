//! The daemon's HTTP endpoints, on one listen address: `/metrics` (Prometheus),
//! `/healthz` (the process answers) and `/readyz` (every target last authenticated).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::health::Health;
use crate::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Rendered by `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Read by `/readyz`.
    pub health: Arc<Health>,
}

/// The router of the three endpoints.
pub fn router(endpoints: Endpoints) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(endpoints)
}

/// Serves the endpoints on `listener` until `shutdown` is cancelled.
pub async fn serve(
    listener: TcpListener,
    endpoints: Endpoints,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    axum::serve(listener, router(endpoints))
        .with_graceful_shutdown(shutdown.cancelled_owned())
        .await
}

/// OpenMetrics for scrapers that ask for it (Prometheus does), the classic text format
/// for everyone else (`curl`, `promtool check metrics`).
async fn metrics(State(e): State<Endpoints>, headers: HeaderMap) -> Response {
    let openmetrics = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let (rendered, content_type) = if openmetrics {
        (e.metrics.render(), OPENMETRICS_CONTENT_TYPE)
    } else {
        (e.metrics.render_text(), TEXT_CONTENT_TYPE)
    };
    match rendered {
        Ok(body) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot render metrics");
            (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response()
        }
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// 200 when every target's last authentication succeeded; 503 naming those that did not.
async fn readyz(State(e): State<Endpoints>) -> Response {
    match e.health.readiness() {
        Ok(()) => "ready\n".into_response(),
        Err(lines) => {
            let mut body = String::from("not ready:\n");
            for l in lines {
                body.push_str("  ");
                body.push_str(&l);
                body.push('\n');
            }
            (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
        }
    }
}
