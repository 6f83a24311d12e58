//! `stacksweep daemon`: sweeps on a schedule and serves `/metrics`, `/healthz`, `/readyz`.
//!
//! Either `--config FILE` (several targets, reloadable), or one target described by flags
//! (`--cloud NAME --tag T ...`), which are turned into the same raw config a file would
//! give and validated by the same code, so the same mistakes get the same messages.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::{Duration, SystemTime};

use jiff::Timestamp;

use anyhow::Context as _;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::common::{self, SelectFlags};
use crate::config::Target;
use crate::config::{
    Config, KnownNames, Problem, RawConfig, RawMetrics, RawSafety, RawSchedule, StringOrList,
};
use crate::daemon::{Daemon, DaemonOptions, SweepContext, SweepError, SweepRunner};
use crate::inventory::Inventory;
use crate::metrics::{KindCounts, SweepRecord};
use crate::plan;
use crate::quota::{self, QuotaReport};
use crate::report::Report;
use crate::resources::{Kind, ResourceKey};
use crate::select::{self, Selection};
use crate::state::State;
use crate::sweep::{self, SessionCloud, SweepOptions};

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
            },
            targets: vec![common::flag_target(self.cloud.as_deref())],
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
        "presets" => "--preset",
        "kinds" => "--kind",
        "exclude_kinds" => "--exclude-kind",
        "select" => "selector (--tag, --any-tag, --metadata, --name-regex or --preset)",
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

/// The engine's preset and kind names, for the life of the process (reloads need them).
static KIND_NAMES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| Kind::ALL.iter().map(|k| k.as_str()).collect());

/// The names configs are validated against, for as long as the daemon runs.
pub fn known_names() -> KnownNames<'static> {
    KnownNames {
        presets: select::PRESETS,
        kinds: &KIND_NAMES,
    }
}

/// Runs `stacksweep daemon` with the engine until `shutdown` is cancelled; each message on
/// `reload` (SIGHUP) re-reads `--config`.
pub async fn run(
    args: DaemonArgs,
    shutdown: CancellationToken,
    reload: mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    run_with(args, EngineRunner, known_names(), shutdown, reload).await
}

/// The daemon's [`SweepRunner`] on the engine: connect (credentials resolved again every
/// sweep, so rotated ones are picked up), list, remember first sightings, select, hold
/// back what the grace period has not cleared, plan, execute, count.
///
/// The grace filter sits between selection and planning: a held resource is demoted to
/// "kept", so the planner treats it as any unselected resource (what needs it waits).
#[derive(Debug, Clone, Copy, Default)]
pub struct EngineRunner;

/// Every detail of an error chain on one line (anyhow's `{:#}`).
fn chain(e: &anyhow::Error) -> String {
    format!("{e:#}")
}

impl SweepRunner for EngineRunner {
    async fn authenticate(&self, target: &Target, config: &Config) -> Result<(), SweepError> {
        common::connect(config, target, None)
            .await
            .map(|_| ())
            .map_err(|e| SweepError::Auth(chain(&e)))
    }

    async fn sweep(&self, ctx: SweepContext) -> Result<SweepRecord, SweepError> {
        let observer = ctx.metrics.request_observer(&ctx.labels);
        let session = common::connect(&ctx.config, &ctx.target, Some(observer))
            .await
            .map_err(|e| SweepError::Auth(chain(&e)))?;
        let selector = common::build_selector(&ctx.target.select)
            .map_err(|e| SweepError::Failed(chain(&e)))?;
        let quota_before = quota::read(&session).await;
        let listed = sweep::inventory(&session, &selector)
            .await
            .map_err(|e| SweepError::Failed(e.to_string()))?;
        let name = ctx.target.name.as_str();
        let now = ctx.now;
        let grace = ctx.config.safety.grace;
        let (inventory, selection, held) = ctx.state.with(|state| {
            observe_found(state, name, &listed, now);
            let inventory = with_first_seen_ages(state, name, listed);
            let mut selection = select::evaluate(&inventory, &selector, now);
            let held = hold_for_grace(state, name, &inventory, &mut selection, now, grace);
            (inventory, selection, held)
        });
        let plan = plan::build(&inventory, &selection);
        let options = SweepOptions {
            max_deletes: ctx.config.safety.max_deletes_per_sweep,
            deadline: ctx.config.schedule.deadline,
            concurrency: ctx.config.retry.concurrency,
            retry_base: ctx.config.retry.base_delay,
            retry_cap: ctx.config.retry.max_delay,
            ..SweepOptions::default()
        };
        let mut report = sweep::execute(
            &SessionCloud::new(&session),
            &inventory,
            &selection,
            plan,
            &options,
            ctx.cancel.clone(),
        )
        .await;
        report.cloud = session.cloud_name().to_owned();
        log_report(name, &report);
        let quota = QuotaReport::new(quota_before, Some(quota::read(&session).await));
        ctx.metrics.record_quota(&ctx.labels, &quota);
        let state = ctx.state.snapshot();
        Ok(record(
            &report,
            &inventory,
            &held,
            |key| state.first_seen(name, key.kind.as_str(), &key.id),
            now,
        ))
    }
}

/// The kinds listed completely in this sweep (not failed, offered by the cloud).
fn listed_kinds(inventory: &Inventory) -> impl Iterator<Item = Kind> + '_ {
    Kind::ALL
        .iter()
        .copied()
        .filter(|k| !inventory.errors().contains_key(k) && !inventory.absent().contains(k))
}

/// Records first sightings of every kind that was listed completely.
fn observe_found(state: &mut State, target: &str, inventory: &Inventory, now: Timestamp) {
    let mut ids: BTreeMap<Kind, Vec<&str>> = listed_kinds(inventory).map(|k| (k, vec![])).collect();
    for r in inventory.resources() {
        if let Some(list) = ids.get_mut(&r.kind) {
            list.push(r.id.as_str());
        }
    }
    for (kind, list) in ids {
        state.observe_found(target, kind.as_str(), list, now);
    }
}

/// Gives resources the API sends no `created_at` for (containers, keypairs in lists) the
/// time we first saw them as their age: a lower bound, so never too old.
fn with_first_seen_ages(state: &State, target: &str, inventory: Inventory) -> Inventory {
    if inventory.resources().iter().all(|r| r.created_at.is_some()) {
        return inventory;
    }
    let mut resources = inventory.resources().to_vec();
    for r in resources.iter_mut().filter(|r| r.created_at.is_none()) {
        r.created_at = state.first_seen(target, r.kind.as_str(), &r.id);
    }
    let mut rebuilt = Inventory::new(inventory.project_id(), resources);
    for (kind, error) in inventory.errors() {
        rebuilt.record_error(*kind, error.clone());
    }
    for kind in inventory.absent() {
        rebuilt.record_absent(*kind);
    }
    rebuilt
}

/// Records which resources are eligible now and demotes those not yet eligible for the
/// whole grace period; returns the held ones.
fn hold_for_grace(
    state: &mut State,
    target: &str,
    inventory: &Inventory,
    selection: &mut Selection,
    now: Timestamp,
    grace: Duration,
) -> Vec<ResourceKey> {
    let keys: Vec<ResourceKey> = selection.selected().cloned().collect();
    for kind in listed_kinds(inventory) {
        let ids = keys
            .iter()
            .filter(|k| k.kind == kind)
            .map(|k| k.id.as_str());
        state.observe_selected(target, kind.as_str(), ids, now);
    }
    let held: Vec<ResourceKey> = state
        .held_back(
            target,
            keys.iter().map(|k| (k.kind.as_str(), k.id.as_str())),
            now,
            grace,
        )
        .into_iter()
        .filter_map(|(kind, id)| keys.iter().find(|k| k.kind.as_str() == kind && k.id == id))
        .cloned()
        .collect();
    for key in &held {
        let since = state
            .sighting(target, key.kind.as_str(), &key.id)
            .and_then(|s| s.eligible_since);
        let reason = match since {
            Some(t) => format!(
                "kept: grace period of {} not over (eligible since {t})",
                select::format_age(grace)
            ),
            None => "kept: grace period not over".to_owned(),
        };
        selection.demote(key.kind, &key.id, reason);
    }
    held
}

/// The metrics' view of a report; `first_seen` ages resources the API gives no age.
pub(crate) fn record(
    report: &Report,
    inventory: &Inventory,
    held: &[ResourceKey],
    first_seen: impl Fn(&ResourceKey) -> Option<Timestamp>,
    now: Timestamp,
) -> SweepRecord {
    let n = |v: usize| u64::try_from(v).unwrap_or(u64::MAX);
    let mut kinds: BTreeMap<&'static str, KindCounts> = report
        .kinds
        .iter()
        .map(|(kind, c)| {
            let counts = KindCounts {
                found: n(c.found),
                selected: n(c.selected),
                held: 0,
                deleted: n(c.deleted),
                skipped: n(c.skipped),
                stuck: n(c.stuck),
                failed: n(c.failed),
                conflict_retries: c.conflict_retries,
            };
            (kind.as_str(), counts)
        })
        .collect();
    for key in held {
        let c = kinds.entry(key.kind.as_str()).or_default();
        c.held += 1;
        // The selector chose it; only the grace filter demoted it.
        c.selected += 1;
    }
    let age = |key: &ResourceKey| -> Option<Duration> {
        let created = inventory
            .get(key)
            .and_then(|r| r.created_at)
            .or_else(|| first_seen(key))?;
        Duration::try_from(now.duration_since(created)).ok()
    };
    let oldest_leak_age = report
        .left_behind()
        .map(|r| ResourceKey::new(r.kind, r.id.clone()))
        .chain(held.iter().cloned())
        .filter_map(|k| age(&k))
        .max();
    SweepRecord {
        kinds,
        oldest_leak_age,
        listing_errors: n(report.errors.len()),
    }
}

/// One summary event per sweep, and one per selected resource left behind, with why.
fn log_report(target: &str, report: &Report) {
    let t = report.totals();
    tracing::info!(
        target,
        cloud = %report.cloud,
        project = %report.project_id,
        found = t.found,
        selected = t.selected,
        deleted = t.deleted,
        skipped = t.skipped,
        stuck = t.stuck,
        failed = t.failed,
        aborted = report.aborted.as_deref(),
        "sweep report"
    );
    for r in report.left_behind() {
        tracing::warn!(target, kind = r.kind.as_str(), id = %r.id, name = %r.name,
            outcome = r.outcome.as_str(), reason = %r.reason, "selected resource left behind");
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

    /// `--config` excludes the single-target flags.
    #[test]
    fn config_excludes_target_flags() {
        assert!(parse(&["--config", "c.toml", "--tag", "x"]).is_err());
        assert!(parse(&["--config", "c.toml"]).is_ok());
        assert!(parse(&["--cloud", "ci", "--metadata", "novalue"]).is_err());
    }
    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    /// One sweep's selection with the grace filter and first-seen ages applied.
    fn sweep_at(
        state: &mut State,
        resources: &[crate::resources::Resource],
        spec: &crate::config::SelectSpec,
        now: Timestamp,
        grace: Duration,
    ) -> (Selection, Vec<ResourceKey>) {
        let selector = common::build_selector(spec).unwrap();
        let listed = Inventory::new("p", resources.to_vec());
        observe_found(state, "ci", &listed, now);
        let inventory = with_first_seen_ages(state, "ci", listed);
        let mut selection = select::evaluate(&inventory, &selector, now);
        let held = hold_for_grace(state, "ci", &inventory, &mut selection, now, grace);
        (selection, held)
    }

    /// A selected resource is demoted (held) until it has been eligible for the grace
    /// period, then selected.
    #[test]
    fn grace_holds_then_releases() {
        let mut net = crate::resources::Resource::new(Kind::Network, "n1");
        net.tags = vec!["ci".into()];
        net.created_at = Some(at(-86_400));
        let spec = crate::config::SelectSpec {
            tags: vec!["ci".into()],
            ..Default::default()
        };
        let key = ResourceKey::new(Kind::Network, "n1");
        let hour = Duration::from_secs(3600);
        let mut state = State::default();
        let (selection, held) =
            sweep_at(&mut state, std::slice::from_ref(&net), &spec, at(0), hour);
        assert_eq!(held, vec![key.clone()]);
        assert!(!selection.is_selected(&key));
        assert!(selection
            .verdict(&key)
            .unwrap()
            .reason
            .contains("grace period"));
        let (selection, held) = sweep_at(
            &mut state,
            std::slice::from_ref(&net),
            &spec,
            at(1800),
            hour,
        );
        assert_eq!(held.len(), 1);
        assert!(!selection.is_selected(&key));
        let (selection, held) = sweep_at(&mut state, &[net], &spec, at(3600), hour);
        assert!(held.is_empty());
        assert!(selection.is_selected(&key));
    }

    /// A kind without `created_at` gets its first sighting as its age for `older_than`.
    #[test]
    fn first_sighting_ages_resources_without_created_at() {
        let mut container = crate::resources::Resource::new(Kind::Container, "ci-logs");
        container.name = "ci-logs".into();
        let spec = crate::config::SelectSpec {
            name_regex: Some(regex::Regex::new("^ci-").unwrap()),
            older_than: Some(Duration::from_secs(3600)),
            ..Default::default()
        };
        let key = ResourceKey::new(Kind::Container, "ci-logs");
        let mut state = State::default();
        let first = sweep_at(
            &mut state,
            std::slice::from_ref(&container),
            &spec,
            at(0),
            Duration::ZERO,
        );
        assert!(
            !first.0.is_selected(&key),
            "a never-seen container looked old"
        );
        let later = sweep_at(&mut state, &[container], &spec, at(7200), Duration::ZERO);
        assert!(later.0.is_selected(&key));
    }
}
