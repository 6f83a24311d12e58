//! Crash and converge: the real `stacksweep` binary sweeps a leaked Kubespray job in the
//! simulator and is SIGKILLed at seeded random points (during the inventory, between
//! deletes, while servers are still going); after every kill nothing unselected is gone,
//! and a sweep run to the end afterwards leaves nothing selected behind (exit 0).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reliability_support;

use std::collections::BTreeSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reliability_support::{all_resources, Bed};
use stacksweep_sim::Scenario;

/// When to kill a run.
#[derive(Debug, Clone, Copy)]
enum Trigger {
    /// After this many requests of any kind.
    Requests(usize),
    /// After this many DELETEs.
    Deletes(usize),
}

/// Runs the sweep, killing it (SIGKILL) when `trigger` is reached; returns whether it was
/// killed (false: it finished first).
async fn run_until(bed: &Bed, args: &[&str], trigger: Trigger) -> bool {
    let start_requests = bed.sim.request_log().len();
    let start_deletes = bed.deletes();
    let mut child = bed
        .command(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    loop {
        let reached = match trigger {
            Trigger::Requests(n) => bed.sim.request_log().len() - start_requests >= n,
            Trigger::Deletes(n) => bed.deletes() - start_deletes >= n,
        };
        if reached {
            child.start_kill().unwrap();
            let status = child.wait().await.unwrap();
            return status.code().is_none();
        }
        if let Some(status) = child.try_wait().unwrap() {
            assert!(
                matches!(status.code(), Some(0 | 1)),
                "exited with {status:?} before the kill"
            );
            return false;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// SIGKILLs at seeded random points never touch survivors; the next full sweep converges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_sweeps_converge() {
    let bed = Bed::start().await;
    let baseline: BTreeSet<(String, String)> = all_resources(&bed.sim).into_iter().collect();
    let manifest = bed
        .sim
        .seed(&Scenario::parse("kubespray-aborted:2").unwrap());
    let tag = manifest.tag.clone();
    let metadata = format!("ci-job={tag}");
    let name_regex = format!("^{}-", regex::escape(&tag));
    let args = [
        "sweep",
        "--cloud",
        "sim",
        "--any-tag",
        &tag,
        "--metadata",
        &metadata,
        "--name-regex",
        &name_regex,
    ];
    let must_stay: Vec<(String, String)> =
        manifest.survivors.iter().cloned().chain(baseline).collect();
    let assert_survivors = |when: &str| {
        for (kind, id) in &must_stay {
            assert!(
                bed.sim.exists(kind, id),
                "{when}: survivor {kind} {id} is gone"
            );
        }
    };

    let mut kills = 0;
    for seed in [11u64, 23, 37, 41, 59, 73] {
        let mut rng = StdRng::seed_from_u64(seed);
        let trigger = if rng.random_bool(0.4) {
            Trigger::Requests(rng.random_range(3..80))
        } else {
            Trigger::Deletes(rng.random_range(1..8))
        };
        if run_until(&bed, &args, trigger).await {
            kills += 1;
        }
        assert_survivors(&format!("after the run killed at {trigger:?}"));
    }
    assert!(kills >= 3, "only {kills} runs were killed mid-sweep");

    // Cron runs again: at most two full runs finish the job.
    let mut last = None;
    for _ in 0..2 {
        let run = bed.run(&args, &[]).await;
        assert_survivors("after a full run");
        let done = run.code == Some(0);
        last = Some(run);
        if done {
            break;
        }
    }
    let last = last.unwrap();
    assert_eq!(last.code, Some(0), "did not converge: {last:?}");
    for (kind, id) in &manifest.selected {
        assert!(!bed.sim.exists(kind, id), "{kind} {id} is left");
    }
    bed.sim.shutdown().await;
}
