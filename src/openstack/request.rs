//! The one request path every API call takes: per-service concurrency and rate limit,
//! microversion headers, the token, retries of 429/5xx/dropped connections with
//! exponential backoff and full jitter up to a deadline, one re-authentication on 401,
//! a tracing span per request and the [`RequestObserver`] calls.
//!
//! 409 and 400 are answers, not failures of the path: the engine decides what they mean.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::future::BoxFuture;
use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use rand::Rng;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use secrecy::ExposeSecret;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, field, info, warn, Instrument};
use url::Url;

use super::catalog::ALL_SERVICES;
use super::error::{is_retryable_status, parse_retry_after, ApiError};
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
}

impl Default for RetryPolicy {
    /// 0.5 s doubling to at most 30 s, for up to 5 minutes: patient with a busy cloud,
    /// without hammering it.
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            deadline: Duration::from_secs(300),
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
        _ => &[],
    }
}

/// A clock for the rate limiter that follows tokio's (so paused-time tests work).
#[derive(Debug, Clone)]
struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// The concurrency and rate gates of one service.
struct Gate {
    permits: Semaphore,
    limiter: Option<Limiter>,
}

impl Gate {
    /// Waits until the rate limit lets one more request start.
    async fn pace(&self) {
        let Some(limiter) = &self.limiter else { return };
        while let Err(not_until) = limiter.check() {
            tokio::time::sleep(not_until.wait_time_from(limiter.clock().now())).await;
        }
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
    pub concurrency_per_service: usize,
    pub requests_per_second: Option<u32>,
    pub request_timeout: Duration,
    pub observer: Option<Arc<dyn RequestObserver>>,
}

/// The shared HTTP client and the per-service gates.
pub(crate) struct Requester {
    http: reqwest::Client,
    config: RequestConfig,
    gates: HashMap<Service, Gate>,
}

/// What one attempt came to, before the retry decision.
enum Attempt {
    Answered(Reply),
    NoAnswer { error: ApiError, retryable: bool },
}

impl Requester {
    pub fn new(http: reqwest::Client, config: RequestConfig) -> Requester {
        let origin = Instant::now();
        let gates = ALL_SERVICES
            .iter()
            .map(|s| {
                let limiter = config
                    .requests_per_second
                    .and_then(NonZeroU32::new)
                    .map(|rps| {
                        RateLimiter::direct_with_clock(
                            Quota::per_second(rps),
                            TokioClock { origin },
                        )
                    });
                (
                    *s,
                    Gate {
                        permits: Semaphore::new(config.concurrency_per_service.max(1)),
                        limiter,
                    },
                )
            })
            .collect();
        Requester {
            http,
            config,
            gates,
        }
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
        loop {
            attempts += 1;
            let span = tracing::Span::current();
            span.record("attempts", attempts);
            let token = match auth {
                Some(a) => Some(a.token(self).await?),
                None => None,
            };
            let (reason, retry_after, last) = match self.attempt(call, token.as_deref()).await {
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
                    retryable: true,
                } => (RetryReason::Transport, None, Err(error)),
                Attempt::NoAnswer {
                    error,
                    retryable: false,
                } => return Err(error),
            };
            let step = schedule.next().unwrap_or(self.config.retry.max_delay);
            let mut delay = full_jitter(step);
            if let Some(wait) = retry_after {
                delay = delay.max(wait);
            }
            if started.elapsed() + delay > self.config.retry.deadline {
                warn!(
                    attempts,
                    reason = reason.as_str(),
                    "giving up: retry deadline reached"
                );
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
        if let Some(observer) = &self.config.observer {
            observer.on_retry(service, reason);
        }
    }

    /// One HTTP exchange, inside the service's gates.
    async fn attempt(&self, call: &Call<'_>, token: Option<&Token>) -> Attempt {
        let no_answer = |message: String, retryable: bool| Attempt::NoAnswer {
            error: ApiError::Transport {
                service: call.service,
                method: call.method,
                path: call.path.to_owned(),
                message,
            },
            retryable,
        };
        let Some(gate) = self.gates.get(&call.service) else {
            return no_answer("no request gate for this service".into(), false);
        };
        let Ok(_permit) = gate.permits.acquire().await else {
            return no_answer("request gate closed".into(), false);
        };
        gate.pace().await;

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
                Err(_) => return no_answer("the token is not a valid header value".into(), false),
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
        match outcome {
            Ok(reply) => {
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
                // A refused certificate will be refused again: no retry.
                let retryable = !is_tls_failure(&e)
                    && (e.is_connect()
                        || (idempotent
                            && (e.is_timeout() || e.is_request() || e.is_body() || e.is_decode())));
                debug!(error = %error_chain(&e), retryable, "no answer");
                no_answer(error_chain(&e), retryable)
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

/// Whether a TLS handshake failed on the certificate (untrusted, expired, wrong name).
/// rustls's error is not reachable by type through reqwest's and hyper's wrappers, so
/// this reads the message chain ("invalid peer certificate: UnknownIssuer").
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    error_chain(error).contains("certificate")
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

    /// Full jitter stays within the step, and the schedule doubles up to the cap.
    #[test]
    fn jitter_and_schedule() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(3),
            deadline: Duration::from_secs(60),
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

    /// The rate limiter paces on tokio's clock, so it works under paused time.
    #[tokio::test(start_paused = true)]
    async fn rate_limit_paces_on_tokio_time() {
        let gate = Gate {
            permits: Semaphore::new(1),
            limiter: Some(RateLimiter::direct_with_clock(
                Quota::per_second(NonZeroU32::new(2).unwrap()),
                TokioClock {
                    origin: Instant::now(),
                },
            )),
        };
        let start = Instant::now();
        for _ in 0..6 {
            gate.pace().await;
        }
        // Burst of 2, then one every 0.5 s: 4 more need 2 s.
        assert!(
            start.elapsed() >= Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }
}
