//! The Keystone token a session sends, and what came with it. Shared by the
//! authenticator, which issues it, and the request path, which sends it.

use std::collections::HashMap;

use secrecy::SecretString;
use tokio::time::Instant;
use url::Url;

use super::catalog::Catalog;
use super::Service;

/// A project-scoped token as Keystone issued it, before any region or interface is
/// picked from its catalog: what [`TokenCache`](super::token_cache::TokenCache) keeps, so
/// that one token serves a project's every region.
pub(crate) struct Scoped {
    /// `X-Subject-Token`.
    pub secret: SecretString,
    /// When a session using it renews it (tokio time).
    pub renew_at: Instant,
    /// Until when a new session may start on it (tokio time): earlier than `renew_at`,
    /// so a sweep does not start on a token about to expire.
    pub reuse_until: Instant,
    /// The scoped project.
    pub project_id: String,
    /// Its name, as the token body gives it (empty when it does not).
    pub project_name: String,
    /// Role names on the token.
    pub roles: Vec<String>,
    /// The catalog: the services we use, on the cloud's interface.
    pub catalog: Catalog,
}

impl std::fmt::Debug for Scoped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scoped")
            .field("secret", &"[REDACTED]")
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}

/// A token and what came with it.
pub(crate) struct Token {
    /// `X-Subject-Token`.
    pub secret: SecretString,
    /// Bumped on every renewal, so concurrent 401s renew once.
    pub generation: u64,
    /// When to renew (tokio time, so tests can pause it).
    pub renew_at: Instant,
    /// Versioned API roots of the services in the catalog.
    pub roots: HashMap<Service, Url>,
    /// The scoped project.
    pub project_id: String,
    /// Its name, as the token body gives it (empty when it does not).
    pub project_name: String,
    /// Role names on the token.
    pub roles: Vec<String>,
    /// Regions of the catalog offering a service other than Keystone on our interface.
    pub regions: std::collections::BTreeSet<String>,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"[REDACTED]")
            .field("generation", &self.generation)
            .field("project_id", &self.project_id)
            .finish_non_exhaustive()
    }
}
