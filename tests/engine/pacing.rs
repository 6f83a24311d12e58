//! Adaptive pacing against the simulator: a service that answers 429 above a rate, one
//! whose latency grows with load, one that asks for a pause. What is asserted are counts
//! (requests, 429s, limits, resources left), never how long something took.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use regex::Regex;
use stacksweep::engine::report::Report;
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::engine::{self, Job, SweepOptions};
use stacksweep::openstack::{CloudConfig, Service, Session, SessionOptions};
use stacksweep_sim::{FaultConfig, Manifest, Scenario, Sim, SimConfig, SimHandle};
use tokio_util::sync::CancellationToken;

/// A seeded simulator with the given faults on every service, and a session to it with
/// the product's default pacing.
async fn start(
    scenario: &str,
    latency: Duration,
    faults: FaultConfig,
) -> (SimHandle, Manifest, Session) {
    let sim = Sim::start(SimConfig {
        latency,
        faults,
        server_delete_delay: Duration::from_millis(80),
        volume_delete_delay: Duration::from_millis(40),
        volume_detach_delay: Duration::from_millis(40),
        other_delete_delay: Duration::from_millis(40),
        ..SimConfig::default()
    })
    .await
    .unwrap();
    let manifest = sim.seed(&Scenario::parse(scenario).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clouds.yaml");
    sim.write_clouds_yaml(&path).unwrap();
    let cloud = CloudConfig::from_clouds_yaml(&path, "sim").unwrap();
    let session = Session::connect(&cloud, SessionOptions::default())
        .await
        .unwrap();
    (sim, manifest, session)
}

/// The job's marks: its tag, its metadata, its name prefix.
fn selector(m: &Manifest) -> Selector {
    let marks = Marks {
        any_tags: vec![m.tag.clone()],
        metadata: vec![("ci-job".into(), m.tag.clone())],
        name_regex: Some(Regex::new(&format!("^{}-", regex::escape(&m.tag))).unwrap()),
        ..Marks::default()
    };
    Selector::new(marks, Filters::default()).unwrap()
}

async fn sweep(session: &Session, m: &Manifest) -> Report {
    let options = SweepOptions {
        poll_base: Duration::from_millis(20),
        poll_cap: Duration::from_millis(200),
        retry_base: Duration::from_millis(20),
        retry_cap: Duration::from_millis(200),
        deadline: Duration::from_secs(120),
        ..SweepOptions::default()
    };
    engine::run(
        &Job::new(session.clone(), selector(m), options),
        CancellationToken::new(),
    )
    .await
    .unwrap()
    .report
}

/// Selected resources still there, survivors gone.
fn check(sim: &SimHandle, m: &Manifest) -> (usize, usize) {
    let left = m
        .selected
        .iter()
        .filter(|(k, id)| sim.exists(k, id))
        .count();
    let gone = m
        .survivors
        .iter()
        .filter(|(k, id)| !sim.exists(k, id))
        .count();
    (left, gone)
}

/// Against a service that answers 429 above 40 requests per second, a sweep at default
/// settings converges in one run with nothing left, and 429s are a small fraction of its
/// requests: the first burst is throttled, then the learned rate keeps under the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limited_service_converges_with_few_429s() {
    let faults = FaultConfig {
        rate_limit: Some(40),
        retry_after_secs: 1,
        ..FaultConfig::default()
    };
    let (sim, m, session) = start("scale:260", Duration::from_millis(5), faults).await;
    let report = sweep(&session, &m).await;
    assert!(report.is_clean(), "{}", report.render_text());
    assert_eq!(check(&sim, &m), (0, 0), "selected left, survivors gone");
    let network = &report.api.services["network"];
    let throttled_in_log = sim
        .request_log()
        .iter()
        .filter(|r| r.status == Some(429))
        .count() as u64;
    assert!(
        network.throttled > 0,
        "the limit was never reached: {network:?}"
    );
    assert_eq!(
        report.api.pushback, throttled_in_log,
        "every 429 is counted"
    );
    assert!(
        network.throttled * 100 <= network.requests * 12,
        "{} of {} network requests answered 429",
        network.throttled,
        network.requests
    );
    let rate = network
        .rate_limit
        .expect("a rate was learned from the 429s");
    assert!(rate <= 40.0, "paced at {rate}/s, above the limit");
    assert!(report.render_text().contains("the cloud pushed back"));
    sim.shutdown().await;
}

/// Against a service with 2 workers (latency grows with load past 2 in flight, and
/// already at the start concurrency of 8), the probe of the floors shows the queue, the
/// limit shrinks below its start and ends no higher, and the sweep converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_growing_with_load_shrinks_the_limit() {
    let faults = FaultConfig {
        workers: Some(2),
        ..FaultConfig::default()
    };
    let (sim, m, session) = start("scale:390", Duration::from_millis(10), faults).await;
    let report = sweep(&session, &m).await;
    assert!(report.is_clean(), "{}", report.render_text());
    assert_eq!(check(&sim, &m), (0, 0));
    let network = &report.api.services["network"];
    assert_eq!(report.api.pushback, 0, "latency alone, no errors");
    assert!(
        network.lowest_concurrency_limit < 8,
        "never shrank towards 2 workers: {network:?}"
    );
    assert!(
        network.concurrency_limit <= 8,
        "grew while overloaded: {network:?}"
    );
    sim.shutdown().await;
}

/// Against a clean service the limit grows past its start of 8 (slow start). Its
/// latency is 40 ms so that the simulator's own CPU time (a debug build, sharing the
/// machine) stays well under the latency: that is load too, and would count as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_clean_service_grows_the_limit() {
    let (sim, m, session) = start(
        "scale:520",
        Duration::from_millis(40),
        FaultConfig::default(),
    )
    .await;
    let report = sweep(&session, &m).await;
    assert!(report.is_clean(), "{}", report.render_text());
    assert_eq!(check(&sim, &m), (0, 0));
    let network = &report.api.services["network"];
    assert_eq!(report.api.pushback, 0);
    assert!(network.concurrency_limit > 8, "did not grow: {network:?}");
    assert!(
        network.concurrency_limit <= 64,
        "past the ceiling: {network:?}"
    );
    sim.shutdown().await;
}

/// A 429 with `Retry-After` holds the whole service: a request another caller issues
/// after that answer is not sent before the pause is over (the cloud sees nothing of the
/// service meanwhile), then both go through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_holds_the_whole_service() {
    let (sim, _m, session) =
        start("kubespray-aborted", Duration::ZERO, FaultConfig::default()).await;
    sim.set_faults(
        "network",
        FaultConfig {
            throttle_next: 1,
            retry_after_secs: 3,
            ..FaultConfig::default()
        },
    );
    sim.clear_request_log();
    let network_requests = || {
        sim.request_log()
            .iter()
            .filter(|r| r.service == "network")
            .map(|r| r.status)
            .collect::<Vec<_>>()
    };
    let first = {
        let session = session.clone();
        tokio::spawn(async move { session.get(Service::Network, "/networks").await })
    };
    while network_requests().is_empty() {
        tokio::task::yield_now().await;
    }
    assert_eq!(network_requests(), [Some(429)]);
    // The simulator logs the 429 before the client has read it: wait until the session
    // has counted it (and so holds the service) before the other caller starts.
    let throttled = || {
        session
            .pacing()
            .into_iter()
            .find(|(s, _)| *s == Service::Network)
            .map_or(0, |(_, p)| p.throttled)
    };
    while throttled() == 0 {
        tokio::task::yield_now().await;
    }
    let second = {
        let session = session.clone();
        tokio::spawn(async move { session.get(Service::Network, "/ports").await })
    };
    // Well within the 3 s pause: the second request is still held, nothing was sent.
    let held = tokio::time::timeout(Duration::from_millis(500), async {
        while network_requests().len() < 2 {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(
        held.is_err(),
        "sent during the pause: {:?}",
        network_requests()
    );
    assert!(second.await.unwrap().is_ok());
    assert!(first.await.unwrap().is_ok());
    assert_eq!(network_requests(), [Some(429), Some(200), Some(200)]);
    let stats = session
        .pacing()
        .into_iter()
        .find(|(s, _)| *s == Service::Network)
        .unwrap()
        .1;
    assert_eq!(stats.throttled, 1);
    sim.shutdown().await;
}
