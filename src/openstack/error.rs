//! Errors of the OpenStack client and the tolerant parsing of the error bodies the
//! services send (each service has its own shape; some send HTML).

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::Service;

/// Longest service message we keep; HTML error pages can be kilobytes long.
const MAX_MESSAGE_CHARS: usize = 300;

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
    /// No answer came from a reachable service: connection reset or dropped, timeout.
    /// Retried up to the retry deadline.
    #[error("{service} {method} {path}: {message}")]
    Transport {
        /// Which service was called.
        service: Service,
        /// HTTP method.
        method: &'static str,
        /// Path of the request.
        path: String,
        /// What went wrong (reqwest's description, no headers).
        message: String,
    },
    /// The service cannot be reached as configured: connection refused, host name not
    /// found, TLS certificate refused. A wrong URL or CA, not a busy cloud: retried only
    /// briefly ([`crate::openstack::RetryPolicy::connect_deadline`]).
    #[error("cannot reach the {service} service at {url}: {message}")]
    Unreachable {
        /// Which service was called.
        service: Service,
        /// The URL called (without any user or password part).
        url: String,
        /// What kind of failure it was.
        cause: UnreachableCause,
        /// The cause in words, with how long it was retried.
        message: String,
    },
    /// The service answered 2xx with a body that is not the JSON we expect.
    #[error("{service} {method} {path}: unexpected response: {message}")]
    Decode {
        /// Which service answered.
        service: Service,
        /// HTTP method.
        method: &'static str,
        /// Path of the request.
        path: String,
        /// What was wrong with the body.
        message: String,
    },
    /// A paginated list did not end: a next link or marker came back twice, or the list
    /// needed more pages than allowed, or an item had nothing to page on.
    #[error("{service} list {path}: pagination stopped: {message}")]
    Pagination {
        /// Which service was listed.
        service: Service,
        /// Path of the first page.
        path: String,
        /// Why the list was abandoned.
        message: String,
    },
    /// Keystone refused the credentials or answered something unusable. Never carries
    /// a secret.
    #[error("authentication failed for {who} on {auth_url}: {message}")]
    Auth {
        /// The user or application credential (name or ID), never its secret.
        who: String,
        /// The Keystone URL used.
        auth_url: String,
        /// What went wrong (`HTTP 401`, ...).
        message: String,
    },
    /// The catalog has no endpoint for the service with this interface and region.
    #[error("no {service} endpoint in the catalog (interface {interface}, region {region})")]
    NoEndpoint {
        /// The service asked for.
        service: Service,
        /// Interface asked for (`public`, ...).
        interface: String,
        /// Region asked for (`any` when none was configured).
        region: String,
    },
    /// The client could not be set up (unreadable CA file, bad URL).
    #[error("client setup: {0}")]
    Setup(String),
    /// Any other failure (also used by test doubles of the client).
    #[error("{0}")]
    Other(String),
}

/// Why a service could not be reached ([`ApiError::Unreachable`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreachableCause {
    /// Nothing listens at the address (`connection refused`), or no route to it.
    Refused,
    /// The host name does not resolve.
    Dns,
    /// The TLS handshake failed: untrusted CA, wrong host name, expired certificate, or
    /// TLS spoken to a plain HTTP port.
    Tls,
}

impl UnreachableCause {
    /// A bounded label for metrics and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            UnreachableCause::Refused => "refused",
            UnreachableCause::Dns => "dns",
            UnreachableCause::Tls => "tls",
        }
    }
}

impl ApiError {
    /// The HTTP status, when the service answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// True for 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// True for 409 (the engine re-reads the resource and retries).
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// The error type from the body (`SecurityGroupInUse`), when it had one.
    pub fn error_type(&self) -> Option<&str> {
        match self {
            ApiError::Status { error_type, .. } => error_type.as_deref(),
            _ => None,
        }
    }

    /// The service's message, when it answered with an error status.
    pub fn message(&self) -> Option<&str> {
        match self {
            ApiError::Status { message, .. } => Some(message),
            _ => None,
        }
    }

    /// `Retry-After` of the last answer, when it had one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The service the failed call went to, when known.
    pub fn service(&self) -> Option<Service> {
        match self {
            ApiError::Status { service, .. }
            | ApiError::Transport { service, .. }
            | ApiError::Unreachable { service, .. }
            | ApiError::Decode { service, .. }
            | ApiError::Pagination { service, .. }
            | ApiError::NoEndpoint { service, .. } => Some(*service),
            ApiError::Auth { .. } => Some(Service::Identity),
            ApiError::Setup(_) | ApiError::Other(_) => None,
        }
    }

    /// Whether the failure is the transient kind the request path already retried (429,
    /// 5xx, no answer): a caller may try again later, the cloud is not saying no.
    pub fn is_transient(&self) -> bool {
        match self {
            ApiError::Status { status, .. } => is_retryable_status(*status),
            ApiError::Transport { .. } => true,
            _ => false,
        }
    }

    /// A bounded label for metrics (`status_4xx`, `transport`, ...), never an ID.
    pub fn metric_label(&self) -> &'static str {
        match self {
            ApiError::Status { status, .. } => match status {
                404 => "not_found",
                409 => "conflict",
                429 => "rate_limited",
                400..=499 => "client_error",
                _ => "server_error",
            },
            ApiError::Transport { .. } => "transport",
            ApiError::Unreachable { .. } => "unreachable",
            ApiError::Decode { .. } => "decode",
            ApiError::Pagination { .. } => "pagination",
            ApiError::Auth { .. } => "auth",
            ApiError::NoEndpoint { .. } => "no_endpoint",
            ApiError::Setup(_) => "setup",
            ApiError::Other(_) => "other",
        }
    }
}

/// Statuses the request path retries with backoff: 429 and 5xx except 501 (a 501 will
/// not change its mind).
pub(crate) fn is_retryable_status(status: u16) -> bool {
    status == 429 || (500..=599).contains(&status) && status != 501
}

/// Longest `Retry-After` taken as given; longer ones are cut to it (a server's header
/// must not overflow our arithmetic, and no retry deadline is that long).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

/// Parses `Retry-After`: delta seconds or an HTTP date (relative to `now`), at most a
/// day. A date in the past is zero; garbage is `None`.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else if let Ok(secs) = value.parse::<f64>() {
        // Some services send fractional seconds; be tolerant (but not of NaN or 1e300).
        if !(secs.is_finite() && secs >= 0.0) {
            return None;
        }
        Duration::try_from_secs_f64(secs).unwrap_or(MAX_RETRY_AFTER)
    } else {
        let when = httpdate::parse_http_date(value).ok()?;
        when.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// Pulls `(error_type, message)` out of an error body, whatever the service's shape:
/// Neutron `NeutronError`, Nova/Cinder `{"itemNotFound": {...}}`, Octavia `faultstring`,
/// Keystone and Heat `error`, Placement `errors`, plain text and HTML (truncated).
pub fn parse_error_body(body: &[u8]) -> (Option<String>, String) {
    let text = String::from_utf8_lossy(body);
    match serde_json::from_str::<Value>(&text) {
        Ok(json) => {
            parse_json_error(&json).unwrap_or_else(|| (None, truncate(&compact_json(&json))))
        }
        Err(_) => (None, truncate(&plain_text(&text))),
    }
}

fn parse_json_error(json: &Value) -> Option<(Option<String>, String)> {
    let obj = json.as_object()?;
    let str_of = |v: &Value, key: &str| v.get(key).and_then(Value::as_str).map(str::to_owned);
    if let Some(inner) = obj.get("NeutronError") {
        // Old Neutron sends the message as a plain string.
        if let Some(s) = inner.as_str() {
            return Some((None, truncate(s)));
        }
        return Some((
            str_of(inner, "type"),
            truncate(&str_of(inner, "message").unwrap_or_default()),
        ));
    }
    if let Some(fault) = str_of(json, "faultstring") {
        return Some((None, truncate(&fault)));
    }
    if let Some(inner) = obj.get("error").filter(|v| v.is_object()) {
        let kind = str_of(inner, "type").or_else(|| str_of(inner, "title"));
        let message = str_of(inner, "message").or_else(|| str_of(json, "explanation"));
        return Some((kind, truncate(&message.unwrap_or_default())));
    }
    if let Some(first) = obj
        .get("errors")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
    {
        let message = str_of(first, "detail").or_else(|| str_of(first, "title"));
        return Some((
            str_of(first, "code"),
            truncate(&message.unwrap_or_default()),
        ));
    }
    // Nova and Cinder: one key naming the fault, whose value has `message`.
    if obj.len() == 1 {
        if let Some((key, inner)) = obj.iter().next() {
            if let Some(message) = str_of(inner, "message") {
                return Some((Some(key.clone()), truncate(&message)));
            }
        }
    }
    str_of(json, "message").map(|m| (None, truncate(&m)))
}

fn compact_json(json: &Value) -> String {
    serde_json::to_string(json).unwrap_or_default()
}

/// Strips tags from an HTML page and collapses whitespace, so a proxy's error page reads
/// as one line.
fn plain_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(4 * MAX_MESSAGE_CHARS));
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' if in_tag => in_tag = false,
            _ if in_tag => {}
            c => out.push(c),
        }
    }
    out.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Cuts a message to [`MAX_MESSAGE_CHARS`] characters (never inside a character).
pub(crate) fn truncate(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Neutron's `NeutronError` body gives the type and message.
    #[test]
    fn neutron_error_body() {
        let body = br#"{"NeutronError": {"type": "SecurityGroupInUse", "message": "Security Group abc in use.", "detail": ""}}"#;
        assert_eq!(
            parse_error_body(body),
            (
                Some("SecurityGroupInUse".into()),
                "Security Group abc in use.".into()
            )
        );
    }

    /// Nova/Cinder's `{"badRequest": {...}}` shape names the fault by its key.
    #[test]
    fn nova_cinder_error_body() {
        let body = br#"{"badRequest": {"code": 400, "message": "Invalid volume: Volume status must be available"}}"#;
        let (kind, message) = parse_error_body(body);
        assert_eq!(kind.as_deref(), Some("badRequest"));
        assert!(message.starts_with("Invalid volume"));
        let (kind, _) = parse_error_body(
            br#"{"itemNotFound": {"code": 404, "message": "Instance x could not be found."}}"#,
        );
        assert_eq!(kind.as_deref(), Some("itemNotFound"));
    }

    /// Octavia's `faultstring`, Keystone's and Heat's `error` bodies parse.
    #[test]
    fn octavia_keystone_heat_bodies() {
        let (_, m) = parse_error_body(br#"{"faultcode": "Client", "faultstring": "Load Balancer x is immutable", "debuginfo": null}"#);
        assert_eq!(m, "Load Balancer x is immutable");
        let (k, m) = parse_error_body(br#"{"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}}"#);
        assert_eq!(
            (k.as_deref(), m.as_str()),
            (
                Some("Unauthorized"),
                "The request you have made requires authentication."
            )
        );
        let (k, m) = parse_error_body(br#"{"explanation": "x", "code": 404, "error": {"message": "The Stack (s) could not be found.", "traceback": null, "type": "EntityNotFound"}, "title": "Not Found"}"#);
        assert_eq!(
            (k.as_deref(), m.as_str()),
            (Some("EntityNotFound"), "The Stack (s) could not be found.")
        );
    }

    /// HTML and plain text bodies become one truncated line; odd JSON is kept compact.
    #[test]
    fn html_and_text_bodies() {
        let html = format!("<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>{}</body></html>", "x".repeat(5000));
        let (kind, message) = parse_error_body(html.as_bytes());
        assert_eq!(kind, None);
        assert!(
            message.starts_with("502 Bad Gateway Bad Gateway"),
            "{message}"
        );
        assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        assert_eq!(
            parse_error_body(b"404 Not Found\n\nThe resource could not be found.\n\n   ").1,
            "404 Not Found The resource could not be found."
        );
        assert_eq!(parse_error_body(br#"[1, 2]"#).1, "[1,2]");
        assert_eq!(
            parse_error_body("é".repeat(400).as_bytes())
                .1
                .chars()
                .count(),
            MAX_MESSAGE_CHARS + 1
        );
    }

    /// `Retry-After` parses as seconds or an HTTP date; garbage is ignored.
    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 22 Nov 2026 08:00:00 GMT").unwrap();
        assert_eq!(parse_retry_after("7", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 08:00:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sun, 22 Nov 2026 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    /// Huge `Retry-After` values (found by fuzzing: a fractional one panicked, a huge
    /// integer overflowed the deadline arithmetic) are cut to a day.
    #[test]
    fn retry_after_is_bounded() {
        let now = SystemTime::UNIX_EPOCH;
        let day = Duration::from_secs(24 * 3600);
        let huge = format!("3{}.", "0".repeat(78));
        assert_eq!(parse_retry_after(&huge, now), Some(day));
        assert_eq!(parse_retry_after("1e300", now), Some(day));
        assert_eq!(parse_retry_after(&u64::MAX.to_string(), now), Some(day));
        assert_eq!(parse_retry_after("NaN", now), None);
        assert_eq!(parse_retry_after("inf", now), None);
    }

    /// Accessors report status, type and the bounded metric label.
    #[test]
    fn accessors() {
        let e = ApiError::Status {
            service: Service::Network,
            method: "DELETE",
            path: "/ports/x".into(),
            status: 409,
            error_type: Some("PortInUse".into()),
            message: "m".into(),
            retry_after: None,
        };
        assert!(e.is_conflict() && !e.is_not_found() && !e.is_transient());
        assert_eq!(e.error_type(), Some("PortInUse"));
        assert_eq!(e.metric_label(), "conflict");
        assert_eq!(e.to_string(), "network DELETE /ports/x: HTTP 409: m");
    }

    proptest::proptest! {
        /// Any body, valid UTF-8 or not, parses to a bounded message without panicking.
        #[test]
        fn any_body_parses(body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2000)) {
            let (_, message) = parse_error_body(&body);
            proptest::prop_assert!(message.chars().count() <= MAX_MESSAGE_CHARS + 1);
        }

        /// Any Retry-After value parses or is ignored, never panics.
        #[test]
        fn any_retry_after(value in ".{0,40}") {
            let _ = parse_retry_after(&value, SystemTime::UNIX_EPOCH);
        }
    }
}
