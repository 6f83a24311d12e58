//! The schedule loops: one task per target sleeps until its next cron time, waits for a
//! concurrency permit, runs the sweep inline (so a target never overlaps itself: times
//! that pass while it sweeps are skipped, not queued) under the per-sweep deadline, and
//! records the outcome. A supervisor starts and stops loops as reloads add and remove
//! targets.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle};
use tokio_util::sync::CancellationToken;

use super::clock::{jitter, next_fire, until};
use super::health::AuthStatus;
use super::{Generation, Shared, SweepContext, SweepError, SweepRunner, AUTH_CHECK_TIMEOUT};
use crate::config::{Config, Target};
use crate::coord::etcd::View;
use crate::coord::view_changed;
use crate::metrics::{SweepOutcome, SweepRecord, TargetLabels};

/// What the HTTP server task returns.
pub(super) type ServerResult = Result<std::io::Result<()>, JoinError>;

/// Keeps one loop per configured target until `stop` is cancelled (returns `None`) or the
/// HTTP server ends on its own (cancels `stop`, returns its result).
pub(super) async fn supervise<R: SweepRunner>(
    shared: &Arc<Shared<R>>,
    stop: &CancellationToken,
    server: &mut JoinHandle<std::io::Result<()>>,
) -> Option<ServerResult> {
    let mut rx = shared.generation.subscribe();
    let mut previous: Vec<TargetLabels> = Vec::new();
    loop {
        let generation = Arc::clone(&rx.borrow_and_update());
        previous = apply(shared, &generation, &previous, stop);
        tokio::select! {
            _ = stop.cancelled() => return None,
            result = &mut *server => {
                stop.cancel();
                return Some(result);
            }
            changed = rx.changed() => {
                if changed.is_err() {
                    return None;
                }
            }
        }
    }
}

/// Brings loops, health, metrics and state in line with `generation`; returns its
/// targets' labels.
fn apply<R: SweepRunner>(
    shared: &Arc<Shared<R>>,
    generation: &Generation,
    previous: &[TargetLabels],
    stop: &CancellationToken,
) -> Vec<TargetLabels> {
    let targets = &generation.config.targets;
    let names: Vec<&str> = targets.iter().map(|t| t.name.as_str()).collect();
    let labels: Vec<TargetLabels> = targets.iter().map(TargetLabels::of).collect();
    shared.health.set_targets(names.iter().copied());
    for gone in previous.iter().filter(|l| !labels.contains(l)) {
        shared.metrics.forget_target(gone);
    }
    shared.state.with(|s| s.retain_targets(&names));
    let mut loops = shared.loops.lock().unwrap_or_else(PoisonError::into_inner);
    for target in targets {
        if loops.insert(target.name.clone()) {
            shared.tracker.spawn(target_loop(
                Arc::clone(shared),
                target.name.clone(),
                stop.clone(),
            ));
        }
        // Every (re)load re-checks credentials: the cloud or project may have changed.
        shared.tracker.spawn(check_auth(
            Arc::clone(shared),
            Arc::clone(&generation.config),
            target.clone(),
            stop.clone(),
        ));
    }
    labels
}

fn find<'a>(generation: &'a Generation, name: &str) -> Option<&'a Target> {
    generation.config.targets.iter().find(|t| t.name == name)
}

/// Sleeps until `wait`, or forever when there is nothing to wait for.
async fn sleep_or_pend(wait: Option<Duration>) {
    match wait {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

/// One target's schedule, until `stop` or until a reload removes the target.
async fn target_loop<R: SweepRunner>(
    shared: Arc<Shared<R>>,
    name: String,
    stop: CancellationToken,
) {
    let mut rx = shared.generation.subscribe();
    // With etcd: membership and session changes, after which this replica sweeps its
    // (new) share at once instead of at the next cron time: how units move to the others.
    let mut share_rx = shared.share.subscribe();
    // The last time fired (or now): each cron time fires at most once.
    let mut after = shared.clock.now();
    loop {
        let generation = Arc::clone(&rx.borrow_and_update());
        let Some(target) = find(&generation, &name) else {
            let mut loops = shared.loops.lock().unwrap_or_else(PoisonError::into_inner);
            // Decided under the lock on the latest config, as the supervisor does.
            if find(&shared.generation.borrow(), &name).is_none() {
                loops.remove(&name);
                tracing::info!(target = %name, "target removed from the config: its schedule stops");
                return;
            }
            continue;
        };
        let schedule = &generation.config.schedule;
        let next = next_fire(&target.cron, &schedule.timezone, after);
        if next.is_none() {
            tracing::warn!(target = %name, "the target's schedule never fires again");
        }
        let wait = next.map(|at| until(shared.clock.now(), at) + jitter(schedule.jitter));
        let mut share_changed = false;
        tokio::select! {
            _ = stop.cancelled() => return,
            changed = rx.changed() => {
                if changed.is_err() {
                    return;
                }
                // A new schedule starts from now, without catching up on the past.
                after = after.max(shared.clock.now());
                continue;
            }
            () = view_changed(&mut share_rx) => share_changed = true,
            _ = sleep_or_pend(wait) => {}
        }
        if share_changed {
            let settle = shared.share.settle();
            if !settled(&mut share_rx, settle, &stop).await {
                continue;
            }
            tracing::info!(target = %name, "the replicas' membership changed: sweeping this replica's share now");
        } else {
            let Some(fired) = next else { continue };
            after = fired;
        }
        let permit = tokio::select! {
            _ = stop.cancelled() => return,
            permit = Arc::clone(&generation.permits).acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
        };
        // Changes from here on call for another sweep after this one.
        if let Some(r) = &mut share_rx {
            r.borrow_and_update();
        }
        sweep_once(&shared, &generation, target, &stop).await;
        drop(permit);
        // Times that passed while sweeping are skipped, not run back to back.
        after = after.max(shared.clock.now());
    }
}

/// Waits until the view has been quiet for `settle` (replicas starting or leaving
/// together make one move, not several); true when the session is then up.
async fn settled(
    rx: &mut Option<watch::Receiver<View>>,
    settle: Duration,
    stop: &CancellationToken,
) -> bool {
    let Some(r) = rx else { return false };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return false,
            changed = r.changed() => if changed.is_err() { return false },
            () = tokio::time::sleep(settle) => return r.borrow().up,
        }
    }
}

/// How a sweep was cut short.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interrupt {
    Deadline,
    Shutdown,
}

/// Runs one sweep under the deadline and records its outcome.
async fn sweep_once<R: SweepRunner>(
    shared: &Arc<Shared<R>>,
    generation: &Generation,
    target: &Target,
    stop: &CancellationToken,
) {
    let labels = TargetLabels::of(target);
    let cancel = stop.child_token();
    let ctx = SweepContext {
        target: target.clone(),
        config: Arc::clone(&generation.config),
        state: Arc::clone(&shared.state),
        metrics: Arc::clone(&shared.metrics),
        labels: labels.clone(),
        now: shared.clock.now(),
        cancel: cancel.clone(),
        tokens: generation.tokens.clone(),
        share: Arc::clone(&shared.share),
    };
    let deadline = generation.config.schedule.deadline;
    tracing::info!(target = %target.name, "sweep started");
    let timer = shared.metrics.sweep_timer(&labels);
    let mut interrupt = None;
    let result = {
        let sweep = shared.runner.sweep(ctx);
        tokio::pin!(sweep);
        tokio::select! {
            result = &mut sweep => result,
            _ = tokio::time::sleep(deadline) => {
                interrupt = Some(Interrupt::Deadline);
                cancel.cancel();
                drain(sweep, shared.drain).await
            }
            _ = stop.cancelled() => {
                // `cancel` is a child of `stop`: the runner already saw it.
                interrupt = Some(Interrupt::Shutdown);
                drain(sweep, shared.drain).await
            }
        }
    };
    drop(timer);

    let outcome = match (&result, interrupt) {
        (_, Some(Interrupt::Shutdown)) => SweepOutcome::Cancelled,
        (_, Some(Interrupt::Deadline)) => SweepOutcome::TimedOut,
        (Ok(record), None)
            if record.listing_errors > 0 || record.kinds.values().any(|c| c.left() > 0) =>
        {
            SweepOutcome::Incomplete
        }
        (Ok(_), None) => SweepOutcome::Clean,
        (Err(_), None) => SweepOutcome::Failed,
    };
    match &result {
        Ok(_) => set_auth(shared, &labels, AuthStatus::Ok),
        Err(SweepError::Auth(why)) => set_auth(shared, &labels, AuthStatus::Failed(why.clone())),
        Err(SweepError::Failed(_)) => {}
    }
    let finished = shared.clock.now().as_millisecond() as f64 / 1000.0;
    shared
        .metrics
        .record_sweep(&labels, outcome, result.as_ref().ok(), finished);
    log_outcome(&target.name, outcome, &result);
    if let Err(e) = shared.state.save().await {
        tracing::error!(error = %e, "cannot write the state file");
    }
}

/// Waits up to `bound` for a cancelled sweep to finish its in-flight work.
async fn drain<F>(sweep: F, bound: Duration) -> Result<SweepRecord, SweepError>
where
    F: std::future::Future<Output = Result<SweepRecord, SweepError>>,
{
    tokio::time::timeout(bound, sweep)
        .await
        .unwrap_or_else(|_| {
            Err(SweepError::Failed(format!(
                "did not finish its in-flight deletes within {bound:?}; abandoned"
            )))
        })
}

fn set_auth<R>(shared: &Shared<R>, labels: &TargetLabels, status: AuthStatus) {
    shared
        .metrics
        .set_authenticated(labels, status == AuthStatus::Ok);
    shared.health.set(&labels.target, status);
}

fn log_outcome(target: &str, outcome: SweepOutcome, result: &Result<SweepRecord, SweepError>) {
    match result {
        Ok(record) => {
            let deleted: u64 = record.kinds.values().map(|c| c.deleted).sum();
            let left: u64 = record.kinds.values().map(|c| c.left()).sum();
            tracing::info!(
                target,
                outcome = outcome.as_str(),
                deleted,
                left,
                "sweep finished"
            );
        }
        Err(e) => {
            tracing::warn!(target, outcome = outcome.as_str(), error = %e, "sweep failed");
        }
    }
}

/// Authenticates to one target and records the result for `/readyz`.
async fn check_auth<R: SweepRunner>(
    shared: Arc<Shared<R>>,
    config: Arc<Config>,
    target: Target,
    stop: CancellationToken,
) {
    let labels = TargetLabels::of(&target);
    let result = tokio::select! {
        _ = stop.cancelled() => return,
        r = tokio::time::timeout(AUTH_CHECK_TIMEOUT, shared.runner.authenticate(&target, &config)) => r,
    };
    let status = match result {
        Ok(Ok(())) => AuthStatus::Ok,
        Ok(Err(SweepError::Auth(why) | SweepError::Failed(why))) => AuthStatus::Failed(why),
        Err(_) => AuthStatus::Failed(format!("no answer within {AUTH_CHECK_TIMEOUT:?}")),
    };
    if let AuthStatus::Failed(why) = &status {
        tracing::warn!(target = %target.name, error = %why, "authentication failed");
    }
    set_auth(&shared, &labels, status);
}
