//! A tiny fake cloud for the client's integration tests: a Keystone v3 that issues
//! greppable tokens, and one scripted handler for every other service, on `127.0.0.1:0`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use serde_json::{json, Value};
use stacksweep::openstack::{CloudConfig, RetryPolicy, SessionOptions};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

pub const PASSWORD: &str = "pw-Sup3rSecret-7731";
pub const APPCRED_SECRET: &str = "ac-Secret-Value-99812";
pub const PROJECT_ID: &str = "proj-1";

/// One request a fake service saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    /// Path without the query.
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn path_and_query(&self) -> String {
        match &self.query {
            Some(q) => format!("{}?{q}", self.path),
            None => self.path.clone(),
        }
    }
}

/// What a fake service answers.
pub enum Answer {
    Json(u16, Value),
    Text(u16, Vec<(&'static str, String)>, String),
    /// Headers go out, then the connection dies mid-body.
    DropBody,
    /// Wait (tokio time), then answer.
    After(Duration, Box<Answer>),
}

pub type Handler = Arc<dyn Fn(&Seen) -> Answer + Send + Sync>;

pub struct FakeState {
    /// Every token ever issued (to grep outputs for).
    pub issued: Vec<String>,
    /// Tokens the services accept.
    pub valid: HashSet<String>,
    pub auth_requests: usize,
    /// Seconds between `issued_at` and `expires_at`.
    pub lifetime_secs: i64,
    pub seen: Vec<Seen>,
    pub handler: Handler,
    pub in_flight: usize,
    pub max_in_flight: usize,
}

#[derive(Clone)]
pub struct FakeCloud {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<FakeState>>,
    pub dir: Arc<tempfile::TempDir>,
}

impl FakeCloud {
    /// Starts Keystone plus `handler` for everything else, over plain HTTP.
    pub async fn start(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeCloud {
        Self::start_with(handler, None).await
    }

    /// Starts Keystone plus `handler` over HTTPS, with the test CA's server certificate.
    pub async fn start_tls(handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static) -> FakeCloud {
        Self::start_with(handler, Some(tls_acceptor())).await
    }

    async fn start_with(
        handler: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
        tls: Option<TlsAcceptor>,
    ) -> FakeCloud {
        let state = Arc::new(Mutex::new(FakeState {
            issued: Vec::new(),
            valid: HashSet::new(),
            auth_requests: 0,
            lifetime_secs: 3600,
            seen: Vec::new(),
            handler: Arc::new(handler),
            in_flight: 0,
            max_in_flight: 0,
        }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let base = format!("{scheme}://{addr}");
        let app = Router::new()
            .route("/v3/auth/tokens", post(keystone))
            .fallback(service)
            .with_state((state.clone(), base.clone()));
        tokio::spawn(async move {
            match tls {
                Some(acceptor) => axum::serve(
                    TlsListener {
                        tcp: listener,
                        acceptor,
                    },
                    app,
                )
                .await
                .unwrap(),
                None => axum::serve(listener, app).await.unwrap(),
            }
        });
        let ca = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/tls/ca.pem");
        let dir = tempfile::tempdir().unwrap();
        let clouds = format!(
            r#"clouds:
  fake:
    auth:
      auth_url: {base}
      username: ci-user
      password: "{PASSWORD}"
      project_name: ci
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionOne
  fake-appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: {base}/v3
      application_credential_id: ac-1
      application_credential_secret: "{APPCRED_SECRET}"
  fake-badpass:
    auth:
      auth_url: {base}/v3
      username: ci-user
      password: "wrong-{PASSWORD}"
      project_name: ci
  fake-cacert:
    cacert: {ca}
    auth:
      auth_url: {base}
      username: ci-user
      password: "{PASSWORD}"
      project_name: ci
  fake-insecure:
    verify: false
    auth:
      auth_url: {base}
      username: ci-user
      password: "{PASSWORD}"
      project_name: ci
"#
        );
        std::fs::write(dir.path().join("clouds.yaml"), clouds).unwrap();
        FakeCloud {
            addr,
            state,
            dir: Arc::new(dir),
        }
    }

    pub fn clouds_yaml(&self) -> PathBuf {
        self.dir.path().join("clouds.yaml")
    }

    pub fn cloud(&self, name: &str) -> CloudConfig {
        CloudConfig::from_clouds_yaml(&self.clouds_yaml(), name).unwrap()
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn auth_requests(&self) -> usize {
        self.state.lock().unwrap().auth_requests
    }

    pub fn issued(&self) -> Vec<String> {
        self.state.lock().unwrap().issued.clone()
    }

    /// Makes every issued token invalid (as a token expiry or revocation would).
    pub fn revoke_all(&self) {
        self.state.lock().unwrap().valid.clear();
    }

    pub fn set_lifetime(&self, secs: i64) {
        self.state.lock().unwrap().lifetime_secs = secs;
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }
}

/// Options for tests: small pages, quick retries, no rate limit.
pub fn options() -> SessionOptions {
    SessionOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            deadline: Duration::from_secs(60),
            ..RetryPolicy::default()
        },
        concurrency_per_service: 8,
        requests_per_second: None,
        request_timeout: Duration::from_secs(30),
        page_size: 2,
        max_pages: 10,
        observer: None,
        ..SessionOptions::default()
    }
}

/// Answers `n` times with `first`, then with `then`, counting calls in `count`.
pub fn sequence(
    n: usize,
    first: impl Fn() -> Answer + Send + Sync + 'static,
    then: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> (
    Arc<AtomicUsize>,
    impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    (count, move |seen: &Seen| {
        if c.fetch_add(1, Ordering::SeqCst) < n {
            first()
        } else {
            then(seen)
        }
    })
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": {"code": 401, "message": "The request you have made requires authentication.", "title": "Unauthorized"}})),
    )
        .into_response()
}

async fn keystone(
    State((state, base)): State<(Arc<Mutex<FakeState>>, String)>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let identity = &body["auth"]["identity"];
    let ok = match identity["methods"][0].as_str() {
        Some("password") => {
            let user = &identity["password"]["user"];
            user["name"] == "ci-user"
                && user["password"] == PASSWORD
                && body["auth"]["scope"]["project"]["name"] == "ci"
        }
        Some("application_credential") => {
            let cred = &identity["application_credential"];
            cred["id"] == "ac-1" && cred["secret"] == APPCRED_SECRET
        }
        _ => false,
    };
    let mut st = state.lock().unwrap();
    st.auth_requests += 1;
    if !ok {
        return unauthorized();
    }
    let token = format!(
        "tok{}-{}",
        st.issued.len() + 1,
        uuid::Uuid::new_v4().simple()
    );
    st.issued.push(token.clone());
    st.valid.insert(token.clone());
    let issued = jiff::Timestamp::now();
    let expires = issued + jiff::SignedDuration::from_secs(st.lifetime_secs);
    let ep = |kind: &str, url: String| {
        json!({"type": kind, "name": kind, "endpoints": [
            {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": url},
            {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": format!("http://127.0.0.1:1/{kind}")}
        ]})
    };
    let body = json!({"token": {
        "methods": identity["methods"],
        "issued_at": issued.to_string(),
        "expires_at": expires.to_string(),
        "project": {"id": PROJECT_ID, "name": "ci", "domain": {"id": "default", "name": "Default"}},
        "roles": [{"id": "r1", "name": "member"}, {"id": "r2", "name": "reader"}],
        "user": {"id": "u1", "name": "ci-user"},
        "catalog": [
            ep("identity", base.clone()),
            ep("network", format!("{base}/network")),
            ep("compute", format!("{base}/compute/v2.1")),
            ep("volumev3", format!("{base}/volume/v3/{PROJECT_ID}")),
            ep("image", format!("{base}/image")),
            ep("orchestration", format!("{base}/heat-api/v1/{PROJECT_ID}")),
            ep("object-store", format!("{base}/swift/v1/AUTH_{PROJECT_ID}")),
        ]
    }});
    (
        StatusCode::CREATED,
        [("x-subject-token", token)],
        axum::Json(body),
    )
        .into_response()
}

/// Decrements the in-flight count when a request ends, however it ends.
struct InFlight(Arc<Mutex<FakeState>>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.lock().unwrap().in_flight -= 1;
    }
}

async fn service(
    State((state, _)): State<(Arc<Mutex<FakeState>>, String)>,
    req: Request,
) -> Response {
    let seen = Seen {
        method: req.method().clone(),
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
        headers: req.headers().clone(),
    };
    let handler = {
        let mut st = state.lock().unwrap();
        let token = seen.header("x-auth-token").unwrap_or_default().to_owned();
        if !st.valid.contains(&token) {
            return unauthorized();
        }
        st.seen.push(seen.clone());
        st.in_flight += 1;
        st.max_in_flight = st.max_in_flight.max(st.in_flight);
        st.handler.clone()
    };
    let _guard = InFlight(state.clone());
    let mut answer = handler(&seen);
    loop {
        match answer {
            Answer::After(wait, next) => {
                tokio::time::sleep(wait).await;
                answer = *next;
            }
            Answer::Json(status, body) => {
                return (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
            }
            Answer::Text(status, headers, body) => {
                let mut response = (StatusCode::from_u16(status).unwrap(), body).into_response();
                for (name, value) in headers {
                    response.headers_mut().insert(name, value.parse().unwrap());
                }
                return response;
            }
            Answer::DropBody => {
                let stream = futures::stream::iter(vec![
                    Ok(Bytes::from_static(b"{\"ports\": [")),
                    Err(std::io::Error::other("connection dropped by the test")),
                ]);
                return (StatusCode::OK, Body::from_stream(stream)).into_response();
            }
        }
    }
}

/// The test server's certificate (signed by `tests/support/tls/ca.pem`; test-only keys).
fn tls_acceptor() -> TlsAcceptor {
    let certs = CertificateDer::pem_slice_iter(include_bytes!("tls/server.pem"))
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(include_bytes!("tls/server.key")).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    TlsAcceptor::from(Arc::new(config))
}

/// A TLS listener for axum; failed handshakes (a client refusing our certificate) are skipped.
struct TlsListener {
    tcp: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(tcp).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// Collects formatted tracing output in memory.
#[derive(Clone, Default)]
pub struct Capture(pub Arc<Mutex<Vec<u8>>>);

impl Capture {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// A subscriber at TRACE writing here (no colours, spans' fields on every line).
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        let capture = self.clone();
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::FULL)
            .with_writer(move || capture.clone())
            .finish()
    }
}

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
