//! The client against a fake Keystone and scripted services on loopback: auth, catalog,
//! microversions, re-authentication, retries, error bodies, concurrency.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::fake_cloud;
use crate::support::fake_cloud::{options, sequence, Answer, FakeCloud, PROJECT_ID};
use serde_json::json;
use stacksweep::openstack::{
    ApiError, DeleteOutcome, RequestObserver, RetryPolicy, RetryReason, Service, Session,
    UnreachableCause,
};

/// Records observer calls.
#[derive(Default)]
struct Recorder {
    responses: Mutex<Vec<(Service, &'static str, Option<u16>)>>,
    retries: Mutex<Vec<(Service, RetryReason)>>,
}

impl RequestObserver for Recorder {
    fn on_response(
        &self,
        service: Service,
        method: &'static str,
        status: Option<u16>,
        _: Duration,
    ) {
        self.responses
            .lock()
            .unwrap()
            .push((service, method, status));
    }
    fn on_retry(&self, service: Service, reason: RetryReason) {
        self.retries.lock().unwrap().push((service, reason));
    }
}

impl Recorder {
    fn retries(&self) -> Vec<(Service, RetryReason)> {
        self.retries.lock().unwrap().clone()
    }
}

fn ok_port(_: &fake_cloud::Seen) -> Answer {
    Answer::Json(200, json!({"port": {"id": "p1"}}))
}

async fn connect(cloud: &FakeCloud, name: &str) -> (Session, Arc<Recorder>) {
    let recorder = Arc::new(Recorder::default());
    let mut opts = options();
    opts.observer = Some(recorder.clone());
    (
        Session::connect(&cloud.cloud(name), opts).await.unwrap(),
        recorder,
    )
}

/// Password auth scopes to the project, reads roles and catalog, and resolves versioned roots.
#[tokio::test]
async fn password_auth_and_catalog() {
    let cloud = FakeCloud::start(|_| Answer::Json(200, json!({"ok": true}))).await;
    let (session, _) = connect(&cloud, "fake").await;
    assert_eq!(session.project_id(), PROJECT_ID);
    assert_eq!(session.cloud_name(), "fake");
    assert_eq!(session.roles(), ["member", "reader"]);
    assert!(session.has_service(Service::Network));
    assert!(
        session.has_service(Service::BlockStorage),
        "volumev3 is an alias"
    );
    assert!(!session.has_service(Service::LoadBalancer));

    session
        .get(Service::Network, "/ports?tags=ci")
        .await
        .unwrap();
    session.get(Service::Compute, "/servers/ID").await.unwrap();
    session
        .get(Service::BlockStorage, "/volumes/v")
        .await
        .unwrap();
    session.get(Service::Image, "/images/i").await.unwrap();
    session
        .get(Service::ObjectStore, "?format=json")
        .await
        .unwrap();
    let seen = cloud.seen();
    let paths: Vec<String> = seen.iter().map(|s| s.path_and_query()).collect();
    assert_eq!(
        paths,
        [
            "/network/v2.0/ports?tags=ci".to_string(),
            "/compute/v2.1/servers/ID".into(),
            format!("/volume/v3/{PROJECT_ID}/volumes/v"),
            "/image/v2/images/i".into(),
            format!("/swift/v1/AUTH_{PROJECT_ID}?format=json"),
        ]
    );
    assert_eq!(
        seen[1].header("openstack-api-version"),
        Some("compute 2.79")
    );
    assert_eq!(seen[1].header("x-openstack-nova-api-version"), Some("2.79"));
    assert_eq!(seen[2].header("openstack-api-version"), Some("volume 3.43"));
    assert_eq!(seen[0].header("openstack-api-version"), None);
    assert_eq!(cloud.auth_requests(), 1);
    let err = session
        .get(Service::LoadBalancer, "/lbaas/loadbalancers")
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no load-balancer endpoint in the catalog (interface public, region RegionOne)"
    );
}

/// Application-credential auth works against an auth URL that already ends in /v3.
#[tokio::test]
async fn application_credential_auth() {
    let cloud = FakeCloud::start(ok_port).await;
    let (session, _) = connect(&cloud, "fake-appcred").await;
    assert_eq!(session.project_id(), PROJECT_ID);
    assert_eq!(
        session.get(Service::Network, "/ports/p1").await.unwrap()["port"]["id"],
        "p1"
    );
}

/// A wrong password is an auth error naming the user and URL, never the password.
#[tokio::test]
async fn failed_auth_message() {
    let cloud = FakeCloud::start(ok_port).await;
    let err = Session::connect(&cloud.cloud("fake-badpass"), options())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, ApiError::Auth { .. }), "{err:?}");
    assert!(text.contains("user ci-user"), "{text}");
    assert!(
        text.contains(&format!("http://{}/v3", cloud.addr)),
        "{text}"
    );
    assert!(text.contains("HTTP 401"), "{text}");
    assert!(!text.contains(fake_cloud::PASSWORD), "{text}");
}

/// A 401 makes the session re-authenticate once and replay the request.
#[tokio::test]
async fn reauth_once_on_401() {
    let cloud = FakeCloud::start(ok_port).await;
    let (session, recorder) = connect(&cloud, "fake").await;
    session.get(Service::Network, "/ports/p1").await.unwrap();
    cloud.revoke_all();
    session.get(Service::Network, "/ports/p1").await.unwrap();
    assert_eq!(cloud.auth_requests(), 2);
    assert_eq!(
        recorder.retries(),
        [(Service::Network, RetryReason::Reauthenticated)]
    );
    let statuses: Vec<Option<u16>> = recorder
        .responses
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.2)
        .collect();
    assert_eq!(
        statuses,
        [Some(201), Some(200), Some(401), Some(201), Some(200)]
    );
}

/// A service that answers 401 even to a fresh token gets one re-auth, then the error.
#[tokio::test]
async fn persistent_401_is_an_error() {
    let cloud = FakeCloud::start(|_| {
        Answer::Json(
            401,
            json!({"error": {"code": 401, "message": "nope", "title": "Unauthorized"}}),
        )
    })
    .await;
    let (session, _) = connect(&cloud, "fake").await;
    let err = session.get(Service::Network, "/ports").await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(cloud.auth_requests(), 2, "exactly one re-authentication");
}

/// Concurrent 401s renew the token once, not once per request.
#[tokio::test]
async fn concurrent_401s_renew_once() {
    let cloud = FakeCloud::start(ok_port).await;
    let (session, _) = connect(&cloud, "fake").await;
    cloud.revoke_all();
    let calls = (0..6).map(|_| session.get(Service::Network, "/ports/p1"));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(cloud.auth_requests(), 2);
}

/// A token is renewed shortly before it expires, without waiting for a 401.
#[tokio::test(start_paused = true)]
async fn reauth_before_expiry() {
    let cloud = FakeCloud::start(ok_port).await;
    cloud.set_lifetime(120);
    let (session, recorder) = connect(&cloud, "fake").await;
    session.get(Service::Network, "/ports/p1").await.unwrap();
    tokio::time::advance(Duration::from_secs(80)).await;
    session.get(Service::Network, "/ports/p1").await.unwrap();
    assert_eq!(
        cloud.auth_requests(),
        1,
        "80 s into a 120 s token: still good"
    );
    tokio::time::advance(Duration::from_secs(15)).await;
    session.get(Service::Network, "/ports/p1").await.unwrap();
    assert_eq!(cloud.auth_requests(), 2, "within the 30 s margin: renewed");
    assert!(recorder.retries().is_empty(), "no 401 was needed");
    let tokens: Vec<String> = cloud
        .seen()
        .iter()
        .map(|s| s.header("x-auth-token").unwrap().to_owned())
        .collect();
    assert_eq!(tokens[0], tokens[1]);
    assert_ne!(tokens[1], tokens[2]);
}

/// 429 is retried after at least its Retry-After, then succeeds.
#[tokio::test(start_paused = true)]
async fn retries_429_honouring_retry_after() {
    let (count, handler) = sequence(
        2,
        || Answer::Text(429, vec![("retry-after", "7".into())], "slow down".into()),
        ok_port,
    );
    let cloud = FakeCloud::start(handler).await;
    let (session, recorder) = connect(&cloud, "fake").await;
    let start = tokio::time::Instant::now();
    session.get(Service::Network, "/ports/p1").await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert!(
        start.elapsed() >= Duration::from_secs(14),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(
        recorder.retries(),
        [(Service::Network, RetryReason::RateLimited); 2]
    );
}

/// 5xx is retried with backoff until the deadline, then reported with its status and body.
#[tokio::test(start_paused = true)]
async fn server_errors_retry_until_deadline() {
    let (count, handler) = sequence(
        usize::MAX,
        || {
            Answer::Text(
                503,
                vec![],
                "<html><h1>503 Service Unavailable</h1></html>".into(),
            )
        },
        ok_port,
    );
    let cloud = FakeCloud::start(handler).await;
    let (session, recorder) = connect(&cloud, "fake").await;
    let start = tokio::time::Instant::now();
    let err = session.get(Service::Network, "/ports").await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(err.is_transient());
    assert_eq!(err.message(), Some("503 Service Unavailable"));
    let attempts = count.load(Ordering::SeqCst);
    assert!(attempts > 3, "{attempts}");
    assert_eq!(recorder.retries().len(), attempts - 1);
    assert!(
        start.elapsed() <= Duration::from_secs(60),
        "never past the deadline"
    );
}

/// A 5xx followed by success is invisible to the caller.
#[tokio::test(start_paused = true)]
async fn server_error_then_success() {
    let (count, handler) = sequence(
        1,
        || Answer::Json(500, json!({"computeFault": {"message": "x"}})),
        ok_port,
    );
    let cloud = FakeCloud::start(handler).await;
    let (session, recorder) = connect(&cloud, "fake").await;
    session.get(Service::Compute, "/servers/1").await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(
        recorder.retries(),
        [(Service::Compute, RetryReason::ServerError)]
    );
}

/// A connection dropped mid-answer is retried for a GET.
#[tokio::test(start_paused = true)]
async fn dropped_connection_is_retried() {
    let (count, handler) = sequence(2, || Answer::DropBody, ok_port);
    let cloud = FakeCloud::start(handler).await;
    let (session, recorder) = connect(&cloud, "fake").await;
    assert_eq!(
        session.get(Service::Network, "/ports/p1").await.unwrap()["port"]["id"],
        "p1"
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(
        recorder.retries(),
        [(Service::Network, RetryReason::Transport); 2]
    );
}

/// A refused connection is retried only for the connect deadline, then an unreachable
/// error naming the URL.
#[tokio::test(start_paused = true)]
async fn refused_connection_gives_unreachable_error() {
    let cloud = FakeCloud::start(ok_port).await;
    // The catalog's internal endpoints point at port 1, where nothing listens.
    let yaml = std::fs::read_to_string(cloud.clouds_yaml())
        .unwrap()
        .replacen(
            "    region_name: RegionOne",
            "    region_name: RegionOne\n    interface: internal",
            1,
        );
    std::fs::write(cloud.clouds_yaml(), yaml).unwrap();
    let config = cloud.cloud("fake");
    assert_eq!(config.interface(), "internal");
    let recorder = Arc::new(Recorder::default());
    let mut opts = options();
    opts.observer = Some(recorder.clone());
    opts.retry = RetryPolicy {
        base_delay: Duration::from_millis(100),
        max_delay: Duration::from_secs(1),
        deadline: Duration::from_secs(300),
        connect_deadline: Duration::from_secs(5),
    };
    let session = Session::connect(&config, opts).await.unwrap();
    let started = tokio::time::Instant::now();
    let err = session.get(Service::Network, "/ports").await.unwrap_err();
    assert!(
        started.elapsed() <= Duration::from_secs(6),
        "retried past the connect deadline: {:?}",
        started.elapsed()
    );
    assert!(
        matches!(
            err,
            ApiError::Unreachable {
                cause: UnreachableCause::Refused,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let text = err.to_string();
    assert!(
        text.starts_with("cannot reach the network service at http://127.0.0.1:1/"),
        "{text}"
    );
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
    assert!(!recorder.retries().is_empty());
    assert!(recorder
        .retries()
        .iter()
        .all(|r| *r == (Service::Network, RetryReason::Transport)));
}

/// 409 and 400 are answered once, not retried, with the body's type and message.
#[tokio::test]
async fn conflicts_are_not_retried() {
    let (count, handler) = sequence(
        usize::MAX,
        || {
            Answer::Json(
                409,
                json!({"NeutronError": {"type": "SecurityGroupInUse", "message": "Security Group sg1 in use.", "detail": ""}}),
            )
        },
        ok_port,
    );
    let cloud = FakeCloud::start(handler).await;
    let (session, recorder) = connect(&cloud, "fake").await;
    let err = session
        .delete(Service::Network, "/security-groups/sg1")
        .await
        .unwrap_err();
    assert!(err.is_conflict());
    assert_eq!(err.error_type(), Some("SecurityGroupInUse"));
    assert_eq!(
        err.to_string(),
        "network DELETE /security-groups/sg1: HTTP 409: Security Group sg1 in use."
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert!(recorder.retries().is_empty());
}

/// Cinder's 400 for a volume in use is not retried either.
#[tokio::test]
async fn bad_request_is_not_retried() {
    let (count, handler) = sequence(
        usize::MAX,
        || {
            Answer::Json(
                400,
                json!({"badRequest": {"code": 400, "message": "Invalid volume: Volume status must be available"}}),
            )
        },
        ok_port,
    );
    let cloud = FakeCloud::start(handler).await;
    let (session, _) = connect(&cloud, "fake").await;
    let err = session
        .delete(Service::BlockStorage, "/volumes/v1")
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.error_type()),
        (Some(400), Some("badRequest"))
    );
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// DELETE: 204 is accepted, 404 is already gone.
#[tokio::test]
async fn delete_outcomes() {
    let cloud = FakeCloud::start(|seen| {
        if seen.path.ends_with("/gone") {
            Answer::Json(404, json!({"NeutronError": {"type": "PortNotFound", "message": "Port gone could not be found.", "detail": ""}}))
        } else {
            Answer::Text(204, vec![], String::new())
        }
    })
    .await;
    let (session, _) = connect(&cloud, "fake").await;
    assert_eq!(
        session.delete(Service::Network, "/ports/p1").await.unwrap(),
        DeleteOutcome::Accepted
    );
    assert_eq!(
        session
            .delete(Service::Network, "/ports/gone")
            .await
            .unwrap(),
        DeleteOutcome::AlreadyGone
    );
    let err = session
        .get(Service::Network, "/ports/gone")
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.error_type(), Some("PortNotFound"));
}

/// POST and PUT send JSON and return the answer's JSON (or Null for no body).
#[tokio::test]
async fn post_and_put() {
    let cloud = FakeCloud::start(|seen| match seen.method.as_str() {
        "POST" => Answer::Text(202, vec![], String::new()),
        _ => Answer::Json(200, json!({"id": "r1", "subnet_id": "s1"})),
    })
    .await;
    let (session, _) = connect(&cloud, "fake").await;
    let body = json!({"os-stop": null});
    assert_eq!(
        session
            .post(Service::Compute, "/servers/s/action", &body)
            .await
            .unwrap(),
        serde_json::Value::Null
    );
    let answer = session
        .put(
            Service::Network,
            "/routers/r1/remove_router_interface",
            &json!({"subnet_id": "s1"}),
        )
        .await
        .unwrap();
    assert_eq!(answer["subnet_id"], "s1");
    let seen = cloud.seen();
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
}

/// A 200 whose body is not JSON is a decode error naming the service and path.
#[tokio::test]
async fn non_json_200_is_decode_error() {
    let cloud =
        FakeCloud::start(|_| Answer::Text(200, vec![], "<html>proxy login</html>".into())).await;
    let (session, _) = connect(&cloud, "fake").await;
    let err = session.get(Service::Image, "/images/x").await.unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("image GET /images/x: unexpected response"),
        "{err}"
    );
}

/// No more than `concurrency_per_service` requests reach a service at once.
#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_per_service() {
    let cloud = FakeCloud::start(|_| {
        Answer::After(
            Duration::from_secs(1),
            Box::new(Answer::Json(200, json!({"port": {"id": "p"}}))),
        )
    })
    .await;
    let mut opts = options();
    opts.concurrency_per_service = 2;
    let session = Session::connect(&cloud.cloud("fake"), opts).await.unwrap();
    let calls = (0..8).map(|_| session.get(Service::Network, "/ports/p"));
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(cloud.max_in_flight(), 2);
}

/// A Retry-After beyond the deadline is not waited out: the 429 comes back with it.
#[tokio::test(start_paused = true)]
async fn retry_after_beyond_deadline_gives_up() {
    let (count, handler) = sequence(
        usize::MAX,
        || Answer::Text(429, vec![("retry-after", "600".into())], "later".into()),
        ok_port,
    );
    let cloud = FakeCloud::start(handler).await;
    let (session, _) = connect(&cloud, "fake").await;
    let err = session.get(Service::Network, "/ports").await.unwrap_err();
    assert_eq!(err.status(), Some(429));
    assert_eq!(err.retry_after(), Some(Duration::from_secs(600)));
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

/// The per-service rate limit paces requests (burst, then one per interval).
#[tokio::test(start_paused = true)]
async fn rate_limit_paces_requests() {
    let cloud = FakeCloud::start(ok_port).await;
    let mut opts = options();
    opts.requests_per_second = Some(2);
    let session = Session::connect(&cloud.cloud("fake"), opts).await.unwrap();
    let start = tokio::time::Instant::now();
    for _ in 0..6 {
        session.get(Service::Network, "/ports/p1").await.unwrap();
    }
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "{:?}",
        start.elapsed()
    );
    // Other services have their own budget.
    let start = tokio::time::Instant::now();
    session.get(Service::Compute, "/servers/x").await.unwrap();
    assert!(start.elapsed() < Duration::from_millis(500));
}
