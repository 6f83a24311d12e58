//! `stacksweep preflight`: says, before the first sweep, what stacksweep can do in a
//! project (see `stacksweep::engine::preflight`). Exit 0 when every selected kind is usable or
//! absent, 2 when something configured cannot work or authentication fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;

use super::common;
use super::exit;
use super::sweep::Output;
use stacksweep::config::{Config, Target};
use stacksweep::engine::preflight::{self, Preflight};
use stacksweep::openstack::{CloudConfig, Session, SessionOptions};

/// `stacksweep preflight` flags.
#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    /// Cloud name in clouds.yaml (default: OS_CLOUD, else the OS_* variables). With
    /// --config: only the targets of this cloud (or with this target name).
    #[arg(long)]
    pub cloud: Option<String>,
    /// Config file (TOML): check its targets, with their selectors deciding which kinds
    /// must be usable. Without it every kind counts as selected.
    #[arg(long, short = 'c', env = "STACKSWEEP_CONFIG")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Text)]
    pub output: Output,
}

/// Runs preflight for a target of a validated config (as `check-config` does).
pub async fn for_target(config: &Config, target: &Target) -> anyhow::Result<Preflight> {
    let job = config.job(target);
    let insecure = job.connect.cloud_config()?.insecure();
    let session = job.connect.connect().await?;
    Ok(preflight::run(&session, insecure, |k| job.selector.selects_kind(k)).await)
}

/// Runs preflight for a cloud named on the command line, every kind selected.
async fn for_cloud(name: Option<&str>) -> anyhow::Result<Preflight> {
    let raw = common::flag_target(name);
    let name = raw.cloud.unwrap_or_default();
    let cloud = CloudConfig::resolve(Some(name.as_str()))
        .with_context(|| format!("cannot resolve cloud {name:?}"))?;
    let session = Session::connect(&cloud, SessionOptions::default())
        .await
        .with_context(|| format!("cannot authenticate to cloud {name:?}"))?;
    Ok(preflight::run(&session, cloud.insecure(), |_| true).await)
}

/// Checks the cloud (or the config's targets), prints the table or JSON, returns the exit code.
pub async fn run(args: PreflightArgs) -> anyhow::Result<ExitCode> {
    let mut results: Vec<(String, anyhow::Result<Preflight>)> = Vec::new();
    match &args.config {
        None => results.push((
            args.cloud.clone().unwrap_or_default(),
            for_cloud(args.cloud.as_deref()).await,
        )),
        Some(path) => {
            let origin = path.display().to_string();
            let config = common::validate(common::read_raw_config(Some(path))?, &origin)?;
            let cloud = args.cloud.as_deref();
            let targets: Vec<_> = config
                .targets
                .iter()
                .filter(|t| cloud.is_none_or(|c| t.cloud == c || t.name == c))
                .collect();
            if targets.is_empty() {
                anyhow::bail!("--cloud {cloud:?}: no target in {origin} has that cloud or name");
            }
            for target in targets {
                results.push((target.name.clone(), for_target(&config, target).await));
            }
        }
    }
    let mut out = std::io::stdout().lock();
    write_results(&mut out, &results, args.output)?;
    let ok = results
        .iter()
        .all(|(_, r)| r.as_ref().is_ok_and(Preflight::is_ok));
    Ok(ExitCode::from(if ok {
        exit::CLEAN
    } else {
        exit::CONFIG_ERROR
    }))
}

fn write_results(
    out: &mut impl Write,
    results: &[(String, anyhow::Result<Preflight>)],
    output: Output,
) -> anyhow::Result<()> {
    match output {
        Output::Json => {
            let targets: Vec<serde_json::Value> = results
                .iter()
                .map(|(target, r)| match r {
                    Ok(p) => serde_json::json!({"target": target, "ok": p.is_ok(), "preflight": p}),
                    Err(e) => serde_json::json!({"target": target, "ok": false, "error": format!("{e:#}")}),
                })
                .collect();
            serde_json::to_writer_pretty(&mut *out, &serde_json::json!({ "targets": targets }))?;
            writeln!(out)?;
        }
        Output::Text => {
            for (target, r) in results {
                match r {
                    Ok(p) => write!(out, "{}", p.render_text())?,
                    Err(e) => writeln!(out, "target {target:?}: error: {e:#}")?,
                }
            }
        }
    }
    Ok(())
}
