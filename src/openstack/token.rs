//! The Keystone token a session sends, and what came with it. Shared by the
//! authenticator, which issues it, and the request path, which sends it.

use std::collections::HashMap;

use secrecy::SecretString;
use tokio::time::Instant;
use url::Url;

use super::Service;

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
