//! The one request path every API call takes: per-service pacing (an adaptive or fixed
//! concurrency and rate limit, and `Retry-After` held for the whole service; see
//! [`super::pacing`]), microversion headers, the token, retries of 429/5xx/dropped connections with
//! exponential backoff and full jitter up to a deadline, one re-authentication on 401,
//! a tracing span per request and the [`RequestObserver`] calls.
//!
//! A service that cannot be reached as configured (connection refused, a host name that
//! does not resolve, a refused TLS certificate) is a wrong URL or CA, not a busy cloud:
//! it is retried only for [`RetryPolicy::connect_deadline`] (a certificate not at all),
//! then reported as [`ApiError::Unreachable`]. Once a service has answered in this
//! session, a refused connection is a restart (a redeploy, a crashed worker coming
//! back), not a wrong URL: it is retried up to the full [`RetryPolicy::deadline`].
//!
//! 409 and 400 are answers, not failures of the path: the engine decides what they mean.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::future::BoxFuture;
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use secrecy::ExposeSecret;
use tokio::time::Instant;
use tracing::{debug, field, info, warn, Instrument};
use url::Url;

use super::catalog::ALL_SERVICES;
use super::error::{is_retryable_status, parse_retry_after, ApiError, UnreachableCause};
use super::pacing::{self, Pacer, PacingConfig, PacingStats, Pushback, RetryCounts, Signal};
use super::token::Token;
use super::Service;

/// What a request authenticates with: the token in force, and a new one after a 401. The
/// authenticator implements it; requests to Keystone itself go without one.
pub(crate) trait Credential: Sync {
    /// The token to send now (renewed first when it is about to expire).
    fn token<'a>(&'a self, requester: &'a Requester)
        -> BoxFuture<'a, Result<Arc<Token>, ApiError>>;

    /// A new token, unless generation `stale` was already replaced.
    fn refresh<'a>(
        &'a self,
        requester: &'a Requester,
        stale: u64,
    ) -> BoxFuture<'a, Result<Arc<Token>, ApiError>>;
}

/// Largest response body we read; a bigger one is an error, not an out-of-memory.
const MAX_BODY_BYTES: usize = 64 * 1024 * 1024;

/// How the request path retries transient failures (429, 5xx, dropped connections).
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// First backoff delay; doubles each attempt, with jitter.
    pub base_delay: Duration,
    /// Largest single backoff delay.
    pub max_delay: Duration,
    /// Give up retrying one request after this long in total.
    pub deadline: Duration,
    /// Give up on a service that cannot be reached as configured (connection refused, a
    /// host name that does not resolve) after this long: a typo'd URL fails in seconds,
    /// not after [`RetryPolicy::deadline`]. Counted from the first such failure in a row;
    /// never more than `deadline`. A refused TLS certificate is not retried at all.
    pub connect_deadline: Duration,
}

impl Default for RetryPolicy {
    /// 0.5 s doubling to at most 30 s, for up to 5 minutes: patient with a busy cloud,
    /// without hammering it; 10 s for an address that refuses connections.
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            deadline: Duration::from_secs(300),
            connect_deadline: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The exponential schedule (without jitter; [`full_jitter`] is applied per step).
    fn schedule(&self) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(self.base_delay)
            .with_max_delay(self.max_delay.max(self.base_delay))
            .with_factor(2.0)
            .without_max_times()
            .build()
    }
}

/// "Full jitter": a uniform delay in `0..=step`, so clients that failed together do not
/// retry together.
fn full_jitter(step: Duration) -> Duration {
    let nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(0..=nanos))
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

impl RetryReason {
    /// A bounded label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RetryReason::RateLimited => "rate_limited",
            RetryReason::ServerError => "server_error",
            RetryReason::Transport => "transport",
            RetryReason::Reauthenticated => "reauthenticated",
        }
    }
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
    /// The pacing limits of `service` changed: requests in flight, and requests per
    /// second (`None`: not rate-paced).
    fn on_limits(&self, _service: Service, _concurrency: usize, _rate: Option<f64>) {}
    /// The service pushed back (429, 502/503/504, no answer).
    fn on_pushback(&self, _service: Service, _pushback: Pushback) {}
}

/// Per-service API microversions, in one place. Nova needs >= 2.26 for server tags;
/// 2.79 is what current clients send. Cinder 3.43 shows backups' metadata (the janitor
/// lists without server-side filters, so 3.33's resource filters do not matter).
pub fn microversion_headers(service: Service) -> &'static [(&'static str, &'static str)] {
    match service {
        Service::Compute => &[
            ("openstack-api-version", "compute 2.79"),
            ("x-openstack-nova-api-version", "2.79"),
        ],
        Service::BlockStorage => &[("openstack-api-version", "volume 3.43")],
        // 2.17: snapshots show their project.
        Service::SharedFileSystem => &[("x-openstack-manila-api-version", "2.17")],
        _ => &[],
    }
}

/// One API call as the request path sees it.
pub(crate) struct Call<'a> {
    pub service: Service,
    pub method: &'static str,
    pub url: Url,
    /// What logs and errors show: the path relative to the API root, with its query.
    pub path: &'a str,
    pub body: Option<Vec<u8>>,
}

/// An answer with a status (any status).
pub(crate) struct Reply {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    pub fn retry_after(&self) -> Option<Duration> {
        let value = self.headers.get(RETRY_AFTER)?.to_str().ok()?;
        parse_retry_after(value, SystemTime::now())
    }
}

/// Settings of the request path.
pub(crate) struct RequestConfig {
    pub retry: RetryPolicy,
    pub pacing: PacingConfig,
    pub request_timeout: Duration,
    pub observer: Option<Arc<dyn RequestObserver>>,
}

/// The shared HTTP client and the per-service pacers.
pub(crate) struct Requester {
    http: reqwest::Client,
    config: RequestConfig,
    pacers: HashMap<Service, Pacer>,
    /// Services that have answered at least once: a refused connection to one of them
    /// is a restart, retried up to the deadline, not a wrong URL.
    answered: HashMap<Service, AtomicBool>,
    /// Retries per service, by reason (for the sweep report).
    retries: HashMap<Service, Mutex<RetryCounts>>,
    /// When each service last left a request without an answer (refused, reset, timed
    /// out): a service just back from a restart may answer 404 for what exists.
    last_no_answer: HashMap<Service, Mutex<Option<Instant>>>,
}

/// What one attempt came to, before the retry decision.
enum Attempt {
    Answered(Reply),
    NoAnswer {
        error: ApiError,
        retry: Retry,
        /// Set when the service is unreachable as configured.
        unreachable: Option<UnreachableCause>,
    },
}

/// Whether and how long a request that got no answer is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Not at all (a refused certificate, a POST that may have arrived).
    Never,
    /// Up to [`RetryPolicy::connect_deadline`]: the service is unreachable as configured.
    Briefly,
    /// Up to [`RetryPolicy::deadline`]: resets, timeouts.
    UpToDeadline,
}

impl Requester {
    pub fn new(http: reqwest::Client, config: RequestConfig) -> Requester {
        let pacers = ALL_SERVICES
            .iter()
            .map(|s| (*s, Pacer::new(*s, config.pacing, config.observer.clone())))
            .collect();
        let answered = ALL_SERVICES
            .iter()
            .map(|s| (*s, AtomicBool::new(false)))
            .collect();
        let retries = ALL_SERVICES
            .iter()
            .map(|s| (*s, Mutex::new(RetryCounts::default())))
            .collect();
        let last_no_answer = ALL_SERVICES
            .iter()
            .map(|s| (*s, Mutex::new(None)))
            .collect();
        Requester {
            http,
            config,
            pacers,
            answered,
            retries,
            last_no_answer,
        }
    }

    /// Whether `service` left a request without an answer within `window`: it may be
    /// just back from a restart (Neutron then answered 404 for ports that existed, for
    /// a second or two).
    pub fn recently_unreachable(&self, service: Service, window: Duration) -> bool {
        self.last_no_answer.get(&service).is_some_and(|at| {
            at.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_some_and(|at| at.elapsed() < window)
        })
    }

    /// Each service's pacing so far (services with at least one request).
    pub fn pacing(&self) -> Vec<(Service, PacingStats)> {
        let mut all: Vec<(Service, PacingStats)> = self
            .pacers
            .iter()
            .map(|(s, p)| {
                let mut stats = p.stats();
                if let Some(counts) = self.retries.get(s) {
                    stats.retries = *counts.lock().unwrap_or_else(PoisonError::into_inner);
                }
                (*s, stats)
            })
            .filter(|(_, stats)| stats.requests > 0)
            .collect();
        all.sort_by_key(|(s, _)| *s);
        all
    }

    /// Runs `call` to an answer: retried while transient, re-authenticated once on 401
    /// when `auth` is given. Any status comes back as `Ok`; only "no answer in time" and
    /// auth failures are `Err`.
    pub async fn execute(
        &self,
        call: &Call<'_>,
        auth: Option<&dyn Credential>,
    ) -> Result<Reply, ApiError> {
        let span = tracing::debug_span!(
            "openstack_request",
            service = call.service.as_str(),
            method = call.method,
            path = call.path,
            status = field::Empty,
            attempts = field::Empty,
        );
        self.execute_traced(call, auth).instrument(span).await
    }

    async fn execute_traced(
        &self,
        call: &Call<'_>,
        auth: Option<&dyn Credential>,
    ) -> Result<Reply, ApiError> {
        let started = Instant::now();
        let mut schedule = self.config.retry.schedule();
        let mut reauthenticated = false;
        let mut attempts: u32 = 0;
        // Since when the service has been unreachable, attempt after attempt.
        let mut unreachable_since: Option<Instant> = None;
        loop {
            attempts += 1;
            let span = tracing::Span::current();
            span.record("attempts", attempts);
            let token = match auth {
                Some(a) => Some(a.token(self).await?),
                None => None,
            };
            let attempt = self.attempt(call, token.as_deref()).await;
            if matches!(attempt, Attempt::Answered(_)) {
                unreachable_since = None;
            }
            let mut budget = self.config.retry.deadline;
            let mut budget_start = started;
            let (reason, retry_after, last) = match attempt {
                Attempt::Answered(reply) if reply.status == 401 && !reauthenticated => {
                    let (Some(auth), Some(token)) = (auth, &token) else {
                        span.record("status", reply.status);
                        return Ok(reply);
                    };
                    reauthenticated = true;
                    info!("token refused (401); re-authenticating once");
                    self.observe_retry(call.service, RetryReason::Reauthenticated);
                    auth.refresh(self, token.generation).await?;
                    continue;
                }
                Attempt::Answered(reply) if is_retryable_status(reply.status) => {
                    span.record("status", reply.status);
                    let reason = if reply.status == 429 {
                        RetryReason::RateLimited
                    } else {
                        RetryReason::ServerError
                    };
                    (reason, reply.retry_after(), Ok(reply))
                }
                Attempt::Answered(reply) => {
                    span.record("status", reply.status);
                    return Ok(reply);
                }
                Attempt::NoAnswer {
                    error,
                    retry,
                    unreachable,
                } => {
                    let error = match unreachable {
                        Some(cause) => {
                            let note = match retry {
                                Retry::Never => "not retried".to_owned(),
                                _ => format!(
                                    "gave up after {attempts} attempt(s) in {:.1}s, the connect deadline",
                                    started.elapsed().as_secs_f64()
                                ),
                            };
                            unreachable_error(call, cause, error, &note)
                        }
                        None => error,
                    };
                    match retry {
                        Retry::Never => return Err(error),
                        Retry::Briefly => {
                            budget_start = *unreachable_since.get_or_insert_with(Instant::now);
                            budget = budget.min(self.config.retry.connect_deadline);
                        }
                        Retry::UpToDeadline => unreachable_since = None,
                    }
                    (RetryReason::Transport, None, Err(error))
                }
            };
            let step = schedule.next().unwrap_or(self.config.retry.max_delay);
            let mut delay = full_jitter(step);
            if let Some(wait) = retry_after {
                delay = delay.max(wait);
            }
            if budget_start.elapsed() + delay > budget {
                let which = match unreachable_since {
                    Some(_) => "giving up: connect deadline reached",
                    None => "giving up: retry deadline reached",
                };
                warn!(attempts, reason = reason.as_str(), "{which}");
                return last;
            }
            info!(
                attempts,
                reason = reason.as_str(),
                delay_ms = delay.as_millis() as u64,
                "retrying"
            );
            self.observe_retry(call.service, reason);
            tokio::time::sleep(delay).await;
        }
    }

    fn observe_retry(&self, service: Service, reason: RetryReason) {
        if let Some(counts) = self.retries.get(&service) {
            let mut counts = counts.lock().unwrap_or_else(PoisonError::into_inner);
            match reason {
                RetryReason::RateLimited => counts.rate_limited += 1,
                RetryReason::ServerError => counts.server_error += 1,
                RetryReason::Transport => counts.transport += 1,
                RetryReason::Reauthenticated => counts.reauthenticated += 1,
            }
        }
        if let Some(observer) = &self.config.observer {
            observer.on_retry(service, reason);
        }
    }

    /// One HTTP exchange, inside the service's gates.
    async fn attempt(&self, call: &Call<'_>, token: Option<&Token>) -> Attempt {
        let failed = |message: String, retry: Retry, unreachable| Attempt::NoAnswer {
            error: ApiError::Transport {
                service: call.service,
                method: call.method,
                path: call.path.to_owned(),
                message,
            },
            retry,
            unreachable,
        };
        let no_answer = |message: String, retry: Retry| failed(message, retry, None);
        let Some(pacer) = self.pacers.get(&call.service) else {
            return no_answer("no pacer for this service".into(), Retry::Never);
        };
        let Some(ticket) = pacer.acquire(pacing::shape(call.method, call.path)).await else {
            return no_answer("request pacer closed".into(), Retry::Never);
        };

        let method =
            reqwest::Method::from_bytes(call.method.as_bytes()).unwrap_or(reqwest::Method::GET);
        let mut request = self
            .http
            .request(method, call.url.clone())
            .timeout(self.config.request_timeout)
            .header(ACCEPT, "application/json");
        for (name, value) in microversion_headers(call.service) {
            request = request.header(*name, *value);
        }
        if let Some(token) = token {
            match HeaderValue::from_str(token.secret.expose_secret()) {
                Ok(mut value) => {
                    value.set_sensitive(true);
                    request = request.header(HeaderName::from_static("x-auth-token"), value);
                }
                Err(_) => {
                    return no_answer("the token is not a valid header value".into(), Retry::Never)
                }
            }
        }
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        // Retrying a POST that may have reached the server could repeat an action; retry
        // it only when the connection never opened.
        let idempotent = call.method != "POST";

        let sent = Instant::now();
        let outcome = match request.send().await {
            Ok(response) => read_reply(response).await,
            Err(e) => Err(e),
        };
        let elapsed = sent.elapsed();
        let status = outcome.as_ref().ok().map(|r| r.status);
        if let Some(observer) = &self.config.observer {
            observer.on_response(call.service, call.method, status, elapsed);
        }
        let signal = match &outcome {
            Ok(reply) => Signal::of(Some(reply.status), reply.retry_after(), false),
            Err(e) => Signal::of(None, None, e.is_connect() || e.is_timeout()),
        };
        ticket.finish(elapsed, signal);
        match outcome {
            Ok(reply) => {
                if let Some(flag) = self.answered.get(&call.service) {
                    flag.store(true, Ordering::Relaxed);
                }
                // The request ID lets an operator find the call in the service's logs.
                let request_id = reply
                    .headers
                    .get("x-openstack-request-id")
                    .or_else(|| reply.headers.get("x-compute-request-id"))
                    .and_then(|v| v.to_str().ok());
                debug!(
                    status = reply.status,
                    elapsed_ms = elapsed.as_millis() as u64,
                    request_id,
                    "answered"
                );
                Attempt::Answered(reply)
            }
            Err(e) => {
                if let Some(at) = self.last_no_answer.get(&call.service) {
                    *at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
                }
                let cause = classify(&e);
                let message = match cause {
                    Some(cause) => unreachable_text(cause, &e),
                    None => describe(&e),
                };
                // A service that answered earlier in this session and now refuses is
                // coming back (a restart), not misconfigured: it gets the full deadline.
                let restarting = cause.is_some_and(|c| c != UnreachableCause::Tls)
                    && self
                        .answered
                        .get(&call.service)
                        .is_some_and(|flag| flag.load(Ordering::Relaxed));
                let unreachable = cause.filter(|_| !restarting);
                let retry = match unreachable {
                    // A refused certificate will be refused again: no retry.
                    Some(UnreachableCause::Tls) => Retry::Never,
                    Some(_) => Retry::Briefly,
                    // Refused or unresolved: the request never left, so even a POST may
                    // be sent again.
                    None if restarting => Retry::UpToDeadline,
                    None if e.is_connect()
                        || (idempotent
                            && (e.is_timeout()
                                || e.is_request()
                                || e.is_body()
                                || e.is_decode())) =>
                    {
                        Retry::UpToDeadline
                    }
                    None => Retry::Never,
                };
                debug!(error = %error_chain(&e), ?retry, restarting, "no answer");
                failed(message, retry, unreachable)
            }
        }
    }
}

/// Reads the status, headers and body (bounded by [`MAX_BODY_BYTES`]).
async fn read_reply(mut response: reqwest::Response) -> Result<Reply, reqwest::Error> {
    let status = response.status().as_u16();
    let headers = std::mem::take(response.headers_mut());
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            // Keep what fits; the JSON decode will fail and name the service and path.
            let room = MAX_BODY_BYTES - body.len();
            body.extend_from_slice(&chunk[..room]);
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// Whether a failed exchange says the service is unreachable as configured, and why;
/// `None` for the failures of a reachable service (timeouts, resets).
///
/// rustls's and hyper-util's errors are not reachable by type through reqwest's
/// wrappers, so this reads the `io::Error` kinds in the chain (rustls's handshake errors
/// come out of tokio-rustls as `InvalidData`) and, for DNS and certificates, the
/// messages ("dns error", "invalid peer certificate: UnknownIssuer").
fn classify(error: &reqwest::Error) -> Option<UnreachableCause> {
    if error.is_timeout() {
        return None;
    }
    let connect = error.is_connect();
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            match io.kind() {
                std::io::ErrorKind::ConnectionRefused
                | std::io::ErrorKind::HostUnreachable
                | std::io::ErrorKind::NetworkUnreachable => return Some(UnreachableCause::Refused),
                // rustls's handshake errors come out of tokio-rustls as InvalidData:
                // an untrusted or misnamed certificate, or TLS spoken to a plain port.
                std::io::ErrorKind::InvalidData if connect => return Some(UnreachableCause::Tls),
                _ => {}
            }
        }
        let text = e.to_string();
        if connect && text == "dns error" {
            return Some(UnreachableCause::Dns);
        }
        if text.contains("certificate") {
            return Some(UnreachableCause::Tls);
        }
        source = cause_of(e);
    }
    None
}

/// The next error in a chain. An `io::Error` wrapping another error reports that one's
/// source as its own, skipping it; this goes into it instead (tokio-rustls's handshake
/// errors are an `io::Error` in an `io::Error`).
fn cause_of<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(inner) = error
        .downcast_ref::<std::io::Error>()
        .and_then(std::io::Error::get_ref)
    {
        return Some(inner);
    }
    error.source()
}

/// The [`ApiError::Unreachable`] for a call that got no answer because of `cause`;
/// `note` says how long it was retried.
fn unreachable_error(
    call: &Call<'_>,
    cause: UnreachableCause,
    error: ApiError,
    note: &str,
) -> ApiError {
    let detail = match error {
        ApiError::Transport { message, .. } => message,
        other => other.to_string(),
    };
    let mut url = call.url.clone();
    // A URL may carry a user and password; never show them.
    let _ = url.set_password(None);
    let _ = url.set_username("");
    ApiError::Unreachable {
        service: call.service,
        url: url.to_string(),
        cause,
        message: format!("{detail} ({note})"),
    }
}

/// An unreachable service's failure in words: the kind of failure and the innermost
/// cause (`TLS handshake failed: invalid peer certificate: UnknownIssuer`).
fn unreachable_text(cause: UnreachableCause, error: &reqwest::Error) -> String {
    let mut innermost: &(dyn std::error::Error + 'static) = error;
    while let Some(source) = cause_of(innermost) {
        innermost = source;
    }
    let innermost = innermost.to_string();
    match cause {
        UnreachableCause::Refused => innermost,
        UnreachableCause::Dns => format!("host name does not resolve: {innermost}"),
        UnreachableCause::Tls => format!("TLS handshake failed: {innermost}"),
    }
}

/// A failed exchange in words: the cause chain without reqwest's "error sending request
/// for url (...)" preamble (the URL is shown once, by the caller).
fn describe(error: &reqwest::Error) -> String {
    let chain = error_chain(error);
    match chain.split_once("): ") {
        Some((head, rest)) if head.starts_with("error sending request for url (") => {
            rest.to_owned()
        }
        _ => chain,
    }
}

/// An error and its causes on one line ("error sending request: connection refused").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::openstack::pacing::PacingMode;

    /// Full jitter stays within the step, and the schedule doubles up to the cap.
    #[test]
    fn jitter_and_schedule() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(3),
            deadline: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let steps: Vec<Duration> = policy.schedule().take(5).collect();
        assert_eq!(
            steps,
            [500, 1000, 2000, 3000, 3000].map(Duration::from_millis)
        );
        for _ in 0..100 {
            assert!(full_jitter(Duration::from_secs(2)) <= Duration::from_secs(2));
        }
        assert_eq!(full_jitter(Duration::ZERO), Duration::ZERO);
    }

    /// A requester without rate limit or observer, with `retry`.
    fn requester(retry: RetryPolicy) -> Requester {
        Requester::new(
            reqwest::Client::builder().use_rustls_tls().build().unwrap(),
            RequestConfig {
                retry,
                pacing: PacingConfig {
                    mode: PacingMode::Fixed,
                    max_concurrency: 4,
                    max_rate: None,
                    start_concurrency: 4,
                },
                request_timeout: Duration::from_secs(3600),
                observer: None,
            },
        )
    }

    /// The error of a call expected to fail.
    fn failure(result: Result<Reply, ApiError>) -> ApiError {
        match result {
            Ok(reply) => panic!("answered HTTP {}", reply.status),
            Err(e) => e,
        }
    }

    /// A loopback address where nothing listens.
    async fn closed_port() -> u16 {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    fn get(url: &str) -> Call<'static> {
        Call {
            service: Service::Identity,
            method: "POST",
            url: Url::parse(url).unwrap(),
            path: "/auth/tokens",
            body: Some(b"{}".to_vec()),
        }
    }

    /// A refused connection (a typo'd port) is retried only for the connect deadline,
    /// not the retry deadline, and comes back as unreachable with the URL and cause.
    #[tokio::test(start_paused = true)]
    async fn refused_connection_fails_within_the_connect_deadline() {
        let port = closed_port().await;
        let requester = requester(RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            deadline: Duration::from_secs(600),
            connect_deadline: Duration::from_secs(3),
        });
        let url = format!("http://user:pw@127.0.0.1:{port}/identity/v3/auth/tokens");
        let started = Instant::now();
        let err = failure(requester.execute(&get(&url), None).await);
        // Virtual time: the retries stopped at the connect deadline.
        assert!(
            started.elapsed() <= Duration::from_secs(3),
            "{:?}",
            started.elapsed()
        );
        let ApiError::Unreachable {
            cause,
            url: shown,
            message,
            ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*cause, UnreachableCause::Refused);
        assert_eq!(
            shown,
            &format!("http://127.0.0.1:{port}/identity/v3/auth/tokens"),
            "no user or password in the URL shown"
        );
        assert!(
            message.to_lowercase().contains("connection refused"),
            "{message}"
        );
        assert!(message.contains("connect deadline"), "{message}");
        assert!(!err.to_string().contains("pw"), "{err}");
    }

    /// A host name that does not resolve (`.invalid` is reserved never to) is a DNS
    /// failure: unreachable, retried only for the connect deadline.
    #[tokio::test]
    async fn unresolvable_host_is_a_dns_failure() {
        let requester = requester(RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            deadline: Duration::from_secs(600),
            connect_deadline: Duration::from_millis(200),
        });
        let url = "http://keystone.stacksweep-test.invalid:5000/v3/auth/tokens";
        let err = failure(requester.execute(&get(url), None).await);
        let ApiError::Unreachable { cause, message, .. } = &err else {
            panic!("{err:?}")
        };
        assert_eq!(*cause, UnreachableCause::Dns, "{err}");
        assert!(message.starts_with("host name does not resolve"), "{err}");
    }

    /// TLS spoken to a plain-HTTP port fails the handshake: unreachable (TLS), not
    /// retried.
    #[tokio::test]
    async fn tls_to_a_plain_port_is_not_retried() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            while let Ok((mut socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 1024];
                let _ = socket.read(&mut buf).await;
                let _ = socket
                    .write_all(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
        });
        let requester = requester(RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            deadline: Duration::from_secs(5),
            connect_deadline: Duration::from_secs(2),
        });
        let url = format!("https://127.0.0.1:{port}/identity/v3/auth/tokens");
        let err = failure(requester.execute(&get(&url), None).await);
        assert!(
            matches!(
                err,
                ApiError::Unreachable {
                    cause: UnreachableCause::Tls,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("not retried"), "{err}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    }

    /// A timeout from a reachable service is not a configuration error: it stays a
    /// transport error, retried up to the retry deadline.
    #[tokio::test]
    async fn timeouts_stay_transport_errors() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            let mut held = Vec::new();
            // Accepts and never answers.
            while let Ok((socket, _)) = listener.accept().await {
                count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                held.push(socket);
            }
        });
        let mut requester = requester(RetryPolicy {
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(20),
            deadline: Duration::from_millis(600),
            connect_deadline: Duration::ZERO,
        });
        requester.config.request_timeout = Duration::from_millis(100);
        let call = Call {
            method: "GET",
            body: None,
            ..get(&format!("http://127.0.0.1:{port}/identity/v3"))
        };
        let err = failure(requester.execute(&call, None).await);
        assert!(matches!(err, ApiError::Transport { .. }), "{err:?}");
        assert!(
            accepted.load(std::sync::atomic::Ordering::SeqCst) > 1,
            "not retried"
        );
    }

    /// Serves `answers` requests on `listener`, each with an empty 200, then closes it.
    async fn serve_ok(listener: tokio::net::TcpListener, answers: usize) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for _ in 0..answers {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut buf = [0u8; 4096];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .await;
        }
    }

    /// A service that answered once and then refuses connections (restarting) is
    /// retried past the connect deadline, up to the retry deadline, and the request
    /// succeeds when it is back; one that never answered still fails fast.
    #[tokio::test]
    async fn a_service_that_answered_before_is_waited_for_while_it_restarts() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let requester = requester(RetryPolicy {
            base_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(100),
            deadline: Duration::from_secs(30),
            connect_deadline: Duration::from_millis(200),
        });
        let url = format!("http://127.0.0.1:{port}/identity/v3/auth/tokens");
        let first = tokio::spawn(serve_ok(listener, 1));
        assert_eq!(
            requester.execute(&get(&url), None).await.unwrap().status,
            200
        );
        first.await.unwrap();

        // Down for five connect deadlines, then back on the same port.
        let outage = Duration::from_secs(1);
        let back = tokio::spawn(async move {
            tokio::time::sleep(outage).await;
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            serve_ok(listener, 1).await;
        });
        let started = Instant::now();
        let reply = requester.execute(&get(&url), None).await.unwrap();
        assert_eq!(reply.status, 200);
        assert!(started.elapsed() >= outage, "{:?}", started.elapsed());
        back.await.unwrap();

        // Another service on a closed port never answered: it fails at the connect deadline.
        let closed = closed_port().await;
        let never = Call {
            service: Service::Network,
            ..get(&format!("http://127.0.0.1:{closed}/v2.0/ports"))
        };
        let err = failure(requester.execute(&never, None).await);
        assert!(matches!(err, ApiError::Unreachable { .. }), "{err:?}");
    }

    /// Compute and volume requests carry their microversion headers; others none.
    #[test]
    fn microversions() {
        assert!(microversion_headers(Service::Compute)
            .contains(&("openstack-api-version", "compute 2.79")));
        assert!(microversion_headers(Service::Compute)
            .contains(&("x-openstack-nova-api-version", "2.79")));
        assert_eq!(
            microversion_headers(Service::BlockStorage),
            &[("openstack-api-version", "volume 3.43")]
        );
        assert!(microversion_headers(Service::Network).is_empty());
    }
}
