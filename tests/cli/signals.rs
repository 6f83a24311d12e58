//! The one-shot commands fail fast on a wrong endpoint and stop when told, as a CI runner
//! or Kubernetes stops them: black-box runs of the binary against a closed port and
//! against the simulator with high latency, stopped with `kill -TERM` / `kill -INT` while
//! connecting, while listing and mid-sweep. Each run must exit with the documented code
//! within a liveness bound (tens of seconds: it proves the process stops, it is not a
//! speed target), and a stopped sweep must leave nothing half-done: every delete the
//! simulator received is reported as deleted or unconfirmed, and nothing reported as
//! not attempted was sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use stacksweep_sim::{Scenario, Sim, SimConfig, SimHandle};

/// Exit codes from the README's table.
const CONFIG_ERROR: i32 = 2;
const SIGINT_EXIT: i32 = 130;
const SIGTERM_EXIT: i32 = 143;

/// Longest a stopped (or failing) run may take to exit: generous, it only proves the
/// process does stop (before this change: about 10 minutes, or never).
const LIVENESS: Duration = Duration::from_secs(90);

/// A running `stacksweep` whose stdout and stderr are collected as they come.
struct Running {
    child: Child,
    stdout: Arc<Mutex<String>>,
    stderr: Arc<Mutex<String>>,
    /// The threads collecting them; they end at EOF.
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// How a run ended.
#[derive(Debug)]
struct Ended {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Collects everything `pipe` writes into a shared string, on a thread of its own.
fn collect(
    mut pipe: impl Read + Send + 'static,
) -> (Arc<Mutex<String>>, std::thread::JoinHandle<()>) {
    let text = Arc::new(Mutex::new(String::new()));
    let sink = text.clone();
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    (text, reader)
}

impl Running {
    /// Starts `stacksweep ARGS` in `dir` with an empty environment but `PATH`, `HOME`
    /// and `OS_CLIENT_CONFIG_FILE=clouds_yaml`.
    fn start(dir: &Path, clouds_yaml: &Path, args: &[&str]) -> Running {
        let mut child = Command::new(env!("CARGO_BIN_EXE_stacksweep"))
            .args(args)
            .current_dir(dir)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", dir)
            .env("NO_COLOR", "1")
            .env("OS_CLIENT_CONFIG_FILE", clouds_yaml)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (stdout, out_reader) = collect(child.stdout.take().unwrap());
        let (stderr, err_reader) = collect(child.stderr.take().unwrap());
        Running {
            child,
            stdout,
            stderr,
            readers: vec![out_reader, err_reader],
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// Sends `signal` (`TERM`, `INT`) with the `kill` command.
    fn kill(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} failed");
    }

    /// Waits (polling) until `ready` holds, within the liveness bound.
    async fn wait_until(&mut self, what: &str, mut ready: impl FnMut(&Running) -> bool) {
        let start = std::time::Instant::now();
        while !ready(self) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "exited ({status}) before {what}: {}\n{}",
                    self.stdout.lock().unwrap(),
                    self.stderr()
                );
            }
            assert!(
                start.elapsed() < LIVENESS,
                "no {what} within {LIVENESS:?}: {}",
                self.stderr()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (polling) until stderr contains `needle`.
    async fn wait_for_log(&mut self, needle: &str) {
        self.wait_until(&format!("{needle:?} on stderr"), |r| {
            r.stderr().contains(needle)
        })
        .await;
    }

    /// Waits for the exit, within the liveness bound (then kills it and fails).
    async fn ended(mut self) -> Ended {
        let start = std::time::Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > LIVENESS {
                let _ = self.child.kill();
                panic!("still running after {LIVENESS:?}: {}", self.stderr());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        // The pipes close with the process: the readers have everything.
        for reader in std::mem::take(&mut self.readers) {
            reader.join().unwrap();
        }
        Ended {
            code: status.code(),
            stdout: self.stdout.lock().unwrap().clone(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A failed assertion must not leave a sweep running.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A temporary directory with a clouds.yaml whose `sim` cloud points at `auth_url`.
struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes `text` to `name`; returns its path.
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// A clouds.yaml with cloud `sim` at `auth_url`.
    fn clouds_yaml(&self, auth_url: &str) -> PathBuf {
        self.write(
            "clouds.yaml",
            &format!(
                "clouds:\n  sim:\n    auth_type: password\n    auth:\n      auth_url: {auth_url}\n      username: ci-user\n      password: ci-password\n      project_name: ci\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n"
            ),
        )
    }

    /// A config sweeping cloud `sim` for `tag`, with `retry` as its `[retry]` section.
    fn config(&self, tag: &str, retry: &str) -> String {
        self.write(
            "stacksweep.toml",
            &format!(
                "[select]\nany_tags = [\"{tag}\"]\nmetadata = {{ \"ci-job\" = \"{tag}\" }}\n\n[retry]\n{retry}\n\n[[target]]\ncloud = \"sim\"\n"
            ),
        )
        .display()
        .to_string()
    }
}

/// A loopback port where nothing listens ("connection refused" at once).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A simulator with `config`, seeded with an aborted Kubespray job; its tag.
async fn seeded_sim(config: SimConfig) -> (SimHandle, String) {
    let sim = Sim::start(config).await.unwrap();
    let manifest = sim.seed(&Scenario::parse("kubespray-aborted").unwrap());
    (sim, manifest.tag)
}

/// DELETE requests the simulator answered, by path.
fn deletes(sim: &SimHandle) -> Vec<String> {
    sim.request_log()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect()
}

/// A wrong `auth_url` (a closed port) fails in seconds with exit 2, the URL and the
/// cause named on one stderr line and not repeated on stdout; `retry.connect_deadline`
/// sets how long it is retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_fails_fast_with_exit_2() {
    let dir = Dir::new();
    let port = closed_port();
    let url = format!("http://127.0.0.1:{port}/identity/v3");
    let yaml = dir.clouds_yaml(&url);

    let run = Running::start(
        dir.path(),
        &yaml,
        &["sweep", "--cloud", "sim", "--tag", "x"],
    );
    let end = run.ended().await;
    assert_eq!(end.code, Some(CONFIG_ERROR), "{end:?}");
    let errors: Vec<&str> = end
        .stderr
        .lines()
        .filter(|l| l.starts_with("stacksweep:") || l.contains("ERROR"))
        .collect();
    assert_eq!(errors.len(), 1, "one line per fatal error: {}", end.stderr);
    assert!(errors[0].contains(&url), "the URL is named: {}", errors[0]);
    assert!(
        errors[0].to_lowercase().contains("connection refused"),
        "the cause is named: {}",
        errors[0]
    );
    assert!(errors[0].contains("connect deadline"), "{}", errors[0]);
    assert!(!end.stdout.contains(&url), "printed twice: {}", end.stdout);
    assert!(end.stdout.contains("not swept"), "{}", end.stdout);

    // The budget is the config's: with none, the first refusal is final.
    let config = dir.config("x", "connect_deadline = \"0s\"");
    let run = Running::start(dir.path(), &yaml, &["sweep", "-c", &config]);
    let end = run.ended().await;
    assert_eq!(end.code, Some(CONFIG_ERROR), "{end:?}");
    assert!(
        end.stderr.contains("gave up after 1 attempt(s)"),
        "{}",
        end.stderr
    );
    assert!(!end.stderr.contains("retrying"), "{}", end.stderr);

    // check-config says the same, exit 2.
    let run = Running::start(dir.path(), &yaml, &["check-config", "-c", &config]);
    let end = run.ended().await;
    assert_eq!(end.code, Some(CONFIG_ERROR), "{end:?}");
    assert!(end.stdout.contains(&url), "{end:?}");
}

/// SIGTERM while connecting (retrying a refused connection under a 10-minute budget)
/// exits at once with 143 and says the sweep was cancelled before anything was listed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_while_connecting_exits_143() {
    let dir = Dir::new();
    let yaml = dir.clouds_yaml(&format!("http://127.0.0.1:{}/identity/v3", closed_port()));
    let config = dir.config("x", "deadline = \"10m\"\nconnect_deadline = \"10m\"");
    let mut run = Running::start(dir.path(), &yaml, &["sweep", "-c", &config]);
    run.wait_for_log("retrying").await;
    run.kill("TERM");
    let end = run.ended().await;
    assert_eq!(end.code, Some(SIGTERM_EXIT), "{end:?}");
    assert!(
        end.stdout.contains("CANCELLED while connecting"),
        "{}",
        end.stdout
    );
    assert!(!end.stderr.contains("panicked"), "{}", end.stderr);
}

/// `check-config` honours SIGTERM too: while it retries a refused connection, the
/// signal ends it with 143, saying which targets were not checked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_check_config() {
    let dir = Dir::new();
    let yaml = dir.clouds_yaml(&format!("http://127.0.0.1:{}/identity/v3", closed_port()));
    let config = dir.config("x", "deadline = \"10m\"\nconnect_deadline = \"10m\"");
    let mut run = Running::start(dir.path(), &yaml, &["check-config", "-c", &config]);
    run.wait_for_log("retrying").await;
    run.kill("TERM");
    let end = run.ended().await;
    assert_eq!(end.code, Some(SIGTERM_EXIT), "{end:?}");
    assert!(end.stdout.contains("CANCELLED"), "{}", end.stdout);
    assert!(
        end.stdout.contains("1 of 1 target(s) not checked"),
        "{}",
        end.stdout
    );
}

/// SIGINT while listing a slow cloud exits with 130, reports the sweep cancelled while
/// listing, and sends no DELETE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_while_listing_exits_130_and_deletes_nothing() {
    let (sim, tag) = seeded_sim(SimConfig {
        latency: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .await;
    let dir = Dir::new();
    let yaml = dir.clouds_yaml(&sim.auth_url());
    let config = dir.config(&tag, "");
    let mut run = Running::start(dir.path(), &yaml, &["sweep", "-c", &config]);
    // Connected: the quota read and the listing (2 s per request) come next.
    run.wait_for_log("connected").await;
    run.kill("INT");
    let end = run.ended().await;
    assert_eq!(end.code, Some(SIGINT_EXIT), "{end:?}");
    assert!(
        end.stdout
            .contains("CANCELLED while listing: nothing was deleted"),
        "{}",
        end.stdout
    );
    assert_eq!(deletes(&sim), Vec::<String>::new());
}

/// SIGTERM mid-sweep: no new delete starts, the in-flight ones are given the drain
/// time, and the JSON report is printed marked cancelled, exit 143. Nothing is left
/// half-done: every DELETE the cloud got is reported deleted or unconfirmed (servers
/// that take minutes to go), and nothing reported not attempted was sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_sweep_reports_every_started_delete() {
    let (sim, tag) = seeded_sim(SimConfig {
        latency: Duration::from_millis(100),
        server_delete_delay: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    let dir = Dir::new();
    let yaml = dir.clouds_yaml(&sim.auth_url());
    let config = dir.config(&tag, "");
    let mut run = Running::start(dir.path(), &yaml, &["sweep", "-c", &config, "-o", "json"]);
    run.wait_until("a server DELETE", |_| {
        deletes(&sim).iter().any(|p| p.contains("/servers/"))
    })
    .await;
    run.kill("TERM");
    let end = run.ended().await;
    assert_eq!(end.code, Some(SIGTERM_EXIT), "{end:?}");

    let doc: serde_json::Value = serde_json::from_str(&end.stdout).unwrap();
    assert_eq!(doc["cancelled"], true, "{doc:#}");
    let target = &doc["targets"][0];
    assert_eq!(target["cancelled"], "sweep", "{target:#}");
    let report = &target["report"];
    assert_eq!(report["cancelled"], true);
    let resources = report["resources"].as_array().unwrap();
    let outcome = |path: &str| {
        resources
            .iter()
            .find(|r| path.ends_with(&format!("/{}", r["id"].as_str().unwrap())))
            .unwrap_or_else(|| panic!("DELETE {path} is not in the report"))
    };
    let sent = deletes(&sim);
    for path in &sent {
        let r = outcome(path);
        let reason = r["reason"].as_str().unwrap();
        let reported = r["outcome"] == "deleted"
            || (r["outcome"] == "failed" && reason.starts_with("unconfirmed:"));
        assert!(reported, "DELETE {path} reported as {r}");
    }
    let unconfirmed = resources
        .iter()
        .filter(|r| r["reason"].as_str().unwrap().starts_with("unconfirmed:"))
        .count();
    assert!(
        unconfirmed > 0,
        "no delete in flight was reported: {report:#}"
    );
    for r in resources.iter().filter(|r| r["outcome"] == "not-attempted") {
        let id = r["id"].as_str().unwrap();
        assert!(
            !sent.iter().any(|p| p.ends_with(&format!("/{id}"))),
            "{id} is reported not attempted but was deleted"
        );
    }
    assert!(
        resources.iter().any(|r| r["outcome"] == "not-attempted"),
        "the signal stopped nothing: {report:#}"
    );
    // Once it has exited, it sends nothing more.
    assert_eq!(deletes(&sim), sent);
}

/// A second signal exits at once, with its own code, without waiting for the drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn second_signal_exits_at_once() {
    let (sim, tag) = seeded_sim(SimConfig {
        server_delete_delay: Duration::from_secs(600),
        ..SimConfig::default()
    })
    .await;
    let dir = Dir::new();
    let yaml = dir.clouds_yaml(&sim.auth_url());
    let config = dir.config(&tag, "");
    let mut run = Running::start(dir.path(), &yaml, &["sweep", "-c", &config]);
    run.wait_until("a server DELETE", |_| {
        deletes(&sim).iter().any(|p| p.contains("/servers/"))
    })
    .await;
    run.kill("TERM");
    // The first signal started the drain (servers that never go keep it waiting).
    run.wait_for_log("sweep cancelled").await;
    run.kill("INT");
    let end = run.ended().await;
    assert_eq!(end.code, Some(SIGINT_EXIT), "{end:?}");
    assert!(end.stderr.contains("second signal"), "{}", end.stderr);
}
