//! The one test bed every test crate shares: a simulator on 127.0.0.1 (seeded with a
//! scenario when asked), its `clouds.yaml` in a temporary directory, a member session to
//! it, fast sweep and session options, and the `stacksweep` binary run against it.
//! [`fake_cloud`] is the other kind of bed: scripted HTTP answers, TLS included, for the
//! client and garbage tests.
//!
//! ```ignore
//! let bed = Bed::builder().scenario("kubespray-aborted").start().await;
//! let report = bed.sweep(&selector(&bed.manifest), &fast_sweep_options()).await;
//! ```
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod etcd;
pub mod fake_cloud;

use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;
use stacksweep::engine::report::Report;
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::engine::{self, Job, SweepError, SweepOptions};
use stacksweep::openstack::{CloudConfig, RetryPolicy, Session, SessionOptions};
use stacksweep::resources::Kind;
use stacksweep_sim::{Manifest, Scenario, Sim, SimConfig, SimHandle};
use tokio_util::sync::CancellationToken;

/// Held for its whole run by a test that sets a process environment variable
/// (`OS_CLIENT_CONFIG_FILE`), so that tests of one crate never read each other's.
pub static ENV: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A simulator whose asynchronous deletes take milliseconds, so sweeps finish in a few
/// seconds of real time.
pub fn fast_sim_config() -> SimConfig {
    SimConfig {
        server_delete_delay: Duration::from_millis(20),
        volume_delete_delay: Duration::from_millis(10),
        volume_detach_delay: Duration::from_millis(20),
        other_delete_delay: Duration::from_millis(10),
        ..SimConfig::default()
    }
}

/// Session options that retry quickly and give up within `retry_deadline`.
pub fn session_options(retry_deadline: Duration) -> SessionOptions {
    SessionOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            deadline: retry_deadline,
            ..RetryPolicy::default()
        },
        requests_per_second: None,
        request_timeout: Duration::from_secs(10),
        ..SessionOptions::default()
    }
}

/// [`session_options`] giving up after 10 s.
pub fn fast_session_options() -> SessionOptions {
    session_options(Duration::from_secs(10))
}

/// Sweep options that poll and retry every few milliseconds.
pub fn fast_sweep_options() -> SweepOptions {
    SweepOptions {
        deadline: Duration::from_secs(60),
        retry_base: Duration::from_millis(10),
        retry_cap: Duration::from_millis(100),
        poll_base: Duration::from_millis(5),
        poll_cap: Duration::from_millis(50),
        await_timeout: Duration::from_secs(5),
        ..SweepOptions::default()
    }
}

/// One sweep of `session`'s project through the engine's one entry point.
pub async fn sweep(
    session: &Session,
    selector: &Selector,
    options: &SweepOptions,
    cancel: CancellationToken,
) -> Result<Report, SweepError> {
    let job = Job::new(session.clone(), selector.clone(), options.clone());
    Ok(engine::run(&job, cancel).await?.report)
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

/// How a [`Bed`] is made: a fast simulator, no scenario, a client retrying for 10 s.
pub struct BedBuilder {
    config: SimConfig,
    scenario: Option<String>,
    retry_deadline: Duration,
    services: Vec<String>,
}

impl BedBuilder {
    /// Seeds this scenario (`kubespray-aborted`, `capo-cluster`, `scale:N`, ...).
    pub fn scenario(mut self, scenario: &str) -> Self {
        self.scenario = Some(scenario.to_owned());
        self
    }

    /// The simulator's own config (faults, delays, token lifetime) instead of the fast one.
    pub fn sim(mut self, config: SimConfig) -> Self {
        self.config = config;
        self
    }

    /// Puts optional services (catalog types: `key-manager`) in the simulator's catalog.
    pub fn services(mut self, services: &[&str]) -> Self {
        self.services = services.iter().map(|s| s.to_string()).collect();
        self
    }

    /// How long the member session retries transient failures (fault tests: longer).
    pub fn retry_deadline(mut self, deadline: Duration) -> Self {
        self.retry_deadline = deadline;
        self
    }

    /// Starts the simulator, seeds it, writes its clouds.yaml and connects as the member.
    pub async fn start(self) -> Bed {
        let sim = Sim::start(self.config).await.unwrap();
        for service in &self.services {
            sim.enable_service(service);
        }
        let manifest = match &self.scenario {
            Some(s) => sim.seed(&Scenario::parse(s).unwrap()),
            None => Manifest::default(),
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clouds.yaml");
        sim.write_clouds_yaml(&path).unwrap();
        let cloud = CloudConfig::from_clouds_yaml(&path, "sim").unwrap();
        let session = Session::connect(&cloud, session_options(self.retry_deadline))
            .await
            .unwrap();
        Bed {
            sim,
            manifest,
            session,
            dir,
        }
    }
}

/// A started simulator, what it was seeded with, a member session, and its clouds.yaml
/// (clouds `sim` and `sim-appcred`) in a directory of its own.
pub struct Bed {
    /// The simulator.
    pub sim: SimHandle,
    /// What the scenario seeded (empty without one).
    pub manifest: Manifest,
    /// A session as the CI member (cloud `sim`).
    pub session: Session,
    /// Holds `clouds.yaml`; the binary runs here.
    pub dir: tempfile::TempDir,
}

impl Bed {
    /// The builder.
    pub fn builder() -> BedBuilder {
        BedBuilder {
            config: fast_sim_config(),
            scenario: None,
            retry_deadline: Duration::from_secs(10),
            services: Vec::new(),
        }
    }

    /// A fast, empty simulator.
    pub async fn start() -> Bed {
        Bed::builder().start().await
    }

    /// The clouds.yaml path.
    pub fn clouds_yaml(&self) -> PathBuf {
        self.dir.path().join("clouds.yaml")
    }

    /// A new session on cloud `name` (`sim` or `sim-appcred`) with fast retries.
    pub async fn connect(&self, name: &str) -> Session {
        let cloud = CloudConfig::from_clouds_yaml(&self.clouds_yaml(), name).unwrap();
        Session::connect(&cloud, fast_session_options())
            .await
            .unwrap()
    }

    /// One sweep of the member's project through the engine's entry point.
    pub async fn sweep(&self, selector: &Selector, options: &SweepOptions) -> Report {
        sweep(&self.session, selector, options, CancellationToken::new())
            .await
            .unwrap()
    }

    /// Every survivor of the manifest still exists.
    pub fn assert_survivors(&self) {
        for (kind, id) in &self.manifest.survivors {
            assert!(
                self.sim.exists(kind, id),
                "survivor {kind} {id} was deleted"
            );
        }
    }

    /// Sweeps the manifest's selection (`support::selector`): clean, everything selected
    /// deleted, every survivor intact; then a second sweep selects and plans nothing.
    pub async fn assert_swept_clean_then_idle(&self) {
        let report = self
            .sweep(&selector(&self.manifest), &fast_sweep_options())
            .await;
        assert!(
            report.is_clean(),
            "{}\n{}",
            report.render_text(),
            report.plan.render_text()
        );
        assert_eq!(self.left(), Vec::<(String, String)>::new());
        self.assert_survivors();
        assert_eq!(report.totals().deleted, self.manifest.selected.len());
        let again = self
            .sweep(&selector(&self.manifest), &fast_sweep_options())
            .await;
        assert!(again.is_clean(), "{}", again.render_text());
        assert_eq!(again.totals().selected, 0, "{}", again.render_text());
        assert!(again.plan.steps.is_empty());
        self.assert_survivors();
    }

    /// Selected resources of the manifest that still exist.
    pub fn left(&self) -> Vec<(String, String)> {
        let selected = self.manifest.selected.iter();
        selected
            .filter(|(k, id)| self.sim.exists(k, id))
            .cloned()
            .collect()
    }

    /// A `stacksweep` command in the bed's directory (its clouds.yaml is `./clouds.yaml`),
    /// with an empty environment but `PATH` and `HOME` (no stray `OS_*` variable).
    pub fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(bin());
        cmd.args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("NO_COLOR", "1")
            .kill_on_drop(true)
            .stdin(std::process::Stdio::null());
        cmd
    }

    /// Runs `stacksweep ARGS` to the end.
    pub async fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        let out = cmd.output().await.unwrap();
        Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Runs the binary with `OS_CLIENT_CONFIG_FILE` pointing at the bed's clouds.yaml
    /// (the rest of the environment inherited, but `OS_CLOUD` and `STACKSWEEP_CONFIG`).
    pub async fn stacksweep(&self, args: Vec<String>) -> std::process::Output {
        let clouds = self.clouds_yaml();
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

    /// Writes `text` to `name` in the bed's directory; returns the path as a string.
    pub fn write(&self, name: &str, text: &str) -> String {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// DELETE requests the simulator answered.
    pub fn deletes(&self) -> usize {
        self.sim
            .request_log()
            .iter()
            .filter(|r| r.method == "DELETE")
            .count()
    }
}

/// What one run of the binary printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

/// Every DELETE (and detach: `PUT .../remove_router_interface`, FIP update) the
/// simulator answered, as `METHOD path`.
pub fn mutations(sim: &SimHandle) -> Vec<String> {
    sim.request_log()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/auth/tokens"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// `(kind, id)` of every resource in the simulator, all projects, every kind the janitor
/// knows (the kind table's names are the simulator's kind words).
pub fn all_resources(sim: &SimHandle) -> Vec<(String, String)> {
    Kind::ALL
        .iter()
        .flat_map(|k| {
            sim.ids(k.as_str())
                .into_iter()
                .map(move |id| (k.as_str().to_owned(), id))
        })
        .collect()
}

/// The `stacksweep` binary.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stacksweep"))
}
