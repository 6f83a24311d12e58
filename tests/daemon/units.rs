//! The daemon on a target of several projects and regions, against the simulator on
//! paused tokio time: one scheduled sweep discovers the `ci-*` projects of the
//! `multi-project` scenario in both regions, sweeps each unit, and `/metrics` carries
//! one series per unit, labelled with its `project` and `region`; the look-alike `cx-1`
//! gets no series and keeps everything.
//!
//! Past `metrics.per_unit_series_limit` units, a target's series are its units' sums
//! instead, at the target's labels.
//!
//! Credentials are found the production way, through `OS_CLIENT_CONFIG_FILE`, which is
//! process-wide: the tests take turns.

use stacksweep::config::Config;

use crate::multi::{before_a_minute, metrics_after_a_minute, MultiProject};

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
    let text = metrics_after_a_minute(config, before_a_minute()).await;
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
    bed.sim.shutdown().await;
}

/// A target of more units than `per_unit_series_limit` exports its units' sums at its
/// own labels, with no `project`/`region` series, and still deletes every unit's job.
#[tokio::test(start_paused = true)]
async fn daemon_sums_the_units_of_a_large_target() {
    let _env = crate::support::ENV.lock().await;
    let bed = MultiProject::start().await;
    let text = bed
        .config_text("")
        .replace("[metrics]\n", "[metrics]\nper_unit_series_limit = 3\n");
    let config = Config::parse(&text, "test").unwrap();
    let text = metrics_after_a_minute(config, before_a_minute()).await;
    assert!(!text.contains("region=\""), "{text}");
    assert!(!text.contains("project=\"ci-"), "{text}");
    // The four units' servers (one each), summed.
    let series = r#"stacksweep_resources_total{target="ci",cloud="sim",project="",kind="server",outcome="deleted"}"#;
    assert_eq!(sample(&text, series), Some(4.0), "{text}");
    for (kind, id) in &bed.manifest.selected {
        assert!(!bed.sim.exists(kind, id), "{kind} {id} left");
    }
    bed.sim.shutdown().await;
}
