//! HTTP plumbing shared by the services: the shared state handle, body parsing, replies,
//! and the middleware around them (request log, injected faults, token check).

use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

use crate::error::{ApiError, Style};
use crate::faults::{database_error, Fault};
use crate::log::RequestRecord;
use crate::state::{Job, SimState};
use crate::store::{Ctx, Obj};

/// The state every handler shares: one region's store. Tokens live in the primary
/// region's Keystone, which every region's services validate against, as a real
/// multi-region cloud shares one Keystone.
pub struct Shared {
    state: Mutex<SimState>,
    /// The primary region's state, whose Keystone issues the tokens; `None` in the
    /// primary itself.
    identity: Option<Arc<Shared>>,
    /// While `true`, delayed jobs (asynchronous deletes) wait instead of running, as
    /// Nova's and Cinder's do while RabbitMQ is down; outside the state's lock so that
    /// waiting jobs need not poll it.
    stall: tokio::sync::watch::Sender<bool>,
}

impl Shared {
    pub(crate) fn new(state: SimState) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(state),
            identity: None,
            stall: tokio::sync::watch::Sender::new(false),
        })
    }

    /// A further region's state, validating tokens with `identity`'s Keystone.
    pub(crate) fn region(state: SimState, identity: Arc<Shared>) -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(state),
            identity: Some(identity),
            stall: tokio::sync::watch::Sender::new(false),
        })
    }

    /// The state whose Keystone validates tokens (the primary region's).
    pub fn identity(&self) -> &Shared {
        self.identity.as_deref().unwrap_or(self)
    }

    /// Stalls (`true`) or resumes (`false`) the asynchronous jobs.
    pub fn set_stall(&self, stalled: bool) {
        self.stall.send_replace(stalled);
    }

    /// Locks the state; a panic in another handler does not poison it for the rest.
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs follow-up jobs: immediately when their delay is zero, else on a timer task
    /// (tokio time, so paused-time tests drive them). While stalled, every job waits on
    /// its task until the stall is cleared, then runs.
    pub fn run_jobs(self: &Arc<Self>, jobs: Vec<Job>) {
        for job in jobs {
            if job.delay.is_zero() && !*self.stall.borrow() {
                let more = (job.run)(&mut self.lock());
                self.run_jobs(more);
            } else {
                let me = self.clone();
                let mut stall = self.stall.subscribe();
                tokio::spawn(async move {
                    tokio::time::sleep(job.delay).await;
                    loop {
                        // The sender lives as long as `me`: this never fails.
                        if stall.wait_for(|stalled| !*stalled).await.is_err() {
                            return;
                        }
                        let mut state = me.lock();
                        if *me.stall.borrow() {
                            continue;
                        }
                        let more = (job.run)(&mut state);
                        drop(state);
                        me.run_jobs(more);
                        break;
                    }
                });
            }
        }
    }
}

/// The state handle handlers extract.
pub type St = State<Arc<Shared>>;

/// Parses a JSON request body; an empty body is `{}`.
pub fn parse_body(style: Style, body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_body(style, &format!("Malformed JSON body: {e}")))
}

/// The object at `key` in a request body (`{"network": {...}}`), or a 400.
pub fn body_obj(style: Style, body: &Value, key: &str) -> Result<Obj, ApiError> {
    body.get(key)
        .and_then(Value::as_object)
        .cloned()
        .ok_or_else(|| ApiError::bad_body(style, &format!("Resource body required: '{key}'")))
}

/// A JSON answer with a status.
pub fn reply(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

/// An empty answer (`204`, `202`).
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// The caller's token context, put in request extensions by [`auth`].
pub type Caller = axum::Extension<Ctx>;

/// Checks `X-Auth-Token` and puts the caller's [`Ctx`] into the request.
pub async fn auth(State(shared): St, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let ctx = token.and_then(|t| shared.identity().lock().keystone.validate(&t));
    match ctx {
        Some(ctx) => {
            req.extensions_mut().insert(ctx);
            next.run(req).await
        }
        None => ApiError::unauthorized().into_response(),
    }
}

/// The region prefix of a further region's path (`/regions/RegionTwo/compute/...` →
/// `("RegionTwo", "/compute/...")`); `None` for the primary region's paths.
pub fn region_of(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/regions/")?;
    match rest.find('/') {
        Some(i) => Some((&rest[..i], &rest[i..])),
        None => Some((rest, "/")),
    }
}

/// Which service a request path belongs to (for faults and the log), in any region.
pub fn service_of(path: &str) -> &'static str {
    let path = region_of(path).map_or(path, |(_, rest)| rest);
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    match first {
        "" | "identity" | "v3" => "identity",
        "compute" => "compute",
        "network" => "network",
        "volume" => "block-storage",
        "load-balancer" => "load-balancer",
        "image" => "image",
        "heat-api" => "orchestration",
        "swift" => "object-store",
        "key-manager" => "key-manager",
        "dns" => "dns",
        "share" => "shared-file-system",
        _ => "unknown",
    }
}

/// Logs the request, applies the service's injected faults, then passes it on.
async fn faults_and_log(State(shared): St, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    let service = service_of(&path);
    let (client, token) = {
        let header = |name: &str| -> Option<String> {
            let value = req.headers().get(name)?.to_str().ok()?;
            Some(value.to_owned())
        };
        (header("user-agent"), header("x-auth-token"))
    };
    // The token's project: which project a request acted in (tests of replicas read it).
    let project = token
        .and_then(|t| shared.identity().lock().keystone.validate(&t))
        .map(|ctx| ctx.project_id);
    // A further region's faults may be set apart (`RegionTwo/compute`).
    let fault_key = match region_of(&path) {
        Some((region, _)) => format!("{region}/{service}"),
        None => service.to_owned(),
    };
    let fault = shared.lock().faults.decide(&fault_key);
    // With workers, the latency is service time: a request beyond the workers queues.
    let _worker = match &fault.workers {
        Some(workers) => Arc::clone(workers).acquire_owned().await.ok(),
        None => None,
    };
    if !fault.latency.is_zero() {
        tokio::time::sleep(fault.latency).await;
    }
    let (resp, status) = match fault.action {
        Fault::Pass => {
            let resp = next.run(req).await;
            let status = Some(resp.status().as_u16());
            (resp, status)
        }
        Fault::Error(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let resp = ApiError::new(
                style_of(service),
                status,
                "ServiceUnavailable",
                "injected fault",
            )
            .restyle(style_of(service))
            .into_response();
            (resp, Some(code))
        }
        Fault::Throttle(secs) => {
            let mut e = ApiError::new(
                style_of(service),
                StatusCode::TOO_MANY_REQUESTS,
                "overLimit",
                "Rate limit exceeded, retry later.",
            )
            .restyle(style_of(service));
            e.retry_after = Some(secs);
            (e.into_response(), Some(429))
        }
        Fault::Drop => (dropped_connection(), None),
        Fault::Hang(hold) => {
            tokio::time::sleep(hold).await;
            (dropped_connection(), None)
        }
        Fault::DatabaseError => {
            let style = style_of(service);
            let (status, message) = database_error(service).unwrap_or((
                500,
                "The server has either erred or is incapable of performing the requested operation.",
            ));
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let resp = match style {
                Style::Nova => ApiError::nova(status, message),
                _ => ApiError::new(style, status, "InternalServerError", message),
            }
            .into_response();
            (resp, Some(status.as_u16()))
        }
    };
    shared.lock().log.record(RequestRecord {
        method,
        path,
        query,
        service: service.to_owned(),
        status,
        client,
        project,
    });
    resp
}

/// The error shape a service answers with.
fn style_of(service: &str) -> Style {
    match service {
        "identity" => Style::Keystone,
        "network" => Style::Neutron,
        "load-balancer" => Style::Octavia,
        "image" | "object-store" => Style::Text,
        "orchestration" => Style::Heat,
        "key-manager" => Style::Barbican,
        "dns" => Style::Designate,
        _ => Style::Nova,
    }
}

/// A response whose body fails at once: hyper then closes the connection without
/// finishing the answer, which a client sees as a dropped connection.
fn dropped_connection() -> Response {
    let stream = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "injected dropped connection",
        ))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert("content-length", HeaderValue::from_static("100"));
    resp
}

/// Completes the services' routes into the simulator's app: a 404 for unknown paths, and
/// the request log and injected faults around every request.
pub fn wrap(services: Router<Arc<Shared>>, shared: Arc<Shared>) -> Router {
    services
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                "404 Not Found\n\nThe resource could not be found.\n",
            )
        })
        .layer(middleware::from_fn_with_state(
            shared.clone(),
            faults_and_log,
        ))
        .with_state(shared)
}

/// Wraps a service's authenticated routes with the token check.
pub fn protect(routes: Router<Arc<Shared>>, shared: &Arc<Shared>) -> Router<Arc<Shared>> {
    routes.route_layer(middleware::from_fn_with_state(shared.clone(), auth))
}
