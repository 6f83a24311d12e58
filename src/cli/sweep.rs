//! `stacksweep sweep`: one sweep of every configured target, then exit. A target of
//! several projects or regions is swept unit by unit (a project of a region), each with
//! its own report, and a total at the end.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::common::{self, SelectFlags};
use super::{exit, Shutdown};
use stacksweep::config::{Config, Coordination, RawConfig, Target};
use stacksweep::coord::{self, Shard, Share};
use stacksweep::engine::quota::QuotaReport;
use stacksweep::engine::report::Report;
use stacksweep::engine::unit::{self, Unit};
use stacksweep::engine::{self, DeleteBudget, Job, JobSpec, SweepError};
use tokio_util::sync::CancellationToken;

/// Output format of plans and reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    /// Tables for people.
    #[default]
    Text,
    /// One JSON document for machines.
    Json,
}

/// `stacksweep sweep` flags.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Config file (TOML); flags override its keys.
    #[arg(long, short = 'c', env = "STACKSWEEP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Cloud name in clouds.yaml (default: OS_CLOUD, else the OS_* variables). With
    /// --config: only the targets of this cloud (or with this target name).
    #[arg(long)]
    pub cloud: Option<String>,
    /// Selector flags.
    #[command(flatten)]
    pub select: SelectFlags,
    /// IDs or names never touched (repeatable).
    #[arg(long = "protect", value_name = "ID_OR_NAME")]
    pub protect: Vec<String>,
    /// If more than N resources are selected, delete nothing.
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
    /// Print the plan, delete nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Stop starting new deletes after this long (e.g. 20m).
    #[arg(long, value_name = "DURATION")]
    pub deadline: Option<String>,
    /// Ceiling of requests in flight at once, per service, and steps acting at once per
    /// service (config `retry.concurrency`; with `--pacing fixed`, the fixed cap).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Ceiling of requests started per second, per service (config
    /// `retry.requests_per_second`; with `--pacing fixed`, the fixed cap).
    #[arg(long, value_name = "N")]
    pub requests_per_second: Option<u32>,
    /// `adaptive`: limits learned from the cloud's answers, under the ceilings; `fixed`:
    /// the ceilings as fixed caps (config `retry.pacing`).
    #[arg(long, value_name = "MODE", value_parser = ["adaptive", "fixed"])]
    pub pacing: Option<String>,
    /// Sweep only static shard I of N (I from 0 to N-1): the units rendezvous hashing
    /// gives it, as `stacksweep daemon --shard I/N` does (config `[coordination] shard`).
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

/// Builds the config this sweep runs with: the file (if any) with the flags over it.
pub fn effective_config(args: &SweepArgs) -> anyhow::Result<Config> {
    let mut raw: RawConfig = common::read_raw_config(args.config.as_ref())?;
    let origin = args
        .config
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "command line".to_owned());
    if raw.targets.is_empty() {
        raw.targets.push(common::flag_target(args.cloud.as_deref()));
    } else if let Some(cloud) = &args.cloud {
        raw.targets.retain(|t| {
            t.cloud.as_deref() == Some(cloud.as_str()) || t.name.as_deref() == Some(cloud.as_str())
        });
        if raw.targets.is_empty() {
            anyhow::bail!("--cloud {cloud:?}: no target in {origin} has that cloud or name");
        }
    }
    let flags = args.select.to_raw();
    raw.select = flags.over(&raw.select);
    for target in &mut raw.targets {
        target.select = flags.over(&target.select);
    }
    if !args.protect.is_empty() {
        raw.safety
            .protect
            .get_or_insert_with(Vec::new)
            .extend(args.protect.iter().cloned());
    }
    if args.max_deletes.is_some() {
        raw.safety.max_deletes_per_sweep = args.max_deletes;
    }
    if args.deadline.is_some() {
        raw.schedule.deadline = args.deadline.clone();
    }
    if args.concurrency.is_some() {
        raw.retry.concurrency = args.concurrency;
    }
    if args.requests_per_second.is_some() {
        raw.retry.requests_per_second = args.requests_per_second;
    }
    if args.pacing.is_some() {
        raw.retry.pacing = args.pacing.clone();
    }
    if let Some(shard) = &args.shard {
        raw.coordination.shard = Some(shard.to_string());
        raw.coordination.etcd = None;
    }
    let config = common::validate(raw, &origin)?;
    if let Coordination::Etcd(_) = config.coordination {
        // A one-off sweep takes no etcd locks: it must not race the daemon replicas.
        anyhow::bail!(
            "{origin}: [coordination.etcd] is for `stacksweep daemon` replicas; a one-off sweep \
             would not take their locks. Run it with --shard I/N, or without [coordination]"
        );
    }
    Ok(config)
}

/// Where a cancelled sweep stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
enum Stopped {
    /// While authenticating: nothing listed or deleted.
    Connect,
    /// While listing: nothing deleted.
    Inventory,
    /// While deleting: the report says what was done.
    Sweep,
}

/// One unit's outcome (a target's, for a target of one project in one region), for the
/// JSON document.
#[derive(Debug, Serialize)]
struct TargetOutcome {
    target: String,
    cloud: String,
    /// The unit's project and region; absent for a target of one project in one region
    /// as configured (the shape of the output before units).
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<UnitLabel>,
    /// Set when a signal stopped this target's sweep: the phase it stopped in.
    #[serde(skip_serializing_if = "Option::is_none")]
    cancelled: Option<Stopped>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report: Option<Report>,
    /// Quota usage before and after, and what the sweep freed.
    #[serde(skip_serializing_if = "Option::is_none")]
    quota: Option<QuotaReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Which unit an outcome is of.
#[derive(Debug, Clone, Serialize)]
struct UnitLabel {
    /// [`Unit::key`]: stable across runs.
    key: String,
    project: String,
    project_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    region: Option<String>,
}

impl UnitLabel {
    fn of(unit: &Unit) -> UnitLabel {
        UnitLabel {
            key: unit.key(),
            project: unit.project_label().to_owned(),
            project_id: unit.project_id.clone(),
            region: unit.region.clone(),
        }
    }
}

impl TargetOutcome {
    fn new(target: &Target, unit: Option<&Unit>) -> TargetOutcome {
        TargetOutcome {
            target: target.name.clone(),
            cloud: target.cloud.clone(),
            unit: unit.map(UnitLabel::of),
            cancelled: None,
            report: None,
            quota: None,
            error: None,
        }
    }

    /// An outcome that failed before it could sweep (its one line goes to stderr).
    fn failed(mut self, e: impl Into<anyhow::Error>) -> TargetOutcome {
        let e = e.into();
        eprintln!("stacksweep: {e:#}");
        self.error = Some(format!("{e:#}"));
        self
    }
}

/// A unit ready to sweep, or one that already failed (discovery).
enum Work<'a> {
    Sweep {
        target: &'a Target,
        unit: Option<Unit>,
        spec: Box<JobSpec>,
    },
    Done(Box<TargetOutcome>),
}

/// A target's work: itself, when it is one project in one region as configured;
/// else the units [`unit::discover`] finds, and a failed outcome for each project that
/// could not become one (or for the whole target when discovery failed).
async fn target_work<'a>(
    config: &Config,
    target: &'a Target,
    dry_run: bool,
    budget: &Option<Arc<DeleteBudget>>,
    cancel: &CancellationToken,
) -> Vec<Work<'a>> {
    let mut spec = config.job(target);
    spec.options.dry_run = dry_run;
    spec.options.total_budget = budget.clone();
    let share = Share::of_static(&config.coordination);
    if target.units.is_single() {
        if !share.owns(&coord::single_key(target)) {
            return Vec::new();
        }
        return vec![Work::Sweep {
            target,
            unit: None,
            spec: Box::new(spec),
        }];
    }
    let discovered = tokio::select! {
        biased;
        () = cancel.cancelled() => {
            let mut o = TargetOutcome::new(target, None);
            o.cancelled = Some(Stopped::Connect);
            return vec![Work::Done(Box::new(o))];
        }
        d = unit::discover(&spec.connect, &target.units) => d,
    };
    let discovery = match discovered {
        Ok(d) => d,
        Err(e) => {
            return vec![Work::Done(Box::new(
                TargetOutcome::new(target, None).failed(e),
            ))]
        }
    };
    tracing::info!(
        target = %target.name,
        units = discovery.units.len(),
        failed = discovery.failed.len(),
        "discovered the target's projects and regions"
    );
    let mut work: Vec<Work<'a>> = discovery
        .failed
        .into_iter()
        .filter(|(u, _)| share.owns(&u.key()))
        .map(|(u, e)| Work::Done(Box::new(TargetOutcome::new(target, Some(&u)).failed(e))))
        .collect();
    for u in discovery.units.into_iter().filter(|u| share.owns(&u.key())) {
        let mut unit_spec = spec.clone();
        unit_spec.connect = u.connect_spec(&spec.connect, discovery.app_credential);
        work.push(Work::Sweep {
            target,
            unit: Some(u),
            spec: Box::new(unit_spec),
        });
    }
    work
}

/// Sweeps one unit (or a single target) to its outcome.
async fn sweep_unit(
    target: &Target,
    unit: Option<Unit>,
    spec: JobSpec,
    cancel: CancellationToken,
) -> TargetOutcome {
    let result = async {
        let job = Job::connect(spec, &cancel).await?;
        engine::run(&job, cancel).await
    }
    .await;
    let mut outcome = TargetOutcome::new(target, unit.as_ref());
    match result {
        Ok(swept) => {
            outcome.cancelled = swept.report.cancelled.then_some(Stopped::Sweep);
            outcome.report = Some(swept.report);
            outcome.quota = swept.quota;
        }
        Err(e) if e.is_cancelled() => {
            outcome.cancelled = Some(match e {
                SweepError::Connect(_) => Stopped::Connect,
                _ => Stopped::Inventory,
            });
        }
        // The one line this error gets on stderr (stdout's report points here).
        Err(e) => outcome = outcome.failed(e),
    }
    outcome
}

/// Runs the sweep and returns the exit code (config/auth errors come back as `Err`).
/// Every target's units (a project of a region) are swept concurrently, at most
/// `schedule.max_concurrent_units` at once; one failing unit does not stop the others.
/// A signal stops every unit's sweep in whatever phase it is; the report still comes
/// out, and the exit code is the signal's.
pub async fn run(args: SweepArgs, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
    let config = effective_config(&args)?;
    let budget = config
        .safety
        .max_deletes_total
        .map(|n| Arc::new(DeleteBudget::new(n)));
    let cancel = shutdown.token();
    let work: Vec<Work<'_>> = stream::iter(config.targets.iter())
        .map(|target| target_work(&config, target, args.dry_run, &budget, &cancel))
        .buffered(config.schedule.max_concurrent_targets)
        .flat_map(stream::iter)
        .collect()
        .await;
    let multi = config.targets.iter().any(|t| !t.units.is_single());
    let outcomes: Vec<TargetOutcome> = stream::iter(work)
        .map(|w| {
            let cancel = shutdown.token();
            async move {
                match w {
                    Work::Done(outcome) => *outcome,
                    Work::Sweep { target, unit, spec } => {
                        sweep_unit(target, unit, *spec, cancel).await
                    }
                }
            }
        })
        .buffered(config.schedule.max_concurrent_units)
        .collect()
        .await;

    let cancelled = outcomes.iter().any(|o| o.cancelled.is_some());
    let total = multi.then(|| Total::of(&outcomes, budget.as_deref()));
    let mut stdout = std::io::stdout().lock();
    write_outcomes(
        &mut stdout,
        &outcomes,
        total.as_ref(),
        args.output,
        args.dry_run,
    )?;
    if cancelled {
        return Ok(ExitCode::from(shutdown.exit_code()));
    }
    Ok(ExitCode::from(exit_code(&outcomes)))
}

/// The run's totals over every unit (shown when a target has several units).
#[derive(Debug, Serialize)]
struct Total {
    units: usize,
    /// Units not swept (discovery, connection or listing failed).
    failed_units: usize,
    /// Units that left selected resources behind.
    units_with_leftovers: usize,
    found: usize,
    selected: usize,
    deleted: usize,
    skipped: usize,
    stuck: usize,
    failed: usize,
    /// `safety.max_deletes_total` and how much of it was drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    max_deletes_total: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletes_drawn: Option<usize>,
}

impl Total {
    fn of(outcomes: &[TargetOutcome], budget: Option<&DeleteBudget>) -> Total {
        let mut t = Total {
            units: outcomes.len(),
            failed_units: outcomes.iter().filter(|o| o.error.is_some()).count(),
            units_with_leftovers: 0,
            found: 0,
            selected: 0,
            deleted: 0,
            skipped: 0,
            stuck: 0,
            failed: 0,
            max_deletes_total: budget.map(DeleteBudget::limit),
            deletes_drawn: budget.map(DeleteBudget::used),
        };
        for r in outcomes.iter().filter_map(|o| o.report.as_ref()) {
            let k = r.totals();
            t.found += k.found;
            t.selected += k.selected;
            t.deleted += k.deleted;
            t.skipped += k.skipped;
            t.stuck += k.stuck;
            t.failed += k.failed;
            t.units_with_leftovers += usize::from(!r.is_clean());
        }
        t
    }

    fn render_text(&self, dry_run: bool) -> String {
        let verb = if dry_run { "would delete" } else { "deleted" };
        let mut line = format!(
            "== total: {} unit(s), {} not swept, {} with resources left; {} found, {} selected, {} {verb}, {} skipped, {} stuck, {} failed",
            self.units, self.failed_units, self.units_with_leftovers, self.found, self.selected, self.deleted, self.skipped, self.stuck, self.failed
        );
        if let (Some(limit), Some(drawn)) = (self.max_deletes_total, self.deletes_drawn) {
            line.push_str(&format!("; max_deletes_total {drawn}/{limit} drawn"));
        }
        line.push('\n');
        line
    }
}

fn write_outcomes(
    out: &mut impl Write,
    outcomes: &[TargetOutcome],
    total: Option<&Total>,
    output: Output,
    dry_run: bool,
) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            let cancelled = outcomes.iter().any(|o| o.cancelled.is_some());
            let mut doc = serde_json::json!({
                "dry_run": dry_run,
                "cancelled": cancelled,
                "targets": outcomes,
            });
            if let Some(total) = total {
                doc["total"] = serde_json::to_value(total)?;
            }
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)?;
        }
        Output::Text => {
            for o in outcomes {
                match &o.unit {
                    None => writeln!(out, "== target {} (cloud {})", o.target, o.cloud)?,
                    Some(u) => writeln!(
                        out,
                        "== target {} (cloud {}) project {} region {}",
                        o.target,
                        o.cloud,
                        u.project,
                        u.region.as_deref().unwrap_or("(the cloud's)")
                    )?,
                }
                match o.cancelled {
                    Some(Stopped::Connect) => writeln!(
                        out,
                        "CANCELLED while connecting: nothing was listed or deleted"
                    )?,
                    Some(Stopped::Inventory) => {
                        writeln!(out, "CANCELLED while listing: nothing was deleted")?
                    }
                    Some(Stopped::Sweep) | None => {}
                }
                match (&o.report, &o.error) {
                    (Some(report), _) => {
                        if dry_run {
                            write!(out, "{}", report.plan.render_text())?;
                        }
                        write!(out, "{}", report.render_text())?;
                        if let Some(quota) = &o.quota {
                            write!(out, "{}", quota.render_text())?;
                        }
                    }
                    // The error itself went to stderr, once.
                    (None, Some(_)) => writeln!(out, "not swept: see the error on stderr")?,
                    (None, None) => {}
                }
            }
            if let Some(total) = total {
                write!(out, "{}", total.render_text(dry_run))?;
            }
        }
    }
    Ok(())
}

/// 2 if any target could not be swept at all, else 1 if anything selected is left, else 0.
fn exit_code(outcomes: &[TargetOutcome]) -> u8 {
    if outcomes.iter().any(|o| o.error.is_some()) {
        exit::CONFIG_ERROR
    } else if outcomes
        .iter()
        .any(|o| o.report.as_ref().is_some_and(|r| !r.is_clean()))
    {
        exit::RESOURCES_LEFT
    } else {
        exit::CLEAN
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: SweepArgs,
    }

    /// `--concurrency`, `--requests-per-second` and `--pacing` reach the validated config.
    #[test]
    fn pacing_flags_reach_the_config() {
        let cli = Cli::try_parse_from([
            "sweep",
            "--cloud",
            "sim",
            "--any-tag",
            "t",
            "--concurrency",
            "32",
            "--requests-per-second",
            "100",
            "--pacing",
            "fixed",
        ])
        .unwrap();
        let config = effective_config(&cli.args).unwrap();
        assert_eq!(config.retry.concurrency, 32);
        assert_eq!(config.retry.requests_per_second, Some(100));
        assert_eq!(
            config.retry.pacing,
            stacksweep::openstack::PacingMode::Fixed
        );
    }

    /// Every retry key of the config reaches the sweep's options: `retry.base_delay` and
    /// `retry.max_delay` set the conflict backoff of `sweep` as they do the daemon's (they
    /// were once ignored by `sweep`).
    #[test]
    fn retry_keys_reach_the_sweep() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[retry]\nbase_delay = \"3s\"\nmax_delay = \"45s\"\n[[target]]\ncloud = \"sim\"\n[select]\ntags = [\"t\"]\n",
        )
        .unwrap();
        let cli = Cli::try_parse_from(["sweep", "--config", path.to_str().unwrap()]).unwrap();
        let config = effective_config(&cli.args).unwrap();
        let job = config.job(&config.targets[0]);
        assert_eq!(job.options.retry_base, std::time::Duration::from_secs(3));
        assert_eq!(job.options.retry_cap, std::time::Duration::from_secs(45));
        assert_eq!(
            job.connect.session.retry.base_delay,
            std::time::Duration::from_secs(3)
        );
    }
}
