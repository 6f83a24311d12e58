//! Prometheus metrics of sweeps, resources and API traffic, rendered in the text format.
//!
//! Every label value is bounded: target, cloud and project come from the config, kinds,
//! outcomes, services and status classes from enums or `&'static str`s. Resource IDs and
//! names never become labels (each one would be a new series, forever).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus_client::encoding::{
    EncodeLabel, EncodeLabelSet, EncodeLabelValue, LabelSetEncoder, LabelValueEncoder,
};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::engine::quota::{QuotaReport, QuotaResource};
use crate::openstack::{Pushback, RequestObserver, RetryReason, Service};

/// Content type of [`Metrics::render`]'s output (OpenMetrics text, which Prometheus asks for).
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Content type of [`Metrics::render_text`]'s output (the classic Prometheus text format,
/// for `curl`, `promtool check metrics` and older scrapers).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Upper bounds of the sweep duration histogram, in seconds: sweeps take from seconds
/// (nothing to do) to the per-sweep deadline (20 minutes by default).
const SWEEP_DURATION_BUCKETS: [f64; 12] = [
    1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0,
];

/// The metrics could not be rendered.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode metrics: {0}")]
pub struct EncodeError(#[from] std::fmt::Error);

/// Writes a `&'static str` as a label value (shared by the label enums below).
fn encode_str(s: &str, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
    encoder.write_str(s)
}

/// How a sweep ended, for `stacksweep_sweeps_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SweepOutcome {
    /// Ran to the end and left no selected resource behind.
    Clean,
    /// Ran to the end, but some selected resources are left (skipped, stuck, failed) or
    /// some kind could not be listed.
    Incomplete,
    /// Could not run: authentication, listing or another error stopped it.
    Failed,
    /// Hit the per-sweep deadline.
    TimedOut,
    /// Stopped by shutdown.
    Cancelled,
}

impl SweepOutcome {
    /// Bounded label value.
    pub fn as_str(self) -> &'static str {
        match self {
            SweepOutcome::Clean => "clean",
            SweepOutcome::Incomplete => "incomplete",
            SweepOutcome::Failed => "failed",
            SweepOutcome::TimedOut => "timed_out",
            SweepOutcome::Cancelled => "cancelled",
        }
    }

    /// Whether the sweep ran to the end (so it counts as the last successful sweep).
    pub fn is_success(self) -> bool {
        matches!(self, SweepOutcome::Clean | SweepOutcome::Incomplete)
    }
}

impl EncodeLabelValue for SweepOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encode_str(self.as_str(), encoder)
    }
}

/// What happened to resources of one kind in a sweep, for the `outcome` label of the
/// resource series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceOutcome {
    /// Listed in the project.
    Found,
    /// Matched the selector.
    Selected,
    /// Selected, but not yet seen eligible for the whole grace period.
    Held,
    /// Deleted (or found already gone).
    Deleted,
    /// Left because something unselected still needs it, or a safety limit.
    Skipped,
    /// In a terminal bad state (`error_deleting`, `ERROR`, `DELETE_FAILED`).
    Stuck,
    /// Its delete failed for another reason.
    Failed,
}

impl ResourceOutcome {
    /// Every outcome, in label order.
    pub const ALL: [ResourceOutcome; 7] = [
        ResourceOutcome::Found,
        ResourceOutcome::Selected,
        ResourceOutcome::Held,
        ResourceOutcome::Deleted,
        ResourceOutcome::Skipped,
        ResourceOutcome::Stuck,
        ResourceOutcome::Failed,
    ];

    /// Bounded label value.
    pub fn as_str(self) -> &'static str {
        match self {
            ResourceOutcome::Found => "found",
            ResourceOutcome::Selected => "selected",
            ResourceOutcome::Held => "held",
            ResourceOutcome::Deleted => "deleted",
            ResourceOutcome::Skipped => "skipped",
            ResourceOutcome::Stuck => "stuck",
            ResourceOutcome::Failed => "failed",
        }
    }
}

impl EncodeLabelValue for ResourceOutcome {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encode_str(self.as_str(), encoder)
    }
}

/// An HTTP status reduced to its class (`2xx`...), or `error` when no response came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusClass {
    /// 1xx (not expected from OpenStack, kept for completeness).
    Informational,
    /// 2xx.
    Success,
    /// 3xx.
    Redirect,
    /// 4xx.
    ClientError,
    /// 5xx.
    ServerError,
    /// No response: connection refused, reset, timed out.
    NoResponse,
}

impl StatusClass {
    /// The class of `status` (`None`: no response).
    pub fn of(status: Option<u16>) -> StatusClass {
        match status {
            None => StatusClass::NoResponse,
            Some(s) if s < 200 => StatusClass::Informational,
            Some(s) if s < 300 => StatusClass::Success,
            Some(s) if s < 400 => StatusClass::Redirect,
            Some(s) if s < 500 => StatusClass::ClientError,
            Some(_) => StatusClass::ServerError,
        }
    }

    /// Bounded label value.
    pub fn as_str(self) -> &'static str {
        match self {
            StatusClass::Informational => "1xx",
            StatusClass::Success => "2xx",
            StatusClass::Redirect => "3xx",
            StatusClass::ClientError => "4xx",
            StatusClass::ServerError => "5xx",
            StatusClass::NoResponse => "error",
        }
    }
}

impl EncodeLabelValue for StatusClass {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encode_str(self.as_str(), encoder)
    }
}

/// A service as a label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct ServiceLabel(Service);

impl EncodeLabelValue for ServiceLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encode_str(self.0.as_str(), encoder)
    }
}

/// A retry reason as a bounded label value.
fn reason_label(reason: RetryReason) -> &'static str {
    match reason {
        RetryReason::RateLimited => "rate_limited",
        RetryReason::ServerError => "server_error",
        RetryReason::Transport => "transport",
        RetryReason::Reauthenticated => "reauthenticated",
    }
}

/// Which target (or unit of a target: a project of a region) a series is about. The
/// values come from the config and from the discovery of its targets' projects and
/// regions, never from resources, so their number is bounded by them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct TargetLabels {
    /// The target's name.
    pub target: String,
    /// Its cloud in `clouds.yaml`.
    pub cloud: String,
    /// Its project as configured (empty when the cloud's own project is used), or the
    /// unit's project name.
    pub project: String,
    /// The unit's region; empty for a target of one region as configured, and then not
    /// exported (the series of such targets keep the labels they always had).
    pub region: String,
}

impl EncodeLabelSet for TargetLabels {
    fn encode(&self, encoder: &mut LabelSetEncoder) -> Result<(), std::fmt::Error> {
        ("target", self.target.as_str()).encode(encoder.encode_label())?;
        ("cloud", self.cloud.as_str()).encode(encoder.encode_label())?;
        ("project", self.project.as_str()).encode(encoder.encode_label())?;
        if !self.region.is_empty() {
            ("region", self.region.as_str()).encode(encoder.encode_label())?;
        }
        Ok(())
    }
}

impl TargetLabels {
    /// The labels of a configured target.
    pub fn of(target: &crate::config::Target) -> TargetLabels {
        TargetLabels {
            target: target.name.clone(),
            cloud: target.cloud.clone(),
            project: target.project.clone().unwrap_or_default(),
            region: String::new(),
        }
    }

    /// The labels of one unit of this target.
    pub fn unit(&self, project: &str, region: &str) -> TargetLabels {
        TargetLabels {
            project: project.to_owned(),
            region: region.to_owned(),
            ..self.clone()
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct SweepLabels {
    #[prometheus(flatten)]
    target: TargetLabels,
    outcome: SweepOutcome,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabels {
    #[prometheus(flatten)]
    target: TargetLabels,
    kind: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ResourceLabels {
    #[prometheus(flatten)]
    target: TargetLabels,
    kind: &'static str,
    outcome: ResourceOutcome,
}

/// A quota resource as a bounded label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct QuotaLabel(QuotaResource);

impl EncodeLabelValue for QuotaLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encode_str(self.0.as_str(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct QuotaLabels {
    #[prometheus(flatten)]
    target: TargetLabels,
    resource: QuotaLabel,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RequestLabels {
    target: String,
    cloud: String,
    service: ServiceLabel,
    method: &'static str,
    status: StatusClass,
}

/// How replicas share the units, as a label: `shard` (static) or `etcd`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CoordLabels {
    coordination: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct CoordTargetLabels {
    coordination: &'static str,
    target: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ServiceLabels {
    target: String,
    cloud: String,
    service: ServiceLabel,
}

/// A kind of pushback as a bounded label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct PushbackLabel(Pushback);

impl EncodeLabelValue for PushbackLabel {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> Result<(), std::fmt::Error> {
        encode_str(self.0.as_str(), encoder)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct PushbackLabels {
    target: String,
    cloud: String,
    service: ServiceLabel,
    reason: PushbackLabel,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct RetryLabels {
    target: String,
    cloud: String,
    service: ServiceLabel,
    reason: &'static str,
}

/// What one sweep did to one kind of resource.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct KindCounts {
    /// Listed.
    pub found: u64,
    /// Matched the selector.
    pub selected: u64,
    /// Selected but held back by the grace period.
    pub held: u64,
    /// Deleted.
    pub deleted: u64,
    /// Skipped (in use by something unselected, safety limit).
    pub skipped: u64,
    /// Stuck in a terminal bad state.
    pub stuck: u64,
    /// Failed otherwise.
    pub failed: u64,
    /// Deletes retried after a conflict (409, Cinder's 400-for-state).
    pub conflict_retries: u64,
}

impl KindCounts {
    /// The count for one outcome.
    pub fn get(&self, outcome: ResourceOutcome) -> u64 {
        match outcome {
            ResourceOutcome::Found => self.found,
            ResourceOutcome::Selected => self.selected,
            ResourceOutcome::Held => self.held,
            ResourceOutcome::Deleted => self.deleted,
            ResourceOutcome::Skipped => self.skipped,
            ResourceOutcome::Stuck => self.stuck,
            ResourceOutcome::Failed => self.failed,
        }
    }

    /// Selected resources the sweep could not delete. Held ones are not counted: waiting
    /// out the grace period is expected, not a problem.
    pub fn left(&self) -> u64 {
        self.skipped + self.stuck + self.failed
    }
}

/// What the metrics need to know about one finished sweep.
#[derive(Debug, Clone, Default)]
pub struct SweepRecord {
    /// Per kind (the engine's kind names), what happened.
    pub kinds: BTreeMap<&'static str, KindCounts>,
    /// Age of the oldest selected resource left after the sweep (none left: `None`).
    pub oldest_leak_age: Option<Duration>,
    /// Kinds whose listing failed: the sweep could not see everything.
    pub listing_errors: u64,
    /// A target of several units: each unit's own record (the counts above are their
    /// sums); empty for a single target.
    pub units: Vec<UnitRecord>,
    /// Whether the units' per-kind, oldest-leak and quota series are exported one by one
    /// (`project` and `region` labels), else only their sums, at the target's labels
    /// (`metrics.per_unit_series`).
    pub unit_series: bool,
}

/// One unit's part of a sweep.
#[derive(Debug, Clone, Default)]
pub struct UnitRecord {
    /// The project's name (its ID when it has none).
    pub project: String,
    /// The region (empty: the cloud's own).
    pub region: String,
    /// What the unit's sweep did; `None` when it could not sweep (its error is logged
    /// and counted as a listing error of the target).
    pub record: Option<SweepRecord>,
    /// How long the unit's sweep took, connecting included (zero when it never started):
    /// what a fleet's capacity is planned on.
    pub duration: std::time::Duration,
}

/// Every metric stacksweep exports, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    sweeps: Family<SweepLabels, Counter>,
    sweep_duration: Family<TargetLabels, Histogram, fn() -> Histogram>,
    last_success: Family<TargetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    authenticated: Family<TargetLabels, Gauge>,
    oldest_leak: Family<TargetLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    resources: Family<ResourceLabels, Counter>,
    last_sweep_resources: Family<ResourceLabels, Gauge>,
    conflict_retries: Family<KindLabels, Counter>,
    api_requests: Family<RequestLabels, Counter>,
    api_retries: Family<RetryLabels, Counter>,
    api_pushback: Family<PushbackLabels, Counter>,
    api_concurrency_limit: Family<ServiceLabels, Gauge>,
    api_rate_limit: Family<ServiceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    quota_used: Family<QuotaLabels, Gauge>,
    quota_limit: Family<QuotaLabels, Gauge>,
    quota_freed: Family<QuotaLabels, Counter>,
    coord_members: Family<CoordLabels, Gauge>,
    coord_session_up: Family<CoordLabels, Gauge>,
    coord_owned_units: Family<CoordTargetLabels, Gauge>,
    coord_lock_waits: Family<CoordLabels, Counter>,
    coord_units_in_progress: Family<CoordLabels, Gauge>,
    /// Kinds each target reported last time, so a kind missing from the next report is
    /// reset to 0 in the last-sweep gauges instead of showing stale numbers.
    kinds_seen: Mutex<HashMap<TargetLabels, BTreeSet<&'static str>>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn sweep_histogram() -> Histogram {
    Histogram::new(SWEEP_DURATION_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh set of metrics, registered under the `stacksweep_` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("stacksweep");
        let m = Metrics {
            sweeps: Family::default(),
            sweep_duration: Family::new_with_constructor(sweep_histogram),
            last_success: Family::default(),
            authenticated: Family::default(),
            oldest_leak: Family::default(),
            resources: Family::default(),
            last_sweep_resources: Family::default(),
            conflict_retries: Family::default(),
            api_requests: Family::default(),
            api_retries: Family::default(),
            api_pushback: Family::default(),
            api_concurrency_limit: Family::default(),
            api_rate_limit: Family::default(),
            quota_used: Family::default(),
            quota_limit: Family::default(),
            quota_freed: Family::default(),
            coord_members: Family::default(),
            coord_session_up: Family::default(),
            coord_owned_units: Family::default(),
            coord_lock_waits: Family::default(),
            coord_units_in_progress: Family::default(),
            kinds_seen: Mutex::default(),
            registry: Registry::default(),
        };
        registry.register(
            "sweeps",
            "Sweeps finished, by target and outcome (clean, incomplete, failed, timed_out, cancelled)",
            m.sweeps.clone(),
        );
        registry.register(
            "sweep_duration_seconds",
            "How long sweeps took, by target",
            m.sweep_duration.clone(),
        );
        registry.register(
            "last_successful_sweep_timestamp_seconds",
            "Unix time at which the target's last sweep that ran to the end finished",
            m.last_success.clone(),
        );
        registry.register(
            "target_authenticated",
            "1 when the target's last authentication succeeded, else 0",
            m.authenticated.clone(),
        );
        registry.register(
            "oldest_leaked_resource_age_seconds",
            "Age of the oldest selected resource still there after the target's last sweep (0: none)",
            m.oldest_leak.clone(),
        );
        registry.register(
            "resources",
            "Resources by kind and outcome (found, selected, held, deleted, skipped, stuck, failed), summed over sweeps",
            m.resources.clone(),
        );
        registry.register(
            "last_sweep_resources",
            "Resources by kind and outcome in the target's last sweep that ran to the end",
            m.last_sweep_resources.clone(),
        );
        registry.register(
            "conflict_retries",
            "Deletes retried because the service answered with a conflict, by kind",
            m.conflict_retries.clone(),
        );
        registry.register(
            "api_requests",
            "OpenStack API requests by service, method and status class (error: no response)",
            m.api_requests.clone(),
        );
        registry.register(
            "api_retries",
            "OpenStack API requests retried, by service and reason",
            m.api_retries.clone(),
        );
        registry.register(
            "api_pushback",
            "OpenStack API answers that asked for less load, by service and reason (throttled: 429; overloaded: 502, 503, 504; no_answer: connection refused, reset, timed out)",
            m.api_pushback.clone(),
        );
        registry.register(
            "api_concurrency_limit",
            "Requests the adaptive pacing lets in flight at once now, by service",
            m.api_concurrency_limit.clone(),
        );
        registry.register(
            "api_rate_limit",
            "Requests per second the pacing lets start now, by service (-1: not rate-paced)",
            m.api_rate_limit.clone(),
        );
        registry.register(
            "quota_used",
            "Quota in use in the target's project after its last sweep, by quota resource (ram_mib in MiB, volume_gigabytes in GiB)",
            m.quota_used.clone(),
        );
        registry.register(
            "quota_limit",
            "Quota limit of the target's project, by quota resource (-1: unlimited)",
            m.quota_limit.clone(),
        );
        registry.register(
            "quota_freed",
            "Quota freed by sweeps (usage before minus after, where it dropped), by quota resource",
            m.quota_freed.clone(),
        );
        registry.register(
            "coordination_members",
            "Replicas sharing the units: live members seen on etcd, or N of a static shard I/N",
            m.coord_members.clone(),
        );
        registry.register(
            "coordination_session_up",
            "1 while this replica's etcd session (lease) is alive; 0: it starts no deletes",
            m.coord_session_up.clone(),
        );
        registry.register(
            "coordination_owned_units",
            "Units of the target this replica owned at its last sweep (rendezvous hashing)",
            m.coord_owned_units.clone(),
        );
        registry.register(
            "coordination_lock_waits",
            "Times a unit's lock was held by another replica when this one wanted it",
            m.coord_lock_waits.clone(),
        );
        registry.register(
            "coordination_units_in_progress",
            "Units this replica holds the lock of and is sweeping now",
            m.coord_units_in_progress.clone(),
        );
        Metrics { registry, ..m }
    }

    /// Records the replicas sharing the work (`coordination`: `shard` or `etcd`).
    pub fn set_coordination_members(&self, coordination: &'static str, members: usize) {
        let n = i64::try_from(members).unwrap_or(i64::MAX);
        self.coord_members
            .get_or_create(&CoordLabels { coordination })
            .set(n);
    }

    /// Records whether the etcd session is alive.
    pub fn set_coordination_session(&self, up: bool) {
        self.coord_session_up
            .get_or_create(&CoordLabels {
                coordination: "etcd",
            })
            .set(i64::from(up));
    }

    /// Records how many of `target`'s units this replica owned at its last sweep.
    pub fn set_owned_units(&self, coordination: &'static str, target: &str, units: usize) {
        let n = i64::try_from(units).unwrap_or(i64::MAX);
        self.coord_owned_units
            .get_or_create(&CoordTargetLabels {
                coordination,
                target: target.to_owned(),
            })
            .set(n);
    }

    /// Counts one wait for a unit lock held by another replica.
    pub fn inc_lock_waits(&self) {
        self.coord_lock_waits
            .get_or_create(&CoordLabels {
                coordination: "etcd",
            })
            .inc();
    }

    /// Moves the count of units being swept under their lock by `delta` (+1, -1).
    pub fn add_units_in_progress(&self, delta: i64) {
        self.coord_units_in_progress
            .get_or_create(&CoordLabels {
                coordination: "etcd",
            })
            .inc_by(delta);
    }

    /// Records a sweep's quota report: usage and limits as last read (after the sweep
    /// when there was an after), and what it freed. Resources a service would not report
    /// this time keep their last values. Without `gauges` (a unit whose series are summed
    /// at its target's labels), only what it freed is counted: one project's usage and
    /// limits summed with others' would mean nothing.
    pub fn record_quota(&self, target: &TargetLabels, report: &QuotaReport, gauges: bool) {
        let latest = report.after.as_ref().unwrap_or(&report.before);
        let labels = |r: QuotaResource| QuotaLabels {
            target: target.clone(),
            resource: QuotaLabel(r),
        };
        for (r, u) in latest.usage.iter().filter(|_| gauges) {
            let l = labels(*r);
            self.quota_used
                .get_or_create(&l)
                .set(i64::try_from(u.used).unwrap_or(i64::MAX));
            let limit = u.limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
            self.quota_limit.get_or_create(&l).set(limit);
        }
        for (r, n) in &report.freed {
            self.quota_freed.get_or_create(&labels(*r)).inc_by(*n);
        }
    }

    /// Renders every metric in the OpenMetrics text format (see [`OPENMETRICS_CONTENT_TYPE`]).
    pub fn render(&self) -> Result<String, EncodeError> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }

    /// Renders every metric in the classic Prometheus text format (see
    /// [`TEXT_CONTENT_TYPE`]).
    pub fn render_text(&self) -> Result<String, EncodeError> {
        Ok(openmetrics_to_text(&self.render()?))
    }

    /// Starts timing a sweep of `target`; the duration is recorded when the timer drops,
    /// however the sweep ends (error, deadline, panic unwinding).
    pub fn sweep_timer(&self, target: &TargetLabels) -> SweepTimer {
        SweepTimer {
            histogram: self.sweep_duration.get_or_create_owned(target),
            start: tokio::time::Instant::now(),
        }
    }

    /// Records whether authenticating to `target` last succeeded.
    pub fn set_authenticated(&self, target: &TargetLabels, ok: bool) {
        self.authenticated
            .get_or_create(target)
            .set(if ok { 1 } else { 0 });
    }

    /// Records a finished sweep: its outcome, and, when it ran to the end, its per-kind
    /// counts, oldest leak and completion time (`finished_at`, Unix seconds).
    pub fn record_sweep(
        &self,
        target: &TargetLabels,
        outcome: SweepOutcome,
        record: Option<&SweepRecord>,
        finished_at: f64,
    ) {
        self.sweeps
            .get_or_create(&SweepLabels {
                target: target.clone(),
                outcome,
            })
            .inc();
        let Some(record) = record else { return };
        if outcome.is_success() {
            self.last_success.get_or_create(target).set(finished_at);
        }
        if record.units.is_empty() || !record.unit_series {
            // Summed at the target's labels: the units' own series (of an earlier,
            // smaller fleet) go, or sums would count them twice.
            self.forget_counts_of_target(target, |labels| labels == target);
            self.record_counts(target, record);
            return;
        }
        // Per unit only: a target-level copy would count every resource twice in sums.
        // A unit no longer this replica's (another's share now, or gone) loses its
        // series, which would otherwise stay frozen beside the new owner's.
        let units: std::collections::HashSet<TargetLabels> = record
            .units
            .iter()
            .map(|u| target.unit(&u.project, &u.region))
            .collect();
        self.forget_counts_of_target(target, |labels| units.contains(labels));
        for unit in &record.units {
            if let Some(r) = &unit.record {
                self.record_counts(&target.unit(&unit.project, &unit.region), r);
            }
        }
    }

    /// Drops the per-kind, oldest-leak and quota series of `target` and of its units,
    /// but for the labels `keep` accepts.
    fn forget_counts_of_target(&self, target: &TargetLabels, keep: impl Fn(&TargetLabels) -> bool) {
        for (labels, _) in self.take_seen(target, keep) {
            self.forget_counts(&labels);
        }
    }

    /// Takes out of `kinds_seen` the labels of `target` and of its units but for those
    /// `keep` accepts, with the kinds each last had.
    fn take_seen(
        &self,
        target: &TargetLabels,
        keep: impl Fn(&TargetLabels) -> bool,
    ) -> Vec<(TargetLabels, BTreeSet<&'static str>)> {
        let mut seen = self
            .kinds_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let gone: Vec<TargetLabels> = seen
            .keys()
            .filter(|k| k.target == target.target && k.cloud == target.cloud && !keep(k))
            .cloned()
            .collect();
        gone.into_iter()
            .filter_map(|k| seen.remove(&k).map(|kinds| (k, kinds)))
            .collect()
    }

    /// Drops every per-kind, oldest-leak and quota series of `labels`.
    fn forget_counts(&self, labels: &TargetLabels) {
        self.oldest_leak.remove(labels);
        for kind in crate::resources::Kind::ALL.iter().map(|k| k.as_str()) {
            self.conflict_retries.remove(&KindLabels {
                target: labels.clone(),
                kind,
            });
            for outcome in ResourceOutcome::ALL {
                let l = ResourceLabels {
                    target: labels.clone(),
                    kind,
                    outcome,
                };
                self.resources.remove(&l);
                self.last_sweep_resources.remove(&l);
            }
        }
        for r in QuotaResource::ALL {
            let l = QuotaLabels {
                target: labels.clone(),
                resource: QuotaLabel(*r),
            };
            self.quota_used.remove(&l);
            self.quota_limit.remove(&l);
            self.quota_freed.remove(&l);
        }
    }

    /// The per-kind counts and oldest leak of one sweep (a target's or a unit's).
    fn record_counts(&self, target: &TargetLabels, record: &SweepRecord) {
        for (&kind, counts) in &record.kinds {
            let kind_labels = KindLabels {
                target: target.clone(),
                kind,
            };
            self.conflict_retries
                .get_or_create(&kind_labels)
                .inc_by(counts.conflict_retries);
            for outcome in ResourceOutcome::ALL {
                let labels = ResourceLabels {
                    target: target.clone(),
                    kind,
                    outcome,
                };
                let n = counts.get(outcome);
                self.resources.get_or_create(&labels).inc_by(n);
                self.last_sweep_resources
                    .get_or_create(&labels)
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
        self.forget_missing_kinds(target, record);
        self.oldest_leak
            .get_or_create(target)
            .set(record.oldest_leak_age.map_or(0.0, |d| d.as_secs_f64()));
    }

    /// Zeroes the last-sweep gauges of kinds the previous report had and this one lacks.
    fn forget_missing_kinds(&self, target: &TargetLabels, record: &SweepRecord) {
        let now: BTreeSet<&'static str> = record.kinds.keys().copied().collect();
        let mut seen = self
            .kinds_seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = seen.insert(target.clone(), now.clone()).unwrap_or_default();
        for &kind in before.difference(&now) {
            for outcome in ResourceOutcome::ALL {
                self.last_sweep_resources
                    .get_or_create(&ResourceLabels {
                        target: target.clone(),
                        kind,
                        outcome,
                    })
                    .set(0);
            }
        }
    }

    /// Drops the per-target gauges of a target no longer configured (after a reload), so
    /// its last-success timestamp does not age into a false alert.
    pub fn forget_target(&self, target: &TargetLabels) {
        for r in QuotaResource::ALL {
            let l = QuotaLabels {
                target: target.clone(),
                resource: QuotaLabel(*r),
            };
            self.quota_used.remove(&l);
            self.quota_limit.remove(&l);
        }
        self.last_success.remove(target);
        self.authenticated.remove(target);
        self.oldest_leak.remove(target);
        // The target's own series, and those of each of its units.
        for (labels, kinds) in self.take_seen(target, |_| false) {
            self.oldest_leak.remove(&labels);
            for kind in kinds {
                for outcome in ResourceOutcome::ALL {
                    self.last_sweep_resources.remove(&ResourceLabels {
                        target: labels.clone(),
                        kind,
                        outcome,
                    });
                }
            }
        }
    }

    /// A [`RequestObserver`] counting `target`'s API requests into these metrics.
    pub fn request_observer(self: &Arc<Self>, target: &TargetLabels) -> Arc<dyn RequestObserver> {
        Arc::new(ApiObserver {
            metrics: Arc::clone(self),
            target: target.target.clone(),
            cloud: target.cloud.clone(),
        })
    }
}

/// Converts OpenMetrics text to the classic Prometheus format: a counter family's `HELP`
/// and `TYPE` lines name it with its `_total` suffix (as its samples are named), and the
/// OpenMetrics-only `UNIT` and `EOF` lines go.
fn openmetrics_to_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut pending_help: Option<&str> = None;
    for line in openmetrics.lines() {
        if line.starts_with("# HELP ") {
            // Written once its TYPE line says whether the family is a counter.
            if let Some(help) = pending_help.replace(line) {
                out.push_str(help);
                out.push('\n');
            }
            continue;
        }
        if line.starts_with("# EOF") || line.starts_with("# UNIT ") {
            continue;
        }
        let counter = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_suffix(" counter"));
        if let Some(help) = pending_help.take() {
            match counter {
                Some(name) => {
                    let text = help
                        .strip_prefix("# HELP ")
                        .and_then(|h| h.strip_prefix(name))
                        .unwrap_or_default();
                    let _ = writeln!(out, "# HELP {name}_total{text}");
                }
                None => {
                    out.push_str(help);
                    out.push('\n');
                }
            }
        }
        match counter {
            Some(name) => {
                let _ = writeln!(out, "# TYPE {name}_total counter");
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Records a sweep's duration into the histogram when dropped.
#[derive(Debug)]
pub struct SweepTimer {
    histogram: Histogram,
    start: tokio::time::Instant,
}

impl Drop for SweepTimer {
    fn drop(&mut self) {
        self.histogram.observe(self.start.elapsed().as_secs_f64());
    }
}

/// Counts one target's API requests, retries and pushback, and shows its pacing limits.
struct ApiObserver {
    metrics: Arc<Metrics>,
    target: String,
    cloud: String,
}

impl ApiObserver {
    fn service_labels(&self, service: Service) -> ServiceLabels {
        ServiceLabels {
            target: self.target.clone(),
            cloud: self.cloud.clone(),
            service: ServiceLabel(service),
        }
    }
}

impl RequestObserver for ApiObserver {
    fn on_response(
        &self,
        service: Service,
        method: &'static str,
        status: Option<u16>,
        _elapsed: Duration,
    ) {
        self.metrics
            .api_requests
            .get_or_create(&RequestLabels {
                target: self.target.clone(),
                cloud: self.cloud.clone(),
                service: ServiceLabel(service),
                method,
                status: StatusClass::of(status),
            })
            .inc();
    }

    fn on_limits(&self, service: Service, concurrency: usize, rate: Option<f64>) {
        let labels = self.service_labels(service);
        self.metrics
            .api_concurrency_limit
            .get_or_create(&labels)
            .set(i64::try_from(concurrency).unwrap_or(i64::MAX));
        self.metrics
            .api_rate_limit
            .get_or_create(&labels)
            .set(rate.unwrap_or(-1.0));
    }

    fn on_pushback(&self, service: Service, pushback: Pushback) {
        self.metrics
            .api_pushback
            .get_or_create(&PushbackLabels {
                target: self.target.clone(),
                cloud: self.cloud.clone(),
                service: ServiceLabel(service),
                reason: PushbackLabel(pushback),
            })
            .inc();
    }

    fn on_retry(&self, service: Service, reason: RetryReason) {
        self.metrics
            .api_retries
            .get_or_create(&RetryLabels {
                target: self.target.clone(),
                cloud: self.cloud.clone(),
                service: ServiceLabel(service),
                reason: reason_label(reason),
            })
            .inc();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn target() -> TargetLabels {
        TargetLabels {
            target: "ci".into(),
            cloud: "sim".into(),
            project: String::new(),
            region: String::new(),
        }
    }

    /// A target of several units exports its per-kind series once per unit, with the
    /// unit's `project` and `region` labels and no target-level copy (sums stay true);
    /// its sweep counter stays per target; a removed target takes its units' gauges.
    #[test]
    fn unit_series_carry_project_and_region() {
        let m = Metrics::new();
        let t = target();
        let unit = |deleted| SweepRecord {
            kinds: BTreeMap::from([(
                "server",
                KindCounts {
                    found: 2,
                    selected: 2,
                    deleted,
                    ..KindCounts::default()
                },
            )]),
            ..SweepRecord::default()
        };
        let record = SweepRecord {
            units: vec![
                UnitRecord {
                    project: "ci-1".into(),
                    region: "RegionOne".into(),
                    record: Some(unit(2)),
                    ..UnitRecord::default()
                },
                UnitRecord {
                    project: "ci-1".into(),
                    region: "RegionTwo".into(),
                    record: Some(unit(1)),
                    ..UnitRecord::default()
                },
            ],
            unit_series: true,
            ..unit(3)
        };
        m.record_sweep(&t, SweepOutcome::Clean, Some(&record), 1000.0);
        let text = m.render().unwrap();
        let deleted = |labels: &str| {
            sample(
                &text,
                &format!(
                    "stacksweep_resources_total{{{labels},kind=\"server\",outcome=\"deleted\"}}"
                ),
            )
        };
        let unit_labels =
            |r: &str| format!(r#"target="ci",cloud="sim",project="ci-1",region="{r}""#);
        assert_eq!(deleted(&unit_labels("RegionOne")), Some(2.0));
        assert_eq!(deleted(&unit_labels("RegionTwo")), Some(1.0));
        assert_eq!(deleted(r#"target="ci",cloud="sim",project="""#), None);
        assert_eq!(
            sample(
                &text,
                r#"stacksweep_sweeps_total{target="ci",cloud="sim",project="",outcome="clean"}"#
            ),
            Some(1.0)
        );
        m.forget_target(&t);
        let text = m.render().unwrap();
        assert!(
            !text.contains(
                r#"stacksweep_last_sweep_resources{target="ci",cloud="sim",project="ci-1""#
            ),
            "{text}"
        );
    }

    /// A record of `units` units (`ci-0`.., one region) that each deleted one server.
    fn units_record(units: usize, unit_series: bool) -> SweepRecord {
        let one = || SweepRecord {
            kinds: BTreeMap::from([(
                "server",
                KindCounts {
                    found: 1,
                    selected: 1,
                    deleted: 1,
                    ..KindCounts::default()
                },
            )]),
            ..SweepRecord::default()
        };
        let n = u64::try_from(units).unwrap();
        SweepRecord {
            kinds: BTreeMap::from([(
                "server",
                KindCounts {
                    found: n,
                    selected: n,
                    deleted: n,
                    ..KindCounts::default()
                },
            )]),
            units: (0..units)
                .map(|i| UnitRecord {
                    project: format!("ci-{i}"),
                    region: "RegionOne".into(),
                    record: Some(one()),
                    ..UnitRecord::default()
                })
                .collect(),
            unit_series,
            ..SweepRecord::default()
        }
    }

    /// Summed (a fleet past `per_unit_series_limit`): one set of series at the target's
    /// labels, however many units, holding their sums; no `project`/`region` series; and
    /// the per-unit series of an earlier, smaller sweep are dropped, not left frozen.
    #[test]
    fn summed_units_export_a_bounded_set_of_series() {
        let series = |text: &str| text.lines().filter(|l| !l.starts_with('#')).count();
        let m = Metrics::new();
        let t = target();
        m.record_sweep(&t, SweepOutcome::Clean, Some(&units_record(3, true)), 1.0);
        assert!(m.render().unwrap().contains(r#"project="ci-2""#));
        m.record_sweep(&t, SweepOutcome::Clean, Some(&units_record(10, false)), 2.0);
        let ten = m.render().unwrap();
        assert!(!ten.contains(r#"project="ci-"#), "{ten}");
        let l = r#"{target="ci",cloud="sim",project="",kind="server",outcome="deleted"}"#;
        assert_eq!(
            sample(&ten, &format!("stacksweep_last_sweep_resources{l}")),
            Some(10.0)
        );
        let m2 = Metrics::new();
        m2.record_sweep(
            &t,
            SweepOutcome::Clean,
            Some(&units_record(1000, false)),
            2.0,
        );
        assert_eq!(series(&m2.render().unwrap()), series(&ten));
    }

    /// Per unit, a unit this replica no longer sweeps (another's share now) loses its
    /// series, and so does the target-level sum of an earlier, larger fleet.
    #[test]
    fn a_unit_that_moved_away_loses_its_series() {
        let m = Metrics::new();
        let t = target();
        m.record_sweep(&t, SweepOutcome::Clean, Some(&units_record(2, false)), 1.0);
        m.record_sweep(&t, SweepOutcome::Clean, Some(&units_record(3, true)), 2.0);
        m.record_sweep(&t, SweepOutcome::Clean, Some(&units_record(2, true)), 3.0);
        let text = m.render().unwrap();
        assert!(text.contains(r#"project="ci-1""#), "{text}");
        assert!(!text.contains(r#"project="ci-2""#), "{text}");
        assert!(
            !text.contains(
                r#"stacksweep_last_sweep_resources{target="ci",cloud="sim",project="",kind"#
            ),
            "{text}"
        );
    }

    /// The value of the one sample line that starts with `prefix` (name and labels).
    fn sample(text: &str, prefix: &str) -> Option<f64> {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
    }

    /// Quota gauges show the latest usage and limits (-1 unlimited); freed accumulates.
    #[test]
    fn record_quota_sets_gauges_and_counts_freed() {
        use crate::engine::quota::{QuotaSnapshot, QuotaUsage};
        let m = Metrics::new();
        let t = target();
        let snap = |cores: u64| {
            let mut s = QuotaSnapshot::default();
            let u = |used, limit| QuotaUsage { used, limit };
            s.usage.insert(QuotaResource::Cores, u(cores, Some(20)));
            s.usage.insert(QuotaResource::FloatingIps, u(1, None));
            s
        };
        let report = QuotaReport::new(snap(18), Some(snap(2)));
        m.record_quota(&t, &report, true);
        m.record_quota(&t, &report, true);
        let text = m.render_text().unwrap();
        let l = r#"{target="ci",cloud="sim",project="",resource="#;
        assert_eq!(
            sample(&text, &format!("stacksweep_quota_used{l}\"cores\"}}")),
            Some(2.0)
        );
        assert_eq!(
            sample(&text, &format!("stacksweep_quota_limit{l}\"cores\"}}")),
            Some(20.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("stacksweep_quota_limit{l}\"floating_ips\"}}")
            ),
            Some(-1.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("stacksweep_quota_freed_total{l}\"cores\"}}")
            ),
            Some(32.0)
        );
        m.forget_target(&t);
        assert!(!m.render_text().unwrap().contains("stacksweep_quota_used{"));
    }

    /// A recorded sweep moves the sweep, resource and conflict counters and the gauges.
    #[test]
    fn record_sweep_moves_counters() {
        let m = Metrics::new();
        let t = target();
        let record = SweepRecord {
            kinds: BTreeMap::from([(
                "server",
                KindCounts {
                    found: 5,
                    selected: 3,
                    deleted: 2,
                    stuck: 1,
                    conflict_retries: 4,
                    ..KindCounts::default()
                },
            )]),
            oldest_leak_age: Some(Duration::from_secs(90)),
            listing_errors: 0,
            units: Vec::new(),
            unit_series: false,
        };
        m.record_sweep(&t, SweepOutcome::Incomplete, Some(&record), 1000.0);
        m.record_sweep(&t, SweepOutcome::Incomplete, Some(&record), 2000.0);
        let text = m.render().unwrap();
        let labels = r#"target="ci",cloud="sim",project="""#;
        assert_eq!(
            sample(
                &text,
                &format!("stacksweep_sweeps_total{{{labels},outcome=\"incomplete\"}}")
            ),
            Some(2.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!(
                    "stacksweep_resources_total{{{labels},kind=\"server\",outcome=\"deleted\"}}"
                )
            ),
            Some(4.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!(
                    "stacksweep_last_sweep_resources{{{labels},kind=\"server\",outcome=\"stuck\"}}"
                )
            ),
            Some(1.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("stacksweep_conflict_retries_total{{{labels},kind=\"server\"}}")
            ),
            Some(8.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("stacksweep_last_successful_sweep_timestamp_seconds{{{labels}}}")
            ),
            Some(2000.0)
        );
        assert_eq!(
            sample(
                &text,
                &format!("stacksweep_oldest_leaked_resource_age_seconds{{{labels}}}")
            ),
            Some(90.0)
        );
        assert!(text.ends_with("# EOF\n"));
    }

    /// A failed sweep counts as failed and does not move the last-success timestamp.
    #[test]
    fn failed_sweep_keeps_last_success() {
        let m = Metrics::new();
        let t = target();
        m.record_sweep(&t, SweepOutcome::Clean, Some(&SweepRecord::default()), 10.0);
        m.record_sweep(&t, SweepOutcome::Failed, None, 20.0);
        let text = m.render().unwrap();
        assert!(text.contains(
            r#"stacksweep_last_successful_sweep_timestamp_seconds{target="ci",cloud="sim",project=""} 10.0"#
        ), "{text}");
        assert!(text.contains(r#"outcome="failed"} 1"#), "{text}");
    }

    /// A kind missing from the next report reads 0 in the last-sweep gauges, not stale counts.
    #[test]
    fn missing_kind_is_zeroed() {
        let m = Metrics::new();
        let t = target();
        let mut record = SweepRecord::default();
        record.kinds.insert(
            "volume",
            KindCounts {
                found: 3,
                ..KindCounts::default()
            },
        );
        m.record_sweep(&t, SweepOutcome::Clean, Some(&record), 1.0);
        m.record_sweep(&t, SweepOutcome::Clean, Some(&SweepRecord::default()), 2.0);
        let text = m.render().unwrap();
        assert!(text.contains(
            r#"stacksweep_last_sweep_resources{target="ci",cloud="sim",project="",kind="volume",outcome="found"} 0"#
        ), "{text}");
    }

    /// The request observer counts by service, method and status class; never by path.
    #[test]
    fn observer_counts_by_status_class() {
        let m = Arc::new(Metrics::new());
        let obs = m.request_observer(&target());
        obs.on_response(Service::Network, "DELETE", Some(409), Duration::ZERO);
        obs.on_response(Service::Network, "DELETE", Some(404), Duration::ZERO);
        obs.on_response(Service::Compute, "GET", None, Duration::ZERO);
        obs.on_retry(Service::Compute, RetryReason::RateLimited);
        let text = m.render().unwrap();
        assert!(text.contains(
            r#"stacksweep_api_requests_total{target="ci",cloud="sim",service="network",method="DELETE",status="4xx"} 2"#
        ), "{text}");
        assert!(text.contains(r#"service="compute",method="GET",status="error"} 1"#));
        assert!(text.contains(r#"service="compute",reason="rate_limited"} 1"#));
    }

    /// Pacing limits are gauges by service (-1: not rate-paced); pushback is counted by
    /// service and reason.
    #[test]
    fn observer_shows_limits_and_counts_pushback() {
        let m = Arc::new(Metrics::new());
        let obs = m.request_observer(&target());
        obs.on_limits(Service::Network, 16, None);
        obs.on_limits(Service::Network, 8, Some(45.0));
        obs.on_limits(Service::Compute, 8, None);
        obs.on_pushback(Service::Network, Pushback::Throttled);
        obs.on_pushback(Service::Network, Pushback::Throttled);
        obs.on_pushback(Service::Network, Pushback::Overloaded);
        let text = m.render_text().unwrap();
        let l = r#"{target="ci",cloud="sim",service="#;
        let v = |name: &str, rest: &str| sample(&text, &format!("{name}{l}{rest}"));
        assert_eq!(
            v("stacksweep_api_concurrency_limit", "\"network\"}"),
            Some(8.0)
        );
        assert_eq!(v("stacksweep_api_rate_limit", "\"network\"}"), Some(45.0));
        assert_eq!(v("stacksweep_api_rate_limit", "\"compute\"}"), Some(-1.0));
        assert_eq!(
            v(
                "stacksweep_api_pushback_total",
                "\"network\",reason=\"throttled\"}"
            ),
            Some(2.0)
        );
        assert_eq!(
            v(
                "stacksweep_api_pushback_total",
                "\"network\",reason=\"overloaded\"}"
            ),
            Some(1.0)
        );
    }

    /// The timer records one observation when dropped.
    #[test]
    fn timer_records_on_drop() {
        let m = Metrics::new();
        drop(m.sweep_timer(&target()));
        let text = m.render().unwrap();
        assert!(
            text.contains(
                r#"stacksweep_sweep_duration_seconds_count{target="ci",cloud="sim",project=""} 1"#
            ),
            "{text}"
        );
    }

    /// The classic text format names counter families with `_total` and has no `# EOF`.
    #[test]
    fn classic_text_renames_counters() {
        let m = Metrics::new();
        m.record_sweep(&target(), SweepOutcome::Clean, None, 1.0);
        let text = m.render_text().unwrap();
        assert!(
            text.contains("# TYPE stacksweep_sweeps_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP stacksweep_sweeps_total Sweeps finished"),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
    }

    /// Status codes fall in the right class.
    #[test]
    fn status_classes() {
        assert_eq!(StatusClass::of(Some(204)).as_str(), "2xx");
        assert_eq!(StatusClass::of(Some(429)).as_str(), "4xx");
        assert_eq!(StatusClass::of(Some(503)).as_str(), "5xx");
        assert_eq!(StatusClass::of(None).as_str(), "error");
    }
}
