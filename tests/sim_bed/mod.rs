//! Shared by the sweep, quota and preflight tests: a simulator seeded with a scenario,
//! its clouds.yaml, and a session to it as the CI member.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::time::Duration;

use regex::Regex;
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::openstack::{CloudConfig, RetryPolicy, Session, SessionOptions};
use stacksweep_sim::{Manifest, Scenario, Sim, SimConfig, SimHandle};

/// A seeded simulator and a member session to it.
pub struct Bed {
    pub sim: SimHandle,
    pub manifest: Manifest,
    pub session: Session,
    pub dir: tempfile::TempDir,
}

impl Bed {
    /// The clouds.yaml naming cloud `sim`.
    pub fn clouds_yaml(&self) -> PathBuf {
        self.dir.path().join("clouds.yaml")
    }
}

/// Short asynchronous delays, so sweeps finish in a few seconds of real time.
pub fn sim_config() -> SimConfig {
    let short = Duration::from_millis(40);
    SimConfig {
        server_delete_delay: Duration::from_millis(80),
        volume_delete_delay: short,
        volume_detach_delay: short,
        other_delete_delay: short,
        ..SimConfig::default()
    }
}

/// Starts a simulator seeded with `scenario` and connects as the CI member.
pub async fn bed(scenario: &str) -> Bed {
    bed_with(sim_config(), scenario, Duration::from_secs(5)).await
}

/// [`bed`] with a simulator config of the caller's (faults, delays) and the deadline the
/// client retries transient failures up to.
pub async fn bed_with(config: SimConfig, scenario: &str, retry_deadline: Duration) -> Bed {
    let sim = Sim::start(config).await.unwrap();
    let manifest = sim.seed(&Scenario::parse(scenario).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clouds.yaml");
    sim.write_clouds_yaml(&path).unwrap();
    let cloud = CloudConfig::from_clouds_yaml(&path, "sim").unwrap();
    let options = SessionOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            deadline: retry_deadline,
        },
        requests_per_second: None,
        ..SessionOptions::default()
    };
    let session = Session::connect(&cloud, options).await.unwrap();
    Bed {
        sim,
        manifest,
        session,
        dir,
    }
}

/// What the scenario marks as the job's: its tag, its metadata, its name prefix; and
/// only what is older than 6 hours (the job's resources are 7 hours old).
pub fn selector(m: &Manifest) -> Selector {
    let marks = Marks {
        any_tags: vec![m.tag.clone()],
        metadata: vec![("ci-job".into(), m.tag.clone())],
        name_regex: Some(Regex::new(&format!("^{}-", regex::escape(&m.tag))).unwrap()),
        ..Marks::default()
    };
    let filters = Filters {
        older_than: Some(Duration::from_secs(6 * 3600)),
        ..Filters::default()
    };
    Selector::new(marks, filters).unwrap()
}

/// Runs the stacksweep binary with `OS_CLIENT_CONFIG_FILE` pointing at the bed's clouds.yaml.
pub async fn stacksweep(bed: &Bed, args: Vec<String>) -> std::process::Output {
    let clouds = bed.clouds_yaml();
    tokio::task::spawn_blocking(move || {
        assert_cmd::Command::cargo_bin("stacksweep")
            .unwrap()
            .env("OS_CLIENT_CONFIG_FILE", clouds)
            .env_remove("OS_CLOUD")
            .env_remove("STACKSWEEP_CONFIG")
            .args(args)
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}
