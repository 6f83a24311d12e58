//! Swift (placeholder until its step lands).

use std::sync::Arc;

use axum::Router;

use super::http::Shared;
use super::store::Table;

/// Swift's resources.
#[derive(Debug, Default)]
pub struct SwiftState {
    /// containers.
    pub containers: Table,
}

/// Swift's routes.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let _ = shared;
    Router::new()
}
