//! [`Session`]: an authenticated, project-scoped connection to one cloud, and the JSON
//! verbs the resource modules use. Every verb goes through the request path.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tracing::{info, warn};
use url::Url;

use super::auth::Authenticator;
use super::clouds::CloudConfig;
use super::error::{parse_error_body, ApiError};
use super::pacing::{PacingConfig, PacingMode, PacingStats, START_CONCURRENCY};
use super::paginate::{self, PageSource};
use super::request::{
    error_chain, Call, Reply, RequestConfig, RequestObserver, Requester, RetryPolicy,
};
use super::token_cache::TokenCache;
use super::Service;

/// Settings for a [`Session`].
#[derive(Clone)]
pub struct SessionOptions {
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
    /// Adaptive (limits learned from the cloud's answers, these below as ceilings) or
    /// fixed (these below, always).
    pub pacing: PacingMode,
    /// Most requests in flight at once, per service: the adaptive limit's ceiling.
    pub concurrency_per_service: usize,
    /// Most requests started per second, per service: the adaptive rate's ceiling
    /// (`None`: no ceiling; the rate follows from concurrency, latency and 429s).
    pub requests_per_second: Option<u32>,
    /// Timeout of one HTTP exchange.
    pub request_timeout: Duration,
    /// `limit` asked for on paginated lists.
    pub page_size: usize,
    /// Pagination guard: a list that needs more pages than this is an error.
    pub max_pages: usize,
    /// Told about every exchange and retry (metrics).
    pub observer: Option<Arc<dyn RequestObserver>>,
    /// Scoped tokens shared with other sessions (the daemon's sweeps); `None`: this
    /// session asks Keystone for its own.
    pub tokens: Option<TokenCache>,
    /// The daemon replica's member name, sent in the `User-Agent`
    /// (`stacksweep/0.1.0 member/NAME`) so the cloud's logs tell replicas apart.
    pub member: Option<String>,
}

impl Default for SessionOptions {
    /// Fast by default, polite by feedback: adaptive pacing starting at
    /// [`START_CONCURRENCY`] requests in flight per service, up to 64 and no rate ceiling;
    /// 60 s per exchange, pages of 200, at most 1000 pages.
    fn default() -> Self {
        SessionOptions {
            retry: RetryPolicy::default(),
            pacing: PacingMode::Adaptive,
            concurrency_per_service: 64,
            requests_per_second: None,
            request_timeout: Duration::from_secs(60),
            page_size: 200,
            max_pages: 1000,
            observer: None,
            tokens: None,
            member: None,
        }
    }
}

impl fmt::Debug for SessionOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionOptions")
            .field("retry", &self.retry)
            .field("pacing", &self.pacing)
            .field("concurrency_per_service", &self.concurrency_per_service)
            .field("requests_per_second", &self.requests_per_second)
            .field("request_timeout", &self.request_timeout)
            .field("page_size", &self.page_size)
            .field("max_pages", &self.max_pages)
            .field("observer", &self.observer.is_some())
            .field("tokens", &self.tokens)
            .field("member", &self.member)
            .finish()
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
    inner: Arc<Inner>,
}

struct Inner {
    cloud_name: String,
    /// Endpoint interface and region, for error messages.
    interface: String,
    region: Option<String>,
    project_id: String,
    project_name: String,
    roles: Vec<String>,
    services: BTreeSet<Service>,
    page_size: usize,
    max_pages: usize,
    requester: Requester,
    auth: Authenticator,
}

impl fmt::Debug for Session {
    // The token lives in the authenticator, which is not shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("cloud", &self.inner.cloud_name)
            .field("project_id", &self.inner.project_id)
            .field("roles", &self.inner.roles)
            .field("services", &self.inner.services)
            .finish_non_exhaustive()
    }
}

/// The HTTP client: rustls, verification on unless the cloud says `insecure` explicitly,
/// plus the cloud's CA bundle.
fn http_client(cloud: &CloudConfig, options: &SessionOptions) -> Result<reqwest::Client, ApiError> {
    const AGENT: &str = concat!("stacksweep/", env!("CARGO_PKG_VERSION"));
    let agent = match &options.member {
        Some(member) => format!("{AGENT} member/{member}"),
        None => AGENT.to_owned(),
    };
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(agent)
        .connect_timeout(options.request_timeout.min(Duration::from_secs(30)));
    if let Some(path) = cloud.cacert() {
        let pem = std::fs::read(path)
            .map_err(|e| ApiError::Setup(format!("cacert {}: {e}", path.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            ApiError::Setup(format!("cacert {}: {}", path.display(), error_chain(&e)))
        })?;
        if certs.is_empty() {
            return Err(ApiError::Setup(format!(
                "cacert {}: no PEM certificate in it",
                path.display()
            )));
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    if cloud.insecure() {
        warn!(cloud = cloud.name(), "TLS certificate verification is OFF for this cloud (verify: false / insecure: true / OS_INSECURE)");
        builder = builder.danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| ApiError::Setup(format!("HTTP client: {}", error_chain(&e))))
}

/// Joins a path the engine passes (`/ports?tags=ci`, `?format=json`, ``) to an API root.
fn join(root: &Url, path: &str) -> Result<Url, url::ParseError> {
    let base = root.as_str().trim_end_matches('/');
    if path.is_empty() || path.starts_with('/') || path.starts_with('?') {
        Url::parse(&format!("{base}{path}"))
    } else {
        Url::parse(&format!("{base}/{path}"))
    }
}

impl Session {
    /// Authenticates (Keystone v3 password or application credential) and reads the
    /// catalog; with [`SessionOptions::tokens`], a cached token of the same credential and
    /// scope is used instead when it has life enough left.
    pub async fn connect(
        cloud: &CloudConfig,
        options: SessionOptions,
    ) -> Result<Session, ApiError> {
        let http = http_client(cloud, &options)?;
        let requester = Requester::new(
            http,
            RequestConfig {
                retry: options.retry.clone(),
                pacing: PacingConfig {
                    mode: options.pacing,
                    max_concurrency: options.concurrency_per_service.max(1),
                    max_rate: options.requests_per_second,
                    start_concurrency: START_CONCURRENCY,
                },
                request_timeout: options.request_timeout,
                observer: options.observer.clone(),
            },
        );
        let auth = Authenticator::login(cloud, &requester, options.tokens.clone()).await?;
        let token = auth.peek().await;
        let inner = Inner {
            cloud_name: cloud.name().to_owned(),
            interface: cloud.interface().to_owned(),
            region: cloud.region().map(str::to_owned),
            project_id: token.project_id.clone(),
            project_name: token.project_name.clone(),
            roles: token.roles.clone(),
            services: token.roots.keys().copied().collect(),
            page_size: options.page_size.max(1),
            max_pages: options.max_pages.max(1),
            requester,
            auth,
        };
        drop(token);
        info!(
            cloud = %inner.cloud_name,
            project_id = %inner.project_id,
            roles = ?inner.roles,
            services = ?inner.services,
            "connected"
        );
        Ok(Session {
            inner: Arc::new(inner),
        })
    }

    /// The project the token is scoped to.
    pub fn project_id(&self) -> &str {
        &self.inner.project_id
    }

    /// The scoped project's name, as the token gave it (empty when it did not).
    pub fn project_name(&self) -> &str {
        &self.inner.project_name
    }

    /// The cloud's configured name.
    pub fn cloud_name(&self) -> &str {
        &self.inner.cloud_name
    }

    /// Roles on the token (to warn when running as admin).
    pub fn roles(&self) -> &[String] {
        &self.inner.roles
    }

    /// Each service's pacing since the session connected: requests, pushback (429,
    /// 502/503/504, no answer) and the limits now; services never asked are left out.
    pub fn pacing(&self) -> Vec<(Service, PacingStats)> {
        self.inner.requester.pacing()
    }

    /// Whether `service` left a request without an answer within `window` (it may be
    /// restarting, and a restarting service can answer 404 for what exists).
    pub fn recently_unreachable(&self, service: Service, window: Duration) -> bool {
        self.inner.requester.recently_unreachable(service, window)
    }

    /// The catalog's regions offering a service we sweep (on our interface), as the
    /// token was issued: what `regions = "all"` sweeps, and what a named region is
    /// checked against.
    pub async fn catalog_regions(&self) -> std::collections::BTreeSet<String> {
        self.inner.auth.peek().await.regions.clone()
    }

    /// Whether the catalog has an endpoint for `service` (interface and region applied).
    pub fn has_service(&self, service: Service) -> bool {
        self.inner.services.contains(&service)
    }

    /// The versioned API root of `service` (`http://n:9696/v2.0`).
    pub async fn endpoint(&self, service: Service) -> Result<Url, ApiError> {
        self.inner
            .auth
            .peek()
            .await
            .roots
            .get(&service)
            .cloned()
            .ok_or_else(|| ApiError::NoEndpoint {
                service,
                interface: self.inner.interface.clone(),
                region: self.inner.region.clone().unwrap_or_else(|| "any".into()),
            })
    }

    /// Sends one call through the request path; any status comes back.
    async fn send(
        &self,
        service: Service,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, ApiError> {
        let root = self.endpoint(service).await?;
        let url = join(&root, path)
            .map_err(|e| ApiError::Setup(format!("{service} path {path:?}: {e}")))?;
        let body = match body {
            Some(value) => Some(
                serde_json::to_vec(value)
                    .map_err(|e| ApiError::Other(format!("request body: {e}")))?,
            ),
            None => None,
        };
        let call = Call {
            service,
            method,
            url,
            path,
            body,
        };
        self.inner
            .requester
            .execute(&call, Some(&self.inner.auth))
            .await
    }

    /// Turns a non-2xx reply into [`ApiError::Status`].
    fn check(
        service: Service,
        method: &'static str,
        path: &str,
        reply: Reply,
    ) -> Result<Reply, ApiError> {
        if reply.is_success() {
            return Ok(reply);
        }
        let (error_type, message) = parse_error_body(&reply.body);
        Err(ApiError::Status {
            service,
            method,
            path: path.to_owned(),
            status: reply.status,
            error_type,
            message,
            retry_after: reply.retry_after(),
        })
    }

    /// A 2xx body as JSON: empty is `Null`, anything else must parse.
    fn json(
        service: Service,
        method: &'static str,
        path: &str,
        reply: &Reply,
    ) -> Result<Value, ApiError> {
        if reply.body.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&reply.body).map_err(|e| ApiError::Decode {
            service,
            method,
            path: path.to_owned(),
            message: format!("HTTP {} body is not JSON ({e})", reply.status),
        })
    }

    async fn json_call(
        &self,
        service: Service,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, ApiError> {
        let reply = Self::check(
            service,
            method,
            path,
            self.send(service, method, path, body).await?,
        )?;
        Self::json(service, method, path, &reply)
    }

    /// GET `path` (relative to the service endpoint, may carry a query) as JSON.
    pub async fn get(&self, service: Service, path: &str) -> Result<Value, ApiError> {
        self.json_call(service, "GET", path, None).await
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
        self.list_map(service, path, collection, |item| item).await
    }

    /// [`Session::list`], each item passed through `convert` as its page arrives, so a
    /// long listing holds one page's JSON at a time, not the whole collection's.
    pub async fn list_map<T>(
        &self,
        service: Service,
        path: &str,
        collection: &str,
        convert: impl FnMut(Value) -> T,
    ) -> Result<Vec<T>, ApiError> {
        paginate::list(self, service, path, collection, convert).await
    }

    /// POST a JSON body; `Value::Null` when the answer has no body.
    pub async fn post(
        &self,
        service: Service,
        path: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        self.json_call(service, "POST", path, Some(body)).await
    }

    /// PUT a JSON body; `Value::Null` when the answer has no body.
    pub async fn put(&self, service: Service, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.json_call(service, "PUT", path, Some(body)).await
    }

    /// DELETE; 404 is [`DeleteOutcome::AlreadyGone`], not an error.
    pub async fn delete(&self, service: Service, path: &str) -> Result<DeleteOutcome, ApiError> {
        let reply = self.send(service, "DELETE", path, None).await?;
        if reply.status == 404 {
            return Ok(DeleteOutcome::AlreadyGone);
        }
        Self::check(service, "DELETE", path, reply).map(|_| DeleteOutcome::Accepted)
    }
}

impl PageSource for Session {
    fn page_size(&self) -> usize {
        self.inner.page_size
    }

    fn max_pages(&self) -> usize {
        self.inner.max_pages
    }

    async fn endpoint(&self, service: Service) -> Result<Url, ApiError> {
        Session::endpoint(self, service).await
    }

    async fn get(&self, service: Service, path: &str) -> Result<Value, ApiError> {
        Session::get(self, service, path).await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Engine paths join the versioned root whatever their first character.
    #[test]
    fn joins() {
        let root = Url::parse("http://n:9696/v2.0").unwrap();
        assert_eq!(
            join(&root, "/ports?tags=ci").unwrap().as_str(),
            "http://n:9696/v2.0/ports?tags=ci"
        );
        assert_eq!(
            join(&root, "ports").unwrap().as_str(),
            "http://n:9696/v2.0/ports"
        );
        let swift = Url::parse("http://s:8080/v1/AUTH_p").unwrap();
        assert_eq!(
            join(&swift, "?format=json").unwrap().as_str(),
            "http://s:8080/v1/AUTH_p?format=json"
        );
        assert_eq!(
            join(&swift, "").unwrap().as_str(),
            "http://s:8080/v1/AUTH_p"
        );
    }

    /// Defaults: adaptive pacing up to 64 in flight with no rate ceiling, patient retries.
    #[test]
    fn defaults() {
        let o = SessionOptions::default();
        assert_eq!(o.pacing, PacingMode::Adaptive);
        assert_eq!(o.concurrency_per_service, 64);
        assert_eq!(o.requests_per_second, None);
        assert_eq!(o.retry.base_delay, Duration::from_millis(500));
        assert_eq!(o.retry.max_delay, Duration::from_secs(30));
        assert_eq!(o.retry.deadline, Duration::from_secs(300));
        assert!(format!("{o:?}").contains("observer: false"));
    }
}
