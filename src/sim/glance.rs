//! Glance (placeholder until its step lands).

use std::sync::Arc;

use axum::Router;

use super::http::Shared;
use super::store::Table;

/// Glance's resources.
#[derive(Debug, Default)]
pub struct GlanceState {
    /// images.
    pub images: Table,
}

/// Glance's routes.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let _ = shared;
    Router::new()
}
