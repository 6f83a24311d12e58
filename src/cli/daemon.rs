//! `stacksweep daemon`: sweeps on a schedule and serves `/metrics`, `/healthz`, `/readyz`.
//!
//! Either `--config FILE` (several targets, reloadable), or one target described by flags
//! (`--cloud NAME --tag T ...`), which are turned into the same raw config a file would
//! give and validated by the same code, so the same mistakes get the same messages.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::{
    Config, KnownNames, Problem, RawConfig, RawMetrics, RawSafety, RawSchedule, RawSelect,
    RawTarget, StringOrList,
};
use crate::daemon::{Daemon, DaemonOptions, SweepRunner};

/// Flags of `stacksweep daemon`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DaemonArgs {
    /// Config file (TOML) naming the targets, selectors, schedule and limits. Reloaded on
    /// SIGHUP. Without it, the flags below describe a single target.
    #[arg(long, value_name = "FILE", conflicts_with_all = SINGLE_TARGET_FLAGS)]
    pub config: Option<PathBuf>,

    /// Cloud to sweep, as named in clouds.yaml (single-target mode).
    #[arg(long, value_name = "NAME", required_unless_present = "config")]
    pub cloud: Option<String>,

    /// Select resources that have this tag (repeat: all of them).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,

    /// Select resources that have any one of these tags (repeatable).
    #[arg(long = "any-tag", value_name = "TAG")]
    pub any_tags: Vec<String>,

    /// Select resources whose metadata/properties has KEY=VALUE (repeatable).
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub metadata: Vec<(String, String)>,

    /// Select resources whose name matches this regular expression.
    #[arg(long, value_name = "RE")]
    pub name_regex: Option<String>,

    /// Never touch resources with this tag (repeatable).
    #[arg(long = "not-tag", value_name = "TAG")]
    pub not_tags: Vec<String>,

    /// Only resources older than this (`6h`, `1d 2h`, `30m`).
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,

    /// Cron schedule, 5 fields, UTC (repeatable) [default: */15 * * * *].
    #[arg(long, value_name = "CRON")]
    pub schedule: Vec<String>,

    /// Address of /metrics, /healthz, /readyz [default: 127.0.0.1:9187].
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,

    /// File remembering first sightings (grace period, ages of kinds without created_at).
    #[arg(long, value_name = "PATH")]
    pub state_file: Option<PathBuf>,

    /// Delete a resource only once it has been eligible this long [default: 0s].
    #[arg(long, value_name = "DURATION")]
    pub grace: Option<String>,

    /// If a sweep selects more than N resources, it deletes nothing.
    #[arg(long, value_name = "N")]
    pub max_deletes: Option<usize>,
}

/// The flags that describe a single target, exclusive with `--config`.
const SINGLE_TARGET_FLAGS: [&str; 12] = [
    "cloud",
    "tags",
    "any_tags",
    "metadata",
    "name_regex",
    "not_tags",
    "older_than",
    "schedule",
    "listen",
    "state_file",
    "grace",
    "max_deletes",
];

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

impl DaemonArgs {
    /// The raw config the single-target flags describe.
    pub fn raw_config(&self) -> RawConfig {
        RawConfig {
            select: RawSelect {
                tags: non_empty(&self.tags),
                any_tags: non_empty(&self.any_tags),
                metadata: (!self.metadata.is_empty())
                    .then(|| self.metadata.iter().cloned().collect()),
                name_regex: self.name_regex.clone(),
                not_tags: non_empty(&self.not_tags),
                older_than: self.older_than.clone(),
                ..RawSelect::default()
            },
            safety: RawSafety {
                max_deletes_per_sweep: self.max_deletes,
                grace: self.grace.clone(),
                state_file: self.state_file.clone(),
                ..RawSafety::default()
            },
            schedule: RawSchedule {
                cron: non_empty(&self.schedule).map(StringOrList::Many),
                ..RawSchedule::default()
            },
            metrics: RawMetrics {
                listen: self.listen.clone(),
            },
            targets: vec![RawTarget {
                cloud: self.cloud.clone(),
                ..RawTarget::default()
            }],
            ..RawConfig::default()
        }
    }

    /// Loads `--config`, or builds and validates the single-target config of the flags.
    /// Every problem is reported at once (with the flag's name in single-target mode).
    pub fn load(&self, known: KnownNames<'_>) -> anyhow::Result<Config> {
        if let Some(path) = &self.config {
            return Config::load(path, known).map_err(anyhow::Error::from);
        }
        self.raw_config().validate(known).map_err(|problems| {
            let lines: Vec<String> = problems
                .iter()
                .map(|p| format!("  - {}", flag_problem(p)))
                .collect();
            anyhow::anyhow!(
                "{} problem(s) with the daemon's flags:\n{}",
                problems.len(),
                lines.join("\n")
            )
        })
    }
}

/// A config problem of single-target mode, named by the flag it comes from.
fn flag_problem(p: &Problem) -> String {
    let key = p.path.rsplit('.').next().unwrap_or(&p.path);
    let flag = match key {
        "tags" => "--tag",
        "any_tags" => "--any-tag",
        "not_tags" => "--not-tag",
        "metadata" => "--metadata",
        "name_regex" => "--name-regex",
        "older_than" => "--older-than",
        "cron" => "--schedule",
        "listen" => "--listen",
        "grace" => "--grace",
        "max_deletes_per_sweep" => "--max-deletes",
        "cloud" => "--cloud",
        "select" => "selector (--tag, --any-tag, --metadata or --name-regex)",
        _ => return p.to_string(),
    };
    format!("{flag}: {}", p.message)
}

/// How often `--config` is checked for changes (a Kubernetes ConfigMap update, an edit).
const CONFIG_POLL: Duration = Duration::from_secs(10);

/// What identifies a version of the config file: modification time and length.
fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Runs the daemon with `runner` until `shutdown` is cancelled. Each message on `reload`,
/// and each change of the `--config` file, re-reads the file; an invalid file keeps the
/// config in effect and logs why.
pub async fn run_with<R: SweepRunner>(
    args: DaemonArgs,
    runner: R,
    known: KnownNames<'static>,
    shutdown: CancellationToken,
    mut reload: mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    let config = args.load(known)?;
    let daemon = Daemon::new(config, runner, DaemonOptions::default())
        .await
        .context("cannot start the daemon")?;
    let handle = daemon.handle();
    let run = daemon.run(shutdown);
    tokio::pin!(run);
    let mut reload_open = true;
    let mut stamp = args.config.as_deref().and_then(file_stamp);
    let mut poll = tokio::time::interval(CONFIG_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let requested = tokio::select! {
            result = &mut run => return result.map_err(anyhow::Error::from),
            message = reload.recv(), if reload_open => {
                reload_open = message.is_some();
                message.is_some()
            }
            _ = poll.tick(), if args.config.is_some() => {
                let now = args.config.as_deref().and_then(file_stamp);
                let changed = now.is_some() && now != stamp;
                if changed {
                    stamp = now;
                    tracing::info!("config file changed");
                }
                changed
            }
        };
        match (requested, &args.config) {
            (false, _) => {}
            (true, Some(path)) => {
                // Errors are logged by the handle; the daemon goes on as it was.
                let _ = handle.reload_from_file(path, known);
            }
            (true, None) => tracing::info!(
                "reload requested, but the daemon was started from flags: nothing to reload"
            ),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

    const KNOWN: KnownNames<'static> = KnownNames {
        presets: &["kubespray"],
        kinds: &["server", "port"],
    };

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: DaemonArgs,
    }

    fn parse(argv: &[&str]) -> Result<DaemonArgs, clap::Error> {
        Cli::try_parse_from(std::iter::once("daemon").chain(argv.iter().copied())).map(|c| c.args)
    }

    /// The single-target flags become a validated one-target config.
    #[test]
    fn flags_make_a_single_target_config() {
        let args = parse(&[
            "--cloud",
            "ci",
            "--tag",
            "kubespray",
            "--not-tag",
            "keep",
            "--metadata",
            "job=ci",
            "--older-than",
            "6h",
            "--schedule",
            "*/5 * * * *",
            "--listen",
            "127.0.0.1:0",
            "--grace",
            "30m",
            "--max-deletes",
            "50",
            "--state-file",
            "/tmp/s.json",
        ])
        .unwrap();
        let c = args.load(KNOWN).unwrap();
        assert_eq!(c.targets.len(), 1);
        let t = &c.targets[0];
        assert_eq!((t.name.as_str(), t.cloud.as_str()), ("ci", "ci"));
        assert_eq!(t.select.tags, ["kubespray"]);
        assert_eq!(t.select.not_tags, ["keep"]);
        assert_eq!(t.select.metadata, [("job".to_owned(), "ci".to_owned())]);
        assert_eq!(t.cron[0].text, "*/5 * * * *");
        assert_eq!(c.safety.grace.as_secs(), 1800);
        assert_eq!(c.safety.max_deletes_per_sweep, Some(50));
        assert_eq!(c.listen.port(), 0);
    }

    /// Bad flag values are all reported, each named by its flag.
    #[test]
    fn flag_problems_name_the_flag() {
        let args = parse(&[
            "--cloud",
            "ci",
            "--tag",
            "x",
            "--older-than",
            "soon",
            "--schedule",
            "* * *",
        ])
        .unwrap();
        let err = args.load(KNOWN).unwrap_err().to_string();
        assert!(err.contains("--older-than: invalid duration"), "{err}");
        assert!(err.contains("--schedule: invalid cron expression"), "{err}");
    }

    /// A cloud with no selector is refused: the daemon never sweeps "everything".
    #[test]
    fn no_selector_is_refused() {
        let err = parse(&["--cloud", "ci"]).unwrap().load(KNOWN).unwrap_err();
        assert!(err.to_string().contains("selector"), "{err}");
    }

    /// `--config` excludes the single-target flags, and one of them is required.
    #[test]
    fn config_excludes_target_flags() {
        assert!(parse(&["--config", "c.toml", "--tag", "x"]).is_err());
        assert!(parse(&[]).is_err());
        assert!(parse(&["--config", "c.toml"]).is_ok());
        assert!(parse(&["--cloud", "ci", "--metadata", "novalue"]).is_err());
    }
}
