//! Our small OpenStack client: credentials (`clouds.yaml`, `OS_*`), Keystone v3 auth,
//! the service catalog, and one request path (retries, adaptive pacing, metrics hook) that every API call goes through. It knows nothing of selection or planning.
//!
//! - [`clouds`]: where credentials come from, resolved as the `openstack` CLI does;
//! - [`auth`]: Keystone v3 tokens and their renewal;
//! - [`token_cache`]: scoped tokens reused across sessions (the daemon's sweeps);
//! - [`catalog`]: endpoint choice and versioned API roots;
//! - [`request`]: the one request path;
//! - [`pacing`]: per-service adaptive limits of concurrency and rate;
//! - `lag`: how late this process runs, so that pacing does not blame the service;
//! - [`paginate`]: every page of a collection, with guards;
//! - [`error`]: errors and the tolerant parsing of the services' error bodies;
//! - [`session`]: [`Session`], the JSON verbs the resource modules use.
//!
//! Paths are relative to each service's versioned API root (`/v2.0` for Neutron, `/v2`
//! for Glance and Octavia; the catalog's own for the rest):
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use stacksweep::openstack::{CloudConfig, DeleteOutcome, Service, Session, SessionOptions};
//!
//! let cloud = CloudConfig::resolve(Some("mycloud"))?;
//! let session = Session::connect(&cloud, SessionOptions::default()).await?;
//! let ports = session.list(Service::Network, "/ports?tags=ci", "ports").await?;
//! for port in &ports {
//!     let id = port["id"].as_str().unwrap_or_default();
//!     match session.delete(Service::Network, &format!("/ports/{id}")).await {
//!         Ok(DeleteOutcome::Accepted | DeleteOutcome::AlreadyGone) => {}
//!         Err(e) if e.is_conflict() => { /* re-read, retry later */ }
//!         Err(e) => return Err(e.into()),
//!     }
//! }
//! # Ok(())
//! # }
//! ```

pub mod auth;
pub mod catalog;
pub mod clouds;
pub mod error;
mod lag;
pub mod pacing;
pub mod paginate;
pub mod request;
pub mod session;
mod token;
pub mod token_cache;

pub use clouds::{
    AuthMethod, CloudConfig, CloudsError, CloudsSource, DomainRef, ProjectScope, UserRef,
    ENVVARS_CLOUD,
};
pub use error::{parse_error_body, parse_retry_after, ApiError, UnreachableCause};
pub use pacing::{PacingMode, PacingStats, Pushback, RetryCounts};
pub use request::{microversion_headers, RequestObserver, RetryPolicy, RetryReason};
pub use session::{DeleteOutcome, Session, SessionOptions};
pub use token_cache::TokenCache;

/// An OpenStack service the janitor talks to, as named in the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    /// Keystone.
    Identity,
    /// Nova.
    Compute,
    /// Neutron.
    Network,
    /// Cinder (catalog types `block-storage`, `volumev3`, `volume`).
    BlockStorage,
    /// Octavia.
    LoadBalancer,
    /// Glance.
    Image,
    /// Heat.
    Orchestration,
    /// Swift.
    ObjectStore,
    /// Barbican (catalog type `key-manager`).
    KeyManager,
    /// Designate (catalog type `dns`).
    Dns,
    /// Manila (catalog types `shared-file-system`, `sharev2`).
    SharedFileSystem,
}

impl Service {
    /// A bounded, stable label for metrics and logs (`compute`, `network`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Compute => "compute",
            Service::Network => "network",
            Service::BlockStorage => "block-storage",
            Service::LoadBalancer => "load-balancer",
            Service::Image => "image",
            Service::Orchestration => "orchestration",
            Service::ObjectStore => "object-store",
            Service::KeyManager => "key-manager",
            Service::Dns => "dns",
            Service::SharedFileSystem => "shared-file-system",
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
