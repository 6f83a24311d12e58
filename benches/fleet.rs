//! Fleet benchmark (#16): one daemon replica, or several coordinated on etcd, against
//! simulated clouds holding many CI projects in several regions, swept cycle after cycle the way the daemon sweeps a
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
//! stdin/stdout and reads the simulator's counters between them.
//!
//! `--replicas N` (N > 1) starts a real etcd on loopback (`tests/support/etcd.rs`, the
//! daemon tests' own) and N sweepers, each a member of the group as a daemon replica is:
//! the daemon's `[coordination.etcd]`, `Share` and session task (membership lease,
//! rendezvous assignment, each unit's lease-bound lock) around the same `EngineRunner`.
//! All are told to `cycle` at once; the bench prints each replica's part and the sums,
//! and checks that every unit was swept exactly once per cycle, by the member rendezvous
//! hashing names (else `WRONG`, exit 1). Unless `--no-baseline`, the same case first runs
//! with one replica (no etcd) on simulators of its own seeded alike, and the speed-up
//! per cycle is one replica's wall time over N replicas'.
//!
//! `--kill-one` SIGKILLs the last replica in the first cycle once `--kill-at` (0.5) of
//! the leaked resources are deleted; the survivors then do what the daemon's scheduler
//! does on a membership change (wait for it, let it settle, sweep their new share). It
//! prints what the dead one owned, how many of those units still had leaked resources,
//! when each survivor saw it leave (against `--lease-ttl-s`, 10) and when the fleet had
//! converged, and checks that nothing selected is left and nothing kept is gone.
//!
//! ```text
//! cargo bench --bench fleet                                  # tiny: 20 projects x 2 regions
//! cargo bench --bench fleet -- --projects 2000 --resources 25 --regions 4 --latency-ms 20
//! cargo bench --bench fleet -- ... --units-concurrency 32 --cycles 2 --json
//! cargo bench --bench fleet -- ... --replicas 3                 # 1 replica, then 3
//! cargo bench --bench fleet -- ... --replicas 3 --no-baseline --kill-one [--kill-at 0.5]
//! ```
//! `--resources` is per project and region: `scale:N` chains of 13, alternately leaked
//! (selected) and kept, so 25 gives 26 resources, 13 of them leaked.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

#[allow(dead_code)]
#[path = "../tests/support/etcd.rs"]
mod etcd;
#[path = "support/role.rs"]
mod role;
use role::Role;
use stacksweep::config::Config;
use stacksweep::coord::Share;
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
    /// Sweeper processes; more than one are members of a group on a test etcd.
    replicas: usize,
    /// SIGKILL the last replica in the first cycle once this fraction of the leaked
    /// resources is deleted.
    kill_at: Option<f64>,
    /// `coordination.etcd.lease_ttl`: how long a dead replica's units stay its own.
    lease_ttl_s: u64,
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
    let has = |name: &str| args.iter().any(|a| a == name);
    let replicas = number("--replicas", 1).max(1);
    let kill_at = has("--kill-one").then(|| {
        flag("--kill-at").map_or(0.5, |v| {
            v.parse::<f64>()
                .ok()
                .filter(|f| (0.0..1.0).contains(f))
                .unwrap_or_else(|| panic!("--kill-at: a fraction below 1, not {v:?}"))
        })
    });
    if kill_at.is_some() && replicas < 2 {
        eprintln!("--kill-one needs --replicas 2 or more");
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
        replicas,
        kill_at,
        lease_ttl_s: number("--lease-ttl-s", 10).max(2) as u64,
    };
    let as_json = has("--json");
    println!(
        "stacksweep fleet benchmark: {} projects x {} regions ({} units) over {} simulated \
         cloud(s), {} resources per unit, {} ms latency, {} units at once, {} replica(s){}",
        case.projects,
        case.regions,
        case.projects * case.regions,
        case.clouds,
        case.resources,
        case.latency_ms,
        case.units_concurrency,
        case.replicas,
        match case.replicas {
            1 => String::new(),
            _ => format!(" on etcd (lease TTL {} s)", case.lease_ttl_s),
        }
    );
    // The speed-up's baseline: one replica (no coordination) on fresh simulators seeded
    // alike, in the same invocation so that both see the same machine.
    let baseline = (replicas > 1 && !has("--no-baseline")).then(|| {
        println!("-- 1 replica (baseline, simulators of its own) --");
        let one = Case {
            replicas: 1,
            kill_at: None,
            ..case.clone()
        };
        let result = run_case(&one);
        if !as_json {
            print_result(&result);
        }
        result
    });
    if replicas > 1 {
        println!("-- {replicas} replicas --");
    }
    let result = run_case(&case);
    if as_json {
        match &baseline {
            Some(b) => println!("{}", json!({"baseline": b, "replicated": result})),
            None => println!("{result}"),
        }
    } else {
        print_result(&result);
        match &baseline {
            Some(b) => print_speedup(b, &result),
            None if replicas > 1 => println!(
                "speed-up: run without --no-baseline, or compare with the same command at \
                 --replicas 1 (cycle wall times)"
            ),
            None => {}
        }
    }
    let all_ok = result["ok"] == true && baseline.as_ref().is_none_or(|b| b["ok"] == true);
    if !all_ok {
        println!(
            "SELECTED RESOURCES LEFT, SURVIVORS TOUCHED, UNITS FAILED OR NOT SWEPT EXACTLY \
             ONCE: the figures are not valid"
        );
        std::process::exit(1);
    }
}

/// The columns of units and their times, in both tables.
const UNIT_COLUMNS: &[(&str, usize)] = &[
    ("units", 6),
    ("wall s", 8),
    ("units/min", 9),
    ("p50 s", 8),
    ("p99 s", 8),
    ("max s", 8),
];

/// A table's header: each name right-aligned in its width.
fn header(groups: &[&[(&str, usize)]]) {
    let cells: Vec<String> = groups
        .iter()
        .flat_map(|g| g.iter())
        .map(|(n, w)| format!("{n:>w$}"))
        .collect();
    println!("{}", cells.join(" "));
}

fn print_result(r: &Value) {
    println!(
        "seeded {} resources ({} leaked) in {:.1} s",
        r["resources"],
        r["selected"],
        r["seed_s"].as_f64().unwrap_or(f64::NAN)
    );
    header(&[
        &[("cycle", 5)],
        UNIT_COLUMNS,
        &[
            ("tokens", 7),
            ("requests", 9),
            ("deleted", 8),
            ("left", 6),
            ("RSS MiB", 8),
            ("CPU s", 7),
            ("ms/unit", 7),
            ("sim CPU", 8),
        ],
    ]);
    let cycles = r["cycles"].as_array().unwrap();
    for c in cycles {
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
    let sightings: Vec<String> = cycles.iter().map(|c| c["sightings"].to_string()).collect();
    println!(
        "grace sightings held after each cycle: {}",
        sightings.join(", ")
    );
    if r["replicas"].as_u64().unwrap_or(1) > 1 {
        print_replicas(cycles);
    }
    if !r["takeover"].is_null() {
        print_takeover(&r["takeover"]);
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
            "ok: {} leaked gone, {} kept intact, no unit failed, every unit swept once per cycle \
             by its owner",
            r["selected"], r["survivors"]
        )
    } else {
        format!(
            "WRONG: {} leaked left, {} kept gone, {} unit sweeps failed; {}",
            r["selected_left"], r["survivors_gone"], r["failed_units"], r["problems"]
        )
    };
    println!("{check}");
}

/// Each replica's part of each cycle (the rows above are their sums; its wall time is
/// the parent's, from `cycle` sent to the last answer).
fn print_replicas(cycles: &[Value]) {
    header(&[
        &[("cycle", 5), ("replica", 7)],
        UNIT_COLUMNS,
        &[
            ("waits", 6),
            ("deleted", 8),
            ("RSS MiB", 8),
            ("CPU s", 7),
            ("ms/unit", 7),
            ("etcd CPU", 8),
        ],
    ]);
    for c in cycles {
        for (i, p) in c["replicas"].as_array().unwrap().iter().enumerate() {
            let f = |k: &str| p[k].as_f64().unwrap_or(f64::NAN);
            let etcd = match i {
                0 => format!("{:.1}", c["etcd_cpu_s"].as_f64().unwrap_or(f64::NAN)),
                _ => String::new(),
            };
            println!(
                "{:>5} {:>7} {:>6} {:>8.1} {:>9.0} {:>8.3} {:>8.3} {:>8.3} {:>6} {:>8} {:>8.1} {:>7.1} {:>7.2} {:>8}",
                c["cycle"].as_u64().unwrap_or(0),
                p["replica"].as_str().unwrap_or("?"),
                p["units"].as_u64().unwrap_or(0),
                f("wall_s"),
                f("units_per_minute"),
                f("unit_p50_s"),
                f("unit_p99_s"),
                f("unit_max_s"),
                p["lock_waits"].as_u64().unwrap_or(0),
                p["deleted"].as_u64().unwrap_or(0),
                f("rss_mib"),
                f("cpu_s"),
                f("cpu_ms_per_unit"),
                etcd,
            );
        }
    }
}

fn print_takeover(t: &Value) {
    let f = |v: &Value| v.as_f64().unwrap_or(f64::NAN);
    println!(
        "killed {} (SIGKILL) {:.1} s into cycle 1, {} of {} leaked deleted by then; it owned {} \
         units, {} of them still had leaked resources when the survivors took them over \
         ({} deleted then); lease TTL {} s",
        t["replica"].as_str().unwrap_or("?"),
        f(&t["killed_at_s"]),
        t["deleted_at_kill"],
        t["selected"],
        t["owned_units"],
        t["unfinished_units"],
        t["deleted_in_takeover"],
        t["lease_ttl_s"],
    );
    for s in t["survivors"].as_array().unwrap() {
        println!(
            "  {}: saw it leave {:.1} s after the kill, started its takeover sweep at {:.1} s \
             (its own cycle ended at {:.1} s), ended at {:.1} s: {} units, {} of them the dead \
             one's, {} deleted, {} lock waits",
            s["replica"].as_str().unwrap_or("?"),
            f(&s["view_changed_s"]),
            f(&s["sweep_started_s"]),
            f(&s["own_cycle_ended_s"]),
            f(&s["sweep_ended_s"]),
            s["units"],
            s["units_of_dead"],
            s["deleted"],
            s["lock_waits"],
        );
    }
    println!(
        "  converged {:.1} s after the kill ({} tokens, {} requests for the takeover): {} \
         leaked left, {} kept gone",
        f(&t["converged_s"]),
        t["token_requests"],
        t["requests"],
        t["selected_left"],
        t["survivors_gone"],
    );
}

fn print_speedup(one: &Value, many: &Value) {
    let (a, b) = (
        one["cycles"].as_array().unwrap(),
        many["cycles"].as_array().unwrap(),
    );
    println!(
        "speed-up, {} replicas over 1 (cycle wall time; same work, simulators seeded alike):",
        many["replicas"]
    );
    for (x, y) in a.iter().zip(b) {
        let (wx, wy) = (
            x["wall_s"].as_f64().unwrap_or(f64::NAN),
            y["wall_s"].as_f64().unwrap_or(f64::NAN),
        );
        println!(
            "  cycle {}: {:.1} s / {:.1} s = {:.2}x ({:.0} -> {:.0} units/min; CPU s sweepers \
             {:.1} -> {:.1}, simulators {:.1} -> {:.1})",
            x["cycle"],
            wx,
            wy,
            wx / wy,
            x["units_per_minute"].as_f64().unwrap_or(f64::NAN),
            y["units_per_minute"].as_f64().unwrap_or(f64::NAN),
            x["sweeper_cpu_s"].as_f64().unwrap_or(f64::NAN),
            y["sweeper_cpu_s"].as_f64().unwrap_or(f64::NAN),
            x["sim_cpu_s"].as_f64().unwrap_or(f64::NAN),
            y["sim_cpu_s"].as_f64().unwrap_or(f64::NAN),
        );
    }
}

/// The simulators' counters so far (unlike their request logs, never trimmed) and CPU.
#[derive(Debug, Clone, Copy, Default)]
struct Counts {
    /// Keystone token requests.
    tokens: u64,
    requests: u64,
    /// DELETE requests (what `--kill-at` waits for).
    deletes: u64,
    cpu_s: f64,
}

impl std::ops::Sub for Counts {
    type Output = Counts;

    fn sub(self, o: Counts) -> Counts {
        Counts {
            tokens: self.tokens - o.tokens,
            requests: self.requests - o.requests,
            deletes: self.deletes - o.deletes,
            cpu_s: self.cpu_s - o.cpu_s,
        }
    }
}

fn counts(sims: &mut [Role]) -> Counts {
    let mut total = Counts::default();
    for sim in sims {
        let c = sim.ask("counts");
        total.tokens += c["token_requests"].as_u64().unwrap();
        total.requests += c["requests"].as_u64().unwrap();
        total.deletes += c["deletes"].as_u64().unwrap();
        total.cpu_s += c["cpu_s"].as_f64().unwrap();
    }
    total
}

/// What is left of the selected resources and gone of the kept ones, in every simulator.
fn verify(sims: &mut [Role]) -> (u64, u64) {
    let (mut left, mut gone) = (0, 0);
    for sim in sims {
        let v = sim.ask("verify");
        left += v["selected_left"].as_u64().unwrap();
        gone += v["survivors_gone"].as_u64().unwrap();
    }
    (left, gone)
}

/// A replica process and its member name.
struct Replica {
    name: String,
    role: Role,
}

/// The fleet's units: `target/project name/region` (what a sweeper reports) to the
/// unit's key as the daemon hashes it (`target/project id/region`).
type Units = BTreeMap<String, String>;

/// How often, and by whom, a unit must have been swept in one round of answers.
enum Cover<'a> {
    /// Exactly once, by the member rendezvous hashing gives it.
    OnceByOwner,
    /// Not at all, or once by this member (a dead member's unit, taken over mid-cycle).
    AtMostOnceBy(&'a str),
}

/// Checks that `answers` (replica, answer) swept every unit of `units` as `cover` (given
/// the unit's key and its owner among `members`) says, and nothing else; what is wrong,
/// one line each.
fn check_cover<'a>(
    units: &'a Units,
    members: &[String],
    answers: &[(String, Value)],
    cover: impl Fn(&'a str, &str) -> Cover<'a>,
) -> Vec<String> {
    let mut seen: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (replica, answer) in answers {
        for u in answer["swept"].as_array().unwrap() {
            if u["ok"] == true {
                let label = u["unit"].as_str().unwrap();
                seen.entry(label).or_default().push(replica);
            }
        }
    }
    let mut problems = Vec::new();
    for (label, key) in units {
        let owner = stacksweep::coord::owner(key, members).unwrap_or("-");
        let by = seen.remove(label.as_str()).unwrap_or_default();
        let right = match cover(key, owner) {
            Cover::OnceByOwner => by == [owner],
            Cover::AtMostOnceBy(heir) => by.is_empty() || by == [heir],
        };
        if !right {
            problems.push(format!("{label}: swept by {by:?}, owner {owner}"));
        }
    }
    problems.extend(seen.keys().map(|l| format!("{l}: not a unit of the fleet")));
    problems
}

/// One cycle's figures from the replicas' answers, summed, and each replica's.
fn cycle_figures(cycle: usize, wall: f64, answers: &[(String, Value)], sims: Counts) -> Value {
    let f = |a: &Value, k: &str| a[k].as_f64().unwrap_or(f64::NAN);
    let sum = |k: &str| -> u64 {
        answers
            .iter()
            .map(|(_, a)| a[k].as_u64().unwrap_or(0))
            .sum()
    };
    let mut times: Vec<f64> = answers
        .iter()
        .flat_map(|(_, a)| a["times"].as_array().unwrap().iter())
        .map(|t| t.as_f64().unwrap())
        .collect();
    times.sort_by(f64::total_cmp);
    let units = sum("units");
    let cpu: f64 = answers.iter().map(|(_, a)| f(a, "cpu_s")).sum();
    let rss = answers
        .iter()
        .map(|(_, a)| f(a, "vmhwm_kib"))
        .fold(0.0, f64::max);
    let replicas: Vec<Value> = answers
        .iter()
        .map(|(name, a)| {
            let units = a["units"].as_u64().unwrap_or(0) as f64;
            json!({
                "replica": name,
                "units": a["units"],
                "wall_s": a["wall_s"],
                "units_per_minute": units / f(a, "wall_s") * 60.0,
                "unit_p50_s": a["unit_p50_s"],
                "unit_p99_s": a["unit_p99_s"],
                "unit_max_s": a["unit_max_s"],
                "lock_waits": a["lock_waits"],
                "deleted": a["deleted"],
                "left": a["left"],
                "failed_units": a["failed_units"],
                "rss_mib": f(a, "vmhwm_kib") / 1024.0,
                "cpu_s": a["cpu_s"],
                "cpu_ms_per_unit": f(a, "cpu_s") * 1000.0 / units,
            })
        })
        .collect();
    json!({
        "cycle": cycle,
        "units": units,
        "failed_units": sum("failed_units"),
        "wall_s": wall,
        "units_per_minute": units as f64 / wall * 60.0,
        "unit_p50_s": quantile(&times, 0.50),
        "unit_p99_s": quantile(&times, 0.99),
        "unit_max_s": times.last().copied().unwrap_or(f64::NAN),
        "token_requests": sims.tokens,
        "requests": sims.requests,
        "deleted": sum("deleted"),
        "left": sum("left"),
        "lock_waits": sum("lock_waits"),
        "sightings": sum("sightings"),
        "rss_mib": rss / 1024.0,
        "sweeper_cpu_s": cpu,
        "sweeper_cpu_ms_per_unit": cpu * 1000.0 / units as f64,
        "sim_cpu_s": sims.cpu_s,
        "replicas": replicas,
    })
}

/// Seconds since the Unix epoch: the replicas' times and the parent's kill compared.
fn epoch_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Waits until the simulators answered `fraction` of `selected` deletes since `before`,
/// then SIGKILLs the last replica: (its name, when, the deletes by then).
fn kill_mid_cycle(
    sims: &mut [Role],
    replicas: &mut Vec<Replica>,
    before: Counts,
    selected: u64,
    fraction: f64,
) -> (String, f64, u64) {
    let wanted = (selected as f64 * fraction) as u64;
    let deleted = loop {
        let deleted = (counts(sims) - before).deletes;
        if deleted >= wanted {
            break deleted;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let victim = replicas.pop().unwrap();
    let at = epoch_s();
    victim.role.kill();
    (victim.name, at, deleted)
}

/// After `dead` was killed: each survivor waits for the membership to change and settle
/// (what the daemon's scheduler does), sweeps its new share, and says when. Checks the
/// dead one's units were each swept once by the member that inherits it.
#[allow(clippy::too_many_arguments)]
fn takeover(
    sims: &mut [Role],
    replicas: &mut [Replica],
    units: &Units,
    members: &[String],
    (dead, killed_at, cycle_started): (&str, f64, f64),
    own_cycle: &[(String, Value)],
    problems: &mut Vec<String>,
) -> Value {
    let before = counts(sims);
    for r in replicas.iter_mut() {
        r.role.send("follow");
    }
    let answers: Vec<(String, Value)> = replicas
        .iter_mut()
        .map(|r| (r.name.clone(), r.role.read()))
        .collect();
    let spent = counts(sims) - before;
    let survivors: Vec<String> = members.iter().filter(|m| *m != dead).cloned().collect();
    problems.extend(check_cover(units, &survivors, &answers, |_, _| {
        Cover::OnceByOwner
    }));
    let of_dead: BTreeSet<&str> = units
        .iter()
        .filter(|(_, key)| stacksweep::coord::owner(key, members) == Some(dead))
        .map(|(label, _)| label.as_str())
        .collect();
    let mut unfinished = 0;
    let mut deleted_of_dead = 0;
    let mut converged: f64 = 0.0;
    let mut rows = Vec::new();
    for (name, a) in &answers {
        let mut inherited = 0;
        for u in a["swept"].as_array().unwrap() {
            if of_dead.contains(u["unit"].as_str().unwrap()) {
                inherited += 1;
                let deleted = u["deleted"].as_u64().unwrap_or(0);
                deleted_of_dead += deleted;
                unfinished += u64::from(deleted > 0);
            }
        }
        let at = |k: &str| a[k].as_f64().unwrap_or(f64::NAN) - killed_at;
        converged = converged.max(at("ended_epoch_s"));
        rows.push(json!({
            "replica": name,
            "view_changed_s": at("view_changed_epoch_s"),
            "sweep_started_s": at("started_epoch_s"),
            "sweep_ended_s": at("ended_epoch_s"),
            "own_cycle_ended_s": own_cycle
                .iter()
                .find(|(n, _)| n == name)
                .map_or(f64::NAN, |(_, c)| c["ended_epoch_s"].as_f64().unwrap_or(f64::NAN) - killed_at),
            "units": a["units"],
            "units_of_dead": inherited,
            "deleted": a["deleted"],
            "lock_waits": a["lock_waits"],
            "wall_s": a["wall_s"],
            "rss_mib": a["vmhwm_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            "cpu_s": a["cpu_s"],
        }));
    }
    let (left, gone) = verify(sims);
    if left > 0 || gone > 0 {
        problems.push(format!(
            "after the takeover: {left} leaked left, {gone} kept gone"
        ));
    }
    json!({
        "replica": dead,
        "killed_at_s": killed_at - cycle_started,
        "owned_units": of_dead.len(),
        "unfinished_units": unfinished,
        "deleted_in_takeover": deleted_of_dead,
        "survivors": rows,
        "converged_s": converged,
        "token_requests": spent.tokens,
        "requests": spent.requests,
        "sim_cpu_s": spent.cpu_s,
        "selected_left": left,
        "survivors_gone": gone,
    })
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
    let mut units = Units::new();
    for (k, hello) in hellos.iter().enumerate() {
        let text = std::fs::read_to_string(dir.path().join(format!("sim{k}.yaml"))).unwrap();
        clouds_yaml.push_str(text.strip_prefix("clouds:\n").unwrap());
        targets.push(format!("sim{k}={}", hello["tag"].as_str().unwrap()));
        for (name, id) in hello["ids"].as_object().unwrap() {
            for region in 1..=case.regions {
                units.insert(
                    format!("sim{k}/{name}/Region{region}"),
                    format!("sim{k}/{}/Region{region}", id.as_str().unwrap()),
                );
            }
        }
    }
    let clouds = dir.path().join("clouds.yaml");
    std::fs::write(&clouds, clouds_yaml).unwrap();
    // More than one replica: a real etcd on loopback, as the daemon's tests run it.
    let etcd = (case.replicas > 1).then(|| runtime().block_on(etcd::Etcd::start()));
    let mut members: Vec<String> = (0..case.replicas).map(|i| format!("r{i}")).collect();
    let mut replicas: Vec<Replica> = members
        .iter()
        .map(|name| {
            let mut args: Vec<String> = vec![
                "--role".into(),
                "sweep".into(),
                "--clouds".into(),
                clouds.display().to_string(),
                "--targets".into(),
                targets.join(","),
                "--units-concurrency".into(),
                case.units_concurrency.to_string(),
            ];
            if let Some(etcd) = &etcd {
                args.extend([
                    "--etcd".into(),
                    etcd.endpoint(),
                    "--member".into(),
                    name.clone(),
                    "--lease-ttl-s".into(),
                    case.lease_ttl_s.to_string(),
                ]);
            }
            Replica {
                name: name.clone(),
                role: Role::spawn(&args),
            }
        })
        .collect();
    for replica in &mut replicas {
        assert_eq!(replica.role.read()["ready"], true);
    }
    // Every replica sees every other before the first cycle (else the first shares overlap).
    if etcd.is_some() {
        for replica in &mut replicas {
            let view = replica.role.ask(&format!("members {}", case.replicas));
            assert_eq!(view["members"], json!(members), "{}", replica.name);
        }
    }
    let etcd_cpu = || etcd.as_ref().map_or(0.0, |e| etcd_cpu_s(e.dir()));
    let mut cycles = Vec::new();
    let mut failed_units = 0;
    let mut problems = Vec::new();
    let mut takeover_figures = Value::Null;
    for cycle in 1..=case.cycles {
        let before = counts(&mut sims);
        let etcd_before = etcd_cpu();
        let (started, started_epoch) = (Instant::now(), epoch_s());
        for replica in &mut replicas {
            replica.role.send("cycle");
        }
        let killed = match case.kill_at {
            Some(fraction) if cycle == 1 => Some(kill_mid_cycle(
                &mut sims,
                &mut replicas,
                before,
                selected,
                fraction,
            )),
            _ => None,
        };
        let answers: Vec<(String, Value)> = replicas
            .iter_mut()
            .map(|r| (r.name.clone(), r.role.read()))
            .collect();
        let wall = started.elapsed().as_secs_f64();
        let spent = counts(&mut sims) - before;
        // Each unit once, by its owner; the dead one's at most once, by the survivor that
        // inherits it (a survivor still in its cycle takes them over when the membership
        // changes), else in the takeover below.
        let dead = killed.as_ref().map(|k| k.0.clone());
        let survivors: Vec<String> = members
            .iter()
            .filter(|m| Some(m.as_str()) != dead.as_deref())
            .cloned()
            .collect();
        problems.extend(check_cover(
            &units,
            &members,
            &answers,
            |key, owner| match dead.as_deref() == Some(owner) {
                true => {
                    Cover::AtMostOnceBy(stacksweep::coord::owner(key, &survivors).unwrap_or("-"))
                }
                false => Cover::OnceByOwner,
            },
        ));
        let mut figures = cycle_figures(cycle, wall, &answers, spent);
        figures["etcd_cpu_s"] = json!(etcd_cpu() - etcd_before);
        failed_units += figures["failed_units"].as_u64().unwrap_or(0);
        cycles.push(figures);
        if let Some((dead, at, deleted)) = killed {
            let mut t = takeover(
                &mut sims,
                &mut replicas,
                &units,
                &members,
                (&dead, at, started_epoch),
                &answers,
                &mut problems,
            );
            t["deleted_at_kill"] = json!(deleted);
            t["selected"] = json!(selected);
            t["lease_ttl_s"] = json!(case.lease_ttl_s);
            takeover_figures = t;
            members.retain(|m| *m != dead);
        }
    }
    let scrape = replicas[0].role.ask("metrics");
    for replica in replicas {
        replica.role.finish();
    }
    let (selected_left, survivors_gone) = verify(&mut sims);
    for sim in sims {
        sim.finish();
    }
    drop(etcd);
    problems.truncate(20);
    let ok = selected_left == 0 && survivors_gone == 0 && failed_units == 0 && problems.is_empty();
    json!({
        "projects": case.projects,
        "regions": case.regions,
        "resources_per_unit": case.resources,
        "latency_ms": case.latency_ms,
        "units_concurrency": case.units_concurrency,
        "replicas": case.replicas,
        "clouds": case.clouds,
        "resources": selected + survivors,
        "selected": selected,
        "survivors": survivors,
        "seed_s": seed_s,
        "cycles": cycles,
        "takeover": takeover_figures,
        "metrics_series": scrape["series"],
        "metrics_mib": scrape["bytes"].as_f64().unwrap_or(f64::NAN) / 1048576.0,
        "metrics_render_s": scrape["render_s"],
        "rss_after_render_mib": scrape["vmhwm_kib"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        "selected_left": selected_left,
        "survivors_gone": survivors_gone,
        "failed_units": failed_units,
        "problems": problems,
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
        // Project IDs, for the parent to compute each unit's key as the daemon hashes it
        // (`add_project` of an existing name gives its ID).
        let ids: serde_json::Map<String, Value> = names
            .iter()
            .map(|n| (n.clone(), json!(sim.add_project(n))))
            .collect();
        say(
            &json!({"tag": manifest.tag, "selected": manifest.selected.len(),
            "survivors": manifest.survivors.len(), "seed_s": seed_s, "ids": ids}),
        );
        let mut rx = commands();
        while let Some(command) = rx.recv().await {
            match command.trim() {
                "counts" => {
                    let requests: u64 = sim.endpoint_counts().values().sum();
                    let deletes: u64 = sim
                        .endpoint_counts()
                        .iter()
                        .filter(|(endpoint, _)| endpoint.starts_with("DELETE "))
                        .map(|(_, n)| n)
                        .sum();
                    say(
                        &json!({"token_requests": token_requests(&sim), "requests": requests,
                        "deletes": deletes, "cpu_s": cpu_s()}),
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
/// cache, and reports the units' times and the process's peak RSS. With `--etcd` it is
/// a member of the group there (the daemon's `[coordination.etcd]`, its `Share` and
/// session task): the runner sweeps only the units rendezvous hashing gives it, each
/// under its lock. `follow` then does what the daemon's scheduler does when membership
/// changes: waits for the change, lets it settle (`Share::settle`), and sweeps its new
/// share.
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
    let coordination = flag("--etcd").map(|endpoint| {
        format!(
            "[coordination.etcd]\nendpoints = [\"{endpoint}\"]\nprefix = \"/fleet-bench\"\n\
             member = \"{}\"\nlease_ttl = \"{}s\"\n",
            flag("--member").unwrap(),
            flag("--lease-ttl-s").unwrap()
        )
    });
    // Credentials are found the production way; set before any thread starts.
    std::env::set_var("OS_CLIENT_CONFIG_FILE", &clouds);
    runtime().block_on(async move {
        let mut text = format!(
            "[metrics]\nlisten = \"127.0.0.1:0\"\n\
             [schedule]\ncron = \"*/15 * * * *\"\nmax_concurrent_targets = {}\n\
             max_concurrent_units = {per_target}\ndeadline = \"6h\"\n{}",
            targets.len(),
            coordination.unwrap_or_default()
        );
        for (cloud, tag) in &targets {
            text.push_str(&format!(
                "[[target]]\nname = \"{cloud}\"\ncloud = \"{cloud}\"\nprojects = [\"fleet-*\"]\n\
                 regions = \"all\"\n[target.select]\nany_tags = [\"{tag}\"]\n\
                 metadata = {{ \"ci-job\" = \"{tag}\" }}\nname_regex = \"^{tag}-\"\n"
            ));
        }
        let config = Arc::new(Config::parse(&text, "fleet bench").unwrap());
        let metrics = Arc::new(Metrics::new());
        let sweeper = Sweeper {
            share: Arc::new(Share::of(&config.coordination, &metrics)),
            config,
            state: Arc::new(StateStore::load(None)),
            metrics,
            // What the daemon keeps per config generation.
            tokens: TokenCache::new(),
        };
        // The daemon's session task, as `Daemon::run` starts it.
        let stop = CancellationToken::new();
        if let Share::Etcd(member) = &*sweeper.share {
            tokio::spawn(Arc::clone(member).run(stop.clone()));
        }
        let mut view = sweeper.share.subscribe();
        say(&json!({"ready": true}));
        let mut rx = commands();
        while let Some(command) = rx.recv().await {
            let command = command.trim();
            if let Some(n) = command.strip_prefix("members ") {
                // Until this replica's session is up and sees `n` members.
                let n: usize = n.parse().unwrap();
                let mut rx = sweeper.share.subscribe().unwrap();
                let v = rx.wait_for(|v| v.up && v.members.len() == n).await.unwrap();
                say(&json!({"members": v.members}));
                continue;
            }
            match command {
                "cycle" => {
                    // As the scheduler does before a sweep: changes from here on call
                    // for another.
                    if let Some(v) = &mut view {
                        v.borrow_and_update();
                    }
                    say(&sweeper.sweep().await);
                }
                "follow" => {
                    let v = view.as_mut().unwrap();
                    v.changed().await.unwrap();
                    let changed = epoch_s();
                    // The scheduler's `settled`: quiet for `settle`, then sweep if up.
                    let settle = sweeper.share.settle();
                    loop {
                        tokio::select! {
                            c = v.changed() => c.unwrap(),
                            () = tokio::time::sleep(settle) => break,
                        }
                    }
                    let up = v.borrow_and_update().up;
                    assert!(up, "the etcd session is down after the membership change");
                    let started = epoch_s();
                    let mut answer = sweeper.sweep().await;
                    answer["view_changed_epoch_s"] = json!(changed);
                    answer["started_epoch_s"] = json!(started);
                    answer["ended_epoch_s"] = json!(epoch_s());
                    say(&answer);
                }
                "metrics" => {
                    // What one scrape of /metrics costs after the cycles.
                    let started = Instant::now();
                    let text = sweeper.metrics.render().unwrap();
                    let series = text.lines().filter(|l| !l.starts_with('#')).count();
                    say(&json!({"series": series, "bytes": text.len(),
                        "render_s": started.elapsed().as_secs_f64(), "vmhwm_kib": vmhwm_kib()}));
                }
                other => say(&json!({"error": format!("unknown command {other:?}")})),
            }
        }
        stop.cancel();
    });
}

/// What a replica's sweeper keeps from one cycle to the next.
struct Sweeper {
    config: Arc<Config>,
    state: Arc<StateStore>,
    metrics: Arc<Metrics>,
    tokens: TokenCache,
    share: Arc<Share>,
}

impl Sweeper {
    /// Sweeps every target once (this replica's share of it) and says what it did.
    async fn sweep(&self) -> Value {
        let config = &self.config;
        // Every target at once, as the daemon does when their schedules coincide.
        let sweeps = config.targets.iter().map(|target| {
            let ctx = SweepContext {
                target: target.clone(),
                config: Arc::clone(config),
                state: Arc::clone(&self.state),
                metrics: Arc::clone(&self.metrics),
                labels: TargetLabels::of(target),
                now: jiff::Timestamp::now(),
                cancel: CancellationToken::new(),
                tokens: self.tokens.clone(),
                share: Arc::clone(&self.share),
            };
            EngineRunner.sweep(ctx)
        });
        let started = Instant::now();
        let cpu_before = cpu_s();
        let waits_before = self.lock_waits();
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
            let outcome =
                match record.listing_errors > 0 || record.kinds.values().any(|c| c.left() > 0) {
                    true => SweepOutcome::Incomplete,
                    false => SweepOutcome::Clean,
                };
            self.metrics
                .record_sweep(&TargetLabels::of(target), outcome, Some(record), finished);
        }
        let units = || {
            config
                .targets
                .iter()
                .zip(&records)
                .flat_map(|(t, r)| r.units.iter().map(move |u| (&t.name, u)))
        };
        let mut times: Vec<f64> = units()
            .filter(|(_, u)| u.record.is_some())
            .map(|(_, u)| u.duration.as_secs_f64())
            .collect();
        times.sort_by(f64::total_cmp);
        // Which units it swept, for the parent's check that each is swept once.
        let swept: Vec<Value> = units()
            .map(|(target, u)| {
                let deleted: u64 = u
                    .record
                    .iter()
                    .flat_map(|r| r.kinds.values())
                    .map(|c| c.deleted)
                    .sum();
                json!({"unit": format!("{target}/{}/{}", u.project, u.region),
                    "ok": u.record.is_some(), "deleted": deleted})
            })
            .collect();
        let failed = units().filter(|(_, u)| u.record.is_none()).count();
        let counts = || records.iter().flat_map(|r| r.kinds.values());
        let deleted: u64 = counts().map(|c| c.deleted).sum();
        let left: u64 = counts().map(|c| c.left()).sum();
        let listing_errors: u64 = records.iter().map(|r| r.listing_errors).sum();
        json!({
            "units": units().count(),
            "failed_units": failed,
            "wall_s": wall,
            "unit_p50_s": quantile(&times, 0.50),
            "unit_p99_s": quantile(&times, 0.99),
            "unit_max_s": times.last().copied().unwrap_or(f64::NAN),
            "times": times,
            "swept": swept,
            "deleted": deleted,
            "left": left,
            "listing_errors": listing_errors,
            "lock_waits": self.lock_waits() - waits_before,
            "cpu_s": cpu,
            "tokens_cached": self.tokens.len(),
            // Grace sightings kept after the cycle (what the state holds across cycles).
            "sightings": self.state.with(|s| s.len()),
            "vmhwm_kib": vmhwm_kib(),
            "ended_epoch_s": epoch_s(),
        })
    }

    /// `stacksweep_coordination_lock_waits_total` so far (0 without etcd).
    fn lock_waits(&self) -> u64 {
        let text = self.metrics.render().unwrap();
        text.lines()
            .filter(|l| l.contains("coordination_lock_waits_total"))
            .filter_map(|l| l.split_whitespace().last()?.parse::<u64>().ok())
            .sum()
    }
}

/// CPU time this process has used (user + system, all threads), in seconds.
fn cpu_s() -> f64 {
    cpu_s_of("self")
}

/// CPU time of process `pid` (`self`: this one), in seconds; 0 when it is gone.
fn cpu_s_of(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
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

/// CPU seconds of the test etcd whose data lies in `dir` (found by its command line:
/// `tests/support/etcd.rs` keeps its child to itself).
fn etcd_cpu_s(dir: &std::path::Path) -> f64 {
    let needle = dir.display().to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0.0;
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&needle))
        })
        .map_or(0.0, |pid| cpu_s_of(&pid))
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
