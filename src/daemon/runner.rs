//! The daemon's [`SweepRunner`] on the engine: each sweep connects afresh (credentials
//! resolved again, so rotated ones are picked up; a scoped token of the same credential
//! is reused from the sweep before while it has life enough left) and runs the engine with the grace
//! period's hooks, then records quota and counts. A target of several projects or
//! regions is swept unit by unit (discovered afresh each sweep), each unit's counts kept
//! for its own metric series.

use std::collections::VecDeque;
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};

use super::grace::Grace;
use super::record::{log_report, record};
use super::{SweepContext, SweepError, SweepRunner};
use crate::config::{Config, Target};
use crate::coord::{self, view_changed, Skip};
use crate::engine::report::Outcome;
use crate::engine::unit;
use crate::engine::{self, ConnectError, DeleteBudget, Job, JobSpec};
use crate::metrics::{SweepRecord, TargetLabels, UnitRecord};

/// The engine as the daemon's [`SweepRunner`]. The grace filter sits between selection
/// and planning: a held resource is demoted to "kept", so the planner treats it as any
/// unselected resource (what needs it waits).
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineRunner;

/// Every detail of an error chain on one line.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl SweepRunner for EngineRunner {
    async fn authenticate(&self, target: &Target, config: &Config) -> Result<(), SweepError> {
        config
            .job(target)
            .connect
            .connect()
            .await
            .map(|_| ())
            .map_err(|e| SweepError::Auth(chain(&e)))
    }

    async fn sweep(&self, ctx: SweepContext) -> Result<SweepRecord, SweepError> {
        let mut spec = ctx.config.job(&ctx.target);
        spec.connect.session.tokens = Some(ctx.tokens.clone());
        spec.connect.session.member = ctx.share.member();
        if ctx.target.units.is_single() {
            let key = coord::single_key(&ctx.target);
            let (labels, name) = (ctx.labels.clone(), ctx.target.name.clone());
            return match sweep_owned(&ctx, &key, spec, &name, (&labels, true)).await {
                Some(result) => result,
                None => Ok(SweepRecord::default()),
            };
        }
        sweep_units(&ctx, spec).await
    }
}

/// Sweeps every unit of a target of several projects or regions, at most
/// `schedule.max_concurrent_units` at once, each on its own scoped session; one failing
/// unit is logged and counted, and the others go on. The record sums them and keeps each.
async fn sweep_units(ctx: &SweepContext, spec: JobSpec) -> Result<SweepRecord, SweepError> {
    let discovered = tokio::select! {
        biased;
        () = ctx.cancel.cancelled() => {
            return Err(SweepError::Failed("cancelled while discovering the target's projects".into()))
        }
        d = unit::discover(&spec.connect, &ctx.target.units) => d,
    };
    let discovery = discovered.map_err(|e| SweepError::Auth(chain(&e)))?;
    let budget = ctx
        .config
        .safety
        .max_deletes_total
        .map(|n| Arc::new(DeleteBudget::new(n)));
    let mut units: Vec<UnitRecord> = Vec::new();
    // Counted over every unit of the target, so each replica of a shared target decides
    // alike.
    let unit_series = ctx.config.unit_series.per_unit(discovery.units.len());
    let (mine, others): (Vec<_>, Vec<_>) = discovery
        .units
        .into_iter()
        .partition(|u| ctx.share.owns(&u.key()));
    if let Some(label) = ctx.share.label() {
        ctx.metrics
            .set_owned_units(label, &ctx.target.name, mine.len());
        tracing::info!(target = %ctx.target.name, mine = mine.len(), others = others.len(),
            "units shared with other replicas: sweeping mine");
    }
    for (u, e) in discovery
        .failed
        .iter()
        .filter(|(u, _)| ctx.share.owns(&u.key()))
    {
        tracing::warn!(target = %ctx.target.name, unit = %u.key(), error = %chain(e), "unit not swept");
        units.push(UnitRecord {
            project: u.project_label().to_owned(),
            region: u.region.clone().unwrap_or_default(),
            record: None,
            duration: std::time::Duration::ZERO,
        });
    }
    let app_credential = discovery.app_credential;
    let sweep_unit = |u: unit::Unit| {
        let mut unit_spec = spec.clone();
        unit_spec.connect = u.connect_spec(&spec.connect, app_credential);
        unit_spec.options.total_budget = budget.clone();
        async move {
            let key = u.key();
            let region = u.region.clone().unwrap_or_default();
            let labels = match unit_series {
                true => ctx.labels.unit(u.project_label(), &region),
                false => ctx.labels.clone(),
            };
            let started = tokio::time::Instant::now();
            let quota = (&labels, unit_series);
            let result = sweep_owned(ctx, &key, unit_spec, &key, quota).await?;
            let duration = started.elapsed();
            if let Err(e) = &result {
                tracing::warn!(target = %ctx.target.name, unit = %key, error = %e, "unit not swept");
            }
            Some(UnitRecord {
                project: u.project_label().to_owned(),
                region,
                record: result.ok(),
                duration,
            })
        }
    };
    // Units another replica owned when this sweep began are taken over as soon as the
    // membership gives them to this replica (a dead replica's, once its lease expires),
    // not only when this sweep is over, and before this replica's own units still
    // queued. A queued unit that moved away is skipped by its turn (`sweep_owned`), and
    // each unit's lock keeps two replicas off one unit.
    let mut view = ctx.share.subscribe();
    let mut others = others;
    let mut owned = mine.len();
    let mut queue: VecDeque<unit::Unit> = mine.into();
    let mut running = FuturesUnordered::new();
    let at_once = ctx.config.schedule.max_concurrent_units.max(1);
    loop {
        while running.len() < at_once {
            let Some(u) = queue.pop_front() else { break };
            running.push(sweep_unit(u));
        }
        tokio::select! {
            ended = running.next() => match ended {
                Some(record) => units.extend(record),
                None => break,
            },
            () = view_changed(&mut view) => {
                let (taken, still): (Vec<_>, Vec<_>) =
                    others.into_iter().partition(|u| ctx.share.owns(&u.key()));
                others = still;
                if !taken.is_empty() {
                    owned += taken.len();
                    if let Some(label) = ctx.share.label() {
                        ctx.metrics.set_owned_units(label, &ctx.target.name, owned);
                    }
                    tracing::info!(target = %ctx.target.name, taken = taken.len(), others = others.len(),
                        "the replicas' membership changed mid-sweep: taking over the units it gives this replica");
                    // Overdue since their owner died: before this replica's own.
                    for u in taken.into_iter().rev() {
                        queue.push_front(u);
                    }
                }
            }
        }
    }
    Ok(SweepRecord {
        unit_series,
        ..sum(units)
    })
}

/// A target's record: its units' counts summed, a unit that could not sweep counted as
/// a listing error (the target's sweep is then incomplete), and each unit kept.
fn sum(units: Vec<UnitRecord>) -> SweepRecord {
    let mut total = SweepRecord::default();
    for u in &units {
        let Some(r) = &u.record else {
            total.listing_errors += 1;
            continue;
        };
        total.listing_errors += r.listing_errors;
        total.oldest_leak_age = total.oldest_leak_age.max(r.oldest_leak_age);
        for (kind, c) in &r.kinds {
            let t = total.kinds.entry(kind).or_default();
            t.found += c.found;
            t.selected += c.selected;
            t.held += c.held;
            t.deleted += c.deleted;
            t.skipped += c.skipped;
            t.stuck += c.stuck;
            t.failed += c.failed;
            t.conflict_retries += c.conflict_retries;
        }
    }
    total.units = units;
    total
}

/// Sweeps the unit of `key` if it is still this replica's: takes its turn (its lock,
/// with etcd), sweeps under the turn's cancellation (the etcd session ending stops new
/// deletes, as shutdown does), and gives the turn back. `None` when it is another's now;
/// an error when it could not be taken (held, or the session is down).
async fn sweep_owned(
    ctx: &SweepContext,
    key: &str,
    spec: JobSpec,
    state_key: &str,
    quota: (&TargetLabels, bool),
) -> Option<Result<SweepRecord, SweepError>> {
    let turn = match ctx.share.begin(key, &ctx.cancel).await {
        Ok(turn) => turn,
        Err(Skip::NotOurs) => {
            tracing::debug!(unit = %key, "another replica's unit: not swept");
            return None;
        }
        Err(e) => return Some(Err(SweepError::Failed(e.to_string()))),
    };
    let unit_ctx = SweepContext {
        cancel: turn.cancel.clone(),
        ..ctx.clone()
    };
    let result = sweep_job(&unit_ctx, spec, state_key, quota).await;
    turn.finish().await;
    Some(result)
}

/// One sweep of one job (a target, or one unit of it); `state_key` is where its grace
/// sightings are remembered (the target's name, or the unit's key), `quota` its quota
/// series' labels and whether they carry its usage and limits (else only its frees).
async fn sweep_job(
    ctx: &SweepContext,
    mut spec: JobSpec,
    state_key: &str,
    quota: (&TargetLabels, bool),
) -> Result<SweepRecord, SweepError> {
    spec.connect.session.observer = Some(ctx.metrics.request_observer(&ctx.labels));
    let job = Job::connect(spec, &ctx.cancel).await.map_err(|e| match e {
        // Shutdown or the deadline, not a credential problem.
        ConnectError::Cancelled { .. } => SweepError::Failed(chain(&e)),
        e => SweepError::Auth(chain(&e)),
    })?;
    let mut grace = Grace {
        state: &ctx.state,
        target: state_key,
        now: ctx.now,
        grace: ctx.config.safety.grace,
        held: Vec::new(),
    };
    let swept = engine::run_with(&job, ctx.cancel.clone(), ctx.now, &mut grace)
        .await
        .map_err(|e| SweepError::Failed(chain(&e)))?;
    log_report(state_key, &swept.report);
    if let Some(report) = &swept.quota {
        let (labels, gauges) = quota;
        ctx.metrics.record_quota(labels, report, gauges);
    }
    // Read in place: a copy of the whole state per unit costs O(units²) over a sweep of
    // thousands of units (benches/fleet.rs).
    Ok(ctx.state.with(|state| {
        let record = record(
            &swept.report,
            &swept.inventory,
            &grace.held,
            |key| state.first_seen(state_key, key.kind.as_str(), &key.id),
            ctx.now,
        );
        let gone = swept
            .report
            .resources
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Deleted | Outcome::GoneWithOwner));
        state.forget_gone(state_key, gone.map(|r| (r.kind.as_str(), r.id.as_str())));
        record
    }))
}
