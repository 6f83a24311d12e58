//! `stacksweep sweep`: one sweep of every configured target, then exit.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use futures::stream::{self, StreamExt};
use serde::Serialize;

use super::common::{self, SelectFlags};
use super::{exit, Shutdown};
use stacksweep::config::{Config, RawConfig};
use stacksweep::engine::quota::QuotaReport;
use stacksweep::engine::report::Report;
use stacksweep::engine::{self, Job, SweepError};

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
    Ok(common::validate(raw, &origin)?)
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

/// One target's outcome, for the JSON document.
#[derive(Debug, Serialize)]
struct TargetOutcome {
    target: String,
    cloud: String,
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

/// Runs the sweep and returns the exit code (config/auth errors come back as `Err`).
/// A signal stops every target's sweep in whatever phase it is; the report still comes
/// out, and the exit code is the signal's.
pub async fn run(args: SweepArgs, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
    let config = effective_config(&args)?;
    let outcomes: Vec<TargetOutcome> = stream::iter(config.targets.iter())
        .map(|target| {
            let mut spec = config.job(target);
            spec.options.dry_run = args.dry_run;
            let cancel = shutdown.token();
            async move {
                let result = async {
                    let job = Job::connect(spec, &cancel).await?;
                    engine::run(&job, cancel).await
                }
                .await;
                let mut outcome = TargetOutcome {
                    target: target.name.clone(),
                    cloud: target.cloud.clone(),
                    cancelled: None,
                    report: None,
                    quota: None,
                    error: None,
                };
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
                    Err(e) => {
                        // The one line this error gets on stderr (stdout's report points here).
                        let e = anyhow::Error::from(e);
                        eprintln!("stacksweep: {e:#}");
                        outcome.error = Some(format!("{e:#}"));
                    }
                }
                outcome
            }
        })
        .buffer_unordered(config.schedule.max_concurrent_targets)
        .collect()
        .await;

    let cancelled = outcomes.iter().any(|o| o.cancelled.is_some());
    let mut stdout = std::io::stdout().lock();
    write_outcomes(&mut stdout, &outcomes, args.output, args.dry_run)?;
    if cancelled {
        return Ok(ExitCode::from(shutdown.exit_code()));
    }
    Ok(ExitCode::from(exit_code(&outcomes)))
}

fn write_outcomes(
    out: &mut impl Write,
    outcomes: &[TargetOutcome],
    output: Output,
    dry_run: bool,
) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            let cancelled = outcomes.iter().any(|o| o.cancelled.is_some());
            serde_json::to_writer_pretty(
                &mut *out,
                &serde_json::json!({
                    "dry_run": dry_run,
                    "cancelled": cancelled,
                    "targets": outcomes,
                }),
            )?;
            writeln!(out)?;
        }
        Output::Text => {
            for o in outcomes {
                writeln!(out, "== target {} (cloud {})", o.target, o.cloud)?;
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
