//! Sweep benchmark: seeds the simulator with `scale:N` (chains 5 plan steps deep), sweeps
//! it with the library, and prints per case the wall time, the lower bound the cloud
//! allows for that plan and configuration, their ratio, API requests per selected
//! resource and peak RSS. Then checks that nothing selected is left and every survivor
//! is intact, and says so on every row.
//!
//! Each case runs in fresh processes so peak RSS is per size: the simulator in one (its
//! memory is not ours), the sweeper in another. The bench re-executes itself with
//! `--role sim` / `--role sweep`.
//!
//! ```text
//! cargo bench --bench sweep_scale -- [--sizes 1000,5000,20000] [--latencies 20ms,100ms]
//!     [--concurrency 8] [--rps 20|none] [--json]
//! ```
//! Environment: `BENCH_SIZES`, `BENCH_LATENCIES`, `BENCH_CONCURRENCY`, `BENCH_RPS` (flags
//! win). Defaults: one small case (1000 at 20 ms) with the product's defaults, so CI can
//! run it quickly. Pacing is the product's adaptive pacing: `--concurrency` and `--rps`
//! are its ceilings, and the bound is computed at the ceilings (the most any client could
//! use); `--fixed` makes them fixed caps.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "support/role.rs"]
mod role;
use role::Role;
use stacksweep::engine::plan::{Action, Plan};
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::engine::{self, Job, SweepOptions};
use stacksweep::openstack::{CloudConfig, Service, Session, SessionOptions};
use stacksweep::resources::Kind;
use stacksweep_sim::{Scenario, Sim, SimConfig};
use tokio_util::sync::CancellationToken;

/// What one case runs with.
#[derive(Debug, Clone)]
struct Case {
    size: usize,
    latency: Duration,
    concurrency: usize,
    rps: Option<u32>,
    fixed: bool,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    match flag("--role").as_deref() {
        Some("sim") => return role_sim(&flag),
        Some("sweep") => return role_sweep(&flag),
        _ => {}
    }
    let pick = |name: &str, env: &str, default: &str| {
        flag(name)
            .or_else(|| std::env::var(env).ok())
            .unwrap_or_else(|| default.to_string())
    };
    let defaults = SessionOptions::default();
    let sizes: Vec<usize> = pick("--sizes", "BENCH_SIZES", "1000")
        .split(',')
        .map(|s| s.trim().parse().expect("--sizes: numbers"))
        .collect();
    let latencies: Vec<Duration> = pick("--latencies", "BENCH_LATENCIES", "20ms")
        .split(',')
        .map(|s| parse_ms(s.trim()))
        .collect();
    let concurrency: usize = pick(
        "--concurrency",
        "BENCH_CONCURRENCY",
        &defaults.concurrency_per_service.to_string(),
    )
    .parse()
    .expect("--concurrency: a number");
    let rps_default = defaults
        .requests_per_second
        .map_or("none".into(), |r| r.to_string());
    let rps = match pick("--rps", "BENCH_RPS", &rps_default).as_str() {
        "none" | "0" => None,
        n => Some(n.parse().expect("--rps: a number or none")),
    };
    let as_json = args.iter().any(|a| a == "--json");
    let fixed = args.iter().any(|a| a == "--fixed");

    println!(
        "stacksweep sweep benchmark: scale:N, {} pacing, concurrency {concurrency}/service, rate {}",
        if fixed { "fixed" } else { "adaptive (ceilings)" },
        rps.map_or("unlimited".into(), |r| format!("{r}/s/service"))
    );
    println!(
        "{:>6} {:>7} {:>9} {:>9} {:>6} {:>8} {:>8} {:>8}  check",
        "size", "latency", "wall s", "bound s", "ratio", "req/res", "RSS MiB", "seed s"
    );
    let mut failed = false;
    for &size in &sizes {
        for &latency in &latencies {
            let case = Case {
                size,
                latency,
                concurrency,
                rps,
                fixed,
            };
            let row = run_case(&case);
            failed |= !row["ok"].as_bool().unwrap_or(false);
            if as_json {
                println!("{row}");
            } else {
                print_row(&row);
            }
        }
    }
    if failed {
        println!(
            "SOME CASES LEFT SELECTED RESOURCES OR TOUCHED SURVIVORS: their figures are not valid"
        );
        std::process::exit(1);
    }
}

fn parse_ms(s: &str) -> Duration {
    let n = s.trim_end_matches("ms");
    Duration::from_millis(n.parse().expect("latency like 20ms"))
}

fn print_row(r: &Value) {
    let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
    let check = if r["ok"].as_bool() == Some(true) {
        format!(
            "ok: {} selected gone, {} survivors intact",
            r["selected"], r["survivors"]
        )
    } else {
        format!(
            "WRONG: {} selected left, {} survivors gone; report {}",
            r["selected_left"], r["survivors_gone"], r["report"]
        )
    };
    println!(
        "{:>6} {:>5}ms {:>9.2} {:>9.2} {:>6.2} {:>8.2} {:>8.1} {:>8.2}  {check}",
        r["size"].as_u64().unwrap_or(0),
        r["latency_ms"].as_u64().unwrap_or(0),
        f("wall_s"),
        f("bound_s"),
        f("ratio"),
        f("requests_per_resource"),
        f("rss_mib"),
        f("seed_s"),
    );
    println!(
        "{:>15} bound = list {:.2} + max(chain {:.2} [{} steps], throughput {:.2}, rate {:.2}); {} requests",
        "",
        f("bound_list_s"),
        f("bound_chain_s"),
        r["chain_steps"],
        f("bound_throughput_s"),
        f("bound_rate_s"),
        r["requests"],
    );
}

fn run_case(case: &Case) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("clouds.yaml");
    let latency_ms = case.latency.as_millis().to_string();
    let mut sim = Role::spawn(&[
        "--role".into(),
        "sim".into(),
        "--size".into(),
        case.size.to_string(),
        "--latency-ms".into(),
        latency_ms.clone(),
        "--clouds".into(),
        clouds.display().to_string(),
    ]);
    let hello = sim.read();
    let tag = hello["tag"].as_str().unwrap().to_string();
    let mut sweeper = Role::spawn(&[
        "--role".into(),
        "sweep".into(),
        "--clouds".into(),
        clouds.display().to_string(),
        "--tag".into(),
        tag,
        "--latency-ms".into(),
        latency_ms,
        "--concurrency".into(),
        case.concurrency.to_string(),
        "--rps".into(),
        case.rps.map_or("none".into(), |r| r.to_string()),
        "--pacing".into(),
        if case.fixed { "fixed" } else { "adaptive" }.into(),
    ]);
    let swept = sweeper.read();
    sweeper.finish();
    let counts = sim.ask("counts");
    let verify = sim.ask("verify");
    sim.finish();

    let requests = counts["sweep_requests"].as_u64().unwrap_or(0);
    let selected = hello["selected"].as_u64().unwrap_or(0);
    let wall = swept["wall_s"].as_f64().unwrap_or(f64::NAN);
    let bound = swept["bound_s"].as_f64().unwrap_or(f64::NAN);
    let ok = verify["selected_left"] == 0 && verify["survivors_gone"] == 0;
    json!({
        "size": case.size,
        "latency_ms": case.latency.as_millis() as u64,
        "concurrency": case.concurrency,
        "rps": case.rps,
        "resources": hello["selected"].as_u64().unwrap_or(0) + hello["survivors"].as_u64().unwrap_or(0),
        "selected": selected,
        "survivors": hello["survivors"],
        "seed_s": hello["seed_s"],
        "wall_s": wall,
        "bound_s": bound,
        "ratio": wall / bound,
        "bound_list_s": swept["bound_list_s"],
        "bound_chain_s": swept["bound_chain_s"],
        "bound_throughput_s": swept["bound_throughput_s"],
        "bound_rate_s": swept["bound_rate_s"],
        "chain_steps": swept["chain_steps"],
        "requests": requests,
        "requests_by_endpoint": counts["by_endpoint"],
        "requests_per_resource": requests as f64 / selected.max(1) as f64,
        "rss_mib": swept["vmhwm_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        "report": swept["report"],
        "selected_left": verify["selected_left"],
        "survivors_gone": verify["survivors_gone"],
        "ok": ok,
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The simulator process: seeds, says hello, answers `counts` and `verify`, stops at EOF.
fn role_sim(flag: &dyn Fn(&str) -> Option<String>) {
    let size: usize = flag("--size").unwrap().parse().unwrap();
    let latency = Duration::from_millis(flag("--latency-ms").unwrap().parse().unwrap());
    let clouds = PathBuf::from(flag("--clouds").unwrap());
    runtime().block_on(async move {
        let sim = Sim::start(SimConfig {
            latency,
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let started = Instant::now();
        let manifest = sim.seed(&Scenario::Scale { resources: size });
        let seed_s = started.elapsed().as_secs_f64();
        sim.write_clouds_yaml(&clouds).unwrap();
        let total = |sim: &stacksweep_sim::SimHandle| -> u64 {
            sim.endpoint_counts().values().sum()
        };
        let before = total(&sim);
        say(&json!({"tag": manifest.tag, "selected": manifest.selected.len(),
            "survivors": manifest.survivors.len(), "seed_s": seed_s}));
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
                "counts" => {
                    let by_endpoint: BTreeMap<String, u64> = sim.endpoint_counts();
                    say(&json!({"sweep_requests": total(&sim) - before, "by_endpoint": by_endpoint}));
                }
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

fn say(v: &Value) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{v}").unwrap();
    out.flush().unwrap();
}

/// The sweeper process: connects, sweeps, computes the bound from the plan, reports its
/// own peak RSS.
fn role_sweep(flag: &dyn Fn(&str) -> Option<String>) {
    let clouds = PathBuf::from(flag("--clouds").unwrap());
    let tag = flag("--tag").unwrap();
    let latency = Duration::from_millis(flag("--latency-ms").unwrap().parse().unwrap());
    let concurrency: usize = flag("--concurrency").unwrap().parse().unwrap();
    let rps = match flag("--rps").unwrap().as_str() {
        "none" => None,
        n => Some(n.parse::<u32>().unwrap()),
    };
    if std::env::var_os("RUST_LOG").is_some() {
        // `RUST_LOG=stacksweep::openstack::pacing=trace` shows the limiter's windows.
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_writer(std::io::stderr)
            .init();
    }
    runtime().block_on(async move {
        let cloud = CloudConfig::from_clouds_yaml(&clouds, "sim").unwrap();
        let pacing = match flag("--pacing").as_deref() {
            Some("fixed") => stacksweep::openstack::PacingMode::Fixed,
            _ => stacksweep::openstack::PacingMode::Adaptive,
        };
        let options = SessionOptions {
            pacing,
            concurrency_per_service: concurrency,
            requests_per_second: rps,
            ..SessionOptions::default()
        };
        let page_size = options.page_size;
        let session = Session::connect(&cloud, options).await.unwrap();
        let marks = Marks {
            any_tags: vec![tag.clone()],
            metadata: vec![("ci-job".into(), tag.clone())],
            name_regex: Some(regex::Regex::new(&format!("^{}-", regex::escape(&tag))).unwrap()),
            ..Marks::default()
        };
        let selector = Selector::new(marks, Filters::default()).unwrap();
        let sweep_options = SweepOptions {
            concurrency,
            ..SweepOptions::default()
        };
        let started = Instant::now();
        let report = async { engine::run(&Job::new(session.clone(), selector.clone(), sweep_options.clone()), CancellationToken::new()).await.map(|s| s.report) }
            .await
            .unwrap();
        let wall = started.elapsed().as_secs_f64();
        let bound = Bound::of(&report, latency, page_size, concurrency, rps);
        let totals = report.totals();
        say(&json!({
            "wall_s": wall,
            "bound_s": bound.total(),
            "bound_list_s": bound.list,
            "bound_chain_s": bound.chain,
            "chain_steps": bound.chain_steps,
            "bound_throughput_s": bound.throughput,
            "bound_rate_s": bound.rate,
            "vmhwm_kib": vmhwm_kib(),
            "report": {"found": totals.found, "selected": totals.selected, "deleted": totals.deleted,
                "skipped": totals.skipped, "stuck": totals.stuck, "failed": totals.failed,
                "errors": report.errors.len(), "clean": report.is_clean()},
        }));
    });
}

/// The least time the cloud allows for a sweep of this plan, whatever the client: the
/// listing (marker pagination is sequential per kind), then the larger of the longest
/// chain of steps and the request volume through the per-service concurrency and rate.
/// A step costs its necessary round trips: delete + confirm (2), a detach (1), waiting
/// for something to go (1 confirm), plus the simulator's asynchronous delete delay for
/// the kinds that linger.
struct Bound {
    list: f64,
    chain: f64,
    chain_steps: usize,
    throughput: f64,
    rate: f64,
}

impl Bound {
    fn of(
        report: &stacksweep::engine::report::Report,
        latency: Duration,
        page_size: usize,
        concurrency: usize,
        rps: Option<u32>,
    ) -> Bound {
        let rtt = latency.as_secs_f64();
        let sim = SimConfig::default();
        // Token, then every kind's pages in parallel.
        let pages = report
            .kinds
            .values()
            .map(|c| c.found / page_size + 1)
            .max()
            .unwrap_or(1);
        let list = rtt * (1 + pages) as f64;
        let plan: &Plan = &report.plan;
        let mut finish = vec![0.0f64; plan.steps.len() + 1];
        let mut depth = vec![0usize; plan.steps.len() + 1];
        let mut per_service: BTreeMap<Service, f64> = BTreeMap::new();
        for step in &plan.steps {
            let (trips, delay) = match step.action {
                Action::Delete => (
                    2.0,
                    match step.kind {
                        Kind::Server => sim.server_delete_delay,
                        Kind::Volume | Kind::Snapshot => sim.volume_delete_delay,
                        Kind::LoadBalancer | Kind::Stack => sim.other_delete_delay,
                        _ => Duration::ZERO,
                    },
                ),
                Action::Detach { .. } => (1.0, Duration::ZERO),
                Action::AwaitGone { .. } => (1.0, Duration::ZERO),
            };
            *per_service.entry(step.kind.service()).or_default() += trips;
            let start = step.after.iter().map(|&a| finish[a]).fold(0.0, f64::max);
            let steps_before = step.after.iter().map(|&a| depth[a]).max().unwrap_or(0);
            finish[step.number] = start + trips * rtt + delay.as_secs_f64();
            depth[step.number] = steps_before + 1;
        }
        let chain = finish.iter().copied().fold(0.0, f64::max);
        let chain_steps = depth.iter().copied().max().unwrap_or(0);
        let busiest = per_service.values().copied().fold(0.0, f64::max);
        let throughput = busiest * rtt / concurrency.max(1) as f64;
        let rate = rps.map_or(0.0, |r| busiest / f64::from(r));
        Bound {
            list,
            chain,
            chain_steps,
            throughput,
            rate,
        }
    }

    fn total(&self) -> f64 {
        self.list + self.chain.max(self.throughput).max(self.rate)
    }
}

/// Peak resident set size of this process (`VmHWM`), in KiB.
fn vmhwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
