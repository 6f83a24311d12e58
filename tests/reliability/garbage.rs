//! Garbage from the cloud never turns into a delete: a scripted cloud holds one selected
//! network `net-1` that an unselected port `port-1` uses. When the port listing (or the
//! network's re-read before its delete) answers truncated JSON, wrong types, an HTML page,
//! a 200 with an error body, a `next` link that loops, or a million-item page, the real
//! sweep must not panic, must say what went wrong (per kind or per resource), and must
//! send no DELETE. Controls prove each check can fail: with a clean, empty port listing
//! the network is deleted.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::support::fake_cloud::{Answer, FakeCloud, Seen};
use crate::support::{fast_sweep_options, sweep};
use serde_json::{json, Value};
use stacksweep::engine::report::{Outcome, Report};
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::engine::SweepError;
use stacksweep::openstack::{RetryPolicy, Session, SessionOptions};
use stacksweep::resources::Kind;
use tokio_util::sync::CancellationToken;

const OLD: &str = "2020-01-01T00:00:00Z";

fn network() -> Value {
    json!({"id": "net-1", "name": "ci-net", "tags": ["ci"], "project_id": "proj-1", "tenant_id": "proj-1",
        "created_at": OLD, "updated_at": OLD, "status": "ACTIVE", "shared": false, "router:external": false,
        "subnets": [], "admin_state_up": true})
}

fn port() -> Value {
    json!({"id": "port-1", "name": "keep-me", "network_id": "net-1", "tags": [], "project_id": "proj-1",
        "tenant_id": "proj-1", "created_at": OLD, "updated_at": OLD, "device_owner": "", "device_id": "",
        "fixed_ips": [], "security_groups": [], "status": "DOWN"})
}

/// Every collection key, empty: unknown keys are ignored, so this answers every list.
fn empty_lists() -> Value {
    let mut o = serde_json::Map::new();
    for k in [
        "networks",
        "ports",
        "subnets",
        "routers",
        "floatingips",
        "security_groups",
        "servers",
        "keypairs",
        "server_groups",
        "volumes",
        "snapshots",
        "images",
        "loadbalancers",
        "stacks",
    ] {
        o.insert(k.into(), json!([]));
    }
    Value::Object(o)
}

/// The list endpoints of the other kinds, as the inventory asks for them.
const LISTS: &[&str] = &[
    "/subnets",
    "/routers",
    "/floatingips",
    "/security-groups",
    "/servers/detail",
    "/os-keypairs",
    "/os-server-groups",
    "/volumes/detail",
    "/snapshots/detail",
    "/images",
];

fn not_found() -> Answer {
    Answer::Json(
        404,
        json!({"NeutronError": {"type": "NotFound", "message": "not found", "detail": ""}}),
    )
}

fn json_text(status: u16, body: String) -> Answer {
    Answer::Text(
        status,
        vec![("content-type", "application/json".into())],
        body,
    )
}

/// The scripted project: `ports` answers the port listing, `reread` the GET of `net-1`.
fn project(
    ports: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
    reread: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
    let deleted = AtomicBool::new(false);
    move |seen: &Seen| {
        let path = seen.path.as_str();
        if seen.method == "DELETE" {
            deleted.store(true, Ordering::SeqCst);
            return Answer::Text(204, vec![], String::new());
        }
        if path.starts_with("/swift/") {
            return Answer::Json(200, json!([]));
        }
        match path {
            "/network/v2.0/networks" => Answer::Json(200, json!({"networks": [network()]})),
            "/network/v2.0/ports" => ports(seen),
            "/network/v2.0/networks/net-1" if deleted.load(Ordering::SeqCst) => not_found(),
            "/network/v2.0/networks/net-1" => reread(seen),
            // Only the lists the inventory asks for are empty; anything else is unknown.
            p if LISTS.iter().any(|l| p.ends_with(l)) => Answer::Json(200, empty_lists()),
            _ => not_found(),
        }
    }
}

fn good_ports(list: Vec<Value>) -> impl Fn(&Seen) -> Answer + Send + Sync + 'static {
    move |_: &Seen| Answer::Json(200, json!({ "ports": list.clone() }))
}

fn good_reread(_: &Seen) -> Answer {
    Answer::Json(200, json!({ "network": network() }))
}

fn options() -> SessionOptions {
    SessionOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(20),
            deadline: Duration::from_millis(300),
            ..RetryPolicy::default()
        },
        requests_per_second: None,
        request_timeout: Duration::from_secs(30),
        page_size: 2,
        max_pages: 10,
        ..SessionOptions::default()
    }
}

fn selector() -> Selector {
    Selector::new(
        Marks {
            any_tags: vec!["ci".into()],
            ..Marks::default()
        },
        Filters::default(),
    )
    .unwrap()
}

/// Sweeps the scripted project; returns the report (or the sweep's error) and the
/// DELETEs the cloud saw.
async fn sweep_it(cloud: &FakeCloud) -> (Result<Report, SweepError>, Vec<String>) {
    let session = Session::connect(&cloud.cloud("fake"), options())
        .await
        .unwrap();
    let mut opts = fast_sweep_options();
    opts.deadline = Duration::from_secs(5);
    let result = sweep(&session, &selector(), &opts, CancellationToken::new()).await;
    let deletes = cloud
        .seen()
        .into_iter()
        .filter(|s| s.method == "DELETE")
        .map(|s| s.path)
        .collect();
    (result, deletes)
}

fn net_outcome(report: &Report) -> (Outcome, String) {
    let o = report
        .resources
        .iter()
        .find(|r| r.kind == Kind::Network && r.id == "net-1")
        .expect("net-1 in the report");
    (o.outcome, o.reason.clone())
}

/// The port listing answers `ports`: no DELETE, and the failure is said.
/// Returns the port listing's error (or the sweep's), empty when there was none.
async fn garbage_listing(
    what: &str,
    ports: impl Fn(&Seen) -> Answer + Send + Sync + 'static,
) -> String {
    let cloud = FakeCloud::start(project(ports, good_reread)).await;
    let (result, deletes) = sweep_it(&cloud).await;
    assert!(deletes.is_empty(), "{what}: deleted {deletes:?}");
    match result {
        Ok(report) => {
            let (outcome, reason) = net_outcome(&report);
            assert_eq!(outcome, Outcome::Skipped, "{what}: {reason}");
            assert!(
                reason.contains("listing ports failed") || reason.contains("port-1"),
                "{what}: unclear reason {reason:?}"
            );
            let error = report.errors.get(&Kind::Port);
            assert!(
                error.is_some_and(|e| !e.is_empty()) || reason.contains("port-1"),
                "{what}: no port listing error in {:?}",
                report.errors
            );
            error.cloned().unwrap_or_default()
        }
        Err(e) => {
            assert!(!e.to_string().is_empty(), "{what}");
            e.to_string()
        }
    }
}

/// Control: an empty, well-formed port listing lets the network go (the DELETE check works).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_unused_network_is_deleted() {
    let cloud = FakeCloud::start(project(good_ports(vec![]), good_reread)).await;
    let (result, deletes) = sweep_it(&cloud).await;
    assert_eq!(deletes, vec!["/network/v2.0/networks/net-1".to_string()]);
    assert_eq!(net_outcome(&result.unwrap()).0, Outcome::Deleted);
}

/// Control: a well-formed listing with the port keeps the network, naming the port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_used_network_is_skipped() {
    garbage_listing("a clean listing with the port", good_ports(vec![port()])).await;
}

/// Truncated JSON in the port listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn truncated_json() {
    garbage_listing("truncated JSON", |_: &Seen| {
        json_text(
            200,
            r#"{"ports": [{"id": "port-1", "network_id": "ne"#.into(),
        )
    })
    .await;
}

/// Wrong types: the collection is a string; an item's fields have the wrong type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_types() {
    garbage_listing("collection is a string", |_: &Seen| {
        Answer::Json(200, json!({"ports": "none"}))
    })
    .await;
    garbage_listing("id is a number", |_: &Seen| {
        Answer::Json(
            200,
            json!({"ports": [{"id": 17, "network_id": "net-1", "tags": "x"}]}),
        )
    })
    .await;
    garbage_listing("network_id is a list", |_: &Seen| {
        Answer::Json(
            200,
            json!({"ports": [{"id": "port-1", "network_id": ["net-1"], "fixed_ips": "x"}]}),
        )
    })
    .await;
}

/// An HTML page, with 200 and with 502.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn html_pages() {
    for status in [200, 502] {
        garbage_listing("HTML page", move |_: &Seen| {
            Answer::Text(
                status,
                vec![("content-type", "text/html".into())],
                "<html><body><h1>502 Bad Gateway</h1></body></html>".into(),
            )
        })
        .await;
    }
}

/// A 200 whose body is an error, not a listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ok_with_error_body() {
    garbage_listing("200 with a NeutronError", |_: &Seen| {
        Answer::Json(
            200,
            json!({"NeutronError": {"type": "HTTPInternalServerError", "message": "boom", "detail": ""}}),
        )
    })
    .await;
    garbage_listing("200 with an empty object", |_: &Seen| {
        Answer::Json(200, json!({}))
    })
    .await;
}

/// A `next` link that points back at the same page forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn next_link_loops() {
    garbage_listing("looping next link", |seen: &Seen| {
        let href = format!("http://127.0.0.1{}", seen.path_and_query());
        Answer::Json(
            200,
            json!({"ports": [], "ports_links": [{"rel": "next", "href": href}]}),
        )
    })
    .await;
    // A next link that always advances but never ends hits the page guard.
    garbage_listing("endless next links", |seen: &Seen| {
        let n = seen.query.as_deref().unwrap_or("").len();
        Answer::Json(
            200,
            json!({"ports": [], "ports_links": [{"rel": "next", "href": format!("http://127.0.0.1/network/v2.0/ports?limit=2&marker=m{n}x")}]}),
        )
    })
    .await;
}

/// A million-item page (the limit ignored) with the network's port at the end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn million_item_page() {
    static BODY: OnceLock<Arc<String>> = OnceLock::new();
    let body = BODY
        .get_or_init(|| {
            use std::fmt::Write as _;
            let mut s = String::with_capacity(20_000_000);
            s.push_str("{\"ports\": [");
            for i in 0..1_000_000 {
                let _ = write!(s, "{{\"id\":\"x{i}\"}},");
            }
            s.push_str(&port().to_string());
            s.push_str("]}");
            Arc::new(s)
        })
        .clone();
    let errors = garbage_listing("a million-item page", move |_: &Seen| {
        json_text(200, body.as_str().to_owned())
    })
    .await;
    assert!(errors.contains("more than the limit"), "{errors}");
}

/// A canned answer.
type Canned = Arc<dyn Fn() -> Answer + Send + Sync>;

/// The re-read before the delete answers garbage: no DELETE, the network fails with a
/// reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_reread_is_not_deleted() {
    let answers: Vec<(&str, Canned)> = vec![
        (
            "truncated",
            Arc::new(|| json_text(200, r#"{"network": {"id": "net-1", "st"#.into())),
        ),
        (
            "wrong type",
            Arc::new(|| Answer::Json(200, json!({"network": ["net-1"]}))),
        ),
        (
            "html",
            Arc::new(|| Answer::Text(200, vec![], "<html>maintenance</html>".into())),
        ),
        (
            "error body",
            Arc::new(|| {
                Answer::Json(
                    200,
                    json!({"NeutronError": {"type": "X", "message": "boom"}}),
                )
            }),
        ),
        (
            "another resource",
            Arc::new(|| Answer::Json(200, json!({"network": {"id": "net-2", "name": "prod"}}))),
        ),
        ("server error", Arc::new(|| Answer::Json(500, json!({})))),
    ];
    for (what, answer) in answers {
        let cloud = FakeCloud::start(project(good_ports(vec![]), move |_: &Seen| answer())).await;
        let (result, deletes) = sweep_it(&cloud).await;
        assert!(deletes.is_empty(), "{what}: deleted {deletes:?}");
        let (outcome, reason) = net_outcome(&result.unwrap());
        assert!(
            matches!(outcome, Outcome::Failed | Outcome::Skipped),
            "{what}: {outcome:?} {reason}"
        );
        assert!(!reason.is_empty(), "{what}: no reason");
    }
}
