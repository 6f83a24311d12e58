//! Cinder (placeholder until its step lands).

use std::sync::Arc;

use axum::Router;

use super::http::Shared;
use super::store::Table;

/// Cinder's resources.
#[derive(Debug, Default)]
pub struct CinderState {
    /// volumes.
    pub volumes: Table,
    /// snapshots.
    pub snapshots: Table,
}

/// Cinder's routes.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let _ = shared;
    Router::new()
}
