//! `stacksweep check-config`: validates the config and every target's credentials, runs
//! the preflight (catalog, API versions, a one-item listing per kind) for each target,
//! and prints every problem at once. An unanchored `name_regex` is tried on a dry-run
//! listing of the project: a name it matches past its start is a warning. A target of
//! several projects or regions lists the units it would sweep (discovery asks Keystone).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use super::common;
use super::{exit, Shutdown};

/// `stacksweep check-config` flags.
#[derive(Debug, clap::Args)]
pub struct CheckConfigArgs {
    /// Config file (TOML).
    #[arg(long, short = 'c', env = "STACKSWEEP_CONFIG")]
    pub config: PathBuf,
    /// Only parse and validate; do not authenticate nor run the preflight.
    #[arg(long)]
    pub offline: bool,
}

/// Prints `ok` or every problem; exit 2 when there is any. A signal stops it between or
/// during the targets' checks (exit code the signal's), after printing what was found.
pub async fn run(args: CheckConfigArgs, shutdown: &Shutdown) -> anyhow::Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    let origin = args.config.display().to_string();
    let raw = match common::read_raw_config(Some(&args.config)) {
        Ok(raw) => raw,
        Err(e) => {
            writeln!(out, "{e:#}")?;
            return Ok(ExitCode::from(exit::CONFIG_ERROR));
        }
    };
    let config = match common::validate(raw, &origin) {
        Ok(c) => c,
        Err(e) => {
            for p in e.problems() {
                writeln!(out, "{origin}: {p}")?;
            }
            return Ok(ExitCode::from(exit::CONFIG_ERROR));
        }
    };
    let mut problems = Vec::new();
    let cancel = shutdown.token();
    let mut unchecked = 0;
    for target in &config.targets {
        if args.offline {
            continue;
        }
        let checked = tokio::select! {
            biased;
            () = cancel.cancelled() => None,
            checked = super::preflight::for_target(&config, target) => Some(checked),
        };
        let Some(checked) = checked else {
            unchecked += 1;
            continue;
        };
        match checked {
            Ok(preflight) => {
                writeln!(
                    out,
                    "target {:?}: authenticated to cloud {:?}, project {}",
                    target.name, target.cloud, preflight.project_id
                )?;
                write!(out, "{}", preflight.render_text())?;
                for p in preflight.problems() {
                    problems.push(format!("target {:?}: {p}", target.name));
                }
                for w in unanchored_warnings(&config, target).await {
                    writeln!(out, "target {:?}: warning: {w}", target.name)?;
                }
                if !target.units.is_single() {
                    units(&mut out, &config, target, &mut problems).await?;
                }
            }
            Err(e) => problems.push(format!("{e:#}")),
        }
    }
    for p in &problems {
        writeln!(out, "{p}")?;
    }
    if unchecked > 0 {
        writeln!(
            out,
            "{origin}: CANCELLED: {unchecked} of {} target(s) not checked",
            config.targets.len()
        )?;
        return Ok(ExitCode::from(shutdown.exit_code()));
    }
    if problems.is_empty() {
        writeln!(out, "{origin}: ok ({} target(s))", config.targets.len())?;
        Ok(ExitCode::from(exit::CLEAN))
    } else {
        Ok(ExitCode::from(exit::CONFIG_ERROR))
    }
}

/// Lists the units (a project of a region) a target of several projects or regions would
/// sweep, as discovery finds them now; what cannot become a unit is a problem.
async fn units(
    out: &mut impl Write,
    config: &stacksweep::config::Config,
    target: &stacksweep::config::Target,
    problems: &mut Vec<String>,
) -> anyhow::Result<()> {
    let job = config.job(target);
    match stacksweep::engine::unit::discover(&job.connect, &target.units).await {
        Ok(discovery) => {
            writeln!(
                out,
                "target {:?}: {} unit(s) to sweep:",
                target.name,
                discovery.units.len()
            )?;
            for u in &discovery.units {
                writeln!(
                    out,
                    "  {} (project {}, region {})",
                    u.key(),
                    u.project_label(),
                    u.region.as_deref().unwrap_or("(the cloud's)")
                )?;
            }
            for (_, e) in discovery.failed {
                problems.push(format!("{e}"));
            }
        }
        Err(e) => problems.push(format!("{:#}", anyhow::Error::from(e))),
    }
    Ok(())
}

/// Lists the target's project (a dry run: nothing is planned or deleted) when its own
/// `name_regex` is not anchored, and warns for every name it matches past its start.
async fn unanchored_warnings(
    config: &stacksweep::config::Config,
    target: &stacksweep::config::Target,
) -> Vec<String> {
    let job = config.job(target);
    let Some(re) = job.selector.unanchored_name_regex() else {
        return Vec::new();
    };
    let listed = match job.connect.connect().await {
        Ok(session) => stacksweep::engine::list(&session, &job.selector)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match listed {
        Ok(inventory) => job
            .selector
            .unanchored_matches(&inventory)
            .into_iter()
            .map(|r| {
                format!(
                    "name_regex {:?} is not anchored and matches {r} past the start of \
                     its name; anchor it with `^` if that is not meant",
                    re.as_str()
                )
            })
            .collect(),
        Err(e) => vec![format!(
            "could not list the project to try the unanchored name_regex {:?}: {e}",
            re.as_str()
        )],
    }
}
