//! The TOML configuration: parsed strictly (unknown keys are errors), then validated with
//! *every* problem reported at once, each with the path of the key it concerns.
//!
//! Two layers: `Raw*` structs mirror the file exactly (strings, as the user wrote them);
//! [`Config`] is the validated, typed result the rest of the program uses. The config
//! names clouds; it never holds a credential (those come from `clouds.yaml` / `OS_*`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::Deserialize;

use crate::coord::Shard;
use crate::engine::select::{self, Filters, Marks, Selector};
use crate::engine::unit::{ProjectPick, RegionPick, UnitsSpec};
use crate::engine::{ConnectSpec, JobSpec, SweepOptions};
use crate::openstack::{PacingMode, RetryPolicy, SessionOptions};
use crate::resources::Kind;

/// Default listen address of the daemon's `/metrics`, `/healthz`, `/readyz`.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:9187";

/// One thing wrong with a config, tied to the key it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Dotted path of the key (`target[1].select.older_than`), or `<file>` for the whole file.
    pub path: String,
    /// What is wrong, in words a user can act on.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or does not have our shape (unknown key, wrong type).
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: String,
        /// toml's message, which names the key and shows the line.
        message: String,
    },
    /// The file parsed but some values are wrong; all of them are listed.
    #[error("{} problem(s) in {path}:\n{}", problems.len(), render_problems(problems))]
    Invalid {
        /// The file.
        path: String,
        /// Every problem found.
        problems: Vec<Problem>,
    },
}

impl ConfigError {
    /// Every problem as `path: message` lines (one for a parse error).
    pub fn problems(&self) -> Vec<Problem> {
        match self {
            ConfigError::Read { path, source } => vec![Problem {
                path: path.display().to_string(),
                message: source.to_string(),
            }],
            ConfigError::Parse { path, message } => vec![Problem {
                path: path.clone(),
                message: message.clone(),
            }],
            ConfigError::Invalid { problems, .. } => problems.clone(),
        }
    }
}

fn render_problems(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---------------------------------------------------------------------------------------
// The file as written.

/// The file as written: every section optional except at least one target.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    /// Selector shared by every target (a target's own `select` keys override it).
    #[serde(default)]
    pub select: RawSelect,
    /// Blast-radius limits.
    #[serde(default)]
    pub safety: RawSafety,
    /// When the daemon sweeps.
    #[serde(default)]
    pub schedule: RawSchedule,
    /// Retry, concurrency and rate limits towards the cloud.
    #[serde(default)]
    pub retry: RawRetry,
    /// Where the daemon serves metrics and health.
    #[serde(default)]
    pub metrics: RawMetrics,
    /// Sharing the units between daemon replicas (none: one process sweeps everything).
    #[serde(default)]
    pub coordination: RawCoordination,
    /// The clouds/projects to sweep.
    #[serde(default, rename = "target")]
    pub targets: Vec<RawTarget>,
}

/// `[coordination]` as written: a static shard, or etcd, or neither.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCoordination {
    /// `"I/N"`: this replica sweeps the units rendezvous hashing gives shard `I` of `N`.
    pub shard: Option<String>,
    /// Replicas that find each other on etcd.
    pub etcd: Option<RawEtcd>,
}

/// `[coordination.etcd]` as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawEtcd {
    /// `["http://127.0.0.1:2379"]`.
    pub endpoints: Option<Vec<String>>,
    /// Where members and locks live (default `/stacksweep`).
    pub prefix: Option<String>,
    /// How long a dead replica keeps its units (default `10s`).
    pub lease_ttl: Option<String>,
    /// This replica's name (default: `POD_NAME`, else the host name).
    pub member: Option<String>,
    /// PEM CA bundle that signed etcd's server certificate (`https://` endpoints;
    /// default: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate, with `key_file` (etcd's `--client-cert-auth`).
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file`.
    pub key_file: Option<PathBuf>,
    /// etcd user (etcd's `--auth`), with `password_env`.
    pub username: Option<String>,
    /// The environment variable holding that user's password (never the password
    /// itself in the file).
    pub password_env: Option<String>,
}

/// Selector keys as written (see the README's config reference).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSelect {
    /// Presets: named sets of marks for the usual leakers.
    pub presets: Option<Vec<String>>,
    /// Ours when it has all of these tags.
    pub tags: Option<Vec<String>>,
    /// Ours when it has any one of these tags.
    pub any_tags: Option<Vec<String>>,
    /// Ours when its metadata/properties has one of these `key = value` pairs.
    pub metadata: Option<BTreeMap<String, String>>,
    /// Ours when its name (floating IPs: description) matches.
    pub name_regex: Option<String>,
    /// Never when it has any of these tags (keep markers).
    pub not_tags: Option<Vec<String>>,
    /// Only when older than this (`"6h"`, `"1d 2h"`, `"30m"`).
    pub older_than: Option<String>,
    /// Only these kinds (empty: all kinds).
    pub kinds: Option<Vec<String>>,
    /// Never these kinds.
    pub exclude_kinds: Option<Vec<String>>,
}

impl RawSelect {
    /// `self`'s keys where set, else `base`'s: a target overrides the shared selector key
    /// by key, and command-line flags override a config's selector the same way.
    pub fn over(&self, base: &RawSelect) -> RawSelect {
        RawSelect {
            presets: self.presets.clone().or_else(|| base.presets.clone()),
            tags: self.tags.clone().or_else(|| base.tags.clone()),
            any_tags: self.any_tags.clone().or_else(|| base.any_tags.clone()),
            metadata: self.metadata.clone().or_else(|| base.metadata.clone()),
            name_regex: self.name_regex.clone().or_else(|| base.name_regex.clone()),
            not_tags: self.not_tags.clone().or_else(|| base.not_tags.clone()),
            older_than: self.older_than.clone().or_else(|| base.older_than.clone()),
            kinds: self.kinds.clone().or_else(|| base.kinds.clone()),
            exclude_kinds: self
                .exclude_kinds
                .clone()
                .or_else(|| base.exclude_kinds.clone()),
        }
    }
}

/// Safety keys as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSafety {
    /// If a sweep selects more than this, it deletes nothing.
    pub max_deletes_per_sweep: Option<usize>,
    /// Deletes across every unit of one run, at most.
    pub max_deletes_total: Option<usize>,
    /// IDs or names never touched.
    pub protect: Option<Vec<String>>,
    /// A resource must be seen eligible this long before it is deleted.
    pub grace: Option<String>,
    /// Where first sightings are remembered.
    pub state_file: Option<PathBuf>,
    /// Project IDs or names a target may sweep; empty: any.
    pub projects: Option<Vec<String>>,
}

/// Schedule keys as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSchedule {
    /// One or more 5-field cron expressions.
    pub cron: Option<StringOrList>,
    /// IANA time zone the cron expressions are in.
    pub timezone: Option<String>,
    /// Random delay added to each scheduled start, up to this.
    pub jitter: Option<String>,
    /// A sweep that runs longer than this stops starting new deletes.
    pub deadline: Option<String>,
    /// How many targets sweep at once.
    pub max_concurrent_targets: Option<usize>,
    /// How many units (a project of a region) sweep at once, across every target.
    pub max_concurrent_units: Option<usize>,
}

/// Retry keys as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// First backoff delay.
    pub base_delay: Option<String>,
    /// Largest backoff delay.
    pub max_delay: Option<String>,
    /// Stop retrying one operation after this long.
    pub deadline: Option<String>,
    /// Stop retrying a service that refuses connections or whose host does not resolve
    /// after this long (a wrong URL fails fast).
    pub connect_deadline: Option<String>,
    /// `adaptive` (default) or `fixed`.
    pub pacing: Option<String>,
    /// Requests in flight at once, per service: the ceiling (fixed: the cap).
    pub concurrency: Option<usize>,
    /// Requests started per second, per service: the ceiling (fixed: the cap).
    pub requests_per_second: Option<u32>,
}

/// Metrics keys as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawMetrics {
    /// `host:port` for `/metrics`, `/healthz`, `/readyz`.
    pub listen: Option<String>,
    /// `"auto"` (default), `"always"` or `"never"`: per-unit (project, region) series.
    pub per_unit_series: Option<String>,
    /// With `"auto"`: a target of more units than this exports only its sums.
    pub per_unit_series_limit: Option<usize>,
}

/// One target as written.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTarget {
    /// A label for logs and metrics; defaults to the cloud name (and region).
    pub name: Option<String>,
    /// The cloud's name in `clouds.yaml`.
    pub cloud: Option<String>,
    /// Overrides the cloud's `region_name`.
    pub region: Option<String>,
    /// Overrides the cloud's project (name or ID).
    pub project: Option<String>,
    /// Several projects: names, IDs or name patterns (`ci-*`), among those the
    /// credential may scope to; each is swept with a token scoped to it.
    pub projects: Option<Vec<String>>,
    /// Only projects of this domain (its ID, as Keystone lists a project's `domain_id`).
    pub domain: Option<String>,
    /// Several regions (`["RegionOne", "RegionTwo"]`), or `"all"` in the catalog.
    pub regions: Option<StringOrList>,
    /// This target's own schedule (else the shared one).
    pub schedule: Option<StringOrList>,
    /// This target's selector keys, over the shared `[select]`.
    #[serde(default)]
    pub select: RawSelect,
}

/// A value that may be written as one string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StringOrList {
    /// `cron = "*/5 * * * *"`.
    One(String),
    /// `cron = ["0 * * * *", "30 2 * * *"]`.
    Many(Vec<String>),
}

impl StringOrList {
    fn to_vec(&self) -> Vec<String> {
        match self {
            StringOrList::One(s) => vec![s.clone()],
            StringOrList::Many(v) => v.clone(),
        }
    }
}

// ---------------------------------------------------------------------------------------
// The validated config.

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// What to sweep; at least one.
    pub targets: Vec<Target>,
    /// Blast-radius limits.
    pub safety: Safety,
    /// When the daemon sweeps, by default.
    pub schedule: Schedule,
    /// Towards the cloud.
    pub retry: Retry,
    /// The daemon's listen address.
    pub listen: SocketAddr,
    /// Whether a target of several units exports series per unit.
    pub unit_series: UnitSeries,
    /// Which units this process sweeps.
    pub coordination: Coordination,
}

/// Whether the per-kind, oldest-leak and quota series of a target of several units are
/// exported per unit (`project` and `region` labels) or only summed at the target's.
/// Each unit costs a few hundred series (kinds × outcomes, quota resources): a fleet of
/// thousands of projects would be millions of series, for the replica's memory and for
/// Prometheus alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitSeries {
    /// Per unit while the target has at most this many units, else summed.
    Auto(usize),
    /// Always per unit.
    Always,
    /// Always summed.
    Never,
}

impl UnitSeries {
    /// Whether a target of `units` units exports them one by one.
    pub fn per_unit(self, units: usize) -> bool {
        match self {
            UnitSeries::Auto(limit) => units <= limit,
            UnitSeries::Always => true,
            UnitSeries::Never => false,
        }
    }
}

/// How the units are shared between replicas.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Coordination {
    /// One process sweeps everything (the default).
    #[default]
    Alone,
    /// A static shard: this replica's share of a fixed split, no failover.
    Shard(Shard),
    /// Replicas registered on etcd share the units and lock each while it is swept.
    Etcd(EtcdConfig),
}

/// `[coordination.etcd]`, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// The cluster's client URLs.
    pub endpoints: Vec<String>,
    /// Key prefix, without a trailing `/` (`/stacksweep`).
    pub prefix: String,
    /// The lease's TTL: how long a dead replica's units stay locked and owned.
    pub lease_ttl: Duration,
    /// The configured member name (`None`: `POD_NAME`, else the host name, at start).
    pub member: Option<String>,
    /// TLS to etcd (`https://` endpoints): `None` for `http://`.
    pub tls: Option<EtcdTls>,
    /// etcd authentication: the user and the environment variable holding its password.
    pub auth: Option<EtcdAuth>,
}

/// `[coordination.etcd]`'s TLS files, checked to be readable when the config loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdTls {
    /// The CA bundle that signed etcd's certificate (`None`: the system's roots).
    pub ca_file: Option<PathBuf>,
    /// A client certificate and its key, for etcd's `--client-cert-auth`.
    pub identity: Option<(PathBuf, PathBuf)>,
}

/// etcd's user authentication. The password is read from `password_env` when a session
/// connects, so it lives in no file, no config value and no `Debug` output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdAuth {
    /// The etcd user.
    pub username: String,
    /// The environment variable holding its password.
    pub password_env: String,
}

/// One cloud/project to sweep, with its selector.
#[derive(Debug, Clone)]
pub struct Target {
    /// Label for logs and metrics.
    pub name: String,
    /// Cloud name in `clouds.yaml` (or `envvars` for `OS_*` only).
    pub cloud: String,
    /// Region override.
    pub region: Option<String>,
    /// Project override.
    pub project: Option<String>,
    /// Projects and regions: the units this target covers (single: the cloud's own
    /// project in `region`, as before).
    pub units: UnitsSpec,
    /// What this target selects: marks and filters, typed (kinds, presets resolved).
    pub select: Selector,
    /// This target's cron expressions (the shared ones when it has none).
    pub cron: Vec<CronExpr>,
}

/// Blast-radius limits.
#[derive(Debug, Clone)]
pub struct Safety {
    /// If a sweep (one unit's) selects more than this, it deletes nothing.
    pub max_deletes_per_sweep: Option<usize>,
    /// Deletes across every unit of one run, at most: drawn before each delete, so
    /// concurrent units never exceed it together.
    pub max_deletes_total: Option<usize>,
    /// A resource must be seen eligible in two sweeps at least this far apart.
    pub grace: Duration,
    /// Where first sightings are remembered.
    pub state_file: Option<PathBuf>,
    /// Projects a target may sweep (IDs or names); empty: any.
    pub projects: Vec<String>,
}

/// The shared schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Cron expressions (5-field).
    pub cron: Vec<CronExpr>,
    /// Time zone of the expressions.
    pub timezone: jiff::tz::TimeZone,
    /// Random delay added to each start, up to this.
    pub jitter: Duration,
    /// Per-sweep deadline.
    pub deadline: Duration,
    /// How many targets sweep at once.
    pub max_concurrent_targets: usize,
    /// How many units (a project of a region) sweep at once, across every target.
    pub max_concurrent_units: usize,
}

/// Retry and pacing towards the cloud.
#[derive(Debug, Clone)]
pub struct Retry {
    /// First backoff delay.
    pub base_delay: Duration,
    /// Largest backoff delay.
    pub max_delay: Duration,
    /// Give up retrying one operation after this long.
    pub deadline: Duration,
    /// Give up on a service that refuses connections or whose host does not resolve
    /// after this long: a wrong URL is a configuration error, not a busy cloud.
    pub connect_deadline: Duration,
    /// Adaptive limits under the ceilings below, or the ceilings as fixed caps.
    pub pacing: PacingMode,
    /// Requests in flight at once, per service: the ceiling (fixed: the cap). Also the
    /// steps acting at once per service, so that pacing, not the walk, bounds requests.
    pub concurrency: usize,
    /// Requests started per second, per service: the ceiling (`None`: none).
    pub requests_per_second: Option<u32>,
}

/// A parsed 5-field cron expression, with the text it came from.
#[derive(Clone)]
pub struct CronExpr {
    /// As written.
    pub text: String,
    /// Parsed.
    pub cron: croner::Cron,
}

impl fmt::Debug for CronExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CronExpr({:?})", self.text)
    }
}

impl FromStr for CronExpr {
    type Err = String;

    /// Standard 5-field crontab syntax (minute hour day-of-month month day-of-week), or
    /// `@hourly`-style aliases; a seconds field is refused, as crontab refuses it.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let fields = text.split_whitespace().count();
        if !text.trim_start().starts_with('@') && fields != 5 {
            return Err(format!(
                "invalid cron expression {text:?}: expected 5 fields (minute hour day-of-month month day-of-week), found {fields}"
            ));
        }
        let parser = croner::parser::CronParser::builder()
            .seconds(croner::parser::Seconds::Disallowed)
            .build();
        parser
            .parse(text)
            .map(|cron| CronExpr {
                text: text.to_owned(),
                cron,
            })
            .map_err(|e| format!("invalid cron expression {text:?}: {e}"))
    }
}

/// Defaults, in one place so the README can quote them.
pub mod defaults {
    use std::time::Duration;

    /// Per-sweep deadline.
    pub const SWEEP_DEADLINE: Duration = Duration::from_secs(20 * 60);
    /// Retry: first backoff delay.
    pub const BASE_DELAY: Duration = Duration::from_millis(500);
    /// Retry: largest backoff delay.
    pub const MAX_DELAY: Duration = Duration::from_secs(30);
    /// Retry: give up one operation after this long.
    pub const RETRY_DEADLINE: Duration = Duration::from_secs(10 * 60);
    /// Retry: give up on an address that refuses connections (or a host that does not
    /// resolve) after this long.
    pub const CONNECT_DEADLINE: Duration = Duration::from_secs(10);
    /// Ceiling of requests in flight at once, per service. Adaptive pacing starts at
    /// [`crate::openstack::pacing::START_CONCURRENCY`] (8) and grows towards it only while
    /// the service answers fast and cleanly: high enough that feedback, not the cap,
    /// bounds a sweep (64 in flight at 20 ms is ~3,000 requests/s), low enough that a
    /// cloud whose latency does not show its load still sees a bounded client.
    pub const CONCURRENCY: usize = 64;
    /// Ceiling of requests started per second, per service: none. The rate follows from
    /// the concurrency limit and the service's latency, and is learned from 429s.
    pub const REQUESTS_PER_SECOND: Option<u32> = None;
    /// Targets swept at once by the daemon.
    pub const MAX_CONCURRENT_TARGETS: usize = 4;
    /// Units (a project of a region) swept at once, across targets, when neither
    /// `max_concurrent_units` nor `max_concurrent_targets` is set: each has its own
    /// session and pacing, so this bounds the load on a shared cloud.
    pub const MAX_CONCURRENT_UNITS: usize = 4;
    /// Daemon schedule when none is given.
    pub const CRON: &str = "*/15 * * * *";
    /// Where replicas keep members and locks in etcd.
    pub const ETCD_PREFIX: &str = "/stacksweep";
    /// How long a dead replica keeps its units.
    pub const LEASE_TTL: Duration = Duration::from_secs(10);
    /// Units per target up to which `per_unit_series = "auto"` exports each unit: about
    /// 20,000 series for a target at the limit, a size Prometheus holds easily.
    pub const PER_UNIT_SERIES_LIMIT: usize = 100;
}

/// Parses a duration as users write it: `"6h"`, `"1d 2h"`, `"30m"`, `"500ms"`, `"0s"`,
/// or ISO 8601 (`"PT6H"`). Negative durations are refused.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let span: jiff::Span = text.trim().parse().map_err(|e| {
        format!("invalid duration {text:?}: {e} (write e.g. \"6h\", \"30m\", \"1d 2h\")")
    })?;
    // Days are taken as 24h: ages of leaked resources are not calendar arithmetic.
    let signed = span
        .to_duration(jiff::SpanRelativeTo::days_are_24_hours())
        .map_err(|e| format!("invalid duration {text:?}: {e}"))?;
    Duration::try_from(signed)
        .map_err(|_| format!("invalid duration {text:?}: must not be negative"))
}

impl Config {
    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text, &path.display().to_string())
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: origin.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        raw.validate().map_err(|problems| ConfigError::Invalid {
            path: origin.to_owned(),
            problems,
        })
    }
}

impl Config {
    /// How a sweep of any target runs under this config: the one place config keys become
    /// engine options, so every key means the same in `sweep`, `daemon` and `check-config`.
    pub fn sweep_options(&self) -> SweepOptions {
        SweepOptions {
            max_deletes: self.safety.max_deletes_per_sweep,
            deadline: self.schedule.deadline,
            concurrency: self.retry.concurrency,
            retry_base: self.retry.base_delay,
            retry_cap: self.retry.max_delay,
            ..SweepOptions::default()
        }
    }

    /// The session settings of the retry section (no observer).
    pub fn session_options(&self) -> SessionOptions {
        SessionOptions {
            retry: RetryPolicy {
                base_delay: self.retry.base_delay,
                max_delay: self.retry.max_delay,
                deadline: self.retry.deadline,
                connect_deadline: self.retry.connect_deadline,
            },
            pacing: self.retry.pacing,
            concurrency_per_service: self.retry.concurrency,
            requests_per_second: self.retry.requests_per_second,
            ..SessionOptions::default()
        }
    }

    /// Everything the engine needs to sweep `target` under this config.
    pub fn job(&self, target: &Target) -> JobSpec {
        JobSpec {
            connect: ConnectSpec {
                target: target.name.clone(),
                cloud: target.cloud.clone(),
                region: target.region.clone(),
                project: target.project.clone(),
                project_name: None,
                allowed_projects: self.safety.projects.clone(),
                session: self.session_options(),
            },
            selector: target.select.clone(),
            options: self.sweep_options(),
        }
    }
}

/// Collects problems while validating.
#[derive(Default)]
struct Problems(Vec<Problem>);

impl Problems {
    fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(Problem {
            path: path.into(),
            message: message.into(),
        });
    }

    fn duration(&mut self, path: &str, value: &Option<String>, default: Duration) -> Duration {
        match value {
            None => default,
            Some(text) => parse_duration(text).unwrap_or_else(|message| {
                self.push(path, message);
                default
            }),
        }
    }

    fn crons(&mut self, path: &str, exprs: &[String]) -> Vec<CronExpr> {
        exprs
            .iter()
            .enumerate()
            .filter_map(|(i, text)| match text.parse::<CronExpr>() {
                Ok(c) => Some(c),
                Err(message) => {
                    let p = if exprs.len() == 1 {
                        path.to_owned()
                    } else {
                        format!("{path}[{i}]")
                    };
                    self.push(p, message);
                    None
                }
            })
            .collect()
    }
}

impl RawConfig {
    /// Turns the file as written into a [`Config`], or every problem found.
    pub fn validate(self) -> Result<Config, Vec<Problem>> {
        let mut problems = Problems::default();

        let safety = Safety {
            max_deletes_per_sweep: self.safety.max_deletes_per_sweep,
            max_deletes_total: self.safety.max_deletes_total,
            grace: problems.duration("safety.grace", &self.safety.grace, Duration::ZERO),
            state_file: self.safety.state_file.clone(),
            projects: self.safety.projects.clone().unwrap_or_default(),
        };
        if safety.max_deletes_total == Some(0) {
            problems.push(
                "safety.max_deletes_total",
                "must be at least 1 (use --dry-run to delete nothing)",
            );
        }
        if safety.max_deletes_per_sweep == Some(0) {
            problems.push(
                "safety.max_deletes_per_sweep",
                "must be at least 1 (use --dry-run to delete nothing)",
            );
        }
        let protect = self.safety.protect.clone().unwrap_or_default();

        let shared_cron = match &self.schedule.cron {
            Some(c) => problems.crons("schedule.cron", &c.to_vec()),
            None => problems.crons("schedule.cron", &[defaults::CRON.to_owned()]),
        };
        let timezone = match &self.schedule.timezone {
            None => jiff::tz::TimeZone::UTC,
            Some(name) => jiff::tz::TimeZone::get(name).unwrap_or_else(|e| {
                problems.push(
                    "schedule.timezone",
                    format!("unknown time zone {name:?}: {e}"),
                );
                jiff::tz::TimeZone::UTC
            }),
        };
        let schedule = Schedule {
            cron: shared_cron.clone(),
            timezone,
            jitter: problems.duration("schedule.jitter", &self.schedule.jitter, Duration::ZERO),
            deadline: problems.duration(
                "schedule.deadline",
                &self.schedule.deadline,
                defaults::SWEEP_DEADLINE,
            ),
            max_concurrent_targets: self
                .schedule
                .max_concurrent_targets
                .unwrap_or(defaults::MAX_CONCURRENT_TARGETS),
            // Unset: as many as targets, so a config of one-project targets sweeps as
            // many at once as it did before units.
            max_concurrent_units: self.schedule.max_concurrent_units.unwrap_or(
                self.schedule
                    .max_concurrent_targets
                    .unwrap_or(defaults::MAX_CONCURRENT_UNITS),
            ),
        };
        if schedule.max_concurrent_targets == 0 {
            problems.push("schedule.max_concurrent_targets", "must be at least 1");
        }
        if schedule.max_concurrent_units == 0 {
            problems.push("schedule.max_concurrent_units", "must be at least 1");
        }

        let retry = Retry {
            base_delay: problems.duration(
                "retry.base_delay",
                &self.retry.base_delay,
                defaults::BASE_DELAY,
            ),
            max_delay: problems.duration(
                "retry.max_delay",
                &self.retry.max_delay,
                defaults::MAX_DELAY,
            ),
            deadline: problems.duration(
                "retry.deadline",
                &self.retry.deadline,
                defaults::RETRY_DEADLINE,
            ),
            connect_deadline: problems.duration(
                "retry.connect_deadline",
                &self.retry.connect_deadline,
                defaults::CONNECT_DEADLINE,
            ),
            pacing: match self.retry.pacing.as_deref() {
                None | Some("adaptive") => PacingMode::Adaptive,
                Some("fixed") => PacingMode::Fixed,
                Some(other) => {
                    problems.push(
                        "retry.pacing",
                        format!("unknown pacing {other:?}; write \"adaptive\" or \"fixed\""),
                    );
                    PacingMode::Adaptive
                }
            },
            concurrency: self.retry.concurrency.unwrap_or(defaults::CONCURRENCY),
            requests_per_second: self
                .retry
                .requests_per_second
                .or(defaults::REQUESTS_PER_SECOND),
        };
        if retry.concurrency == 0 {
            problems.push("retry.concurrency", "must be at least 1");
        }
        if self.retry.requests_per_second == Some(0) {
            problems.push("retry.requests_per_second", "must be at least 1");
        }
        if retry.base_delay > retry.max_delay {
            problems.push(
                "retry.base_delay",
                "must not be larger than retry.max_delay",
            );
        }
        if retry.connect_deadline > retry.deadline {
            problems.push(
                "retry.connect_deadline",
                "must not be larger than retry.deadline",
            );
        }

        let listen_text = self
            .metrics
            .listen
            .clone()
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen = listen_text.parse::<SocketAddr>().unwrap_or_else(|e| {
            problems.push(
                "metrics.listen",
                format!(
                    "invalid address {listen_text:?}: {e} (write host:port, e.g. 127.0.0.1:9187)"
                ),
            );
            SocketAddr::from(([127, 0, 0, 1], 9187))
        });

        let coordination = validate_coordination(&self.coordination, &mut problems);
        let limit = self
            .metrics
            .per_unit_series_limit
            .unwrap_or(defaults::PER_UNIT_SERIES_LIMIT);
        let unit_series = match self.metrics.per_unit_series.as_deref() {
            None | Some("auto") => UnitSeries::Auto(limit),
            Some("always") => UnitSeries::Always,
            Some("never") => UnitSeries::Never,
            Some(other) => {
                problems.push(
                    "metrics.per_unit_series",
                    format!("{other:?} is not one of \"auto\", \"always\", \"never\""),
                );
                UnitSeries::Auto(limit)
            }
        };
        if self.metrics.per_unit_series_limit.is_some()
            && !matches!(unit_series, UnitSeries::Auto(_))
        {
            problems.push(
                "metrics.per_unit_series_limit",
                "only applies to per_unit_series = \"auto\"",
            );
        }

        if self.targets.is_empty() {
            problems.push(
                "target",
                "no [[target]] given: name at least one cloud to sweep",
            );
        }
        let mut targets = Vec::new();
        let mut names = BTreeMap::new();
        for (i, raw) in self.targets.iter().enumerate() {
            let path = format!("target[{i}]");
            let Some(cloud) = raw.cloud.clone().filter(|c| !c.trim().is_empty()) else {
                problems.push(
                    format!("{path}.cloud"),
                    "missing: name the cloud (as in clouds.yaml)",
                );
                continue;
            };
            let name = raw.name.clone().unwrap_or_else(|| match &raw.region {
                Some(region) => format!("{cloud}/{region}"),
                None => cloud.clone(),
            });
            if let Some(previous) = names.insert(name.clone(), i) {
                problems.push(
                    format!("{path}.name"),
                    format!("target name {name:?} is already used by target[{previous}]; give each target a distinct name"),
                );
            }
            let select = validate_select(
                &raw.select.over(&self.select),
                &protect,
                &format!("{path}.select"),
                &mut problems,
            );
            let cron = match &raw.schedule {
                Some(c) => problems.crons(&format!("{path}.schedule"), &c.to_vec()),
                None => shared_cron.clone(),
            };
            let units = validate_units(raw, &path, &mut problems);
            // `None` only with a problem recorded: the config is refused anyway.
            if let Some(select) = select {
                targets.push(Target {
                    name,
                    cloud,
                    region: raw.region.clone(),
                    project: raw.project.clone(),
                    units,
                    select,
                    cron,
                });
            }
        }

        if problems.0.is_empty() {
            Ok(Config {
                targets,
                safety,
                schedule,
                retry,
                listen,
                unit_series,
                coordination,
            })
        } else {
            Err(problems.0)
        }
    }
}

/// `[coordination]`, checked: a shard `I/N` with `I` below `N`, or etcd with endpoints
/// and a lease TTL of whole seconds (2 s at least: etcd's own floor), not both.
fn validate_coordination(raw: &RawCoordination, problems: &mut Problems) -> Coordination {
    let shard = raw.shard.as_ref().and_then(|text| {
        text.parse::<Shard>()
            .map_err(|e| problems.push("coordination.shard", e.to_string()))
            .ok()
    });
    let Some(etcd) = &raw.etcd else {
        return shard.map_or(Coordination::Alone, Coordination::Shard);
    };
    if raw.shard.is_some() {
        problems.push(
            "coordination.shard",
            "a static shard and [coordination.etcd] exclude each other: etcd shares the \
             units itself",
        );
    }
    let endpoints = etcd.endpoints.clone().unwrap_or_default();
    if endpoints.is_empty() {
        problems.push(
            "coordination.etcd.endpoints",
            "missing: list the etcd client URLs, e.g. [\"http://127.0.0.1:2379\"]",
        );
    }
    let schemes: BTreeSet<String> = endpoints
        .iter()
        .filter_map(|e| url::Url::parse(e).ok().map(|u| u.scheme().to_owned()))
        .collect();
    for (i, e) in endpoints.iter().enumerate() {
        if url::Url::parse(e).map_or(true, |u| !matches!(u.scheme(), "http" | "https")) {
            problems.push(
                format!("coordination.etcd.endpoints[{i}]"),
                format!("{e:?} is not an http:// or https:// URL"),
            );
        }
    }
    if schemes.len() > 1 {
        problems.push(
            "coordination.etcd.endpoints",
            "mixes http:// and https://: one cluster speaks one of them",
        );
    }
    let tls = validate_etcd_tls(etcd, schemes.contains("https"), problems);
    let auth = validate_etcd_auth(etcd, problems);
    let prefix = etcd
        .prefix
        .clone()
        .unwrap_or_else(|| defaults::ETCD_PREFIX.to_owned());
    if !prefix.starts_with('/') {
        problems.push(
            "coordination.etcd.prefix",
            format!("{prefix:?} must start with /"),
        );
    }
    let lease_ttl = problems.duration(
        "coordination.etcd.lease_ttl",
        &etcd.lease_ttl,
        defaults::LEASE_TTL,
    );
    if lease_ttl < Duration::from_secs(2) || lease_ttl.subsec_nanos() != 0 {
        problems.push(
            "coordination.etcd.lease_ttl",
            "must be whole seconds, 2s at least (etcd leases count in seconds)",
        );
    }
    if let Some(m) = &etcd.member {
        if m.is_empty() || m.contains(['/', '\0']) {
            problems.push(
                "coordination.etcd.member",
                format!("{m:?} must be a non-empty name without / (it is part of a key)"),
            );
        }
    }
    Coordination::Etcd(EtcdConfig {
        endpoints,
        prefix: prefix.trim_end_matches('/').to_owned(),
        lease_ttl,
        member: etcd.member.clone(),
        tls,
        auth,
    })
}

/// The TLS files of `[coordination.etcd]`: only with `https://` endpoints, a key with
/// its certificate, and each file readable now (not at the first connection).
fn validate_etcd_tls(raw: &RawEtcd, https: bool, problems: &mut Problems) -> Option<EtcdTls> {
    let named = [
        ("ca_file", &raw.ca_file),
        ("cert_file", &raw.cert_file),
        ("key_file", &raw.key_file),
    ];
    for (key, path) in named {
        let Some(path) = path else { continue };
        let path_key = format!("coordination.etcd.{key}");
        if !https {
            problems.push(path_key, "is for https:// endpoints only");
        } else if let Err(e) = std::fs::read(path) {
            problems.push(path_key, format!("cannot read {}: {e}", path.display()));
        }
    }
    let identity = match (&raw.cert_file, &raw.key_file) {
        (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
        (None, None) => None,
        (Some(_), None) => {
            problems.push("coordination.etcd.key_file", "missing: cert_file needs it");
            None
        }
        (None, Some(_)) => {
            problems.push("coordination.etcd.cert_file", "missing: key_file needs it");
            None
        }
    };
    https.then(|| EtcdTls {
        ca_file: raw.ca_file.clone(),
        identity,
    })
}

/// etcd's user and the environment variable holding its password, both or neither; the
/// variable must be set now, so a replica does not start only to fail at connecting.
fn validate_etcd_auth(raw: &RawEtcd, problems: &mut Problems) -> Option<EtcdAuth> {
    match (&raw.username, &raw.password_env) {
        (None, None) => None,
        (Some(_), None) => {
            problems.push(
                "coordination.etcd.password_env",
                "missing: name the environment variable holding the user's password",
            );
            None
        }
        (None, Some(_)) => {
            problems.push(
                "coordination.etcd.username",
                "missing: password_env needs it",
            );
            None
        }
        (Some(username), Some(var)) => {
            if std::env::var_os(var).is_none_or(|v| v.is_empty()) {
                problems.push(
                    "coordination.etcd.password_env",
                    format!("the environment variable {var} is not set"),
                );
            }
            Some(EtcdAuth {
                username: username.clone(),
                password_env: var.clone(),
            })
        }
    }
}

/// A target's `projects`, `domain` and `regions`, checked: `project` and `projects` (or
/// `region` and `regions`) together are refused, as are empty lists and names.
fn validate_units(raw: &RawTarget, path: &str, problems: &mut Problems) -> UnitsSpec {
    let mut spec = UnitsSpec::default();
    if let Some(projects) = &raw.projects {
        if raw.project.is_some() {
            problems.push(
                format!("{path}.projects"),
                "set either project (one) or projects (several), not both",
            );
        }
        if projects.is_empty() {
            problems.push(
                format!("{path}.projects"),
                "empty: name at least one project, ID or pattern (ci-*)",
            );
        }
        for (i, p) in projects.iter().enumerate() {
            if p.trim().is_empty() {
                problems.push(format!("{path}.projects[{i}]"), "must not be empty");
            } else {
                spec.projects.push(ProjectPick::parse(p.trim()));
            }
        }
    }
    if let Some(domain) = &raw.domain {
        if raw.projects.is_none() {
            problems.push(
                format!("{path}.domain"),
                "only with projects (it narrows which projects match)",
            );
        }
        if domain.trim().is_empty() {
            problems.push(format!("{path}.domain"), "must not be empty");
        }
        spec.domain = Some(domain.trim().to_owned());
    }
    if let Some(regions) = &raw.regions {
        if raw.region.is_some() {
            problems.push(
                format!("{path}.regions"),
                "set either region (one) or regions (several, or \"all\"), not both",
            );
        }
        spec.regions = match regions {
            StringOrList::One(all) if all == "all" => RegionPick::All,
            other => {
                let list = other.to_vec();
                if list.is_empty() {
                    problems.push(
                        format!("{path}.regions"),
                        "empty: name at least one region, or write \"all\"",
                    );
                }
                for (i, r) in list.iter().enumerate() {
                    if r.trim().is_empty() {
                        problems.push(format!("{path}.regions[{i}]"), "must not be empty");
                    } else if r == "all" {
                        problems.push(
                            format!("{path}.regions[{i}]"),
                            "\"all\" stands alone: write regions = \"all\"",
                        );
                    }
                }
                RegionPick::List(list)
            }
        };
    }
    spec
}

/// The user's own name pattern, compiled (presets' aside); `None` when absent or invalid.
fn marks_own_regex(raw: &RawSelect) -> Option<regex::Regex> {
    raw.name_regex
        .as_ref()
        .and_then(|re| regex::Regex::new(re).ok())
}

/// Validates one (merged) selector into the engine's typed [`Selector`]: preset names
/// resolved to their marks, kind names parsed. `path` prefixes the problems; `None` when
/// there was one that leaves no selector to build.
pub fn validate_select(
    raw: &RawSelect,
    protect: &[String],
    path: &str,
    problems_out: &mut impl ProblemSink,
) -> Option<Selector> {
    let mut problems = Problems::default();
    let name_regex = raw
        .name_regex
        .as_ref()
        .and_then(|re| match regex::Regex::new(re) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(
                    format!("{path}.name_regex"),
                    format!("invalid regex {re:?}: {e}"),
                );
                None
            }
        });
    // The user's marks first, then each preset's (their name patterns become
    // alternatives of the user's).
    let mut marks = Marks {
        all_tags: raw.tags.clone().unwrap_or_default(),
        any_tags: raw.any_tags.clone().unwrap_or_default(),
        metadata: raw
            .metadata
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
        name_regex,
        description_regex: None,
    };
    let presets = raw.presets.clone().unwrap_or_default();
    for p in &presets {
        match select::resolve_preset(p) {
            Ok(preset) => marks.merge(preset),
            Err(e) => problems.push(format!("{path}.presets"), e.to_string()),
        }
    }
    let mut kinds_check = |key: &str, list: &Option<Vec<String>>| -> Vec<Kind> {
        let mut kinds = Vec::new();
        for name in list.iter().flatten() {
            match name.parse::<Kind>() {
                Ok(kind) => kinds.push(kind),
                Err(_) => problems.push(
                    format!("{path}.{key}"),
                    format!("unknown kind {name:?}; known kinds: {}", kind_names()),
                ),
            }
        }
        kinds
    };
    let include_kinds = kinds_check("kinds", &raw.kinds);
    let exclude_kinds = kinds_check("exclude_kinds", &raw.exclude_kinds);
    let older_than = raw
        .older_than
        .as_ref()
        .and_then(|t| match parse_duration(t) {
            Ok(d) => Some(d),
            Err(message) => {
                problems.push(format!("{path}.older_than"), message);
                None
            }
        });
    let mut has_empty = false;
    for (key, list) in [
        ("tags", &raw.tags),
        ("any_tags", &raw.any_tags),
        ("not_tags", &raw.not_tags),
    ] {
        if list
            .as_ref()
            .is_some_and(|l| l.iter().any(|t| t.trim().is_empty()))
        {
            problems.push(format!("{path}.{key}"), "tags must not be empty strings");
            has_empty = true;
        }
    }
    let filters = Filters {
        older_than,
        keep_tags: raw.not_tags.clone().unwrap_or_default(),
        include_kinds,
        exclude_kinds,
        protect: protect.to_vec(),
    };
    let has_marks = !presets.is_empty() || !marks.is_empty() || raw.name_regex.is_some();
    if !has_marks && !has_empty {
        problems.push(
            path.to_owned(),
            "no selector: give at least one of tags, any_tags, metadata, name_regex or presets \
             (an empty selector would select everything, so it is refused)",
        );
    }
    let clean = problems.0.is_empty();
    for p in problems.0 {
        problems_out.problem(p);
    }
    let own_name_regex = marks_own_regex(raw);
    match Selector::new(marks, filters) {
        Ok(selector) if clean => Some(selector.with_own_name_regex(own_name_regex)),
        _ => None,
    }
}

/// Every kind's name, comma-separated, for messages.
fn kind_names() -> String {
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    names.join(", ")
}

/// Where [`validate_select`] reports problems (a config's list, or the CLI's).
pub trait ProblemSink {
    /// Records one problem.
    fn problem(&mut self, problem: Problem);
}

impl ProblemSink for Problems {
    fn problem(&mut self, problem: Problem) {
        self.0.push(problem);
    }
}

impl ProblemSink for Vec<Problem> {
    fn problem(&mut self, problem: Problem) {
        self.push(problem);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn problems(text: &str) -> Vec<Problem> {
        match Config::parse(text, "test.toml") {
            Ok(_) => vec![],
            Err(e) => e.problems(),
        }
    }

    const TARGET: &str = "[[target]]\ncloud = \"ci\"\n[select]\ntags = [\"ci\"]\n";

    /// `[coordination]`: absent is one process; a shard parses; etcd gets its defaults.
    #[test]
    fn coordination_parses_with_defaults() {
        let c = Config::parse(TARGET, "t").unwrap();
        assert_eq!(c.coordination, Coordination::Alone);
        let c = Config::parse(&format!("[coordination]\nshard = \"2/3\"\n{TARGET}"), "t").unwrap();
        assert_eq!(c.coordination, Coordination::Shard("2/3".parse().unwrap()));
        let c = Config::parse(
            &format!("[coordination.etcd]\nendpoints = [\"http://127.0.0.1:2379\"]\n{TARGET}"),
            "t",
        )
        .unwrap();
        assert_eq!(
            c.coordination,
            Coordination::Etcd(EtcdConfig {
                endpoints: vec!["http://127.0.0.1:2379".into()],
                prefix: "/stacksweep".into(),
                lease_ttl: Duration::from_secs(10),
                member: None,
                tls: None,
                auth: None,
            })
        );
    }

    /// `metrics.per_unit_series`: `auto` with its limit by default, `always`, `never`;
    /// an unknown value, or a limit beside anything but `auto`, is refused by key.
    #[test]
    fn per_unit_series_parses_and_refuses_by_key() {
        let parse = |metrics: &str| Config::parse(&format!("[metrics]\n{metrics}\n{TARGET}"), "t");
        assert_eq!(parse("").unwrap().unit_series, UnitSeries::Auto(100));
        let limited = parse("per_unit_series_limit = 5").unwrap().unit_series;
        assert_eq!(limited, UnitSeries::Auto(5));
        assert!(limited.per_unit(5) && !limited.per_unit(6));
        assert_eq!(
            parse("per_unit_series = \"never\"").unwrap().unit_series,
            UnitSeries::Never
        );
        assert!(UnitSeries::Always.per_unit(1_000_000));
        let p = problems(&format!("[metrics]\nper_unit_series = \"some\"\n{TARGET}"));
        assert_eq!(p[0].path, "metrics.per_unit_series", "{p:?}");
        let p = problems(&format!(
            "[metrics]\nper_unit_series = \"always\"\nper_unit_series_limit = 5\n{TARGET}"
        ));
        assert_eq!(p[0].path, "metrics.per_unit_series_limit", "{p:?}");
    }

    /// `https://` endpoints take a CA, a client certificate and key, and a user whose
    /// password is read from the environment (its name kept, never the password).
    #[test]
    fn etcd_tls_and_auth_parse() {
        let dir = tempfile::tempdir().unwrap();
        let ca = dir.path().join("ca.pem");
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        for f in [&ca, &cert, &key] {
            std::fs::write(f, "pem").unwrap();
        }
        // (A variable every test process has: PATH.)
        let text = format!(
            "[coordination.etcd]\nendpoints = [\"https://etcd:2379\"]\nca_file = {ca:?}\n\
             cert_file = {cert:?}\nkey_file = {key:?}\nusername = \"sweeper\"\n\
             password_env = \"PATH\"\n{TARGET}"
        );
        let c = Config::parse(&text, "t").unwrap();
        let Coordination::Etcd(etcd) = c.coordination else {
            panic!("{:?}", c.coordination)
        };
        assert_eq!(
            etcd.tls,
            Some(EtcdTls {
                ca_file: Some(ca),
                identity: Some((cert, key)),
            })
        );
        assert_eq!(
            etcd.auth,
            Some(EtcdAuth {
                username: "sweeper".into(),
                password_env: "PATH".into(),
            })
        );
    }

    /// TLS settings without `https://`, a key without its certificate, unreadable files,
    /// mixed schemes and a user without a set password variable are refused by key.
    #[test]
    fn etcd_tls_and_auth_problems_name_the_key() {
        let p = problems(&format!(
            "[coordination.etcd]\nendpoints = [\"http://a:2379\"]\nca_file = \"/x/ca.pem\"\n{TARGET}"
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "coordination.etcd.ca_file");
        assert!(p[0].message.contains("https:// endpoints only"), "{p:?}");
        let p = problems(&format!(
            "[coordination.etcd]\nendpoints = [\"https://a:2379\", \"http://b:2379\"]\n\
             key_file = \"/nonexistent/k.pem\"\nusername = \"u\"\n\
             password_env = \"STACKSWEEP_TEST_SURELY_UNSET_VAR\"\n{TARGET}"
        ));
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "coordination.etcd.endpoints",
                "coordination.etcd.key_file",
                "coordination.etcd.cert_file",
                "coordination.etcd.password_env"
            ],
            "{p:?}"
        );
        assert!(
            p[1].message.contains("cannot read /nonexistent/k.pem"),
            "{p:?}"
        );
        assert!(
            p[3].message
                .contains("STACKSWEEP_TEST_SURELY_UNSET_VAR is not set"),
            "{p:?}"
        );
        let p = problems(&format!(
            "[coordination.etcd]\nendpoints = [\"https://a:2379\"]\nusername = \"u\"\n{TARGET}"
        ));
        assert_eq!(p[0].path, "coordination.etcd.password_env", "{p:?}");
    }

    /// Every `[coordination]` mistake is reported with its key path.
    #[test]
    fn coordination_problems_name_the_key() {
        let p = problems(&format!(
            "[coordination]\nshard = \"3/3\"\n[coordination.etcd]\nendpoints = [\"tcp:x\"]\n\
             prefix = \"x\"\nlease_ttl = \"1500ms\"\nmember = \"a/b\"\n{TARGET}"
        ));
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "coordination.shard",
                "coordination.shard",
                "coordination.etcd.endpoints[0]",
                "coordination.etcd.prefix",
                "coordination.etcd.lease_ttl",
                "coordination.etcd.member"
            ],
            "{p:?}"
        );
        assert!(p[0].message.contains("I must be from 0 to 2"), "{p:?}");
        let p = problems(&format!("[coordination]\nshards = \"0/2\"\n{TARGET}"));
        assert!(p[0].message.contains("unknown field `shards`"), "{p:?}");
        let p = problems(&format!("[coordination.etcd]\nprefix = \"/x\"\n{TARGET}"));
        assert_eq!(p[0].path, "coordination.etcd.endpoints", "{p:?}");
    }

    /// A minimal config with one target and one tag validates, with the documented defaults.
    #[test]
    fn minimal_config_gets_defaults() {
        let c = Config::parse(
            "[[target]]\ncloud = \"ci\"\n[select]\ntags = [\"ci\"]\n",
            "t",
        )
        .unwrap();
        assert_eq!(c.targets.len(), 1);
        assert_eq!(c.targets[0].name, "ci");
        assert_eq!(c.targets[0].select.marks().all_tags, vec!["ci".to_owned()]);
        assert_eq!(c.schedule.deadline, defaults::SWEEP_DEADLINE);
        assert_eq!(c.retry.concurrency, defaults::CONCURRENCY);
        assert_eq!(c.retry.pacing, PacingMode::Adaptive);
        assert_eq!(c.retry.requests_per_second, None);
        let session = c.session_options();
        assert_eq!(session.concurrency_per_service, 64);
        assert_eq!(
            c.sweep_options().concurrency,
            64,
            "steps keep up with the ceiling"
        );
        assert_eq!(c.targets[0].cron[0].text, defaults::CRON);
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
    }

    /// An empty selector is a configuration error, never "everything".
    #[test]
    fn empty_selector_is_an_error() {
        let p = problems("[[target]]\ncloud = \"ci\"\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "target[0].select");
        assert!(p[0].message.contains("no selector"));
    }

    /// `openshift` needs its cluster's infraID: without it the preset is an error naming
    /// the form; with it the config is whole.
    #[test]
    fn openshift_preset_takes_the_infra_id() {
        let p =
            problems("[[target]]\ncloud = \"ci\"\n[target.select]\npresets = [\"openshift\"]\n");
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "target[0].select.presets");
        assert!(
            p[0].message.contains("openshift=<infraID>"),
            "{}",
            p[0].message
        );
        let p = problems(
            "[[target]]\ncloud = \"ci\"\n[target.select]\npresets = [\"openshift=ocp-x7k2p\"]\n",
        );
        assert!(p.is_empty(), "{p:?}");
    }

    /// The example configs under `config/` are valid (the OpenShift one included).
    #[test]
    fn example_configs_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut seen = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "toml") {
                let text = std::fs::read_to_string(&path).unwrap();
                assert_eq!(problems(&text), vec![], "{}", path.display());
                seen += 1;
            }
        }
        assert!(seen >= 5, "{seen} example configs");
    }

    /// Unknown keys are errors that name the key.
    #[test]
    fn unknown_key_is_named() {
        let p = problems("[[target]]\ncloud = \"ci\"\ntagz = [\"x\"]\n");
        assert_eq!(p.len(), 1);
        assert!(p[0].message.contains("tagz"), "{}", p[0].message);
    }

    /// Every problem is reported at once, each with its key path.
    #[test]
    fn all_problems_reported_with_paths() {
        let text = r#"
[select]
older_than = "six hours"
name_regex = "(["
presets = ["nope"]
kinds = ["servr"]
[schedule]
cron = "* * * *"
timezone = "Mars/Olympus"
[metrics]
listen = "nowhere"
[retry]
concurrency = 0
pacing = "slow"
[[target]]
cloud = "ci"
[[target]]
cloud = "ci"
"#;
        let p = problems(text);
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "schedule.cron",
            "schedule.timezone",
            "retry.concurrency",
            "retry.pacing",
            "metrics.listen",
            "target[0].select.presets",
            "target[0].select.kinds",
            "target[0].select.name_regex",
            "target[0].select.older_than",
            "target[1].name",
        ] {
            assert!(paths.contains(&expected), "missing {expected} in {paths:?}");
        }
    }

    /// `retry.connect_deadline` defaults to seconds, reaches the session, and is checked:
    /// a bad duration or one longer than `retry.deadline` is named.
    #[test]
    fn connect_deadline_key() {
        let base = "[[target]]\ncloud = \"ci\"\n[select]\ntags = [\"ci\"]\n";
        let c = Config::parse(base, "t").unwrap();
        assert_eq!(c.retry.connect_deadline, defaults::CONNECT_DEADLINE);
        assert!(defaults::CONNECT_DEADLINE <= Duration::from_secs(30));
        let c = Config::parse(&format!("{base}[retry]\nconnect_deadline = \"3s\"\n"), "t").unwrap();
        assert_eq!(
            c.session_options().retry.connect_deadline,
            Duration::from_secs(3)
        );
        let p = problems(&format!("{base}[retry]\nconnect_deadline = \"soon\"\n"));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "retry.connect_deadline");
        let p = problems(&format!(
            "{base}[retry]\ndeadline = \"1m\"\nconnect_deadline = \"2m\"\n"
        ));
        assert_eq!(p.len(), 1, "{p:?}");
        assert_eq!(p[0].path, "retry.connect_deadline");
        assert!(p[0].message.contains("retry.deadline"), "{p:?}");
        let p = problems(&format!("{base}[retry]\nconnect_timeout = \"2s\"\n"));
        assert!(p[0].message.contains("connect_timeout"), "{p:?}");
    }

    /// A target's select keys override the shared ones key by key.
    #[test]
    fn target_select_overrides_shared() {
        let text = "[select]\ntags=[\"a\"]\nolder_than=\"6h\"\n[[target]]\ncloud=\"x\"\n[target.select]\ntags=[\"b\"]\n";
        let c = Config::parse(text, "t").unwrap();
        assert_eq!(c.targets[0].select.marks().all_tags, vec!["b".to_owned()]);
        assert_eq!(
            c.targets[0].select.filters().older_than,
            Some(Duration::from_secs(6 * 3600))
        );
    }

    /// `projects` (names, IDs, patterns), `domain` and `regions` (a list or `"all"`)
    /// become the target's units spec; the old `project`/`region` keys keep one unit.
    #[test]
    fn projects_and_regions_keys() {
        let base = "[select]\ntags = [\"ci\"]\n[[target]]\ncloud = \"ci\"\n";
        let c = Config::parse(
            &format!(
                "{base}projects = [\"ci-*\", \"ops\"]\ndomain = \"default\"\nregions = \"all\"\n"
            ),
            "t",
        )
        .unwrap();
        let units = &c.targets[0].units;
        assert_eq!(
            units.projects,
            [
                ProjectPick::Pattern("ci-*".into()),
                ProjectPick::Exact("ops".into())
            ]
        );
        assert_eq!(units.domain.as_deref(), Some("default"));
        assert_eq!(units.regions, RegionPick::All);
        let c = Config::parse(&format!("{base}regions = [\"R1\", \"R2\"]\n"), "t").unwrap();
        assert_eq!(
            c.targets[0].units.regions,
            RegionPick::List(vec!["R1".into(), "R2".into()])
        );
        let c = Config::parse(&format!("{base}project = \"p\"\nregion = \"R1\"\n"), "t").unwrap();
        assert!(c.targets[0].units.is_single());
        assert_eq!(
            c.schedule.max_concurrent_units,
            defaults::MAX_CONCURRENT_UNITS
        );
        assert_eq!(c.safety.max_deletes_total, None);
    }

    /// Every wrong projects/regions key is reported with its path: both `project` and
    /// `projects`, both `region` and `regions`, empty lists and names, `domain` alone,
    /// `"all"` inside a list, a zero bound or total.
    #[test]
    fn projects_and_regions_problems_have_paths() {
        let text = r#"
[select]
tags = ["ci"]
[safety]
max_deletes_total = 0
[schedule]
max_concurrent_units = 0
[[target]]
cloud = "a"
project = "p"
projects = ["ci-*", ""]
region = "R1"
regions = ["R2", "all", ""]
[[target]]
cloud = "b"
projects = []
regions = []
[[target]]
cloud = "c"
domain = "default"
"#;
        let p = problems(text);
        let paths: Vec<&str> = p.iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "safety.max_deletes_total",
            "schedule.max_concurrent_units",
            "target[0].projects",
            "target[0].projects[1]",
            "target[0].regions",
            "target[0].regions[1]",
            "target[0].regions[2]",
            "target[2].domain",
            "target[1].projects",
            "target[1].regions",
        ] {
            assert!(paths.contains(&expected), "missing {expected} in {paths:?}");
        }
        let both = p.iter().find(|p| p.path == "target[0].projects").unwrap();
        assert!(both.message.contains("project") && both.message.contains("projects"));
        let both = p.iter().find(|p| p.path == "target[0].regions").unwrap();
        assert!(both.message.contains("region (one)"), "{both:?}");
    }

    /// Durations are read as users write them, days as 24 hours.
    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("6h").unwrap(), Duration::from_secs(21600));
        assert_eq!(
            parse_duration("1d 2h").unwrap(),
            Duration::from_secs(26 * 3600)
        );
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("PT30M").unwrap(), Duration::from_secs(1800));
        assert!(parse_duration("-1h").is_err());
        assert!(parse_duration("soon").is_err());
    }

    /// Cron takes the 5-field crontab syntax and refuses a seconds field.
    #[test]
    fn cron_is_five_fields() {
        assert!("*/5 * * * *".parse::<CronExpr>().is_ok());
        assert!("0 3 * * 1-5".parse::<CronExpr>().is_ok());
        assert!("@hourly".parse::<CronExpr>().is_ok());
        assert!("0 */5 * * * *".parse::<CronExpr>().is_err());
        assert!("61 * * * *".parse::<CronExpr>().is_err());
    }
}
