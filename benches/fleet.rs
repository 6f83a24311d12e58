//! Fleet benchmark (#16): one daemon replica against a simulated cloud holding many CI
//! projects in several regions, swept cycle after cycle the way the daemon sweeps a
//! target of `projects = ["fleet-*"]`, `regions = "all"` (the engine runner itself, with
//! its token cache, unit discovery and bounded unit concurrency; only the cron schedule
//! is left out: the bench starts each cycle when the last one ends).
//!
//! Prints per cycle: units (project x region) swept per minute, the p50/p99/max time of
//! one unit's sweep (connecting included), Keystone token requests (`POST
//! /v3/auth/tokens`) during the cycle, requests in all, what was deleted and left, the
//! sweeper's peak RSS, and the CPU seconds the sweeper and the simulator used (on a
//! shared or small machine the simulator, which scans whole tables for every listing, is
//! the bottleneck; the sweeper's CPU per unit is then its capacity figure). The first
//! cycle deletes the leaked half of every unit; the next ones find nothing to delete (a
//! janitor's steady state) and should need next to no tokens (scoped tokens are reused
//! until they near expiry). After the last cycle the simulator is asked what is left of
//! the selected resources and what is gone of the survivors; a case saying `WRONG` has
//! figures that mean nothing (the bench exits 1).
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
use stacksweep::metrics::{Metrics, SweepOutcome, TargetLabels};
use stacksweep::openstack::TokenCache;
use stacksweep_sim::{Scenario, Sim, SimConfig, SimHandle};
use tokio_util::sync::CancellationToken;

/// What one case runs with.
#[derive(Debug, Clone)]
struct Case {
    /// Simulated clouds the projects are spread over, one target each.
    clouds: usize,
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
        clouds: number("--clouds", 1).max(1),
        projects: number("--projects", 20),
        resources: number("--resources", 25),
        regions: number("--regions", 2),
        cycles: number("--cycles", 2).max(1),
        units_concurrency: number("--units-concurrency", 32),
        latency_ms: number("--latency-ms", 0) as u64,
    };
    let as_json = args.iter().any(|a| a == "--json");
    println!(
        "stacksweep fleet benchmark: {} projects x {} regions ({} units) over {} simulated \
         cloud(s), {} resources per unit, {} ms latency, {} units at once, 1 replica",
        case.projects,
        case.regions,
        case.projects * case.regions,
        case.clouds,
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
        "{:>5} {:>6} {:>8} {:>9} {:>8} {:>8} {:>8} {:>7} {:>9} {:>8} {:>6} {:>8} {:>7} {:>7} {:>8}",
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
        "RSS MiB",
        "CPU s",
        "ms/unit",
        "sim CPU"
    );
    for c in r["cycles"].as_array().unwrap() {
        let f = |k: &str| c[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{:>5} {:>6} {:>8.1} {:>9.0} {:>8.3} {:>8.3} {:>8.3} {:>7} {:>9} {:>8} {:>6} {:>8.1} {:>7.1} {:>7.2} {:>8.1}",
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
            f("sweeper_cpu_s"),
            f("sweeper_cpu_ms_per_unit"),
            f("sim_cpu_s"),
        );
    }
    println!(
        "/metrics after the cycles: {} series, {:.1} MiB, rendered in {:.2} s; peak RSS then {:.1} MiB",
        r["metrics_series"],
        r["metrics_mib"].as_f64().unwrap_or(f64::NAN),
        r["metrics_render_s"].as_f64().unwrap_or(f64::NAN),
        r["rss_after_render_mib"].as_f64().unwrap_or(f64::NAN)
    );
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

/// The simulators' Keystone token requests and all their requests so far (from their
/// counters, which unlike their request logs are never trimmed), and their CPU seconds.
fn counts(sims: &mut [Role]) -> (u64, u64, f64) {
    let mut total = (0, 0, 0.0);
    for sim in sims {
        let c = sim.ask("counts");
        total.0 += c["token_requests"].as_u64().unwrap();
        total.1 += c["requests"].as_u64().unwrap();
        total.2 += c["cpu_s"].as_f64().unwrap();
    }
    total
}

fn run_case(case: &Case) -> Value {
    let dir = tempfile::tempdir().unwrap();
    // The projects are dealt out over the clouds: `fleet-NNNNN` numbered across all.
    let mut sims = Vec::new();
    let mut first = 0;
    for k in 0..case.clouds {
        let count = case.projects / case.clouds + usize::from(k < case.projects % case.clouds);
        sims.push(Role::spawn(&[
            "--role".into(),
            "sim".into(),
            "--name".into(),
            format!("sim{k}"),
            "--first".into(),
            first.to_string(),
            "--projects".into(),
            count.to_string(),
            "--resources".into(),
            case.resources.to_string(),
            "--regions".into(),
            case.regions.to_string(),
            "--latency-ms".into(),
            case.latency_ms.to_string(),
            "--clouds".into(),
            dir.path()
                .join(format!("sim{k}.yaml"))
                .display()
                .to_string(),
        ]));
        first += count;
    }
    let hellos: Vec<Value> = sims.iter_mut().map(Role::read).collect();
    let sum = |key: &str| -> u64 { hellos.iter().map(|h| h[key].as_u64().unwrap_or(0)).sum() };
    let (selected, survivors) = (sum("selected"), sum("survivors"));
    let seed_s = hellos
        .iter()
        .map(|h| h["seed_s"].as_f64().unwrap_or(0.0))
        .fold(0.0, f64::max);
    // One clouds.yaml naming every simulator's cloud.
    let mut clouds_yaml = String::from("clouds:\n");
    let mut targets = Vec::new();
    for (k, hello) in hellos.iter().enumerate() {
        let text = std::fs::read_to_string(dir.path().join(format!("sim{k}.yaml"))).unwrap();
        clouds_yaml.push_str(text.strip_prefix("clouds:\n").unwrap());
        targets.push(format!("sim{k}={}", hello["tag"].as_str().unwrap()));
    }
    let clouds = dir.path().join("clouds.yaml");
    std::fs::write(&clouds, clouds_yaml).unwrap();
    // One replica: one sweeper process. N replicas would be N of these, each sent
    // `cycle` before any answer is read.
    let mut replicas = vec![Role::spawn(&[
        "--role".into(),
        "sweep".into(),
        "--clouds".into(),
        clouds.display().to_string(),
        "--targets".into(),
        targets.join(","),
        "--units-concurrency".into(),
        case.units_concurrency.to_string(),
    ])];
    for replica in &mut replicas {
        assert_eq!(replica.read()["ready"], true);
    }
    let mut cycles = Vec::new();
    let mut failed_units = 0;
    for cycle in 1..=case.cycles {
        let (tokens_before, requests_before, sim_cpu_before) = counts(&mut sims);
        let answers: Vec<Value> = replicas.iter_mut().map(|r| r.ask("cycle")).collect();
        let (tokens_after, requests_after, sim_cpu_after) = counts(&mut sims);
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
            "sweeper_cpu_s": answer["cpu_s"],
            "sweeper_cpu_ms_per_unit": answer["cpu_s"].as_f64().unwrap_or(f64::NAN) * 1000.0 / units as f64,
            "sim_cpu_s": sim_cpu_after - sim_cpu_before,
        }));
    }
    let scrape = replicas[0].ask("metrics");
    for replica in replicas {
        replica.finish();
    }
    let (mut selected_left, mut survivors_gone) = (0, 0);
    for mut sim in sims {
        let verify = sim.ask("verify");
        selected_left += verify["selected_left"].as_u64().unwrap();
        survivors_gone += verify["survivors_gone"].as_u64().unwrap();
        sim.finish();
    }
    let ok = selected_left == 0 && survivors_gone == 0 && failed_units == 0;
    json!({
        "projects": case.projects,
        "regions": case.regions,
        "resources_per_unit": case.resources,
        "latency_ms": case.latency_ms,
        "units_concurrency": case.units_concurrency,
        "replicas": 1,
        "clouds": case.clouds,
        "resources": selected + survivors,
        "selected": selected,
        "survivors": survivors,
        "seed_s": seed_s,
        "cycles": cycles,
        "metrics_series": scrape["series"],
        "metrics_mib": scrape["bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0,
        "metrics_render_s": scrape["render_s"],
        "rss_after_render_mib": scrape["vmhwm_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        "selected_left": selected_left,
        "survivors_gone": survivors_gone,
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
    let (first, projects, resources, regions) = (
        number("--first"),
        number("--projects"),
        number("--resources"),
        number("--regions"),
    );
    let name = flag("--name").unwrap();
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
        let names: Vec<String> = (first..first + projects)
            .map(|i| format!("fleet-{i:05}"))
            .collect();
        let manifest = sim.seed_projects(&names, &Scenario::Scale { resources });
        let seed_s = started.elapsed().as_secs_f64();
        // Its clouds, renamed after this simulator (`sim` → `simK`), for the parent to merge.
        sim.write_clouds_yaml(&clouds).unwrap();
        let text = std::fs::read_to_string(&clouds).unwrap();
        let text = text
            .replace("\n  sim:\n", &format!("\n  {name}:\n"))
            .replace("\n  sim-appcred:\n", &format!("\n  {name}-appcred:\n"));
        std::fs::write(&clouds, text).unwrap();
        say(
            &json!({"tag": manifest.tag, "selected": manifest.selected.len(),
            "survivors": manifest.survivors.len(), "seed_s": seed_s}),
        );
        let mut rx = commands();
        while let Some(command) = rx.recv().await {
            match command.trim() {
                "counts" => {
                    let requests: u64 = sim.endpoint_counts().values().sum();
                    say(
                        &json!({"token_requests": token_requests(&sim), "requests": requests,
                        "cpu_s": cpu_s()}),
                    );
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
    // `cloud=tag,...`: one target per simulated cloud, each with its job's tag.
    let targets: Vec<(String, String)> = flag("--targets")
        .unwrap()
        .split(',')
        .map(|t| {
            let (cloud, tag) = t.split_once('=').unwrap();
            (cloud.to_owned(), tag.to_owned())
        })
        .collect();
    let units_concurrency: usize = flag("--units-concurrency").unwrap().parse().unwrap();
    // The bound is per target: the total is shared out.
    let per_target = units_concurrency.div_ceil(targets.len()).max(1);
    // Credentials are found the production way; set before any thread starts.
    std::env::set_var("OS_CLIENT_CONFIG_FILE", &clouds);
    runtime().block_on(async move {
        let mut text = format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n\
             [schedule]\ncron = \"*/15 * * * *\"\nmax_concurrent_targets = {}\n\
             max_concurrent_units = {per_target}\ndeadline = \"6h\"\n",
            targets.len()
        );
        for (cloud, tag) in &targets {
            text.push_str(&format!(
                "[[target]]\nname = \"{cloud}\"\ncloud = \"{cloud}\"\nprojects = [\"fleet-*\"]\n\
                 regions = \"all\"\n[target.select]\nany_tags = [\"{tag}\"]\n\
                 metadata = {{ \"ci-job\" = \"{tag}\" }}\nname_regex = \"^{tag}-\"\n"
            ));
        }
        let config = Arc::new(Config::parse(&text, "fleet bench").unwrap());
        let state = Arc::new(StateStore::load(None));
        let metrics = Arc::new(Metrics::new());
        // What the daemon keeps per config generation.
        let tokens = TokenCache::new();
        say(&json!({"ready": true}));
        let mut rx = commands();
        while let Some(command) = rx.recv().await {
            match command.trim() {
                "cycle" => {}
                "metrics" => {
                    // What one scrape of /metrics costs after the cycles.
                    let started = Instant::now();
                    let text = metrics.render().unwrap();
                    let series = text.lines().filter(|l| !l.starts_with('#')).count();
                    say(&json!({"series": series, "bytes": text.len(),
                        "render_s": started.elapsed().as_secs_f64(), "vmhwm_kib": vmhwm_kib()}));
                    continue;
                }
                other => {
                    say(&json!({"error": format!("unknown command {other:?}")}));
                    continue;
                }
            }
            // Every target at once, as the daemon does when their schedules coincide.
            let sweeps = config.targets.iter().map(|target| {
                let ctx = SweepContext {
                    target: target.clone(),
                    config: Arc::clone(&config),
                    state: Arc::clone(&state),
                    metrics: Arc::clone(&metrics),
                    labels: TargetLabels::of(target),
                    now: jiff::Timestamp::now(),
                    cancel: CancellationToken::new(),
                    tokens: tokens.clone(),
                    share: Arc::new(stacksweep::coord::Share::Everything),
                };
                EngineRunner.sweep(ctx)
            });
            let started = Instant::now();
            let cpu_before = cpu_s();
            let records: Vec<_> = futures::future::join_all(sweeps)
                .await
                .into_iter()
                .map(Result::unwrap)
                .collect();
            let wall = started.elapsed().as_secs_f64();
            let cpu = cpu_s() - cpu_before;
            // What the daemon's scheduler records after each target's sweep.
            let finished = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
            for (target, record) in config.targets.iter().zip(&records) {
                let outcome = match record.listing_errors > 0
                    || record.kinds.values().any(|c| c.left() > 0)
                {
                    true => SweepOutcome::Incomplete,
                    false => SweepOutcome::Clean,
                };
                metrics.record_sweep(&TargetLabels::of(target), outcome, Some(record), finished);
            }
            let units = || records.iter().flat_map(|r| r.units.iter());
            let mut times: Vec<f64> = units()
                .filter(|u| u.record.is_some())
                .map(|u| u.duration.as_secs_f64())
                .collect();
            times.sort_by(f64::total_cmp);
            let failed = units().filter(|u| u.record.is_none()).count();
            let counts = || records.iter().flat_map(|r| r.kinds.values());
            let deleted: u64 = counts().map(|c| c.deleted).sum();
            let left: u64 = counts().map(|c| c.left()).sum();
            let listing_errors: u64 = records.iter().map(|r| r.listing_errors).sum();
            say(&json!({
                "units": units().count(),
                "failed_units": failed,
                "wall_s": wall,
                "unit_p50_s": quantile(&times, 0.50),
                "unit_p99_s": quantile(&times, 0.99),
                "unit_max_s": times.last().copied().unwrap_or(f64::NAN),
                "deleted": deleted,
                "left": left,
                "listing_errors": listing_errors,
                "cpu_s": cpu,
                "tokens_cached": tokens.len(),
                "vmhwm_kib": vmhwm_kib(),
            }));
        }
    });
}

/// CPU time this process has used (user + system, all threads), in seconds.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command (which may hold spaces) start at state; utime and stime
    // are the 14th and 15th fields, in clock ticks (100 per second on Linux).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (ticks(11) + ticks(12)) / 100.0
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
