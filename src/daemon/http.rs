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
use crate::coord::Share;
use crate::metrics::{Metrics, OPENMETRICS_CONTENT_TYPE, TEXT_CONTENT_TYPE};

/// What the handlers read.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// Rendered by `/metrics`.
    pub metrics: Arc<Metrics>,
    /// Read by `/readyz`.
    pub health: Arc<Health>,
    /// This replica's share of the units (`/readyz` shows membership and the session).
    pub share: Arc<Share>,
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

/// 200 when every target's last authentication succeeded (and, with etcd, the session
/// is up); 503 naming what is not. With coordination, a last line says this replica's
/// share (`coordination: etcd member a of 3 [a, b, c], session up`).
async fn readyz(State(e): State<Endpoints>) -> Response {
    let (coordination, session_up) = coordination_line(&e.share);
    let mut not_ready = e.health.readiness().err().unwrap_or_default();
    if !session_up {
        not_ready.push("etcd: session down: this replica starts no deletes".to_owned());
    }
    let (status, mut body) = match not_ready.is_empty() {
        true => (StatusCode::OK, String::from("ready\n")),
        false => {
            let mut body = String::from("not ready:\n");
            for l in not_ready {
                body.push_str("  ");
                body.push_str(&l);
                body.push('\n');
            }
            (StatusCode::SERVICE_UNAVAILABLE, body)
        }
    };
    if let Some(line) = coordination {
        body.push_str(&line);
        body.push('\n');
    }
    (status, body).into_response()
}

/// This replica's share as one line, and whether it may start deletes.
fn coordination_line(share: &Share) -> (Option<String>, bool) {
    match share {
        Share::Everything => (None, true),
        Share::Shard(s) => (Some(format!("coordination: static shard {s}")), true),
        Share::Etcd(m) => {
            let v = m.view();
            let state = if v.up { "up" } else { "down" };
            let line = format!(
                "coordination: etcd member {} of {} [{}], session {state}",
                m.name(),
                v.members.len(),
                v.members.join(", ")
            );
            (Some(line), v.up)
        }
    }
}
