//! Execution: walks a plan and nothing else. A step starts when every step before it is
//! done, at most [`SweepOptions::concurrency`] acting at a time per service (a step that
//! only waits for something to go does not count). Before each delete the resource is
//! read again, judged again by the selector (a keep tag added or a mark removed since
//! the plan skips it) and checked unattached; after the delete of a kind the cloud
//! deletes asynchronously, the sweep polls until 404. Conflicts are retried with
//! exponential backoff and jitter up to the deadline; terminal bad states are reported
//! as stuck, and so is an attachment to a gone server that outlasts the await timeout.
//! Cancellation starts nothing new and gives in-flight steps [`SweepOptions::drain`] to
//! finish; a step still running then is abandoned and reported (its delete unconfirmed
//! when it was sent).
//!
//! [`execute`] is generic over [`Cloud`] so property tests can run it on an in-memory
//! fake; [`SessionCloud`] is the real one.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use futures::stream::{FuturesUnordered, StreamExt};
use jiff::Timestamp;
use tokio::sync::mpsc::{self, UnboundedSender};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::inventory::Inventory;
use crate::engine::plan::{Action, Plan, Step};
use crate::engine::report::{KindCounts, Outcome, Report, ResourceOutcome};
use crate::engine::select::Selection;
use crate::openstack::{ApiError, DeleteOutcome, Service, Session};
use crate::resources::{
    self, Detach, DetachOutcome, Kind, Reference, Relation, Resource, ResourceError, ResourceKey,
};

/// How a sweep runs.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Plan only: delete nothing.
    pub dry_run: bool,
    /// When the plan would delete more than this, delete nothing and say why.
    pub max_deletes: Option<usize>,
    /// The whole sweep's time budget; retries and polls stop at it.
    pub deadline: Duration,
    /// Requests in flight per service the walk is sized for: as high as the session's
    /// ceiling, since the session's adaptive pacing, which learns what the service
    /// takes, bounds the requests, not the walk. Steps acting (re-reading, deleting,
    /// detaching, retrying) at once per service are a quarter more (none more below 4),
    /// so that the pacing, not the walk, is what bounds; steps waiting for something to
    /// go are not counted.
    pub concurrency: usize,
    /// First delay before retrying a conflict; doubles each time, with jitter.
    pub retry_base: Duration,
    /// Largest delay between conflict retries.
    pub retry_cap: Duration,
    /// First delay between polls for a deleted resource to be gone.
    pub poll_base: Duration,
    /// Largest delay between polls.
    pub poll_cap: Duration,
    /// How long to wait for an unselected resource to go with its owner (a server's
    /// port) before treating it as staying.
    pub await_timeout: Duration,
    /// After cancellation, how long in-flight steps may take to finish (a delete to be
    /// answered, an asynchronous delete to be confirmed) before they are abandoned: a
    /// stopped job must exit within its orchestrator's grace period (Kubernetes: 30 s).
    pub drain: Duration,
    /// Deletes left across every sweep of one run (`safety.max_deletes_total`), shared by
    /// the units swept concurrently; `None`: no total.
    pub total_budget: Option<Arc<DeleteBudget>>,
}

/// A number of deletes shared by concurrent sweeps: each delete draws one before it is
/// sent, so the total is never exceeded, whatever the concurrency.
#[derive(Debug)]
pub struct DeleteBudget {
    limit: usize,
    used: AtomicUsize,
}

impl DeleteBudget {
    /// A budget of `limit` deletes.
    pub fn new(limit: usize) -> DeleteBudget {
        DeleteBudget {
            limit,
            used: AtomicUsize::new(0),
        }
    }

    /// Draws one delete; `false` when none is left.
    pub fn take(&self) -> bool {
        self.used
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |used| {
                (used < self.limit).then_some(used + 1)
            })
            .is_ok()
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Deletes drawn so far.
    pub fn used(&self) -> usize {
        self.used.load(Ordering::SeqCst).min(self.limit)
    }
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            dry_run: false,
            max_deletes: None,
            deadline: Duration::from_secs(30 * 60),
            concurrency: 64,
            retry_base: Duration::from_secs(1),
            retry_cap: Duration::from_secs(30),
            // Most asynchronous deletes (a Cinder snapshot, a volume, a port going with
            // its server) end within a second or two, and chains of them (snapshot, then
            // its volume) wait on each: a first look after 0.2–0.4 s, doubling, keeps a
            // level of such a chain near the delete's own time for one or two more GETs.
            poll_base: Duration::from_millis(200),
            poll_cap: Duration::from_secs(10),
            await_timeout: Duration::from_secs(120),
            drain: Duration::from_secs(15),
            total_budget: None,
        }
    }
}

/// Why a cloud operation failed, as the sweep needs to know it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CloudError {
    /// Wrong order or a transitional state: retried after a backoff (409, Cinder's
    /// 400 "Volume status must be ...", Octavia `PENDING_*`).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Anything else: the step fails.
    #[error("{0}")]
    Failed(String),
}

/// The cloud side of a sweep: read, delete, detach one resource.
pub trait Cloud: Sync {
    /// Reads the resource again; `None` when it is gone.
    fn read(
        &self,
        resource: &Resource,
    ) -> impl Future<Output = Result<Option<Resource>, CloudError>> + Send;
    /// Deletes the resource; 404 is [`DeleteOutcome::AlreadyGone`].
    fn delete(
        &self,
        resource: &Resource,
    ) -> impl Future<Output = Result<DeleteOutcome, CloudError>> + Send;
    /// Carries out a detach action; 404 is [`DetachOutcome::AlreadyGone`].
    fn detach(
        &self,
        action: &Detach,
    ) -> impl Future<Output = Result<DetachOutcome, CloudError>> + Send;
    /// Whether a 404 from `kind`'s service may be false: the service left a request
    /// unanswered moments ago and may be just back from a restart (a restarted Neutron
    /// answered 404 to GET and DELETE of ports that existed, for a second or two).
    fn doubts_not_found(&self, _kind: Kind) -> bool {
        false
    }
}

/// How long after a service left a request unanswered its 404s are read again.
const RESTART_DOUBT_WINDOW: Duration = Duration::from_secs(60);

/// The pause before reading again a resource a doubtful 404 said was gone.
const RESTART_DOUBT_PAUSE: Duration = Duration::from_secs(3);

/// How many doubtful 404s in a row are read again before the resource counts as gone.
const RESTART_DOUBT_READS: u32 = 3;

/// How many times a delete the cloud accepted and then undid is sent again. Nova reverts
/// a server's `deleting` task (back to `ACTIVE`, no task) when its compute service loses
/// the message bus in the middle of the delete: a RabbitMQ restart did it on the real
/// test bed.
const UNDONE_RESENDS: u32 = 3;

/// Statuses a resource may show once deleted that are neither a delete in progress nor
/// an undone one (Nova's deferred delete).
const DELETED_STATUSES: &[&str] = &["SOFT_DELETED", "DELETED"];

/// [`Cloud`] over a real [`Session`].
#[derive(Clone, Copy)]
pub struct SessionCloud<'a> {
    session: &'a Session,
}

impl<'a> SessionCloud<'a> {
    /// Wraps a session.
    pub fn new(session: &'a Session) -> Self {
        SessionCloud { session }
    }
}

/// Sorts an API failure into retry-later or give-up.
pub fn classify(kind: Kind, error: &ResourceError) -> CloudError {
    let text = error.to_string();
    // 409, or what the kind's service says instead (Cinder: 400).
    match error.api().and_then(ApiError::status) {
        Some(status) if kind.refuses_wrong_state_with(status) => CloudError::Conflict(text),
        _ => CloudError::Failed(text),
    }
}

impl Cloud for SessionCloud<'_> {
    async fn read(&self, resource: &Resource) -> Result<Option<Resource>, CloudError> {
        resources::read(self.session, resource)
            .await
            .map_err(|e| classify(resource.kind, &e))
    }

    async fn delete(&self, resource: &Resource) -> Result<DeleteOutcome, CloudError> {
        resources::delete(self.session, resource)
            .await
            .map_err(|e| classify(resource.kind, &e))
    }

    fn doubts_not_found(&self, kind: Kind) -> bool {
        self.session
            .recently_unreachable(kind.service(), RESTART_DOUBT_WINDOW)
    }

    async fn detach(&self, action: &Detach) -> Result<DetachOutcome, CloudError> {
        let kind = action.owner().kind;
        resources::detach(self.session, action)
            .await
            .map_err(|e| classify(kind, &e))
    }
}

/// How one step ended.
#[derive(Debug, Clone)]
enum StepEnd {
    /// Deleted / detached / gone as awaited.
    Done,
    /// Skipped at run time (became in use).
    Skipped(String),
    /// Terminal bad state.
    Stuck(String),
    /// Failed.
    Failed(String),
    /// An awaited resource stayed.
    Stayed(String),
    /// Never started, or gave up waiting to retry because of cancellation / the deadline.
    NotAttempted(String),
}

impl StepEnd {
    fn outcome(&self) -> (Outcome, String) {
        match self {
            StepEnd::Done => (Outcome::Deleted, String::new()),
            StepEnd::Skipped(r) | StepEnd::Stayed(r) => (Outcome::Skipped, r.clone()),
            StepEnd::Stuck(r) => (Outcome::Stuck, r.clone()),
            StepEnd::Failed(r) => (Outcome::Failed, r.clone()),
            StepEnd::NotAttempted(r) => (Outcome::NotAttempted, r.clone()),
        }
    }
}

/// Per-step context that does not change while it runs.
struct StepContext<'a> {
    options: &'a SweepOptions,
    deadline: Instant,
    cancel: &'a CancellationToken,
    inventory: &'a Inventory,
    /// The verdicts, judged again on each re-read.
    selection: &'a Selection,
    /// Resources known gone (deleted by this sweep or awaited), as of now.
    gone: &'a Gone,
    /// The step's slot among its service's acting steps.
    slot: Slot<'a>,
    /// Steps whose delete or detach request was sent (or found under way).
    sent: &'a Sent,
}

/// Which steps have sent their delete or detach: a step abandoned after cancellation is
/// reported as unconfirmed, not as not attempted.
struct Sent(Mutex<HashSet<usize>>);

impl Sent {
    fn insert(&self, step: usize) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(step);
    }

    fn contains(&self, step: usize) -> bool {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&step)
    }
}

/// A step's place among the steps acting on its service at once. A step that only waits
/// for something to go gives it up: its polls are bounded by the session's per-service
/// request limit and rate like every request, and waiting must not hold back deletes.
struct Slot<'a> {
    step: usize,
    releases: &'a UnboundedSender<usize>,
}

impl Slot<'_> {
    /// Lets the next ready step of the service start.
    fn release(&self) {
        // The walk holds the receiver until every step has ended.
        let _ = self.releases.send(self.step);
    }
}

/// What this sweep has seen go, by key and by ID (references of unknown kind). Only
/// ever grows, so a step may read it at any time; shared by every running step.
#[derive(Default)]
struct Gone {
    seen: Mutex<GoneSets>,
}

#[derive(Default)]
struct GoneSets {
    keys: HashSet<ResourceKey>,
    ids: HashSet<String>,
}

impl Gone {
    fn sets(&self) -> MutexGuard<'_, GoneSets> {
        // Plain inserts and lookups: a panic elsewhere cannot leave the sets half-made.
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn insert(&self, key: ResourceKey) {
        let mut sets = self.sets();
        sets.ids.insert(key.id.clone());
        sets.keys.insert(key);
    }

    fn contains(&self, kind: Option<Kind>, id: &str) -> bool {
        let sets = self.sets();
        match kind {
            Some(kind) => sets.keys.contains(&ResourceKey::new(kind, id)),
            None => sets.ids.contains(id),
        }
    }
}

impl StepContext<'_> {
    fn is_gone(&self, kind: Option<Kind>, id: &str) -> bool {
        self.gone.contains(kind, id)
    }

    /// Records that this step's delete or detach is under way.
    fn mark_sent(&self) {
        self.sent.insert(self.slot.step);
    }

    fn backoff(&self, base: Duration, cap: Duration) -> impl Iterator<Item = Duration> {
        ExponentialBuilder::default()
            .with_min_delay(base)
            .with_max_delay(cap)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// Sleeps `delay` unless that passes the deadline or the sweep is cancelled
    /// (`interruptible`): then `false`.
    async fn wait(&self, delay: Option<Duration>, interruptible: bool) -> bool {
        let delay = delay.unwrap_or(self.options.retry_cap);
        if Instant::now() + delay > self.deadline {
            return false;
        }
        if interruptible {
            tokio::select! {
                () = tokio::time::sleep(delay) => true,
                () = self.cancel.cancelled() => false,
            }
        } else {
            tokio::time::sleep(delay).await;
            true
        }
    }
}

/// Runs one step; returns how it ended and how many conflicts it retried.
#[tracing::instrument(skip_all, fields(kind = step.kind.as_str(), id = %step.id, action = step.action.as_str()))]
async fn run_step<C: Cloud>(
    cloud: &C,
    step: &Step,
    resource: &Resource,
    cx: StepContext<'_>,
) -> (StepEnd, u64) {
    match &step.action {
        Action::Delete => delete_step(cloud, resource, &cx).await,
        Action::Detach { detach } => detach_step(cloud, resource, detach, &cx).await,
        Action::AwaitGone { owner } => (await_step(cloud, resource, owner, &cx).await, 0),
    }
}

async fn delete_step<C: Cloud>(
    cloud: &C,
    resource: &Resource,
    cx: &StepContext<'_>,
) -> (StepEnd, u64) {
    let mut retries = 0u64;
    let started = Instant::now();
    let mut backoff = cx.backoff(cx.options.retry_base, cx.options.retry_cap);
    // One draw on the run's total per resource, retries included.
    let mut drawn = false;
    // 404s read again because the service may be just back from a restart.
    let mut doubted = 0;
    // Deletes sent again because the cloud undid them.
    let mut resent = 0;
    loop {
        // Until the delete is accepted (or found in progress): then polled until gone.
        loop {
            let fresh = match cloud.read(resource).await {
                // Gone before our delete (with its owner, or someone else's) unless the
                // service may be answering 404 falsely: then a later read decides.
                Ok(None)
                    if doubted < RESTART_DOUBT_READS && cloud.doubts_not_found(resource.kind) =>
                {
                    doubted += 1;
                    if !cx.wait(Some(RESTART_DOUBT_PAUSE), true).await {
                        return (StepEnd::Done, retries);
                    }
                    continue;
                }
                Ok(None) => return (StepEnd::Done, retries),
                Ok(Some(fresh)) => fresh,
                Err(e) => {
                    return (
                        StepEnd::Failed(format!("failed: re-read before delete: {e}")),
                        retries,
                    )
                }
            };
            // The plan was made on the listing: what the cloud says now decides (a keep
            // tag added since, a mark removed).
            if let Some(why) = cx.selection.rejudge(resource, &fresh) {
                return (StepEnd::Skipped(no_longer_selected(&why)), retries);
            }
            if fresh.is_stuck() {
                let status = fresh.status.as_deref().unwrap_or("?");
                return (StepEnd::Stuck(format!("stuck: status {status}")), retries);
            }
            // A holder already known as a stale attachment is left to Cinder's 400s; a new
            // one (attached since the plan was made) skips the resource.
            let stale =
                |h: &Reference| resource.refs.contains(h) && cx.inventory.is_stale_attachment(h);
            // A port bound to a server the listing did not show: gone only if Nova says so now.
            let orphan =
                |h: &Reference| resource.refs.contains(h) && cx.inventory.is_orphan_binding(h);
            // A port still bound to a server that is gone (one we saw go, or one Nova answers
            // 404 for): Nova could not unbind it (Neutron was down while it deleted the
            // server), and Neutron refuses a member the delete of a bound port (403).
            let bound_to_server =
                |h: &Reference| h.kind == Some(Kind::Server) && h.role == resources::BOUND_SERVER;
            let unbind_first: Vec<Reference> = fresh
                .holders()
                .filter(|h| bound_to_server(h) && (orphan(h) || cx.is_gone(h.kind, &h.id)))
                .cloned()
                .collect();
            for holder in unbind_first {
                let gone = if cx.is_gone(holder.kind, &holder.id) {
                    Ok(true)
                } else {
                    server_gone(cloud, &holder.id).await
                };
                match gone {
                    Ok(true) => {
                        tracing::info!(
                            kind = resource.kind.as_str(), id = %resource.id, server = %holder.id,
                            "bound to a server that is gone (404), left by an interrupted server delete: clearing the binding"
                        );
                        let unbind = Detach::PortBinding {
                            port_id: resource.id.clone(),
                            server_id: holder.id.clone(),
                        };
                        cx.mark_sent();
                        if let Err(e) = cloud.detach(&unbind).await {
                            let why = format!("failed: {}: {e}", unbind.describe());
                            return (StepEnd::Failed(why), retries);
                        }
                    }
                    Ok(false) => {
                        let why = format!("skipped: in use by server {}", holder.id);
                        return (StepEnd::Skipped(why), retries);
                    }
                    Err(e) => {
                        let why =
                            format!("failed: reading server {} before delete: {e}", holder.id);
                        return (StepEnd::Failed(why), retries);
                    }
                }
            }
            if let Some(holder) = fresh
                .holders()
                .find(|h| !cx.is_gone(h.kind, &h.id) && !stale(h) && !orphan(h))
            {
                let what = holder.kind.map_or(holder.role, Kind::as_str);
                let why = format!(
                    "skipped: became in use by {what} {} since the plan was made",
                    holder.id
                );
                return (StepEnd::Skipped(why), retries);
            }
            // A volume attached with `delete_on_termination` since the plan: deleting the
            // server would now delete it too.
            let taken = fresh.refs.iter().filter(|x| x.relation == Relation::Takes);
            if let Some(t) = taken.filter(|t| !cx.is_gone(t.kind, &t.id)).find(|t| {
                t.kind
                    .is_none_or(|k| !cx.selection.is_selected(&ResourceKey::new(k, t.id.clone())))
            }) {
                let what = t.kind.map_or(t.role, Kind::as_str);
                let why = format!(
                    "skipped: deleting it would now delete {what} {} (unselected)",
                    t.id
                );
                return (StepEnd::Skipped(why), retries);
            }
            if fresh.is_deleting() {
                cx.mark_sent();
                break;
            }
            if !drawn {
                if let Some(budget) = &cx.options.total_budget {
                    if !budget.take() {
                        let why = format!(
                            "not attempted: max_deletes_total = {} reached across the run",
                            budget.limit()
                        );
                        return (StepEnd::NotAttempted(why), retries);
                    }
                }
                drawn = true;
            }
            cx.mark_sent();
            match cloud.delete(&fresh).await {
                // A doubtful 404 to the delete: the next read decides.
                Ok(DeleteOutcome::AlreadyGone)
                    if doubted < RESTART_DOUBT_READS && cloud.doubts_not_found(resource.kind) =>
                {
                    doubted += 1;
                    if !cx.wait(Some(RESTART_DOUBT_PAUSE), true).await {
                        return (StepEnd::Done, retries);
                    }
                }
                Ok(DeleteOutcome::AlreadyGone) => return (StepEnd::Done, retries),
                // Neutron, Glance, Swift and Nova's keypairs and groups answer once the
                // resource is gone: confirming it would be a wasted round trip.
                Ok(DeleteOutcome::Accepted) if !resource.kind.deletes_asynchronously() => {
                    return (StepEnd::Done, retries)
                }
                Ok(DeleteOutcome::Accepted) => break,
                Err(CloudError::Conflict(why)) => {
                    retries += 1;
                    // An attachment to a server that was already gone when the sweep listed
                    // is Cinder catching up, for seconds; one that outlasts the await
                    // timeout will not go by itself.
                    let lingering = fresh.holders().find(|h| stale(h));
                    if let Some(h) =
                        lingering.filter(|_| started.elapsed() > cx.options.await_timeout)
                    {
                        let status = fresh.status.as_deref().unwrap_or("?");
                        let why = format!(
                            "stuck: status {status}, still attached to server {}, which is gone",
                            h.id
                        );
                        return (StepEnd::Stuck(why), retries);
                    }
                    tracing::debug!(kind = resource.kind.as_str(), id = %resource.id, %why, retries, "conflict; will retry");
                    if !cx.wait(backoff.next(), true).await {
                        return (give_up(retries, &why, cx), retries);
                    }
                }
                Err(CloudError::Failed(why)) => {
                    return (StepEnd::Failed(format!("failed: {why}")), retries)
                }
            }
        }
        cx.slot.release();
        match poll_gone(cloud, resource, cx).await {
            Polled::End(end) => return (end, retries),
            Polled::Undone(status) if resent < UNDONE_RESENDS => {
                resent += 1;
                tracing::warn!(
                    kind = resource.kind.as_str(), id = %resource.id, %status, resent,
                    "the cloud undid an accepted delete; checking it again and sending it again"
                );
            }
            Polled::Undone(status) => {
                let why = format!(
                    "failed: the cloud undid the delete {} times (status {status} again)",
                    resent + 1
                );
                return (StepEnd::Failed(why), retries);
            }
        }
    }
}

/// How polling a deleted resource ended.
enum Polled {
    /// Gone, stuck, or still there at the deadline.
    End(StepEnd),
    /// Seen being deleted, then settled again: the cloud undid the delete (status).
    Undone(String),
}

/// Whether the server `id` is gone (the API answers 404 for it now).
async fn server_gone<C: Cloud>(cloud: &C, id: &str) -> Result<bool, CloudError> {
    Ok(cloud
        .read(&Resource::new(Kind::Server, id))
        .await?
        .is_none())
}

/// The reason of a resource the re-read found no longer selected.
fn no_longer_selected(verdict: &str) -> String {
    let why = verdict.strip_prefix("kept: ").unwrap_or(verdict);
    format!("skipped: no longer selected since the plan was made ({why})")
}

fn give_up(retries: u64, why: &str, cx: &StepContext<'_>) -> StepEnd {
    if cx.cancel.is_cancelled() {
        StepEnd::NotAttempted(format!(
            "not attempted: sweep cancelled while retrying ({why})"
        ))
    } else {
        StepEnd::Failed(format!(
            "failed: still conflicting at the deadline after {retries} retries: {why}"
        ))
    }
}

/// Polls until the resource is gone, stuck, undone, or the deadline passes.
async fn poll_gone<C: Cloud>(cloud: &C, resource: &Resource, cx: &StepContext<'_>) -> Polled {
    let mut backoff = cx.backoff(cx.options.poll_base, cx.options.poll_cap);
    let mut seen_deleting = false;
    let accepted = Instant::now();
    loop {
        let mut deleting = false;
        let last = match cloud.read(resource).await {
            Ok(None) => return Polled::End(StepEnd::Done),
            Ok(Some(fresh)) if fresh.is_stuck_after_delete() => {
                let status = fresh.status.as_deref().unwrap_or("?");
                return Polled::End(StepEnd::Stuck(format!(
                    "stuck: status {status} after delete"
                )));
            }
            Ok(Some(fresh)) if fresh.is_deleting() => {
                seen_deleting = true;
                deleting = true;
                fresh.status.unwrap_or_else(|| "deleting".into())
            }
            Ok(Some(fresh)) => {
                let status = fresh.status.unwrap_or_else(|| "present".into());
                let deleted = DELETED_STATUSES
                    .iter()
                    .any(|d| d.eq_ignore_ascii_case(&status));
                if seen_deleting && !deleted {
                    return Polled::Undone(status);
                }
                status
            }
            Err(e) => format!("unreadable: {e}"),
        };
        if !cx.wait(backoff.next(), false).await {
            // Still in progress long after it was accepted: a delete the cloud may have
            // lost (a snapshot's, when RabbitMQ restarted under Cinder), which only an
            // admin can reset. Stuck, not a failure a retry would mend.
            if deleting {
                return Polled::End(StepEnd::Stuck(format!(
                    "stuck: still {last} at the deadline, {}s after the delete was accepted: the cloud may have lost the delete (an admin can reset its status)",
                    accepted.elapsed().as_secs()
                )));
            }
            return Polled::End(StepEnd::Failed(format!(
                "failed: delete accepted but still there at the deadline (status {last})"
            )));
        }
    }
}

async fn detach_step<C: Cloud>(
    cloud: &C,
    owner: &Resource,
    action: &Detach,
    cx: &StepContext<'_>,
) -> (StepEnd, u64) {
    let mut retries = 0u64;
    let mut backoff = cx.backoff(cx.options.retry_base, cx.options.retry_cap);
    loop {
        match cloud.read(owner).await {
            Ok(None) => return (StepEnd::Done, retries),
            Ok(Some(fresh)) if cx.selection.rejudge(owner, &fresh).is_some() => {
                let why = cx.selection.rejudge(owner, &fresh).unwrap_or_default();
                return (StepEnd::Skipped(no_longer_selected(&why)), retries);
            }
            Ok(Some(fresh)) if action.releases_owner() && !fresh.detach.contains(action) => {
                // Already disassociated (or associated elsewhere, which we leave alone).
                if fresh.detach.is_empty() {
                    return (StepEnd::Done, retries);
                }
                return (
                    StepEnd::Skipped(format!(
                        "skipped: {} changed since the plan was made",
                        owner.label()
                    )),
                    retries,
                );
            }
            Ok(Some(_)) => {}
            Err(e) => {
                return (
                    StepEnd::Failed(format!("failed: re-read before detach: {e}")),
                    retries,
                )
            }
        }
        cx.mark_sent();
        match cloud.detach(action).await {
            Ok(_) => return (StepEnd::Done, retries),
            Err(CloudError::Conflict(why)) => {
                retries += 1;
                if !cx.wait(backoff.next(), true).await {
                    return (give_up(retries, &why, cx), retries);
                }
            }
            Err(CloudError::Failed(why)) => {
                return (
                    StepEnd::Failed(format!("failed: {}: {why}", action.describe())),
                    retries,
                )
            }
        }
    }
}

async fn await_step<C: Cloud>(
    cloud: &C,
    resource: &Resource,
    owner: &ResourceKey,
    cx: &StepContext<'_>,
) -> StepEnd {
    cx.slot.release();
    let started = Instant::now();
    let mut backoff = cx.backoff(cx.options.poll_base, cx.options.poll_cap);
    let stayed = |why: &str| StepEnd::Stayed(format!("skipped: {} {why}", resource.label()));
    loop {
        match cloud.read(resource).await {
            Ok(None) => return StepEnd::Done,
            Ok(Some(fresh)) => {
                let still_owned = fresh
                    .refs
                    .iter()
                    .any(|r| r.relation == Relation::OwnedBy && r.id == owner.id);
                if !still_owned {
                    return stayed(&format!("stayed after {owner} went"));
                }
            }
            Err(_) => {}
        }
        if started.elapsed() > cx.options.await_timeout || !cx.wait(backoff.next(), false).await {
            return stayed(&format!(
                "was still there {}s after {owner} went",
                started.elapsed().as_secs()
            ));
        }
    }
}

/// Steps acting at once per service, for `concurrency` requests in flight: a quarter
/// more (none below 4, so that a concurrency of 1 still means one step at a time), so
/// that a step busy between its two requests (a re-read answered, its delete not yet
/// sent) or just ended does not leave a request slot empty. The session's pacing still
/// bounds the requests; the extra steps wait for its permits.
fn steps_acting_per_service(concurrency: usize) -> usize {
    let concurrency = concurrency.max(1);
    concurrency + concurrency / 4
}

/// Carries out `plan` against `cloud` and reports. Never deletes a resource that is not
/// a delete step of the plan.
pub async fn execute<C: Cloud>(
    cloud: &C,
    inventory: &Inventory,
    selection: &Selection,
    plan: Plan,
    options: &SweepOptions,
    cancel: CancellationToken,
) -> Report {
    let started_at = Timestamp::now();
    let start = Instant::now();
    let deadline = start + options.deadline;
    let n = plan.steps.len();
    let mut ends: Vec<Option<StepEnd>> = vec![None; n];
    let mut retries_by_kind: BTreeMap<Kind, u64> = BTreeMap::new();
    let mut aborted = None;
    let mut cancelled = false;

    if options.dry_run {
        // Nothing runs; outcomes are filled in as "would delete" below.
    } else if let Some(max) = options.max_deletes.filter(|max| plan.delete_count() > *max) {
        let why = format!(
            "the plan deletes {} resources, more than max_deletes = {max}",
            plan.delete_count()
        );
        for end in ends.iter_mut() {
            *end = Some(StepEnd::NotAttempted(format!("not attempted: {why}")));
        }
        aborted = Some(why);
    } else {
        cancelled = walk(
            cloud,
            inventory,
            selection,
            &plan,
            options,
            deadline,
            &cancel,
            &mut ends,
            &mut retries_by_kind,
        )
        .await;
    }

    let mut report = assemble(
        inventory,
        selection,
        &plan,
        &ends,
        options.dry_run,
        retries_by_kind,
    );
    report.aborted = aborted;
    report.cancelled = cancelled;
    report.started_at = started_at;
    report.duration_seconds = start.elapsed().as_secs_f64();
    report.plan = plan;
    report
}

/// Walks the graph: starts ready steps (bounded per service), records how each ends,
/// and marks what waits on a step that did not succeed. Once `cancel` is cancelled no
/// step starts, and steps still running [`SweepOptions::drain`] later are abandoned.
/// Returns whether cancellation left any step undone.
#[allow(clippy::too_many_arguments)]
async fn walk<C: Cloud>(
    cloud: &C,
    inventory: &Inventory,
    selection: &Selection,
    plan: &Plan,
    options: &SweepOptions,
    deadline: Instant,
    cancel: &CancellationToken,
    ends: &mut [Option<StepEnd>],
    retries_by_kind: &mut BTreeMap<Kind, u64>,
) -> bool {
    let n = plan.steps.len();
    let mut waiting: Vec<usize> = plan.steps.iter().map(|s| s.after.len()).collect();
    let mut next: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, s) in plan.steps.iter().enumerate() {
        for &a in &s.after {
            next[a - 1].push(i);
        }
    }
    // Ready steps per service, in plan order; a service's queue is only looked at while
    // it has a free slot, so starting steps costs the same however many wait.
    let mut ready: HashMap<Service, BTreeSet<usize>> = HashMap::new();
    for i in (0..n).filter(|&i| waiting[i] == 0) {
        ready
            .entry(plan.steps[i].kind.service())
            .or_default()
            .insert(i);
    }
    let mut in_flight: HashMap<Service, usize> = HashMap::new();
    // Steps that gave up their slot to wait (or ended): not counted in `in_flight`.
    let mut released = vec![false; n];
    let (releases, mut released_slots) = mpsc::unbounded_channel::<usize>();
    let gone = Gone::default();
    let sent = Sent(Mutex::new(HashSet::new()));
    let mut started = vec![false; n];
    let mut running = FuturesUnordered::new();
    let concurrency = steps_acting_per_service(options.concurrency);
    // Resolves `drain` after cancellation: then what still runs is abandoned.
    let drained = async {
        cancel.cancelled().await;
        tracing::info!(
            drain_s = options.drain.as_secs_f64(),
            "sweep cancelled: starting no new step; waiting for in-flight ones"
        );
        tokio::time::sleep(options.drain).await;
    };
    tokio::pin!(drained);
    let mut abandoned = false;
    loop {
        if !cancel.is_cancelled() && Instant::now() < deadline {
            for (service, queue) in &mut ready {
                let busy = in_flight.entry(*service).or_insert(0);
                while *busy < concurrency {
                    let Some(i) = queue.pop_first() else {
                        break;
                    };
                    let step = &plan.steps[i];
                    let Some(resource) = inventory.get(&step.key()) else {
                        let end = StepEnd::Failed("failed: not in the inventory".into());
                        skip_downstream(plan, &next, i, &end, ends);
                        ends[i] = Some(end);
                        continue;
                    };
                    *busy += 1;
                    started[i] = true;
                    let cx = StepContext {
                        options,
                        deadline,
                        cancel,
                        inventory,
                        selection,
                        gone: &gone,
                        slot: Slot {
                            step: i,
                            releases: &releases,
                        },
                        sent: &sent,
                    };
                    running.push(async move { (i, run_step(cloud, step, resource, cx).await) });
                }
            }
        }
        let (i, (end, retries)) = tokio::select! {
            biased;
            Some(i) = released_slots.recv() => {
                free_slot(plan, i, &mut released, &mut in_flight);
                continue;
            }
            ended = running.next() => match ended {
                Some(ended) => ended,
                None => break,
            },
            () = &mut drained => {
                abandoned = true;
                break;
            }
        };
        free_slot(plan, i, &mut released, &mut in_flight);
        let step = &plan.steps[i];
        if retries > 0 {
            *retries_by_kind.entry(step.kind).or_default() += retries;
        }
        if matches!(end, StepEnd::Done) {
            if !matches!(step.action, Action::Detach { .. }) {
                gone.insert(step.key());
            }
            if step.action == Action::Delete {
                log_delete(inventory, selection, step);
            }
            for &j in &next[i] {
                waiting[j] -= 1;
                if waiting[j] == 0 && ends[j].is_none() {
                    let service = plan.steps[j].kind.service();
                    ready.entry(service).or_default().insert(j);
                }
            }
        } else if !(cancel.is_cancelled() && matches!(end, StepEnd::NotAttempted(_))) {
            // (What waits on a step cancellation stopped is not attempted either: below.)
            skip_downstream(plan, &next, i, &end, ends);
        }
        ends[i] = Some(end);
    }
    // Dropping the steps still running ends their requests; say what each had done.
    drop(running);
    if abandoned {
        let drain = options.drain.as_secs();
        let in_flight: Vec<usize> = (0..n)
            .filter(|&i| started[i] && ends[i].is_none())
            .collect();
        for i in in_flight {
            let end = if sent.contains(i) {
                StepEnd::Failed(format!(
                    "unconfirmed: sweep cancelled; the delete was sent but not confirmed \
                     within {drain}s (the cloud may still carry it out)"
                ))
            } else {
                StepEnd::NotAttempted(
                    "not attempted: sweep cancelled before its delete was sent".into(),
                )
            };
            let (_, reason) = end.outcome();
            let step = &plan.steps[i];
            tracing::warn!(kind = step.kind.as_str(), id = %step.id, %reason, "abandoned at cancellation");
            // What waits on it is "not attempted: sweep cancelled" (below), not skipped.
            ends[i] = Some(end);
        }
    }
    let why = if cancel.is_cancelled() {
        "not attempted: sweep cancelled"
    } else {
        "not attempted: sweep deadline reached"
    };
    for end in ends.iter_mut().filter(|e| e.is_none()) {
        *end = Some(StepEnd::NotAttempted(why.into()));
    }
    // Under cancellation, a step is left undone only because of it.
    let undone = ends
        .iter()
        .any(|e| matches!(e, Some(StepEnd::NotAttempted(_))));
    cancel.is_cancelled() && (abandoned || undone)
}

/// Counts step `i` out of its service's acting steps, once.
fn free_slot(
    plan: &Plan,
    i: usize,
    released: &mut [bool],
    in_flight: &mut HashMap<Service, usize>,
) {
    if std::mem::replace(&mut released[i], true) {
        return;
    }
    if let Some(busy) = in_flight.get_mut(&plan.steps[i].kind.service()) {
        *busy = busy.saturating_sub(1);
    }
}

/// One structured event per delete.
fn log_delete(inventory: &Inventory, selection: &Selection, step: &Step) {
    let key = step.key();
    let reason = selection
        .verdict(&key)
        .map(|v| v.reason.as_str())
        .unwrap_or("");
    let project = inventory
        .get(&key)
        .and_then(|r| r.project_id.as_deref())
        .unwrap_or(inventory.project_id());
    tracing::info!(kind = step.kind.as_str(), id = %step.id, name = %step.name, project, reason, "deleted");
}

/// Marks every step reachable from `from` as skipped, naming `from` as the blocker.
fn skip_downstream(
    plan: &Plan,
    next: &[Vec<usize>],
    from: usize,
    end: &StepEnd,
    ends: &mut [Option<StepEnd>],
) {
    let step = &plan.steps[from];
    let what = match end {
        StepEnd::Stuck(_) => "is stuck",
        StepEnd::Failed(_) => "failed",
        StepEnd::NotAttempted(_) => "was not attempted",
        StepEnd::Skipped(_) | StepEnd::Stayed(_) | StepEnd::Done => "stays",
    };
    let label = match &step.action {
        Action::Detach { detach } => detach.describe(),
        _ => format!("{} {}", step.kind, step.id),
    };
    // The upstream step's own reason names what keeps it (the root blocker).
    let cause = match end {
        StepEnd::Skipped(c) | StepEnd::Stayed(c) => Some(c.as_str()),
        StepEnd::Stuck(_) | StepEnd::Failed(_) | StepEnd::NotAttempted(_) | StepEnd::Done => None,
    };
    let why = match cause.map(|c| c.strip_prefix("skipped: ").unwrap_or(c)) {
        Some(cause) if !cause.is_empty() => {
            format!("skipped: waits on {label}, which {what} ({cause})")
        }
        _ => format!("skipped: waits on {label}, which {what}"),
    };
    let mut stack = next[from].clone();
    while let Some(j) = stack.pop() {
        if ends[j].is_none() {
            ends[j] = Some(StepEnd::Skipped(why.clone()));
            stack.extend(next[j].iter().copied());
        }
    }
}

fn verdict_of(selection: &Selection, key: &ResourceKey) -> String {
    selection
        .verdict(key)
        .map(|v| v.reason.clone())
        .unwrap_or_default()
}

fn assemble(
    inventory: &Inventory,
    selection: &Selection,
    plan: &Plan,
    ends: &[Option<StepEnd>],
    dry_run: bool,
    retries_by_kind: BTreeMap<Kind, u64>,
) -> Report {
    // Per resource: the end of its delete or await step, or of a failed detach of its.
    let mut by_key: HashMap<ResourceKey, (Outcome, String)> = HashMap::new();
    for (step, end) in plan.steps.iter().zip(ends) {
        let key = step.key();
        let entry = match (&step.action, end) {
            (Action::Delete, _) if dry_run => Some((Outcome::WouldDelete, String::new())),
            // A detach of its that did not happen says more than "waits on it".
            (Action::Delete, Some(StepEnd::Skipped(_))) if by_key.contains_key(&key) => None,
            (Action::Delete, Some(end)) => Some(end.outcome()),
            (Action::AwaitGone { .. }, _) if dry_run => selection
                .is_selected(&key)
                .then(|| (Outcome::WouldDelete, String::new())),
            (Action::AwaitGone { owner }, Some(StepEnd::Done)) => {
                let gone = format!("deleted by the cloud with {owner}");
                if selection.is_selected(&key) {
                    Some((
                        Outcome::Deleted,
                        format!("{gone}; it was {}", verdict_of(selection, &key)),
                    ))
                } else {
                    // Why we kept it (not marked, or Designate's own SOA), then how it went.
                    let kept = match verdict_of(selection, &key) {
                        v if v.is_empty() => "kept: not marked".to_owned(),
                        v => v,
                    };
                    Some((Outcome::GoneWithOwner, format!("{kept}; {gone}")))
                }
            }
            (Action::AwaitGone { .. }, Some(end)) if selection.is_selected(&key) => {
                Some(end.outcome())
            }
            (Action::Detach { .. }, Some(end))
                if !matches!(end, StepEnd::Done) && !by_key.contains_key(&key) =>
            {
                Some(end.outcome())
            }
            _ => None,
        };
        if let Some(entry) = entry {
            by_key.insert(key, entry);
        }
    }
    for s in &plan.skipped {
        by_key.insert(
            ResourceKey::new(s.kind, s.id.clone()),
            (Outcome::Skipped, s.reason.clone()),
        );
    }
    let mut kinds: BTreeMap<Kind, KindCounts> = BTreeMap::new();
    let mut outcomes = Vec::with_capacity(inventory.resources().len());
    for r in inventory.resources() {
        let key = r.key();
        let verdict = selection.verdict(&key);
        let selected = verdict.is_some_and(|v| v.selected);
        let verdict_reason = verdict.map(|v| v.reason.clone()).unwrap_or_default();
        let (outcome, reason) = match by_key.remove(&key) {
            Some((o @ (Outcome::Deleted | Outcome::WouldDelete), reason)) if selected => (
                o,
                if reason.is_empty() {
                    verdict_reason
                } else {
                    reason
                },
            ),
            Some((o, reason)) if selected || o == Outcome::GoneWithOwner => (o, reason),
            None if selected => (
                Outcome::NotAttempted,
                "not attempted: not in the plan".into(),
            ),
            _ => (Outcome::Kept, verdict_reason),
        };
        let counts = kinds.entry(r.kind).or_default();
        counts.found += 1;
        counts.selected += usize::from(selected);
        if selected {
            match outcome {
                Outcome::Deleted | Outcome::WouldDelete => counts.deleted += 1,
                Outcome::Skipped => counts.skipped += 1,
                Outcome::Stuck => counts.stuck += 1,
                Outcome::Failed | Outcome::NotAttempted => counts.failed += 1,
                Outcome::Kept | Outcome::GoneWithOwner => {}
            }
        }
        outcomes.push(ResourceOutcome {
            kind: r.kind,
            id: r.id.clone(),
            name: r.name.clone(),
            selected,
            created_at: r.created_at,
            outcome,
            reason,
        });
    }
    for (kind, retries) in retries_by_kind {
        kinds.entry(kind).or_default().conflict_retries += retries;
    }
    Report {
        cloud: String::new(),
        project_id: inventory.project_id().to_string(),
        dry_run,
        started_at: Timestamp::UNIX_EPOCH,
        duration_seconds: 0.0,
        kinds,
        aborted: None,
        cancelled: false,
        errors: inventory.errors().clone(),
        resources: outcomes,
        plan: Plan::default(),
        api: Default::default(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {

    use super::*;
    use crate::engine::plan;
    use crate::engine::select::{self, Filters, Marks, Selector};
    use crate::resources::Reference;

    /// The walk keeps a quarter more steps acting than requests may be in flight, and
    /// exactly as many below 4 (one at a time stays one at a time).
    #[test]
    fn steps_acting_leave_headroom_above_the_requests() {
        let steps: Vec<usize> = [0, 1, 3, 4, 8, 64]
            .into_iter()
            .map(steps_acting_per_service)
            .collect();
        assert_eq!(steps, [1, 1, 3, 5, 10, 80]);
    }

    /// A cloud whose asynchronous deletes never finish, and which cancels the sweep as
    /// soon as it is sent its first delete (a SIGTERM mid-sweep).
    struct NeverGone {
        deleted: Mutex<Vec<ResourceKey>>,
        cancel: CancellationToken,
    }

    impl Cloud for NeverGone {
        async fn read(&self, resource: &Resource) -> Result<Option<Resource>, CloudError> {
            let mut fresh = resource.clone();
            if self.deleted.lock().unwrap().contains(&resource.key()) {
                fresh.status = Some("deleting".into());
            }
            Ok(Some(fresh))
        }

        async fn delete(&self, resource: &Resource) -> Result<DeleteOutcome, CloudError> {
            self.deleted.lock().unwrap().push(resource.key());
            self.cancel.cancel();
            Ok(DeleteOutcome::Accepted)
        }

        async fn detach(&self, _: &Detach) -> Result<DetachOutcome, CloudError> {
            Ok(DetachOutcome::Done)
        }
    }

    /// A cloud just back from a restart: its first `false_404s` answers (reads or
    /// deletes) are 404 for a network that exists; it doubts its 404s when `doubting`.
    struct FalseNotFound {
        false_404s: Mutex<u32>,
        deleted: Mutex<bool>,
        doubting: bool,
    }

    impl FalseNotFound {
        fn lies(&self) -> bool {
            let mut left = self.false_404s.lock().unwrap();
            let lie = *left > 0;
            *left = left.saturating_sub(1);
            lie
        }
    }

    impl Cloud for FalseNotFound {
        async fn read(&self, resource: &Resource) -> Result<Option<Resource>, CloudError> {
            if self.lies() || *self.deleted.lock().unwrap() {
                return Ok(None);
            }
            Ok(Some(resource.clone()))
        }

        async fn delete(&self, _: &Resource) -> Result<DeleteOutcome, CloudError> {
            if self.lies() {
                return Ok(DeleteOutcome::AlreadyGone);
            }
            *self.deleted.lock().unwrap() = true;
            Ok(DeleteOutcome::Accepted)
        }

        async fn detach(&self, _: &Detach) -> Result<DetachOutcome, CloudError> {
            Ok(DetachOutcome::Done)
        }

        fn doubts_not_found(&self, _: Kind) -> bool {
            self.doubting
        }
    }

    /// A 404 from a service that just left requests unanswered is read again: a network
    /// a restarting Neutron said was gone (to the re-read, then to the delete) is
    /// deleted for real once it answers truly; without doubt, a 404 is taken as gone.
    #[tokio::test(start_paused = true)]
    async fn doubtful_not_found_is_read_again() {
        for (doubting, deleted) in [(true, true), (false, false)] {
            let cloud = FalseNotFound {
                false_404s: Mutex::new(2),
                deleted: Mutex::new(false),
                doubting,
            };
            let report = sweep_one(&cloud, Kind::Network, &SweepOptions::default()).await;
            assert_eq!(
                *cloud.deleted.lock().unwrap(),
                deleted,
                "doubting={doubting}"
            );
            assert_eq!(
                report.resources[0].outcome,
                Outcome::Deleted,
                "{:?}",
                report.resources
            );
        }
    }

    /// A Nova whose compute service loses the bus mid-delete `undo` times: each accepted
    /// delete shows `deleting` for two reads, then the server is `ACTIVE` again.
    struct UndoingNova {
        undo: u32,
        deletes: Mutex<u32>,
        reads_since_delete: Mutex<u32>,
    }

    impl Cloud for UndoingNova {
        async fn read(&self, resource: &Resource) -> Result<Option<Resource>, CloudError> {
            let deletes = *self.deletes.lock().unwrap();
            let mut reads = self.reads_since_delete.lock().unwrap();
            *reads += 1;
            let mut fresh = resource.clone();
            fresh.status = Some("ACTIVE".into());
            if deletes == 0 {
                return Ok(Some(fresh));
            }
            if deletes > self.undo && *reads > 1 {
                return Ok(None);
            }
            if *reads <= 2 {
                fresh.status = Some("deleting".into());
            }
            Ok(Some(fresh))
        }

        async fn delete(&self, _: &Resource) -> Result<DeleteOutcome, CloudError> {
            *self.deletes.lock().unwrap() += 1;
            *self.reads_since_delete.lock().unwrap() = 0;
            Ok(DeleteOutcome::Accepted)
        }

        async fn detach(&self, _: &Detach) -> Result<DetachOutcome, CloudError> {
            Ok(DetachOutcome::Done)
        }
    }

    /// A delete the cloud accepted, showed in progress, then undid (a server back to
    /// `ACTIVE`) is checked and sent again, up to 3 more times; a cloud that keeps undoing
    /// it fails the step with the count, instead of waiting for the deadline.
    #[tokio::test(start_paused = true)]
    async fn undone_delete_is_sent_again() {
        for (undo, sent, outcome) in [
            (0, 1, Outcome::Deleted),
            (1, 2, Outcome::Deleted),
            (3, 4, Outcome::Deleted),
            (9, 4, Outcome::Failed),
        ] {
            let cloud = UndoingNova {
                undo,
                deletes: Mutex::new(0),
                reads_since_delete: Mutex::new(0),
            };
            let report = sweep_one(&cloud, Kind::Server, &SweepOptions::default()).await;
            assert_eq!(*cloud.deletes.lock().unwrap(), sent, "undo={undo}");
            let end = &report.resources[0];
            assert_eq!(end.outcome, outcome, "undo={undo}: {end:?}");
            if outcome == Outcome::Failed {
                assert!(end.reason.contains("undid the delete 4 times"), "{end:?}");
            }
        }
    }

    /// A Cinder that lost a snapshot's delete message: the snapshot shows `deleting` for
    /// ever after the delete was accepted.
    struct LostDelete {
        deleted: Mutex<bool>,
    }

    impl Cloud for LostDelete {
        async fn read(&self, resource: &Resource) -> Result<Option<Resource>, CloudError> {
            let mut fresh = resource.clone();
            fresh.status = Some(if *self.deleted.lock().unwrap() {
                "deleting".into()
            } else {
                "available".into()
            });
            Ok(Some(fresh))
        }

        async fn delete(&self, _: &Resource) -> Result<DeleteOutcome, CloudError> {
            *self.deleted.lock().unwrap() = true;
            Ok(DeleteOutcome::Accepted)
        }

        async fn detach(&self, _: &Detach) -> Result<DetachOutcome, CloudError> {
            Ok(DetachOutcome::Done)
        }
    }

    /// A delete still in progress at the deadline is reported stuck (the cloud may have
    /// lost it; an admin must reset it), not failed.
    #[tokio::test(start_paused = true)]
    async fn delete_still_in_progress_at_the_deadline_is_stuck() {
        let cloud = LostDelete {
            deleted: Mutex::new(false),
        };
        let options = SweepOptions {
            deadline: Duration::from_secs(60),
            ..SweepOptions::default()
        };
        let report = sweep_one(&cloud, Kind::Snapshot, &options).await;
        let end = &report.resources[0];
        assert_eq!(end.outcome, Outcome::Stuck, "{end:?}");
        assert!(
            end.reason.contains("still deleting at the deadline")
                && end.reason.contains("may have lost the delete"),
            "{end:?}"
        );
    }

    /// The selection of every `ci-` named resource of `inventory`, and its plan.
    fn select_ci(inventory: &Inventory) -> (Selection, Plan) {
        let marks = Marks {
            name_regex: Some(regex::Regex::new("^ci-").unwrap()),
            ..Marks::default()
        };
        let selector = Selector::new(marks, Filters::default()).unwrap();
        let selection = select::evaluate(inventory, &selector, Timestamp::now());
        let plan = plan::build(inventory, &selection);
        (selection, plan)
    }

    /// Sweeps one `ci-` resource of `kind` (selected by name) against `cloud`.
    async fn sweep_one<C: Cloud>(cloud: &C, kind: Kind, options: &SweepOptions) -> Report {
        let inventory = Inventory::new("proj", vec![ours(kind, "x")]);
        let (selection, plan) = select_ci(&inventory);
        execute(
            cloud,
            &inventory,
            &selection,
            plan,
            options,
            CancellationToken::new(),
        )
        .await
    }

    fn ours(kind: Kind, id: &str) -> Resource {
        let mut r = Resource::new(kind, id);
        r.name = format!("ci-{id}");
        r.project_id = Some("proj".into());
        r
    }

    /// Cancelled mid-sweep: nothing new starts, the in-flight delete gets the drain time
    /// and is then reported unconfirmed (not left silently half-done), what waits on it
    /// is not attempted, and the report is marked cancelled.
    #[tokio::test(start_paused = true)]
    async fn cancellation_drains_then_reports_the_unconfirmed_delete() {
        let server = ours(Kind::Server, "s");
        let mut volume = ours(Kind::Volume, "v");
        volume.refs.push(Reference::new(
            Relation::HeldBy,
            Kind::Server,
            "s",
            "attached server",
        ));
        let inventory = Inventory::new("proj", vec![server, volume]);
        let (selection, plan) = select_ci(&inventory);
        let cancel = CancellationToken::new();
        let cloud = NeverGone {
            deleted: Mutex::new(Vec::new()),
            cancel: cancel.clone(),
        };
        let options = SweepOptions {
            drain: Duration::from_secs(5),
            ..SweepOptions::default()
        };
        let start = Instant::now();
        let report = execute(&cloud, &inventory, &selection, plan, &options, cancel).await;

        // Virtual time: the drain was waited for, the 30-minute deadline was not.
        assert!(start.elapsed() >= options.drain, "{:?}", start.elapsed());
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "{:?}",
            start.elapsed()
        );
        assert_eq!(
            *cloud.deleted.lock().unwrap(),
            [ResourceKey::new(Kind::Server, "s")]
        );
        assert!(report.cancelled);
        assert!(!report.is_clean());
        let outcome = |id: &str| report.resources.iter().find(|r| r.id == id).unwrap();
        assert_eq!(outcome("s").outcome, Outcome::Failed);
        assert!(
            outcome("s").reason.starts_with("unconfirmed:"),
            "{:?}",
            outcome("s")
        );
        assert_eq!(outcome("v").outcome, Outcome::NotAttempted);
        assert_eq!(outcome("v").reason, "not attempted: sweep cancelled");
        assert!(
            report.render_text().contains("CANCELLED"),
            "{}",
            report.render_text()
        );
    }

    /// Without cancellation the report is not marked cancelled, and a cancelled token
    /// that left nothing undone (a sweep with nothing to do) does not mark it either.
    #[tokio::test(start_paused = true)]
    async fn only_undone_work_marks_a_report_cancelled() {
        let inventory = Inventory::new("proj", vec![]);
        let selector = Selector::new(
            Marks {
                all_tags: vec!["ci".into()],
                ..Marks::default()
            },
            Filters::default(),
        )
        .unwrap();
        let selection = select::evaluate(&inventory, &selector, Timestamp::now());
        let cancel = CancellationToken::new();
        let cloud = NeverGone {
            deleted: Mutex::new(Vec::new()),
            cancel: cancel.clone(),
        };
        cancel.cancel();
        let plan = plan::build(&inventory, &selection);
        let report = execute(
            &cloud,
            &inventory,
            &selection,
            plan,
            &SweepOptions::default(),
            cancel,
        )
        .await;
        assert!(!report.cancelled);
        assert!(report.is_clean());
    }
}
