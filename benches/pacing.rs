//! Pacing benchmark: sweeps the simulator's `scale:N` at default settings (adaptive
//! pacing) and with fixed caps, against three clouds, and prints the figures issue #14
//! asks for:
//!
//! 1. `unthrottled`: 20 ms latency, nothing else. Default settings against the tuned run
//!    (fixed 16 in flight, 1000/s) and the old defaults (fixed 8, 20/s; `--old`).
//! 2. `rate-limited`: the simulator answers 429 (`Retry-After: 1`) above 50 requests per
//!    second per service. Wall time against the rate bound (the busiest service's
//!    accepted requests / 50 per s), and the share of 429s.
//! 3. `workers`: each service serves 16 requests at once, each for 20 ms; more queue
//!    (latency grows with load past 16). The network limit pacing settled on (its final
//!    value and its time-weighted mean) and the p50/p99 latency it caused, against fixed
//!    caps of 8 and of 64.
//!
//! Each case runs in fresh processes: one serves the simulator, one sweeps (the same
//! binary, `--role`), so the sweeper's CPU does not slow the simulator's answers more
//! than a separate cloud would. After each sweep the simulator is asked what is left of
//! the selected resources and what is gone of the survivors; a row saying `WRONG` has
//! figures that mean nothing (the bench then exits 1).
//!
//! ```text
//! cargo bench --bench pacing                       # all three, scale:1000
//! cargo bench --bench pacing -- --cases workers --size 2000
//! cargo bench --bench pacing -- --old               # also the old defaults (~1 min)
//! ```
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "support/role.rs"]
mod role;
use role::Role;
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::engine::{self, Job, SweepOptions};
use stacksweep::openstack::{
    CloudConfig, PacingMode, RequestObserver, RetryReason, Service, Session, SessionOptions,
};
use stacksweep_sim::{FaultConfig, Scenario, Sim, SimConfig};
use tokio_util::sync::CancellationToken;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    match flag("--role").as_deref() {
        Some("sim") => return role_sim(&flag),
        Some("sweep") => return role_sweep(&flag),
        _ => {}
    }
    let size: usize = flag("--size").map_or(1000, |s| s.parse().expect("--size N"));
    let cases = flag("--cases").unwrap_or_else(|| "unthrottled,rate-limited,workers".into());
    let old = args.iter().any(|a| a == "--old");
    let mut failed = false;
    println!("stacksweep pacing benchmark: scale:{size}, 20 ms latency per request");
    for case in cases.split(',') {
        match case {
            "unthrottled" => failed |= unthrottled(size, old),
            "rate-limited" => failed |= rate_limited(size),
            "workers" => failed |= workers(size),
            other => panic!("unknown case {other}"),
        }
    }
    if failed {
        println!(
            "SOME RUNS LEFT SELECTED RESOURCES OR TOUCHED SURVIVORS: their figures are not valid"
        );
        std::process::exit(1);
    }
}

/// How the sweeper paces: the product defaults, or fixed caps.
#[derive(Clone, Copy)]
enum Pacing {
    Default,
    Fixed {
        concurrency: usize,
        rps: Option<u32>,
    },
}

impl Pacing {
    fn args(self) -> Vec<String> {
        match self {
            Pacing::Default => vec!["--pacing".into(), "default".into()],
            Pacing::Fixed { concurrency, rps } => vec![
                "--pacing".into(),
                "fixed".into(),
                "--concurrency".into(),
                concurrency.to_string(),
                "--rps".into(),
                rps.map_or("none".into(), |r| r.to_string()),
            ],
        }
    }

    fn label(self) -> String {
        match self {
            Pacing::Default => "default (adaptive, ceiling 64)".into(),
            Pacing::Fixed { concurrency, rps } => format!(
                "fixed {concurrency} in flight, {}",
                rps.map_or("no rate".into(), |r| format!("{r}/s"))
            ),
        }
    }
}

/// Simulator faults of a case.
#[derive(Clone, Copy, Default)]
struct Cloud {
    rate_limit: Option<u32>,
    workers: Option<u32>,
}

fn unthrottled(size: usize, old: bool) -> bool {
    println!("\n1. unthrottled, 20 ms");
    header();
    let default = run(size, Cloud::default(), Pacing::Default);
    let tuned = run(
        size,
        Cloud::default(),
        Pacing::Fixed {
            concurrency: 16,
            rps: Some(1000),
        },
    );
    let mut failed = row(&default) | row(&tuned);
    if old {
        let before = run(
            size,
            Cloud::default(),
            Pacing::Fixed {
                concurrency: 8,
                rps: Some(20),
            },
        );
        failed |= row(&before);
        println!(
            "   default vs old defaults: {:.1}x faster",
            wall(&before) / wall(&default)
        );
    }
    println!(
        "   default / tuned: {:.2}x (target <= 1.3x)",
        wall(&default) / wall(&tuned)
    );
    failed
}

fn rate_limited(size: usize) -> bool {
    println!("\n2. rate-limited: 429 (Retry-After: 1) above 50 requests/s per service, 20 ms");
    header();
    let cloud = Cloud {
        rate_limit: Some(50),
        workers: None,
    };
    let r = run(size, cloud, Pacing::Default);
    let failed = row(&r);
    let mut busiest = ("", 0u64);
    for (service, api) in r["api"]["services"].as_object().unwrap() {
        let accepted = api["requests"].as_u64().unwrap()
            - api["throttled"].as_u64().unwrap()
            - api["overloaded"].as_u64().unwrap()
            - api["no_answer"].as_u64().unwrap();
        if accepted > busiest.1 {
            busiest = (service, accepted);
        }
    }
    let bound = busiest.1 as f64 / 50.0;
    let throttled: u64 = r["api"]["services"]
        .as_object()
        .unwrap()
        .values()
        .map(|a| a["throttled"].as_u64().unwrap())
        .sum();
    let requests = r["api"]["requests"].as_u64().unwrap();
    println!(
        "   rate bound: {} accepted {} requests / 50 per s = {bound:.2} s; wall / bound = {:.2}x (target <= 1.25x)",
        busiest.0,
        busiest.1,
        wall(&r) / bound
    );
    println!(
        "   429s: {throttled} of {requests} requests = {:.1}% (target <= 5%); network rate learned: {}",
        100.0 * throttled as f64 / requests as f64,
        r["api"]["services"]["network"]["rate_limit"]
    );
    failed
}

fn workers(size: usize) -> bool {
    println!("\n3. workers: each service serves 16 requests at once for 20 ms, the rest queue");
    println!(
        "   {:<34} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "pacing", "wall s", "limit", "mean lim", "p50 ms", "p99 ms", "left"
    );
    let cloud = Cloud {
        rate_limit: None,
        workers: Some(16),
    };
    let mut failed = false;
    for pacing in [
        Pacing::Default,
        Pacing::Fixed {
            concurrency: 8,
            rps: None,
        },
        Pacing::Fixed {
            concurrency: 64,
            rps: None,
        },
    ] {
        let r = run(size, cloud, pacing);
        failed |= !ok(&r);
        println!(
            "   {:<34} {:>8.2} {:>8} {:>8.1} {:>8.1} {:>8.1} {:>8}",
            pacing.label(),
            wall(&r),
            r["api"]["services"]["network"]["concurrency_limit"],
            r["network_mean_limit"].as_f64().unwrap_or(f64::NAN),
            r["network_p50_ms"].as_f64().unwrap_or(f64::NAN),
            r["network_p99_ms"].as_f64().unwrap_or(f64::NAN),
            check(&r),
        );
    }
    println!("   (the knee is 16 in flight: past it the network service only queues)");
    failed
}

fn header() {
    println!(
        "   {:<34} {:>8} {:>9} {:>7} {:>7} {:>8} {:>7} {:>9}  check",
        "pacing", "wall s", "requests", "429", "limit", "mean lim", "p50 ms", "rate"
    );
}

fn wall(r: &Value) -> f64 {
    r["wall_s"].as_f64().unwrap_or(f64::NAN)
}

fn ok(r: &Value) -> bool {
    r["selected_left"] == 0 && r["survivors_gone"] == 0
}

fn check(r: &Value) -> String {
    if ok(r) {
        format!("ok: {} gone, {} intact", r["selected"], r["survivors"])
    } else {
        format!(
            "WRONG: {} selected left, {} survivors gone",
            r["selected_left"], r["survivors_gone"]
        )
    }
}

/// Prints one row; true when the run was wrong.
fn row(r: &Value) -> bool {
    let net = &r["api"]["services"]["network"];
    println!(
        "   {:<34} {:>8.2} {:>9} {:>7} {:>7} {:>8.1} {:>7.1} {:>9}  {}",
        r["pacing"].as_str().unwrap_or(""),
        wall(r),
        r["api"]["requests"],
        r["api"]["services"]
            .as_object()
            .map(|s| s
                .values()
                .map(|a| a["throttled"].as_u64().unwrap_or(0))
                .sum::<u64>())
            .unwrap_or(0),
        net["concurrency_limit"],
        r["network_mean_limit"].as_f64().unwrap_or(f64::NAN),
        r["network_p50_ms"].as_f64().unwrap_or(f64::NAN),
        net["rate_limit"]
            .as_f64()
            .map_or("-".into(), |r| format!("{r:.1}/s")),
        check(r)
    );
    !ok(r)
}

/// One sweep of a fresh `scale:size` under `cloud`'s faults with `pacing`.
fn run(size: usize, cloud: Cloud, pacing: Pacing) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("clouds.yaml");
    let opt = |v: Option<u32>| v.map_or("none".into(), |n| n.to_string());
    let mut sim = Role::spawn(&[
        "--role".into(),
        "sim".into(),
        "--size".into(),
        size.to_string(),
        "--clouds".into(),
        clouds.display().to_string(),
        "--rate-limit".into(),
        opt(cloud.rate_limit),
        "--workers".into(),
        opt(cloud.workers),
    ]);
    let hello = sim.read();
    let tag = hello["tag"].as_str().unwrap().to_string();
    let mut args = vec![
        "--role".into(),
        "sweep".into(),
        "--clouds".into(),
        clouds.display().to_string(),
        "--tag".into(),
        tag,
    ];
    args.extend(pacing.args());
    let mut sweeper = Role::spawn(&args);
    let mut swept = sweeper.read();
    sweeper.finish();
    let verify = sim.ask("verify");
    sim.finish();
    swept["pacing"] = pacing.label().into();
    swept["selected"] = hello["selected"].clone();
    swept["survivors"] = hello["survivors"].clone();
    swept["selected_left"] = verify["selected_left"].clone();
    swept["survivors_gone"] = verify["survivors_gone"].clone();
    swept
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn say(v: &Value) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}").unwrap();
    out.flush().unwrap();
}

fn parse_opt(s: Option<String>) -> Option<u32> {
    s.filter(|s| s != "none").map(|s| s.parse().unwrap())
}

/// The simulator process: seeds, says hello, answers `verify`, stops at EOF.
fn role_sim(flag: &dyn Fn(&str) -> Option<String>) {
    let size: usize = flag("--size").unwrap().parse().unwrap();
    let clouds = PathBuf::from(flag("--clouds").unwrap());
    let faults = FaultConfig {
        rate_limit: parse_opt(flag("--rate-limit")),
        workers: parse_opt(flag("--workers")),
        retry_after_secs: 1,
        ..FaultConfig::default()
    };
    runtime().block_on(async move {
        let sim = Sim::start(SimConfig {
            latency: Duration::from_millis(20),
            faults,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let manifest = sim.seed(&Scenario::Scale { resources: size });
        sim.write_clouds_yaml(&clouds).unwrap();
        say(
            &json!({"tag": manifest.tag, "selected": manifest.selected.len(),
            "survivors": manifest.survivors.len()}),
        );
        let (tx, mut rx) = tokio::sync::mpsc::channel::<String>(4);
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                let Ok(line) = line else { break };
                if tx.blocking_send(line).is_err() {
                    break;
                }
            }
        });
        while let Some(command) = rx.recv().await {
            match command.trim() {
                "verify" => {
                    let left = manifest
                        .selected
                        .iter()
                        .filter(|(k, id)| sim.exists(k, id))
                        .count();
                    let gone = manifest
                        .survivors
                        .iter()
                        .filter(|(k, id)| !sim.exists(k, id))
                        .count();
                    say(&json!({"selected_left": left, "survivors_gone": gone}));
                }
                other => say(&json!({"error": format!("unknown command {other:?}")})),
            }
        }
        sim.shutdown().await;
    });
}

/// Network latencies and the network limit over time, from the session's observer.
#[derive(Default)]
struct Watch {
    start: Mutex<Option<Instant>>,
    latencies: Mutex<Vec<Duration>>,
    limits: Mutex<Vec<(Instant, usize)>>,
}

impl RequestObserver for Watch {
    fn on_response(&self, service: Service, _: &'static str, _: Option<u16>, elapsed: Duration) {
        if service == Service::Network {
            self.latencies.lock().unwrap().push(elapsed);
        }
    }
    fn on_retry(&self, _: Service, _: RetryReason) {}
    fn on_limits(&self, service: Service, concurrency: usize, _: Option<f64>) {
        if service == Service::Network {
            self.limits
                .lock()
                .unwrap()
                .push((Instant::now(), concurrency));
        }
    }
}

impl Watch {
    fn percentile_ms(&self, p: f64) -> f64 {
        let mut l = self.latencies.lock().unwrap().clone();
        if l.is_empty() {
            return f64::NAN;
        }
        l.sort_unstable();
        let i = ((l.len() - 1) as f64 * p).round() as usize;
        l[i].as_secs_f64() * 1000.0
    }

    /// The limit's mean over the sweep, weighted by how long it held.
    fn mean_limit(&self, end: Instant, start_limit: usize) -> f64 {
        let start = self.start.lock().unwrap().unwrap_or(end);
        let limits = self.limits.lock().unwrap();
        let mut at = start;
        let mut current = start_limit as f64;
        let mut sum = 0.0;
        for &(t, l) in limits.iter().filter(|(t, _)| *t >= start) {
            sum += current * (t - at).as_secs_f64();
            at = t;
            current = l as f64;
        }
        sum += current * (end - at).as_secs_f64();
        sum / (end - start).as_secs_f64().max(1e-9)
    }
}

/// The sweeper process: connects with the case's pacing, sweeps, reports.
fn role_sweep(flag: &dyn Fn(&str) -> Option<String>) {
    // `RUST_LOG=stacksweep::openstack::pacing=trace` shows every pacing window on stderr.
    if let Ok(filter) = std::env::var("RUST_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(false)
            .init();
    }
    let clouds = PathBuf::from(flag("--clouds").unwrap());
    let tag = flag("--tag").unwrap();
    let fixed = flag("--pacing").as_deref() == Some("fixed");
    runtime().block_on(async move {
        let cloud = CloudConfig::from_clouds_yaml(&clouds, "sim").unwrap();
        let watch = Arc::new(Watch::default());
        let mut options = SessionOptions {
            observer: Some(watch.clone()),
            ..SessionOptions::default()
        };
        let mut sweep_options = SweepOptions::default();
        if fixed {
            let concurrency: usize = flag("--concurrency").unwrap().parse().unwrap();
            options.pacing = PacingMode::Fixed;
            options.concurrency_per_service = concurrency;
            options.requests_per_second = parse_opt(flag("--rps"));
            sweep_options.concurrency = concurrency;
        }
        let start_limit = if fixed {
            options.concurrency_per_service
        } else {
            stacksweep::openstack::pacing::START_CONCURRENCY
        };
        let session = Session::connect(&cloud, options).await.unwrap();
        let marks = Marks {
            any_tags: vec![tag.clone()],
            metadata: vec![("ci-job".into(), tag.clone())],
            name_regex: Some(regex::Regex::new(&format!("^{}-", regex::escape(&tag))).unwrap()),
            ..Marks::default()
        };
        let selector = Selector::new(marks, Filters::default()).unwrap();
        let started = Instant::now();
        *watch.start.lock().unwrap() = Some(started);
        let report = engine::run(
            &Job::new(session.clone(), selector, sweep_options),
            CancellationToken::new(),
        )
        .await
        .unwrap()
        .report;
        let end = Instant::now();
        let wall = (end - started).as_secs_f64();
        let totals = report.totals();
        let by_service: BTreeMap<&str, Value> = report
            .api
            .services
            .iter()
            .map(|(s, a)| (*s, serde_json::to_value(a).unwrap()))
            .collect();
        say(&json!({
            "wall_s": wall,
            "api": {"requests": report.api.requests, "pushback": report.api.pushback, "services": by_service},
            "network_p50_ms": watch.percentile_ms(0.5),
            "network_p99_ms": watch.percentile_ms(0.99),
            "network_mean_limit": watch.mean_limit(end, start_limit),
            "report": {"found": totals.found, "selected": totals.selected, "deleted": totals.deleted,
                "failed": totals.failed, "clean": report.is_clean()},
        }));
    });
}
