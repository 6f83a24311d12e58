//! Our small OpenStack client: credentials (`clouds.yaml`, `OS_*`), Keystone v3 auth,
//! the service catalog, and one request path (retries, concurrency, rate limit, metrics
//! hook) that every API call goes through. It knows nothing of selection or planning.
//!
//! CONTRACT STUB: the public items below are the API the engine codes against. The
//! client's owner replaces the bodies (and may split this file into `auth.rs`,
//! `clouds.rs`, `catalog.rs`, `request.rs`, `paginate.rs`, `error.rs`), keeping these
//! names and signatures.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

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
        }
    }
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why resolving a cloud's credentials failed.
#[derive(Debug, thiserror::Error)]
pub enum CloudsError {
    /// Placeholder until the client lands.
    #[error("{0}")]
    Invalid(String),
}

/// A cloud's resolved connection settings: auth URL, auth method and its secrets, project
/// scope, region, interface, CA, verify. Its `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    _private: (),
}

impl CloudConfig {
    /// Resolves a cloud the way `openstack` does: `cloud` (or `OS_CLOUD`) looked up in
    /// `clouds.yaml` + `secure.yaml` (from `OS_CLIENT_CONFIG_FILE`, `./`,
    /// `~/.config/openstack/`, `/etc/openstack/`), overlaid with `OS_*` variables; with
    /// no cloud name at all, from `OS_*` variables alone.
    pub fn resolve(cloud: Option<&str>) -> Result<CloudConfig, CloudsError> {
        let _ = cloud;
        Err(CloudsError::Invalid("client not implemented yet".into()))
    }

    /// Loads cloud `name` from one explicit `clouds.yaml` file (tests, `--clouds-yaml`).
    pub fn from_clouds_yaml(path: &Path, name: &str) -> Result<CloudConfig, CloudsError> {
        let _ = (path, name);
        Err(CloudsError::Invalid("client not implemented yet".into()))
    }

    /// The cloud's name as configured (`sim`, `mycloud`); `envvars` when from `OS_*` only.
    pub fn name(&self) -> &str {
        "unimplemented"
    }
}

/// How the request path retries transient failures (429, 5xx, dropped connections).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First backoff delay; doubles each attempt, with jitter.
    pub base_delay: Duration,
    /// Largest single backoff delay.
    pub max_delay: Duration,
    /// Give up retrying one request after this long in total.
    pub deadline: Duration,
}

/// Why a request was retried; for the metrics hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryReason {
    /// 429 Too Many Requests.
    RateLimited,
    /// 500..=599.
    ServerError,
    /// Connection refused, reset, timed out.
    Transport,
    /// 401 answered: the session re-authenticated once.
    Reauthenticated,
}

/// Told about every HTTP exchange; the metrics module implements it.
pub trait RequestObserver: Send + Sync {
    /// One HTTP exchange finished (`status` is `None` when no response came).
    fn on_response(
        &self,
        service: Service,
        method: &'static str,
        status: Option<u16>,
        elapsed: Duration,
    );
    /// A request is about to be retried.
    fn on_retry(&self, service: Service, reason: RetryReason);
}

/// Settings for a [`Session`].
#[derive(Clone)]
pub struct SessionOptions {
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
    /// Most requests in flight at once, per service.
    pub concurrency_per_service: usize,
    /// Most requests started per second, per service (`None`: unlimited).
    pub requests_per_second: Option<u32>,
    /// Timeout of one HTTP exchange.
    pub request_timeout: Duration,
    /// `limit` asked for on paginated lists.
    pub page_size: usize,
    /// Pagination guard: a list that needs more pages than this is an error.
    pub max_pages: usize,
    /// Told about every exchange and retry (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
}

/// A failed API call, carrying what callers branch on.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The service answered with an error status.
    #[error("{service} {method} {path}: HTTP {status}: {message}")]
    Status {
        /// Which service answered.
        service: Service,
        /// HTTP method.
        method: &'static str,
        /// Path (no query secrets; there are none in OpenStack paths).
        path: String,
        /// HTTP status code.
        status: u16,
        /// Error type where the body has one (`SecurityGroupInUse`, `PortNotFound`, ...).
        error_type: Option<String>,
        /// The service's message.
        message: String,
        /// `Retry-After`, when sent.
        retry_after: Option<Duration>,
    },
    /// Placeholder until the client lands.
    #[error("{0}")]
    Other(String),
}

impl ApiError {
    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            ApiError::Other(_) => None,
        }
    }

    /// True for 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// The error type from the body (`SecurityGroupInUse`), when it had one.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            ApiError::Status { error_type, .. } => error_type.as_deref(),
            ApiError::Other(_) => None,
        }
    }
}

/// What a DELETE came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteOutcome {
    /// 200/202/204: accepted (the resource may linger while it is deleted).
    Accepted,
    /// 404: it was already gone, which is success.
    AlreadyGone,
}

/// An authenticated, project-scoped connection to one cloud. Cheap to clone.
#[derive(Clone)]
pub struct Session {
    _private: Arc<()>,
}

impl Session {
    /// Authenticates (Keystone v3 password or application credential) and reads the catalog.
    pub async fn connect(
        cloud: &CloudConfig,
        options: SessionOptions,
    ) -> Result<Session, ApiError> {
        let _ = (cloud, options);
        Err(ApiError::Other("client not implemented yet".into()))
    }

    /// The project the token is scoped to.
    pub fn project_id(&self) -> &str {
        ""
    }

    /// The cloud's configured name.
    pub fn cloud_name(&self) -> &str {
        ""
    }

    /// Roles on the token (to warn when running as admin).
    pub fn roles(&self) -> &[String] {
        &[]
    }

    /// Whether the catalog has an endpoint for `service` (interface and region applied).
    pub fn has_service(&self, service: Service) -> bool {
        let _ = service;
        false
    }

    /// GET `path` (relative to the service endpoint, may carry a query) as JSON.
    pub async fn get(&self, service: Service, path: &str) -> Result<Value, ApiError> {
        let _ = (service, path);
        Err(ApiError::Other("client not implemented yet".into()))
    }

    /// GET every page of a collection: `collection` is the key of the array in the body
    /// (`ports`, `servers`); empty for a top-level array (Swift). Follows `*_links` /
    /// `next` or marker/limit, with the page guard of [`SessionOptions::max_pages`].
    pub async fn list(
        &self,
        service: Service,
        path: &str,
        collection: &str,
    ) -> Result<Vec<Value>, ApiError> {
        let _ = (service, path, collection);
        Err(ApiError::Other("client not implemented yet".into()))
    }

    /// POST a JSON body; `Value::Null` when the answer has no body.
    pub async fn post(
        &self,
        service: Service,
        path: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let _ = (service, path, body);
        Err(ApiError::Other("client not implemented yet".into()))
    }

    /// PUT a JSON body; `Value::Null` when the answer has no body.
    pub async fn put(&self, service: Service, path: &str, body: &Value) -> Result<Value, ApiError> {
        let _ = (service, path, body);
        Err(ApiError::Other("client not implemented yet".into()))
    }

    /// DELETE; 404 is [`DeleteOutcome::AlreadyGone`], not an error.
    pub async fn delete(&self, service: Service, path: &str) -> Result<DeleteOutcome, ApiError> {
        let _ = (service, path);
        Err(ApiError::Other("client not implemented yet".into()))
    }
}
