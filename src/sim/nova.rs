//! Nova (placeholder until its step lands).

use std::sync::Arc;

use axum::Router;

use super::http::Shared;
use super::store::Table;

/// Nova's resources.
#[derive(Debug, Default)]
pub struct NovaState {
    /// servers.
    pub servers: Table,
    /// server_groups.
    pub server_groups: Table,
    /// keypairs.
    pub keypairs: Table,
}

impl NovaState {
    pub(crate) fn new() -> NovaState {
        NovaState::default()
    }
}

/// Nova's routes.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let _ = shared;
    Router::new()
}
