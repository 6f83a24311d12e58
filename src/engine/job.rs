//! A [`Job`] is one target's project, connected, with its selector and options; [`run`]
//! sweeps it: inventory → select → plan → execute, with the quota read around it.

use jiff::Timestamp;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::connect::{ConnectError, ConnectSpec};
use super::execute::{execute, SessionCloud, SweepOptions};
use super::inventory::{self, Inventory};
use super::plan;
use super::quota::{self, QuotaReport};
use super::report::{ApiSummary, Report};
use super::select::{self, Selection, Selector};
use crate::openstack::Session;
use crate::resources::Kind;

/// Everything a job needs before it connects: where, what, how.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// The cloud, project and session settings.
    pub connect: ConnectSpec,
    /// What is ours.
    pub selector: Selector,
    /// How the sweep runs.
    pub options: SweepOptions,
}

/// One connected target: the session, its selector and options.
#[derive(Debug)]
pub struct Job {
    session: Session,
    selector: Selector,
    options: SweepOptions,
    measure_quota: bool,
}

impl Job {
    /// Connects a spec's target (credentials resolved now, so rotated ones are picked up).
    /// Its sweeps read the quota before and after. Gives up at once when `cancel` is
    /// cancelled, even while retrying.
    pub async fn connect(spec: JobSpec, cancel: &CancellationToken) -> Result<Job, ConnectError> {
        let session = tokio::select! {
            biased;
            () = cancel.cancelled() => {
                return Err(ConnectError::Cancelled { target: spec.connect.target.clone() })
            }
            session = spec.connect.connect() => session?,
        };
        Ok(Job {
            session,
            selector: spec.selector,
            options: spec.options,
            measure_quota: true,
        })
    }

    /// A job on a session made elsewhere (the demo's simulator); reads no quota.
    pub fn new(session: Session, selector: Selector, options: SweepOptions) -> Job {
        Job {
            session,
            selector,
            options,
            measure_quota: false,
        }
    }

    /// The same job with other options (the demo's dry run, then its sweep).
    pub fn with_options(mut self, options: SweepOptions) -> Job {
        self.options = options;
        self
    }

    /// The session.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The selector.
    pub fn selector(&self) -> &Selector {
        &self.selector
    }

    /// The options.
    pub fn options(&self) -> &SweepOptions {
        &self.options
    }
}

/// Why a sweep could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The target could not be connected to.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// Not one kind could be listed (authorization, network).
    #[error("could not list anything in the project: {first}")]
    NothingListed {
        /// The kind whose listing failed first, in kind order.
        kind: Kind,
        /// Its error.
        first: String,
    },
    /// The sweep was cancelled before its listing was complete: nothing was deleted.
    #[error("cancelled while listing the project; nothing was deleted")]
    Cancelled,
}

impl SweepError {
    /// Whether the sweep stopped because it was cancelled (while connecting or listing),
    /// not because something is wrong.
    pub fn is_cancelled(&self) -> bool {
        matches!(
            self,
            SweepError::Cancelled | SweepError::Connect(ConnectError::Cancelled { .. })
        )
    }
}

/// What a sweep leaves for its caller.
#[derive(Debug)]
pub struct Swept {
    /// What was found, selected, planned and done.
    pub report: Report,
    /// Quota before and after (none for a job made by [`Job::new`]).
    pub quota: Option<QuotaReport>,
    /// The inventory the sweep planned on (ages for metrics).
    pub inventory: Inventory,
}

/// Where a caller joins a sweep between its phases. The daemon gives resources without a
/// creation time their first sighting as age, and holds back what its grace period has
/// not cleared; `()` changes nothing.
pub trait SweepHooks {
    /// Called with the listed inventory, before selection.
    fn listed(&mut self, inventory: Inventory) -> Inventory {
        inventory
    }

    /// Called after selection, before planning: may demote selected resources.
    fn selected(&mut self, _inventory: &Inventory, _selection: &mut Selection) {}
}

impl SweepHooks for () {}

/// Lists the job's project. Fails only when no kind at all could be listed.
pub async fn list(session: &Session, selector: &Selector) -> Result<Inventory, SweepError> {
    let project = session.project_id().to_owned();
    let inventory = inventory::collect(session, |r| selector.needs_age(r, &project)).await;
    let offered = Kind::ALL.len() - inventory.absent().len();
    if offered > 0 && inventory.errors().len() == offered {
        let (kind, first) = inventory
            .errors()
            .iter()
            .next()
            .map(|(k, e)| (*k, e.clone()))
            .unwrap_or((Kind::ALL[0], String::new()));
        return Err(SweepError::NothingListed { kind, first });
    }
    Ok(inventory)
}

/// One whole sweep of the job's project, judged at the current time.
pub async fn run(job: &Job, cancel: CancellationToken) -> Result<Swept, SweepError> {
    run_with(job, cancel, Timestamp::now(), &mut ()).await
}

/// [`run`] with the time selection judges ages at and the caller's hooks between phases.
///
/// Cancelling `cancel` stops the sweep in any phase: while listing (in-flight reads are
/// dropped; [`SweepError::Cancelled`]) or while deleting (no new step starts, in-flight
/// ones get [`SweepOptions::drain`] to finish; the report is marked cancelled and says
/// what was and was not done). No quota is read after a cancelled sweep.
pub async fn run_with(
    job: &Job,
    cancel: CancellationToken,
    now: Timestamp,
    hooks: &mut impl SweepHooks,
) -> Result<Swept, SweepError> {
    let session = &job.session;
    let options = &job.options;
    let started_at = Timestamp::now();
    let start = Instant::now();
    let pacing_before = session.pacing();
    // The quota before is read beside the listing (both only read): nothing is deleted
    // until both are done.
    let listed = async {
        let quota_before = async {
            match job.measure_quota {
                true => Some(quota::read(session).await),
                false => None,
            }
        };
        let (quota_before, listed) = tokio::join!(quota_before, list(session, &job.selector));
        listed.map(|listed| (quota_before, listed))
    };
    let (quota_before, listed) = tokio::select! {
        biased;
        () = cancel.cancelled() => {
            tracing::info!(phase = "inventory", "cancelled while listing; nothing deleted");
            return Err(SweepError::Cancelled);
        }
        listed = listed => listed?,
    };
    // One progress line per phase: long sweeps show where they are.
    tracing::info!(
        phase = "inventory",
        resources = listed.resources().len(),
        listing_errors = listed.errors().len(),
        elapsed_s = start.elapsed().as_secs_f64(),
        "listed the project"
    );
    let inventory = hooks.listed(listed);
    let mut selection = select::evaluate(&inventory, &job.selector, now);
    hooks.selected(&inventory, &mut selection);
    tracing::info!(
        phase = "select",
        selected = selection.selected_count(),
        "selected"
    );
    let plan = plan::build(&inventory, &selection);
    tracing::info!(
        phase = "plan",
        steps = plan.steps.len(),
        deletes = plan.delete_count(),
        skipped = plan.skipped.len(),
        dry_run = options.dry_run,
        "planned"
    );
    let cloud = SessionCloud::new(session);
    let mut report = execute(
        &cloud,
        &inventory,
        &selection,
        plan,
        options,
        cancel.clone(),
    )
    .await;
    tracing::info!(
        phase = "sweep",
        elapsed_s = start.elapsed().as_secs_f64(),
        clean = report.is_clean(),
        "swept"
    );
    report.cloud = session.cloud_name().to_string();
    report.started_at = started_at;
    report.duration_seconds = start.elapsed().as_secs_f64();
    // A dry run frees nothing, and a cancelled sweep starts no new request: no second read.
    let quota = match quota_before {
        None => None,
        Some(before) if options.dry_run || cancel.is_cancelled() => {
            Some(QuotaReport::new(before, None))
        }
        Some(before) => Some(QuotaReport::new(before, Some(quota::read(session).await))),
    };
    report.api = ApiSummary::between(&pacing_before, &session.pacing());
    if report.api.pushback > 0 {
        tracing::warn!(
            requests = report.api.requests,
            pushback = report.api.pushback,
            "{}",
            report.api.render_line()
        );
    }
    Ok(Swept {
        report,
        quota,
        inventory,
    })
}
