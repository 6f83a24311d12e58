//! Octavia (placeholder until its step lands).

use std::sync::Arc;

use axum::Router;

use super::http::Shared;
use super::store::Table;

/// Octavia's resources.
#[derive(Debug, Default)]
pub struct OctaviaState {
    /// loadbalancers.
    pub loadbalancers: Table,
}

/// Octavia's routes.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let _ = shared;
    Router::new()
}
