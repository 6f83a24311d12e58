//! `stacksweep daemon`: sweeps on a schedule and serves `/metrics`, `/healthz`, `/readyz`.
//!
//! Either `--config FILE` (several targets, reloadable), or one target described by flags
//! (`--cloud NAME --tag T ...`), which are turned into the same raw config a file would
//! give and validated by the same code, so the same mistakes get the same messages.

use std::path::PathBuf;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::common::{self, SelectFlags};
use stacksweep::config::{
    Config, Coordination, Problem, RawConfig, RawMetrics, RawSafety, RawSchedule, StringOrList,
};
use stacksweep::coord::Shard;
use stacksweep::daemon::{self, DaemonError, EngineRunner};

/// Flags of `stacksweep daemon`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DaemonArgs {
    /// Config file (TOML) naming the targets, selectors, schedule and limits. Reloaded on
    /// SIGHUP and when the file changes. Without it, the flags below describe a single
    /// target.
    #[arg(
        long,
        short = 'c',
        value_name = "FILE",
        env = "STACKSWEEP_CONFIG",
        conflicts_with_all = SINGLE_TARGET_FLAGS
    )]
    pub config: Option<PathBuf>,

    /// Cloud to sweep, as named in clouds.yaml (single-target mode; default: OS_CLOUD,
    /// else the OS_* variables).
    #[arg(long, value_name = "NAME")]
    pub cloud: Option<String>,

    /// Selector flags (single-target mode).
    #[command(flatten)]
    pub select: SelectFlags,

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

    /// Sweep only static shard I of N (I from 0 to N-1, e.g. a StatefulSet's pod
    /// ordinal): the units rendezvous hashing gives it. Overrides `[coordination] shard`;
    /// excludes `[coordination.etcd]`.
    #[arg(long, value_name = "I/N")]
    pub shard: Option<Shard>,
}

/// The flags that describe a single target, exclusive with `--config`.
const SINGLE_TARGET_FLAGS: [&str; 15] = [
    "cloud",
    "tags",
    "any_tags",
    "metadata",
    "name_regex",
    "presets",
    "not_tags",
    "older_than",
    "kinds",
    "exclude_kinds",
    "schedule",
    "listen",
    "state_file",
    "grace",
    "max_deletes",
];

fn non_empty(list: &[String]) -> Option<Vec<String>> {
    (!list.is_empty()).then(|| list.to_vec())
}

impl DaemonArgs {
    /// The raw config the single-target flags describe.
    pub fn raw_config(&self) -> RawConfig {
        RawConfig {
            select: self.select.to_raw(),
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
                ..RawMetrics::default()
            },
            targets: vec![common::flag_target(self.cloud.as_deref())],
            ..RawConfig::default()
        }
    }

    /// Loads `--config`, or builds and validates the single-target config of the flags.
    /// Every problem is reported at once (with the flag's name in single-target mode).
    pub fn load(&self) -> anyhow::Result<Config> {
        let mut config = self.load_file_or_flags()?;
        if let Some(shard) = &self.shard {
            if let Coordination::Etcd(_) = config.coordination {
                anyhow::bail!(
                    "--shard {shard}: the config has [coordination.etcd], which shares the \
                     units itself; use one or the other"
                );
            }
            config.coordination = Coordination::Shard(shard.clone());
        }
        Ok(config)
    }

    fn load_file_or_flags(&self) -> anyhow::Result<Config> {
        if let Some(path) = &self.config {
            return Config::load(path).map_err(anyhow::Error::from);
        }
        self.raw_config().validate().map_err(|problems| {
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
        "presets" => "--preset",
        "kinds" => "--kind",
        "exclude_kinds" => "--exclude-kind",
        "select" => "selector (--tag, --any-tag, --metadata, --name-regex or --preset)",
        _ => return p.to_string(),
    };
    format!("{flag}: {}", p.message)
}

/// Runs `stacksweep daemon` on the engine until `shutdown` is cancelled; each message on
/// `reload` (SIGHUP) re-reads `--config`.
pub async fn run(
    args: DaemonArgs,
    shutdown: CancellationToken,
    reload: mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    let config = args.load()?;
    daemon::serve(
        config,
        args.config.as_deref(),
        EngineRunner,
        shutdown,
        reload,
    )
    .await
    .map_err(|e| match e {
        DaemonError::Bind { .. } => anyhow::Error::from(e).context("cannot start the daemon"),
        other => other.into(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use clap::Parser;

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
        let c = args.load().unwrap();
        assert_eq!(c.targets.len(), 1);
        let t = &c.targets[0];
        assert_eq!((t.name.as_str(), t.cloud.as_str()), ("ci", "ci"));
        assert_eq!(t.select.marks().all_tags, ["kubespray"]);
        assert_eq!(t.select.filters().keep_tags, ["keep"]);
        assert_eq!(
            t.select.marks().metadata,
            [("job".to_owned(), "ci".to_owned())]
        );
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
        let err = args.load().unwrap_err().to_string();
        assert!(err.contains("--older-than: invalid duration"), "{err}");
        assert!(err.contains("--schedule: invalid cron expression"), "{err}");
    }

    /// A cloud with no selector is refused: the daemon never sweeps "everything".
    #[test]
    fn no_selector_is_refused() {
        let err = parse(&["--cloud", "ci"]).unwrap().load().unwrap_err();
        assert!(err.to_string().contains("selector"), "{err}");
    }

    /// `--shard I/N` sets the static shard; `3/3`, `a/2` and `0/0` are refused by clap
    /// with the reason.
    #[test]
    fn shard_flag() {
        let args = parse(&["--cloud", "ci", "--tag", "x", "--shard", "1/3"]).unwrap();
        let c = args.load().unwrap();
        assert_eq!(c.coordination, Coordination::Shard("1/3".parse().unwrap()));
        for bad in ["3/3", "a/2", "0/0"] {
            let err = parse(&["--cloud", "ci", "--tag", "x", "--shard", bad])
                .err()
                .unwrap()
                .to_string();
            assert!(err.contains("is not a shard"), "{err}");
        }
        assert!(parse(&["--config", "c.toml", "--shard", "0/2"]).is_ok());
    }

    /// `--config` excludes the single-target flags.
    #[test]
    fn config_excludes_target_flags() {
        assert!(parse(&["--config", "c.toml", "--tag", "x"]).is_err());
        assert!(parse(&["--config", "c.toml"]).is_ok());
        assert!(parse(&["--cloud", "ci", "--metadata", "novalue"]).is_err());
    }
}
