//! Heat (placeholder until its step lands).

use std::sync::Arc;

use axum::Router;

use super::http::Shared;
use super::store::Table;

/// Heat's resources.
#[derive(Debug, Default)]
pub struct HeatState {
    /// stacks.
    pub stacks: Table,
}

/// Heat's routes.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let _ = shared;
    Router::new()
}
