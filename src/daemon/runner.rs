//! The daemon's [`SweepRunner`] on the engine: each sweep connects afresh (credentials
//! resolved again, so rotated ones are picked up) and runs the engine with the grace
//! period's hooks, then records quota and counts.

use super::grace::Grace;
use super::record::{log_report, record};
use super::{SweepContext, SweepError, SweepRunner};
use crate::config::{Config, Target};
use crate::engine::{self, ConnectError, Job};
use crate::metrics::SweepRecord;

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
        spec.connect.session.observer = Some(ctx.metrics.request_observer(&ctx.labels));
        let job = Job::connect(spec, &ctx.cancel).await.map_err(|e| match e {
            // Shutdown or the deadline, not a credential problem.
            ConnectError::Cancelled { .. } => SweepError::Failed(chain(&e)),
            e => SweepError::Auth(chain(&e)),
        })?;
        let name = ctx.target.name.as_str();
        let mut grace = Grace {
            state: &ctx.state,
            target: name,
            now: ctx.now,
            grace: ctx.config.safety.grace,
            held: Vec::new(),
        };
        let swept = engine::run_with(&job, ctx.cancel.clone(), ctx.now, &mut grace)
            .await
            .map_err(|e| SweepError::Failed(chain(&e)))?;
        log_report(name, &swept.report);
        if let Some(quota) = &swept.quota {
            ctx.metrics.record_quota(&ctx.labels, quota);
        }
        let state = ctx.state.snapshot();
        Ok(record(
            &swept.report,
            &swept.inventory,
            &grace.held,
            |key| state.first_seen(name, key.kind.as_str(), &key.id),
            ctx.now,
        ))
    }
}
