//! Shared helpers of the reliability tests: a fast simulator, a session on it, sweep
//! options that do not wait long, and reading the simulator's state as JSON.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use stacksweep::engine::SweepOptions;
use stacksweep::openstack::{CloudConfig, RetryPolicy, Session, SessionOptions};
use stacksweep_sim::{Sim, SimConfig, SimHandle};

/// A simulator whose asynchronous deletes take milliseconds.
pub fn fast_sim_config() -> SimConfig {
    SimConfig {
        server_delete_delay: Duration::from_millis(20),
        volume_delete_delay: Duration::from_millis(10),
        volume_detach_delay: Duration::from_millis(20),
        other_delete_delay: Duration::from_millis(10),
        ..SimConfig::default()
    }
}

/// A started simulator and the `clouds.yaml` it wrote (clouds `sim`, `sim-appcred`).
pub struct Bed {
    pub sim: SimHandle,
    pub dir: tempfile::TempDir,
}

impl Bed {
    /// Starts a fast simulator and writes its clouds.yaml.
    pub async fn start() -> Bed {
        Bed::with_config(fast_sim_config()).await
    }

    /// Starts a simulator with `config` and writes its clouds.yaml.
    pub async fn with_config(config: SimConfig) -> Bed {
        let sim = Sim::start(config).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        sim.write_clouds_yaml(&dir.path().join("clouds.yaml"))
            .unwrap();
        Bed { sim, dir }
    }

    /// The clouds.yaml path.
    pub fn clouds_yaml(&self) -> PathBuf {
        self.dir.path().join("clouds.yaml")
    }

    /// A session on cloud `name` (`sim` or `sim-appcred`) with fast retries.
    pub async fn session(&self, name: &str) -> Session {
        let cloud = CloudConfig::from_clouds_yaml(&self.clouds_yaml(), name).unwrap();
        Session::connect(&cloud, fast_session_options())
            .await
            .unwrap()
    }
}

/// Session options that retry quickly and give up within seconds.
pub fn fast_session_options() -> SessionOptions {
    SessionOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(5),
            max_delay: Duration::from_millis(50),
            deadline: Duration::from_secs(10),
        },
        requests_per_second: None,
        request_timeout: Duration::from_secs(10),
        ..SessionOptions::default()
    }
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

/// Every DELETE (and detach: `PUT .../remove_router_interface`, FIP update) the
/// simulator answered, as `METHOD path`.
pub fn mutations(sim: &SimHandle) -> Vec<String> {
    sim.request_log()
        .into_iter()
        .filter(|r| r.method != "GET" && !r.path.ends_with("/auth/tokens"))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// `(kind, id)` of every resource in the simulator, all projects.
pub fn all_resources(sim: &SimHandle) -> Vec<(String, String)> {
    KINDS
        .iter()
        .flat_map(|k| sim.ids(k).into_iter().map(move |id| (k.to_string(), id)))
        .collect()
}

/// The simulator's kinds, as CLI words.
pub const KINDS: &[&str] = &[
    "network",
    "subnet",
    "port",
    "router",
    "floating-ip",
    "security-group",
    "server",
    "server-group",
    "keypair",
    "volume",
    "snapshot",
    "load-balancer",
    "image",
    "stack",
    "container",
];

/// The `stacksweep` binary.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_stacksweep"))
}

/// What one run of the binary printed, and how it exited.
#[derive(Debug)]
pub struct Run {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Bed {
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
