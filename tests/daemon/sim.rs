//! `stacksweep daemon` end to end: the engine runner against the simulator, on paused
//! tokio time. Leaks appear between sweeps and go once the grace period is over,
//! `/metrics` follows; then a shutdown mid-sweep leaves no delete half-done and the state
//! written.
//!
//! Credentials are found the production way, through `OS_CLIENT_CONFIG_FILE`, which is
//! process-wide: the tests take turns (`support::ENV`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::json;
use stacksweep::config::Config;
use stacksweep::coord::Share;
use stacksweep::daemon::state::StateStore;
use stacksweep::daemon::{Clock, Daemon, DaemonOptions, EngineRunner, SweepContext, SweepRunner};
use stacksweep::metrics::{Metrics, TargetLabels};
use stacksweep::openstack::{CloudConfig, Service, Session, TokenCache};
use stacksweep_sim::{FaultConfig, Sim, SimConfig, SimHandle};
use tokio_util::sync::CancellationToken;

use crate::multi::scrape;

/// Creates a network tagged as Neutron tags things (PUT after create); returns its ID.
async fn network(session: &Session, name: &str, tags: &[&str]) -> String {
    let body = json!({"network": {"name": name}});
    let net = session
        .post(Service::Network, "/networks", &body)
        .await
        .unwrap();
    let id = net["network"]["id"].as_str().unwrap().to_owned();
    if !tags.is_empty() {
        let path = format!("/networks/{id}/tags");
        session
            .put(Service::Network, &path, &json!({"tags": tags}))
            .await
            .unwrap();
    }
    id
}

/// A daemon config sweeping `ci-leak`-tagged resources of cloud `sim` every minute.
fn config(state_file: &Path, grace: &str, extra: &str) -> Config {
    let text = format!(
        "[metrics]\nlisten = \"127.0.0.1:0\"\n[schedule]\ncron = \"* * * * *\"\n\
         [safety]\nstate_file = {state:?}\ngrace = {grace:?}\n{extra}\n\
         [select]\ntags = [\"ci-leak\"]\n[[target]]\nname = \"ci\"\ncloud = \"sim\"\n",
        state = state_file.display().to_string(),
    );
    Config::parse(&text, "test").unwrap()
}

/// The value of the sample named with exactly these labels (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

const LABELS: &str = r#"target="ci",cloud="sim",project="""#;

fn networks(text: &str, outcome: &str) -> f64 {
    sample(
        text,
        &format!("stacksweep_resources_total{{{LABELS},kind=\"network\",outcome=\"{outcome}\"}}"),
    )
}

/// Half past the current minute: the every-minute schedule then fires 30 s, 90 s, 150 s…
/// into the test whatever the wall clock says (from `now`, a start in the last seconds
/// of a minute fitted a third sweep, and so a 120 s gap, before the grace check).
fn half_past_the_minute() -> Timestamp {
    let now = Timestamp::now().as_second();
    Timestamp::from_second(now - now.rem_euclid(60) + 30).unwrap()
}

fn options() -> DaemonOptions {
    DaemonOptions {
        clock: Clock::virtual_from(half_past_the_minute()),
        ..DaemonOptions::default()
    }
}

/// A simulator named `sim` in a clouds.yaml of a fresh directory, which the environment
/// points at (callers hold `support::ENV`).
async fn sim_in_clouds_yaml() -> (SimHandle, tempfile::TempDir, CloudConfig) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("clouds.yaml");
    sim.write_clouds_yaml(&clouds).unwrap();
    std::env::set_var("OS_CLIENT_CONFIG_FILE", &clouds);
    let cloud = CloudConfig::from_clouds_yaml(&clouds, "sim").unwrap();
    (sim, dir, cloud)
}

/// Leaks appearing between sweeps are held for the grace period, then deleted, untagged
/// ones stay, metrics move; a shutdown mid-sweep finishes the deletes in flight, starts
/// no more, writes the state and returns.
#[tokio::test(start_paused = true)]
async fn daemon_sweeps_the_simulator() {
    // Tests of this crate that set the environment take turns.
    let _env = crate::support::ENV.lock().await;
    let (sim, dir, cloud) = sim_in_clouds_yaml().await;
    let session_options = config(Path::new("unused"), "0s", "").session_options();
    let ci = Session::connect(&cloud, session_options).await.unwrap();

    // Phase 1: a 90 s grace period, sweeps every minute.
    let keep = network(&ci, "shared", &[]).await;
    let leak1 = network(&ci, "job-1", &["ci-leak"]).await;
    let state_file = dir.path().join("state.json");
    let daemon = Daemon::new(config(&state_file, "90s", ""), EngineRunner, options())
        .await
        .unwrap();
    let addr = daemon.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(shutdown.clone()));

    // Two sweeps see leak1 eligible for less than 90 s: held, not deleted.
    tokio::time::sleep(Duration::from_secs(125)).await;
    assert!(
        sim.exists("network", &leak1),
        "deleted before its grace period"
    );
    let text = scrape(addr).await;
    assert!(networks(&text, "held") >= 2.0, "{text}");
    assert_eq!(networks(&text, "deleted"), 0.0, "{text}");

    // A new leak appears between sweeps; the third sweep deletes leak1 only.
    let leak2 = network(&ci, "job-2", &["ci-leak"]).await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        !sim.exists("network", &leak1),
        "leak1 outlived its grace period"
    );
    assert!(
        sim.exists("network", &leak2),
        "leak2 deleted before its grace period"
    );
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert!(
        !sim.exists("network", &leak2),
        "leak2 outlived its grace period"
    );
    assert!(
        sim.exists("network", &keep),
        "an untagged network was deleted"
    );

    let text = scrape(addr).await;
    assert_eq!(networks(&text, "deleted"), 2.0, "{text}");
    let clean = format!("stacksweep_sweeps_total{{{LABELS},outcome=\"clean\"}}");
    assert!(sample(&text, &clean) >= 4.0, "{text}");
    let deletes = r#"stacksweep_api_requests_total{target="ci",cloud="sim",service="network",method="DELETE",status="2xx"}"#;
    assert!(sample(&text, deletes) >= 2.0, "{text}");
    let last = format!("stacksweep_last_successful_sweep_timestamp_seconds{{{LABELS}}}");
    assert!(sample(&text, &last) > 0.0, "{text}");
    assert_eq!(
        sample(
            &text,
            &format!("stacksweep_target_authenticated{{{LABELS}}}")
        ),
        1.0
    );
    shutdown.cancel();
    task.await.unwrap().unwrap();

    // Phase 2: every network request takes 200 ms and one delete runs at a time, so a
    // sweep of 12 leaks takes seconds; stop it (SIGTERM's equivalent) after the first
    // delete reached the simulator.
    let mut leaks = Vec::new();
    for i in 0..12 {
        leaks.push(network(&ci, &format!("job-{i}"), &["ci-leak"]).await);
    }
    sim.set_faults(
        "network",
        FaultConfig {
            latency: Duration::from_millis(200),
            ..FaultConfig::default()
        },
    );
    let state_file = dir.path().join("state2.json");
    let cfg = config(&state_file, "0s", "[retry]\nconcurrency = 1");
    let daemon = Daemon::new(cfg, EngineRunner, options()).await.unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(shutdown.clone()));
    for _ in 0..5000 {
        if sim.request_count("DELETE", "/network") > 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let before = sim.request_count("DELETE", "/network");
    shutdown.cancel();
    task.await.unwrap().unwrap();

    let deletes = sim.request_count("DELETE", "/network") - 2;
    let gone = leaks.iter().filter(|id| !sim.exists("network", id)).count();
    assert!(before > 2, "the sweep never started deleting");
    assert!(
        deletes < leaks.len(),
        "the sweep was not cut: {deletes} deletes"
    );
    assert_eq!(
        gone, deletes,
        "a delete the simulator received did not complete"
    );
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state_file).unwrap()).unwrap();
    let remembered = state["targets"]["ci"]["network"].as_object().unwrap();
    for id in leaks.iter().filter(|id| sim.exists("network", id)) {
        assert!(
            remembered.contains_key(id.as_str()),
            "{id} missing from the state"
        );
    }
    sim.shutdown().await;
}

/// A sweep forgets the grace sightings of what it deleted (an ID never comes back), so
/// the state holds only what is still there instead of a whole listing until the next.
#[tokio::test]
async fn deleted_resources_leave_the_state() {
    let _env = crate::support::ENV.lock().await;
    let (sim, _dir, cloud) = sim_in_clouds_yaml().await;
    let config = Arc::new(config(Path::new("unused"), "0s", ""));
    let ci = Session::connect(&cloud, config.session_options())
        .await
        .unwrap();
    let keep = network(&ci, "shared", &[]).await;
    let leak = network(&ci, "job-1", &["ci-leak"]).await;
    let target = config.targets[0].clone();
    let state = Arc::new(StateStore::in_memory());
    let ctx = SweepContext {
        labels: TargetLabels::of(&target),
        target,
        config,
        state: Arc::clone(&state),
        metrics: Arc::new(Metrics::new()),
        now: Timestamp::now(),
        cancel: CancellationToken::new(),
        tokens: TokenCache::new(),
        share: Arc::new(Share::Everything),
    };
    let record = EngineRunner.sweep(ctx).await.unwrap();
    assert_eq!(record.kinds["network"].deleted, 1, "{record:?}");
    assert!(!sim.exists("network", &leak));
    let seen = state.snapshot();
    assert_eq!(seen.first_seen("ci", "network", &leak), None, "{seen:?}");
    assert!(
        seen.first_seen("ci", "network", &keep).is_some(),
        "{seen:?}"
    );
}
