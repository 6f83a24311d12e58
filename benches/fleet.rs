//! Fleet benchmark (#16): one daemon replica against a simulated cloud holding many CI
//! projects in several regions, swept cycle after cycle the way the daemon sweeps a
//! target of `projects = ["fleet-*"]`, `regions = "all"` (the engine runner itself, with
//! its token cache, unit discovery and bounded unit concurrency; only the cron schedule
//! is left out: the bench starts each cycle when the last one ends).
//!
//! Prints per cycle: units (project x region) swept per minute, the p50/p99/max time of
//! one unit's sweep (connecting included), Keystone token requests (`POST
//! /v3/auth/tokens`) during the cycle, requests in all, what was deleted and left, and
//! the sweeper's peak RSS. The first cycle deletes the leaked half of every unit; the
//! next ones find nothing to delete (a janitor's steady state) and should need next to
//! no tokens (scoped tokens are reused until they near expiry). After the last cycle the
//! simulator is asked what is left of the selected resources and what is gone of the
//! survivors; a case saying `WRONG` has figures that mean nothing (the bench exits 1).
//!
//! Processes: the simulator in one, each replica's sweeper in another (the same binary,
//! `--role`), so that peak RSS is the sweeper's own. The parent drives cycles over
//! stdin/stdout and reads the simulator's counters between them. Only one replica today:
//! `--replicas N` needs the etcd coordination of #16, built on another branch; a
//! replica is a `Role` of its own, so N replicas are N sweeper processes told to
//! `cycle` together, each reporting its units (see `run_case`).
//!
//! ```text
//! cargo bench --bench fleet                                  # tiny: 20 projects x 2 regions
//! cargo bench --bench fleet -- --projects 2000 --resources 25 --regions 4 --latency-ms 20
//! cargo bench --bench fleet -- ... --units-concurrency 32 --cycles 2 --json
//! ```
//! `--resources` is per project and region: `scale:N` chains of 13, alternately leaked
//! (selected) and kept, so 25 gives 26 resources, 13 of them leaked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[path = "support/role.rs"]
mod role;
use role::Role;
use stacksweep::config::Config;
use stacksweep::daemon::state::StateStore;
use stacksweep::daemon::{EngineRunner, SweepContext, SweepRunner};
use stacksweep::metrics::{Metrics, TargetLabels};
use stacksweep::openstack::TokenCache;
use stacksweep_sim::{Scenario, Sim, SimConfig, SimHandle};
use tokio_util::sync::CancellationToken;

/// What one case runs with.
#[derive(Debug, Clone)]
struct Case {
    projects: usize,
    resources: usize,
    regions: usize,
    cycles: usize,
    units_concurrency: usize,
    latency_ms: u64,
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
    let number = |name: &str, default: usize| -> usize {
        flag(name).map_or(default, |v| {
            v.parse()
                .unwrap_or_else(|_| panic!("{name}: a number, not {v:?}"))
        })
    };
    let replicas = number("--replicas", 1);
    if replicas != 1 {
        // TODO(#16): N replicas need the etcd coordination (other branch): spawn N
        // sweeper roles with a `[coordination.etcd]` config and a test etcd, send each
        // `cycle`, sum their units.
        eprintln!("--replicas {replicas}: only 1 until the etcd coordination of #16 is merged");
        std::process::exit(2);
    }
    let case = Case {
        projects: number("--projects", 20),
        resources: number("--resources", 25),
        regions: number("--regions", 2),
        cycles: number("--cycles", 2).max(1),
        units_concurrency: number("--units-concurrency", 32),
        latency_ms: number("--latency-ms", 0) as u64,
    };
    let as_json = args.iter().any(|a| a == "--json");
    println!(
        "stacksweep fleet benchmark: {} projects x {} regions ({} units), {} resources per unit, \
         {} ms latency, {} units at once, 1 replica",
        case.projects,
        case.regions,
        case.projects * case.regions,
        case.resources,
        case.latency_ms,
        case.units_concurrency
    );
    let result = run_case(&case);
    if as_json {
        println!("{result}");
    } else {
        print_result(&result);
    }
    if result["ok"] != true {
        println!(
            "SELECTED RESOURCES LEFT, SURVIVORS TOUCHED OR UNITS FAILED: the figures are not valid"
        );
        std::process::exit(1);
    }
}

fn print_result(r: &Value) {
    println!(
        "seeded {} resources ({} leaked) in {:.1} s",
        r["resources"],
        r["selected"],
        r["seed_s"].as_f64().unwrap_or(f64::NAN)
    );
    println!(
        "{:>5} {:>6} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8} {:>6} {:>8}",
        "cycle",
        "units",
        "wall s",
        "units/min",
        "p50 s",
        "p99 s",
        "max s",
        "tokens",
        "requests",
        "deleted",
        "left",
        "RSS MiB"
    );
    for c in r["cycles"].as_array().unwrap() {
        let f = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:>5} {:>6} {:>8.1} {:>9.0} {:>8.3} {:>8.3} {:>8.3} {:>7} {:>9} {:>8} {:>6} {:>8.1}",
            c["cycle"].as_u64().unwrap_or(0),
            c["units"].as_u64().unwrap_or(0),
            f("wall_s"),
            f("units_per_minute"),
            f("unit_p50_s"),
            f("unit_p99_s"),
            f("unit_max_s"),
            c["token_requests"].as_u64().unwrap_or(0),
            c["requests"].as_u64().unwrap_or(0),
            c["deleted"].as_u64().unwrap_or(0),
            c["left"].as_u64().unwrap_or(0),
            f("rss_mib"),
        );
    }
    let check = if r["ok"] == true {
        format!(
            "ok: {} leaked gone, {} kept intact, no unit failed",
            r["selected"], r["survivors"]
        )
    } else {
        format!(
            "WRONG: {} leaked left, {} kept gone, {} unit sweeps failed",
            r["selected_left"], r["survivors_gone"], r["failed_units"]
        )
    };
    println!("{check}");
}

/// The simulator's Keystone token requests and all its requests so far (from its
/// counters, which unlike its request log are never trimmed).
fn counts(sim: &mut Role) -> (u64, u64) {
    let c = sim.ask("counts");
    (
        c["token_requests"].as_u64().unwrap(),
        c["requests"].as_u64().unwrap(),
    )
}

fn run_case(case: &Case) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("clouds.yaml");
    let mut sim = Role::spawn(&[
        "--role".into(),
        "sim".into(),
        "--projects".into(),
        case.projects.to_string(),
        "--resources".into(),
        case.resources.to_string(),
        "--regions".into(),
        case.regions.to_string(),
        "--latency-ms".into(),
        case.latency_ms.to_string(),
        "--clouds".into(),
        clouds.display().to_string(),
    ]);
    let hello = sim.read();
    let tag = hello["tag"].as_str().unwrap().to_string();
    // One replica: one sweeper process. N replicas would be N of these, each sent
    // `cycle` before any answer is read.
    let mut replicas = vec![Role::spawn(&[
        "--role".into(),
        "sweep".into(),
        "--clouds".into(),
        clouds.display().to_string(),
        "--tag".into(),
        tag,
        "--units-concurrency".into(),
        case.units_concurrency.to_string(),
    ])];
    for replica in &mut replicas {
        assert_eq!(replica.read()["ready"], true);
    }
    let mut cycles = Vec::new();
    let mut failed_units = 0;
    for cycle in 1..=case.cycles {
        let (tokens_before, requests_before) = counts(&mut sim);
        let answers: Vec<Value> = replicas.iter_mut().map(|r| r.ask("cycle")).collect();
        let (tokens_after, requests_after) = counts(&mut sim);
        let answer = &answers[0];
        failed_units += answer["failed_units"].as_u64().unwrap_or(0);
        let wall = answer["wall_s"].as_f64().unwrap();
        let units = answer["units"].as_u64().unwrap();
        cycles.push(json!({
            "cycle": cycle,
            "units": units,
            "failed_units": answer["failed_units"],
            "wall_s": wall,
            "units_per_minute": units as f64 / wall * 60.0,
            "unit_p50_s": answer["unit_p50_s"],
            "unit_p99_s": answer["unit_p99_s"],
            "unit_max_s": answer["unit_max_s"],
            "token_requests": tokens_after - tokens_before,
            "requests": requests_after - requests_before,
            "deleted": answer["deleted"],
            "left": answer["left"],
            "rss_mib": answer["vmhwm_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        }));
    }
    for replica in replicas {
        replica.finish();
    }
    let verify = sim.ask("verify");
    sim.finish();
    let ok = verify["selected_left"] == 0 && verify["survivors_gone"] == 0 && failed_units == 0;
    json!({
        "projects": case.projects,
        "regions": case.regions,
        "resources_per_unit": case.resources,
        "latency_ms": case.latency_ms,
        "units_concurrency": case.units_concurrency,
        "replicas": 1,
        "resources": hello["selected"].as_u64().unwrap_or(0) + hello["survivors"].as_u64().unwrap_or(0),
        "selected": hello["selected"],
        "survivors": hello["survivors"],
        "seed_s": hello["seed_s"],
        "cycles": cycles,
        "selected_left": verify["selected_left"],
        "survivors_gone": verify["survivors_gone"],
        "failed_units": failed_units,
        "ok": ok,
    })
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

/// Commands from the parent, one per line, until EOF.
fn commands() -> tokio::sync::mpsc::Receiver<String> {
    let (tx, rx) = tokio::sync::mpsc::channel::<String>(4);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.blocking_send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Keystone token requests, from the simulator's per-endpoint counters.
fn token_requests(sim: &SimHandle) -> u64 {
    sim.endpoint_counts()
        .iter()
        .filter(|(endpoint, _)| endpoint.starts_with("POST ") && endpoint.ends_with("/auth/tokens"))
        .map(|(_, n)| n)
        .sum()
}

/// The simulator process: `fleet-NNNNN` projects in `Region1`..`RegionN`, each unit
/// seeded with `scale:N` under one tag; says hello, answers `counts` and `verify`, stops
/// at EOF.
fn role_sim(flag: &dyn Fn(&str) -> Option<String>) {
    let number = |name: &str| -> usize { flag(name).unwrap().parse().unwrap() };
    let (projects, resources, regions) = (
        number("--projects"),
        number("--resources"),
        number("--regions"),
    );
    let latency = Duration::from_millis(number("--latency-ms") as u64);
    let clouds = PathBuf::from(flag("--clouds").unwrap());
    runtime().block_on(async move {
        let sim = Sim::start(SimConfig {
            latency,
            regions: (1..=regions).map(|i| format!("Region{i}")).collect(),
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let started = Instant::now();
        let names: Vec<String> = (0..projects).map(|i| format!("fleet-{i:05}")).collect();
        let manifest = sim.seed_projects(&names, &Scenario::Scale { resources });
        let seed_s = started.elapsed().as_secs_f64();
        sim.write_clouds_yaml(&clouds).unwrap();
        say(
            &json!({"tag": manifest.tag, "selected": manifest.selected.len(),
            "survivors": manifest.survivors.len(), "seed_s": seed_s}),
        );
        let mut rx = commands();
        while let Some(command) = rx.recv().await {
            match command.trim() {
                "counts" => {
                    let requests: u64 = sim.endpoint_counts().values().sum();
                    say(&json!({"token_requests": token_requests(&sim), "requests": requests}));
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

/// The `q` quantile of sorted `values` (nearest rank).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// A replica's sweeper process: the daemon's config for a target of `fleet-*` in every
/// region, and the engine runner; each `cycle` sweeps the target once, on one token
/// cache, and reports the units' times and the process's peak RSS.
fn role_sweep(flag: &dyn Fn(&str) -> Option<String>) {
    let clouds = PathBuf::from(flag("--clouds").unwrap());
    let tag = flag("--tag").unwrap();
    let units_concurrency: usize = flag("--units-concurrency").unwrap().parse().unwrap();
    // Credentials are found the production way; set before any thread starts.
    std::env::set_var("OS_CLIENT_CONFIG_FILE", &clouds);
    runtime().block_on(async move {
        let text = format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n\
             [schedule]\ncron = \"*/15 * * * *\"\nmax_concurrent_units = {units_concurrency}\ndeadline = \"6h\"\n\
             [select]\nany_tags = [\"{tag}\"]\nmetadata = {{ \"ci-job\" = \"{tag}\" }}\nname_regex = \"^{tag}-\"\n\
             [[target]]\nname = \"fleet\"\ncloud = \"sim\"\nprojects = [\"fleet-*\"]\nregions = \"all\"\n"
        );
        let config = Arc::new(Config::parse(&text, "fleet bench").unwrap());
        let target = config.targets[0].clone();
        let labels = TargetLabels::of(&target);
        let state = Arc::new(StateStore::load(None));
        let metrics = Arc::new(Metrics::new());
        // What the daemon keeps per config generation.
        let tokens = TokenCache::new();
        say(&json!({"ready": true}));
        let mut rx = commands();
        while let Some(command) = rx.recv().await {
            if command.trim() != "cycle" {
                say(&json!({"error": format!("unknown command {command:?}")}));
                continue;
            }
            let ctx = SweepContext {
                target: target.clone(),
                config: Arc::clone(&config),
                state: Arc::clone(&state),
                metrics: Arc::clone(&metrics),
                labels: labels.clone(),
                now: jiff::Timestamp::now(),
                cancel: CancellationToken::new(),
                tokens: tokens.clone(),
            };
            let started = Instant::now();
            let record = EngineRunner.sweep(ctx).await.unwrap();
            let wall = started.elapsed().as_secs_f64();
            let mut times: Vec<f64> = record
                .units
                .iter()
                .filter(|u| u.record.is_some())
                .map(|u| u.duration.as_secs_f64())
                .collect();
            times.sort_by(f64::total_cmp);
            let failed = record.units.iter().filter(|u| u.record.is_none()).count();
            let deleted: u64 = record.kinds.values().map(|c| c.deleted).sum();
            let left: u64 = record.kinds.values().map(|c| c.left()).sum();
            say(&json!({
                "units": record.units.len(),
                "failed_units": failed,
                "wall_s": wall,
                "unit_p50_s": quantile(&times, 0.50),
                "unit_p99_s": quantile(&times, 0.99),
                "unit_max_s": times.last().copied().unwrap_or(f64::NAN),
                "deleted": deleted,
                "left": left,
                "listing_errors": record.listing_errors,
                "tokens_cached": tokens.len(),
                "vmhwm_kib": vmhwm_kib(),
            }));
        }
    });
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
