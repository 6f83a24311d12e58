//! The daemon against a fake sweep runner, on paused tokio time: scheduling, overlap and
//! concurrency bounds, deadline, `/metrics`, `/healthz`, `/readyz`, shutdown mid-sweep,
//! reload.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use stacksweep::config::{Config, Target};
use stacksweep::daemon::{
    Clock, Daemon, DaemonError, DaemonHandle, DaemonOptions, SweepContext, SweepError, SweepRunner,
};
use stacksweep::metrics::{KindCounts, SweepRecord};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// What the fake saw.
#[derive(Debug, Default)]
struct Log {
    /// (target, virtual wall time) of each sweep start.
    starts: Vec<(String, Timestamp)>,
    running: BTreeMap<String, usize>,
    max_per_target: usize,
    total: usize,
    max_total: usize,
    /// Simulated deletes started / finished.
    steps_started: usize,
    steps_finished: usize,
}

/// A runner whose sweep is `steps` deletes of `step` each; it starts no new delete once
/// cancelled and never interrupts one in flight.
#[derive(Clone)]
struct Fake {
    steps: u32,
    step: Duration,
    log: Arc<Mutex<Log>>,
    failing_auth: Arc<Mutex<BTreeSet<String>>>,
    started: Arc<Notify>,
}

impl Fake {
    fn new(steps: u32, step: Duration) -> Fake {
        Fake {
            steps,
            step,
            log: Arc::default(),
            failing_auth: Arc::default(),
            started: Arc::default(),
        }
    }

    fn auth_ok(&self, target: &str) -> Result<(), SweepError> {
        if self.failing_auth.lock().unwrap().contains(target) {
            Err(SweepError::Auth(
                "HTTP 401: The request you have made requires authentication.".into(),
            ))
        } else {
            Ok(())
        }
    }

    fn starts(&self, target: &str) -> Vec<Timestamp> {
        let log = self.log.lock().unwrap();
        log.starts
            .iter()
            .filter(|(t, _)| t == target)
            .map(|(_, at)| *at)
            .collect()
    }
}

impl SweepRunner for Fake {
    async fn authenticate(&self, target: &Target, _config: &Config) -> Result<(), SweepError> {
        self.auth_ok(&target.name)
    }

    async fn sweep(&self, ctx: SweepContext) -> Result<SweepRecord, SweepError> {
        let name = ctx.target.name.clone();
        self.auth_ok(&name)?;
        {
            let mut log = self.log.lock().unwrap();
            log.starts.push((name.clone(), ctx.now));
            let n = log.running.entry(name.clone()).or_default();
            *n += 1;
            let n = *n;
            log.max_per_target = log.max_per_target.max(n);
            log.total += 1;
            log.max_total = log.max_total.max(log.total);
        }
        self.started.notify_one();
        let mut deleted = 0;
        for _ in 0..self.steps {
            if ctx.cancel.is_cancelled() {
                break;
            }
            self.log.lock().unwrap().steps_started += 1;
            tokio::time::sleep(self.step).await;
            self.log.lock().unwrap().steps_finished += 1;
            deleted += 1;
        }
        let ids: Vec<String> = (0..self.steps).map(|i| format!("srv-{i}")).collect();
        ctx.state.with(|s| {
            s.observe_found(&name, "server", ids.iter().map(String::as_str), ctx.now);
            s.observe_selected(&name, "server", ids.iter().map(String::as_str), ctx.now);
        });
        {
            let mut log = self.log.lock().unwrap();
            *log.running.get_mut(&name).unwrap() -= 1;
            log.total -= 1;
        }
        Ok(SweepRecord {
            kinds: BTreeMap::from([(
                "server",
                KindCounts {
                    found: u64::from(self.steps),
                    selected: u64::from(self.steps),
                    deleted,
                    ..KindCounts::default()
                },
            )]),
            ..SweepRecord::default()
        })
    }
}

fn origin() -> Timestamp {
    "2026-11-22T10:00:30Z".parse().unwrap()
}

/// A config of `targets` swept every minute; `schedule` and `safety` add keys.
fn config_text(targets: &[&str], schedule: &str, safety: &str) -> String {
    let mut text = format!(
        "[metrics]\nlisten = \"127.0.0.1:0\"\n[schedule]\ncron = \"* * * * *\"\n{schedule}\n\
         [safety]\n{safety}\n[select]\ntags = [\"ci\"]\n"
    );
    for t in targets {
        text.push_str(&format!("[[target]]\nname = \"{t}\"\ncloud = \"sim\"\n"));
    }
    text
}

fn config(targets: &[&str], schedule: &str, safety: &str) -> Config {
    Config::parse(&config_text(targets, schedule, safety), "test").unwrap()
}

struct Running {
    handle: DaemonHandle<Fake>,
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), DaemonError>>,
}

async fn start(config: Config, fake: Fake) -> Running {
    let options = DaemonOptions {
        clock: Clock::virtual_from(origin()),
        drain_timeout: Duration::from_secs(30),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::new(config, fake, options).await.unwrap();
    let addr = daemon.local_addr().unwrap();
    let handle = daemon.handle();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(shutdown.clone()));
    Running {
        handle,
        addr,
        shutdown,
        task,
    }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap().unwrap();
    }
}

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let resp = reqwest::get(format!("http://{addr}{path}")).await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap())
}

/// The value of the sample whose name and labels start with `prefix`.
fn sample(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

/// A one-minute schedule over five minutes fires five sweeps, at the minute marks.
#[tokio::test(start_paused = true)]
async fn schedule_fires_on_each_cron_time() {
    let fake = Fake::new(1, Duration::from_secs(1));
    let d = start(config(&["ci"], "", ""), fake.clone()).await;
    tokio::time::sleep(Duration::from_secs(300)).await;
    d.stop().await;
    let starts = fake.starts("ci");
    let expected: Vec<Timestamp> = (1..=5)
        .map(|m| format!("2026-11-22T10:0{m}:00Z").parse().unwrap())
        .collect();
    assert_eq!(starts, expected);
}

/// A sweep longer than the schedule's period is never overlapped; missed times are skipped.
#[tokio::test(start_paused = true)]
async fn target_never_overlaps_itself() {
    let fake = Fake::new(15, Duration::from_secs(10));
    let d = start(config(&["ci"], "", ""), fake.clone()).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    d.stop().await;
    assert_eq!(fake.log.lock().unwrap().max_per_target, 1);
    // 150 s sweeps from 10:01: next free minute marks are 10:04, 10:07, 10:10.
    assert_eq!(fake.starts("ci").len(), 4, "{:?}", fake.starts("ci"));
}

/// No more than `max_concurrent_targets` targets sweep at once, and all of them do sweep.
#[tokio::test(start_paused = true)]
async fn concurrent_targets_are_bounded() {
    let fake = Fake::new(3, Duration::from_secs(10));
    let d = start(
        config(&["a", "b", "c"], "max_concurrent_targets = 2", ""),
        fake.clone(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(200)).await;
    d.stop().await;
    let log = fake.log.lock().unwrap();
    assert_eq!(log.max_total, 2);
    for t in ["a", "b", "c"] {
        assert!(log.starts.iter().any(|(n, _)| n == t), "{t} never swept");
    }
}

/// `/metrics` counts sweeps and resources, sets the last-success time; a deadline-cut
/// sweep counts as timed out without moving it.
#[tokio::test(start_paused = true)]
async fn metrics_move_with_sweeps() {
    let fake = Fake::new(2, Duration::from_secs(1));
    let d = start(config(&["ci"], "", ""), fake.clone()).await;
    tokio::time::sleep(Duration::from_secs(140)).await;
    let (status, text) = get(d.addr, "/metrics").await;
    assert_eq!(status, 200);
    if let Some(out) = std::env::var_os("STACKSWEEP_METRICS_OUT") {
        std::fs::write(out, &text).unwrap();
    }
    let labels = r#"target="ci",cloud="sim",project="""#;
    assert_eq!(
        sample(
            &text,
            &format!("stacksweep_sweeps_total{{{labels},outcome=\"clean\"}}")
        ),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(
            &text,
            &format!("stacksweep_resources_total{{{labels},kind=\"server\",outcome=\"deleted\"}}")
        ),
        Some(4.0)
    );
    // The second sweep started at 10:02:00 and took 2 s.
    let last = sample(
        &text,
        &format!("stacksweep_last_successful_sweep_timestamp_seconds{{{labels}}}"),
    )
    .unwrap();
    let expected: Timestamp = "2026-11-22T10:02:02Z".parse().unwrap();
    assert_eq!(last, expected.as_second() as f64);
    assert_eq!(
        sample(
            &text,
            &format!("stacksweep_target_authenticated{{{labels}}}")
        ),
        Some(1.0)
    );
    // OpenMetrics when asked for it.
    let client = reqwest::Client::new();
    let om = client
        .get(format!("http://{}/metrics", d.addr))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert!(om.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(om.text().await.unwrap().ends_with("# EOF\n"));
    d.stop().await;
}

/// A sweep that outlives the per-sweep deadline is cancelled and counted as timed out.
#[tokio::test(start_paused = true)]
async fn deadline_stops_a_sweep() {
    let fake = Fake::new(10, Duration::from_secs(10));
    let d = start(config(&["ci"], "deadline = \"25s\"", ""), fake.clone()).await;
    tokio::time::sleep(Duration::from_secs(95)).await;
    let (_, text) = get(d.addr, "/metrics").await;
    d.stop().await;
    assert!(
        text.contains(
            r#"stacksweep_sweeps_total{target="ci",cloud="sim",project="",outcome="timed_out"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains("stacksweep_last_successful_sweep_timestamp_seconds{"));
    let log = fake.log.lock().unwrap();
    // First sweep: deletes at 0, 10, 20 s started before the 25 s deadline, all finished;
    // second sweep (cut by shutdown): its first delete finished.
    assert_eq!((log.steps_started, log.steps_finished), (4, 4));
}

/// `/healthz` answers; `/readyz` is 503 naming the target whose auth fails, 200 once all pass.
#[tokio::test(start_paused = true)]
async fn health_and_readiness() {
    let fake = Fake::new(1, Duration::from_secs(1));
    fake.failing_auth.lock().unwrap().insert("bad".into());
    let d = start(config(&["good", "bad"], "", ""), fake.clone()).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(get(d.addr, "/healthz").await.0, 200);
    let (status, body) = get(d.addr, "/readyz").await;
    assert_eq!(status, 503);
    assert!(
        body.contains("bad: authentication failed: HTTP 401"),
        "{body}"
    );
    assert!(!body.contains("good"), "{body}");
    // The credentials get fixed; the next sweep authenticates and the daemon is ready.
    fake.failing_auth.lock().unwrap().clear();
    tokio::time::sleep(Duration::from_secs(60)).await;
    let (status, body) = get(d.addr, "/readyz").await;
    assert_eq!((status, body.as_str()), (200, "ready\n"));
    d.stop().await;
}

/// Shutdown mid-sweep lets the in-flight delete finish, starts no new one, writes the
/// state file, and returns.
#[tokio::test(start_paused = true)]
async fn shutdown_mid_sweep_finishes_in_flight_and_writes_state() {
    let dir = tempfile::tempdir().unwrap();
    let state_file = dir.path().join("state.json");
    let safety = format!(
        "state_file = {:?}\ngrace = \"1h\"",
        state_file.display().to_string()
    );
    let fake = Fake::new(10, Duration::from_secs(5));
    let d = start(config(&["ci"], "", &safety), fake.clone()).await;
    fake.started.notified().await;
    tokio::time::sleep(Duration::from_secs(12)).await;
    d.stop().await;
    {
        let log = fake.log.lock().unwrap();
        assert_eq!(
            log.steps_started, log.steps_finished,
            "a delete was cut in half"
        );
        assert!(log.steps_finished < 10, "the sweep did not stop");
    }
    let text = std::fs::read_to_string(&state_file).unwrap();
    let state: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(
        state["targets"]["ci"]["server"]["srv-0"]["eligible_since"].is_string(),
        "{text}"
    );
}

/// An invalid config on reload keeps the one in effect; a valid one adds a target.
#[tokio::test(start_paused = true)]
async fn reload_keeps_old_config_when_new_one_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stacksweep.toml");
    let fake = Fake::new(1, Duration::from_secs(1));
    let d = start(config(&["a"], "", ""), fake.clone()).await;

    std::fs::write(
        &path,
        config_text(&["a", "b"], "timezone = \"Mars/Olympus\"", ""),
    )
    .unwrap();
    let err = d.handle.reload_from_file(&path).unwrap_err();
    assert!(err.to_string().contains("schedule.timezone"), "{err}");
    let names: Vec<String> = d
        .handle
        .config()
        .targets
        .iter()
        .map(|t| t.name.clone())
        .collect();
    assert_eq!(names, ["a"]);

    std::fs::write(&path, config_text(&["a", "b"], "", "")).unwrap();
    d.handle.reload_from_file(&path).unwrap();
    tokio::time::sleep(Duration::from_secs(80)).await;
    d.stop().await;
    assert_eq!(fake.starts("a").len(), 1);
    assert_eq!(fake.starts("b").len(), 1);
}

/// A free loopback port (bound then released) for a daemon whose address a test must know.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `daemon::serve` reloads the config file on a reload message and when the file
/// changes, and returns once shut down.
#[tokio::test(start_paused = true)]
async fn cli_reloads_on_request_and_on_file_change() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("stacksweep.toml");
    let port = free_port();
    let text = |targets: &[&str]| {
        config_text(targets, "", "").replace("127.0.0.1:0", &format!("127.0.0.1:{port}"))
    };
    std::fs::write(&path, text(&["a"])).unwrap();
    let config = Config::load(&path).unwrap();
    let shutdown = CancellationToken::new();
    let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
    let fake = Fake::new(1, Duration::from_secs(1));
    let (file, stop) = (path.clone(), shutdown.clone());
    let task = tokio::spawn(async move {
        stacksweep::daemon::serve(config, Some(&file), fake, stop, reload_rx).await
    });
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let authenticated = |text: &str, t: &str| {
        text.contains(&format!(
            "stacksweep_target_authenticated{{target=\"{t}\",cloud=\"sim\",project=\"\"}} 1"
        ))
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, metrics) = get(addr, "/metrics").await;
    assert!(
        authenticated(&metrics, "a") && !authenticated(&metrics, "b"),
        "{metrics}"
    );

    std::fs::write(&path, text(&["a", "b"])).unwrap();
    reload_tx.send(()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, metrics) = get(addr, "/metrics").await;
    assert!(authenticated(&metrics, "b"), "{metrics}");

    // No message this time: the file watch notices the change.
    std::fs::write(&path, text(&["a", "b", "c"])).unwrap();
    tokio::time::sleep(Duration::from_secs(11)).await;
    let (_, metrics) = get(addr, "/metrics").await;
    assert!(authenticated(&metrics, "c"), "{metrics}");

    shutdown.cancel();
    task.await.unwrap().unwrap();
}
