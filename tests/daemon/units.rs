//! The daemon on a target of several projects and regions, against the simulator on
//! paused tokio time: one scheduled sweep discovers the `ci-*` projects of the
//! `multi-project` scenario in both regions, sweeps each unit, and `/metrics` carries
//! one series per unit, labelled with its `project` and `region`; the look-alike `cx-1`
//! gets no series and keeps everything.
//!
//! One test in this file: credentials are found the production way, through
//! `OS_CLIENT_CONFIG_FILE`, which is process-wide.

use std::time::Duration;

use stacksweep::config::Config;
use stacksweep::daemon::{Clock, Daemon, DaemonOptions, EngineRunner};

use crate::multi::{before_a_minute, scrape, MultiProject};
use tokio_util::sync::CancellationToken;

/// The value of the sample named with exactly these labels (`None` when absent).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// One sweep of `projects = ["ci-*"]`, `regions = "all"` exports per-unit series with
/// bounded `project` and `region` labels, deletes each unit's job and nothing of `cx-1`.
#[tokio::test(start_paused = true)]
async fn daemon_exports_one_series_per_unit() {
    // Tests of this crate that set the environment take turns.
    let _env = crate::support::ENV.lock().await;
    let bed = MultiProject::start().await;
    let (sim, manifest) = (&bed.sim, &bed.manifest);
    let config = Config::parse(&bed.config_text(""), "test").unwrap();
    let start = before_a_minute();
    let options = DaemonOptions {
        clock: Clock::virtual_from(start),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::new(config, EngineRunner, options).await.unwrap();
    let addr = daemon.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(shutdown.clone()));
    tokio::time::sleep(Duration::from_secs(65)).await;

    let text = scrape(addr).await;
    for project in ["ci-1", "ci-2"] {
        for region in ["RegionOne", "RegionTwo"] {
            let series = format!(
                "stacksweep_resources_total{{target=\"ci\",cloud=\"sim\",project=\"{project}\",region=\"{region}\",kind=\"server\",outcome=\"deleted\"}}"
            );
            assert_eq!(sample(&text, &series), Some(1.0), "{series}\n{text}");
        }
    }
    assert!(!text.contains("project=\"cx-1\""), "{text}");
    assert_eq!(
        sample(
            &text,
            r#"stacksweep_sweeps_total{target="ci",cloud="sim",project="",outcome="clean"}"#
        ),
        Some(1.0),
        "{text}"
    );
    for (kind, id) in &manifest.selected {
        assert!(!sim.exists(kind, id), "{kind} {id} left");
    }
    for (kind, id) in &manifest.survivors {
        assert!(sim.exists(kind, id), "survivor {kind} {id} deleted");
    }
    shutdown.cancel();
    task.await.unwrap().unwrap();
    bed.sim.shutdown().await;
}
