//! Memory of a long-running daemon: 1,000 scheduled sweeps of the simulator (on paused
//! tokio time, so it takes seconds, not days), with a CI job leaking networks before
//! every sweep. Prints the resident set size and the bytes live on the heap (counted by
//! a wrapping allocator) at the start, after warm-up, every 250 sweeps and at the end:
//! both should stay flat. The simulator shares the process; its
//! request log is cleared after every sweep so that it does not count.
//!
//! `cargo bench --bench daemon_memory` (`--profile dev` for a quicker build;
//! `STACKSWEEP_BENCH_SWEEPS=N` to change the count).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::alloc::System;
use std::time::Duration;

use cap::Cap;
use jiff::Timestamp;
use serde_json::json;
use stacksweep::config::Config;
use stacksweep::daemon::{Clock, Daemon, DaemonOptions, EngineRunner};
use stacksweep::openstack::{CloudConfig, Service, Session};
use stacksweep_sim::{Sim, SimConfig};
use tokio_util::sync::CancellationToken;

const LEAKS_PER_SWEEP: usize = 3;

/// The system allocator, counting the bytes live on the heap: unlike RSS, which the
/// allocator's free lists and page reuse blur, it shows whether anything accumulates.
#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// File descriptors open in this process (sockets included).
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Bytes live on the heap, in KiB.
fn heap_kib() -> usize {
    ALLOCATOR.allocated() / 1024
}

/// Resident set size in KiB, from `/proc/self/status`.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The sum of the samples of `name` whose labels contain `with`.
fn total(text: &str, name: &str, with: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(with))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn main() {
    let sweeps: u64 = std::env::var("STACKSWEEP_BENCH_SWEEPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("clouds.yaml");
    // Credentials are found the production way; set before any thread starts.
    std::env::set_var("OS_CLIENT_CONFIG_FILE", &clouds);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    runtime.block_on(run(dir.path(), sweeps));
}

async fn run(dir: &std::path::Path, sweeps: u64) {
    let start_rss = rss_kib();
    let start_heap = heap_kib();
    let start_fds = open_fds();
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let clouds = dir.join("clouds.yaml");
    sim.write_clouds_yaml(&clouds).unwrap();
    let text = format!(
        "[metrics]\nlisten = \"127.0.0.1:0\"\n[schedule]\ncron = \"* * * * *\"\n\
         [safety]\nstate_file = {:?}\n[select]\ntags = [\"ci-leak\"]\n\
         [[target]]\nname = \"ci\"\ncloud = \"sim\"\n",
        dir.join("state.json").display().to_string()
    );
    let config = Config::parse(&text, "bench").unwrap();
    let cloud = CloudConfig::from_clouds_yaml(&clouds, "sim").unwrap();
    let leaker = Session::connect(&cloud, config.session_options())
        .await
        .unwrap();
    let options = DaemonOptions {
        clock: Clock::virtual_from(Timestamp::now()),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::new(config, EngineRunner, options).await.unwrap();
    let metrics = daemon.handle().metrics();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(daemon.run(shutdown.clone()));

    let wall = std::time::Instant::now();
    let mut checkpoints = Vec::new();
    let mut answered = 0usize;
    // Half-way between two sweeps, a CI job leaks a few networks.
    tokio::time::sleep(Duration::from_secs(30)).await;
    for minute in 0..sweeps {
        for i in 0..LEAKS_PER_SWEEP {
            let body = json!({"network": {"name": format!("job-{minute}-{i}")}});
            let net = leaker
                .post(Service::Network, "/networks", &body)
                .await
                .unwrap();
            let id = net["network"]["id"].as_str().unwrap().to_owned();
            let tags = json!({"tags": ["ci-leak"]});
            leaker
                .put(Service::Network, &format!("/networks/{id}/tags"), &tags)
                .await
                .unwrap();
        }
        tokio::time::sleep(Duration::from_secs(60)).await;
        // The simulator shares this process: its request log would grow with every
        // sweep and hide whether the daemon does.
        answered += sim.request_log().len();
        sim.clear_request_log();
        let done = minute + 1;
        if done == sweeps.min(100) || done % 250 == 0 {
            checkpoints.push((done, rss_kib(), heap_kib(), open_fds()));
        }
    }
    let rendered = metrics.render().unwrap();
    shutdown.cancel();
    task.await.unwrap().unwrap();
    let end_rss = rss_kib();
    let end_heap = heap_kib();
    let end_fds = open_fds();
    println!(
        "daemon_memory: {} sweeps ({} clean), {} networks deleted, {:.1} s wall",
        total(&rendered, "stacksweep_sweeps_total", ""),
        total(&rendered, "stacksweep_sweeps_total", "outcome=\"clean\""),
        total(
            &rendered,
            "stacksweep_resources_total",
            "kind=\"network\",outcome=\"deleted\""
        ),
        wall.elapsed().as_secs_f64()
    );
    println!("                         RSS KiB   live heap KiB   open fds");
    println!("at start:             {start_rss:>10}   {start_heap:>13}   {start_fds:>8}");
    for (done, rss, heap, fds) in checkpoints {
        println!("after {done:>5} sweeps:   {rss:>10}   {heap:>13}   {fds:>8}");
    }
    println!("at the end:           {end_rss:>10}   {end_heap:>13}   {end_fds:>8}");
    println!("simulator requests answered: {answered:>7} (its log cleared after every sweep)");
    sim.shutdown().await;
}
