//! The engine runner reuses scoped tokens from one sweep to the next: against the
//! simulator on paused tokio time, a target of several projects and regions asks Keystone
//! for one token per scope over several sweeps, not one per sweep, and a config reload
//! starts afresh.
//!
//! Credentials are found the production way, through `OS_CLIENT_CONFIG_FILE`, which is
//! process-wide: the test takes the crate's environment lock.

use std::time::Duration;

use stacksweep::config::Config;
use stacksweep::daemon::{Clock, Daemon, DaemonOptions, EngineRunner};
use stacksweep_sim::SimHandle;
use tokio_util::sync::CancellationToken;

use crate::multi::{before_a_minute, scrape, MultiProject};

/// Keystone token requests the simulator answered.
fn token_posts(sim: &SimHandle) -> usize {
    sim.request_count("POST", "/identity/v3/auth/tokens")
}

/// Clean sweeps of target `ci`, from `/metrics`.
async fn clean_sweeps(addr: std::net::SocketAddr) -> f64 {
    let text = scrape(addr).await;
    let series = r#"stacksweep_sweeps_total{target="ci",cloud="sim",project="",outcome="clean"}"#;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or(0.0)
}

/// Three sweeps of `ci-*` in two regions cost one token per scope (discovery's, and one
/// per project shared by its regions), plus the readiness check's; a reload drops them.
#[tokio::test(start_paused = true)]
async fn sweeps_reuse_one_token_per_scope() {
    let _env = crate::support::ENV.lock().await;
    let bed = MultiProject::start().await;
    let (sim, manifest) = (&bed.sim, &bed.manifest);
    let config = Config::parse(&bed.config_text(""), "test").unwrap();
    let start = before_a_minute();
    let options = DaemonOptions {
        clock: Clock::virtual_from(start),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::new(config.clone(), EngineRunner, options)
        .await
        .unwrap();
    let addr = daemon.local_addr().unwrap();
    let handle = daemon.handle();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(shutdown.clone()));

    tokio::time::sleep(Duration::from_secs(65)).await;
    assert_eq!(clean_sweeps(addr).await, 1.0);
    // Readiness check 1, discovery (the cloud's `ci` project by name) 1, `ci-1` and
    // `ci-2` by ID 1 each (their two regions share it).
    assert_eq!(token_posts(sim), 4);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(clean_sweeps(addr).await, 3.0);
    assert_eq!(token_posts(sim), 4, "sweeps 2 and 3 reuse every token");

    // A reload (the same config) drops the cache: the readiness check and the next
    // sweep's three scopes authenticate again.
    handle.reload(config);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(clean_sweeps(addr).await, 4.0);
    assert_eq!(token_posts(sim), 8);

    for (kind, id) in &manifest.selected {
        assert!(!sim.exists(kind, id), "{kind} {id} left");
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
    bed.sim.shutdown().await;
}
