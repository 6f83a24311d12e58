//! What a sweep did: per kind found / selected / deleted / skipped / stuck / failed and
//! conflict retries, every resource's outcome with its reason, the plan, and how long it
//! took. Rendered as a human table or serialized as JSON; [`Report::is_clean`] decides
//! the exit code.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jiff::Timestamp;
use serde::Serialize;

use crate::engine::plan::{render_table, Plan};
use crate::openstack::{PacingStats, RetryCounts, Service};
use crate::resources::Kind;

/// What became of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Not selected; left alone.
    Kept,
    /// Not selected, but the cloud deleted it with an owner we deleted (a server's port).
    GoneWithOwner,
    /// Deleted (or found already gone).
    Deleted,
    /// Dry run: would have been deleted.
    WouldDelete,
    /// Selected but left alone: in use by something unselected, or waiting on something
    /// that did not go.
    Skipped,
    /// In a terminal bad state (`error_deleting`, `ERROR`, `DELETE_FAILED`).
    Stuck,
    /// The delete failed (an error other than a conflict, or conflicts until the deadline).
    Failed,
    /// Not tried: the sweep was cancelled, hit its deadline, or the selection exceeded
    /// `max_deletes`.
    NotAttempted,
}

impl Outcome {
    /// A bounded label for metrics (`deleted`, `skipped`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Kept => "kept",
            Outcome::GoneWithOwner => "gone-with-owner",
            Outcome::Deleted => "deleted",
            Outcome::WouldDelete => "would-delete",
            Outcome::Skipped => "skipped",
            Outcome::Stuck => "stuck",
            Outcome::Failed => "failed",
            Outcome::NotAttempted => "not-attempted",
        }
    }

    /// Whether a selected resource with this outcome was left behind.
    pub fn left_behind(self) -> bool {
        matches!(
            self,
            Outcome::Skipped | Outcome::Stuck | Outcome::Failed | Outcome::NotAttempted
        )
    }
}

/// One resource's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResourceOutcome {
    /// Kind.
    pub kind: Kind,
    /// ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Whether selection chose it.
    pub selected: bool,
    /// When it was created, when known (for the oldest-leak gauge).
    pub created_at: Option<Timestamp>,
    /// What became of it.
    pub outcome: Outcome,
    /// Why (the verdict, the skip or failure reason).
    pub reason: String,
}

/// Counts for one kind.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct KindCounts {
    /// Listed in the project.
    pub found: usize,
    /// Selected.
    pub selected: usize,
    /// Deleted (dry run: would be deleted).
    pub deleted: usize,
    /// Skipped (in use, or waiting on something that stayed).
    pub skipped: usize,
    /// Stuck.
    pub stuck: usize,
    /// Failed or not attempted.
    pub failed: usize,
    /// Conflicts (409, Cinder 400-for-state, Octavia `PENDING_*`) retried.
    pub conflict_retries: u64,
}

/// How one service answered a sweep's requests, and the pacing it ended at.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ServiceApi {
    /// Requests sent (retries included).
    pub requests: u64,
    /// Answered 429 (too many requests).
    pub throttled: u64,
    /// Answered 502, 503 or 504 (overloaded, unavailable).
    pub overloaded: u64,
    /// Not answered (connection refused, reset, timed out).
    pub no_answer: u64,
    /// Requests in flight the pacing allowed at the end.
    pub concurrency_limit: usize,
    /// Lowest concurrency limit the pacing went down to, over the session.
    pub lowest_concurrency_limit: usize,
    /// Requests retried, by reason: what the cloud did that the sweep rode out.
    pub retried: RetryCounts,
    /// Requests per second the pacing allowed at the end (`null`: not rate-paced).
    pub rate_limit: Option<f64>,
}

/// How the cloud answered a sweep's API requests: how often it pushed back.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ApiSummary {
    /// Requests sent, all services.
    pub requests: u64,
    /// Answers that asked for less load: 429, 502/503/504, no answer.
    pub pushback: u64,
    /// Per service (its catalog type).
    pub services: BTreeMap<&'static str, ServiceApi>,
}

impl ApiSummary {
    /// What happened between two readings of a session's pacing (`before` may lack
    /// services `after` has).
    pub fn between(
        before: &[(Service, PacingStats)],
        after: &[(Service, PacingStats)],
    ) -> ApiSummary {
        let mut summary = ApiSummary::default();
        for (service, end) in after {
            let start = before
                .iter()
                .find(|(s, _)| s == service)
                .map(|(_, p)| *p)
                .unwrap_or_default();
            let api = ServiceApi {
                requests: end.requests - start.requests.min(end.requests),
                throttled: end.throttled - start.throttled.min(end.throttled),
                overloaded: end.overloaded - start.overloaded.min(end.overloaded),
                no_answer: end.no_answer - start.no_answer.min(end.no_answer),
                concurrency_limit: end.concurrency_limit,
                lowest_concurrency_limit: end.lowest_concurrency_limit,
                rate_limit: end.rate_limit,
                retried: end.retries.since(&start.retries),
            };
            if api.requests == 0 {
                continue;
            }
            summary.requests += api.requests;
            summary.pushback += api.throttled + api.overloaded + api.no_answer;
            summary.services.insert(service.as_str(), api);
        }
        summary
    }

    /// One line for people: requests, and how often and where the cloud pushed back.
    pub fn render_line(&self) -> String {
        let retried: Vec<String> = self
            .services
            .iter()
            .filter(|(_, a)| a.retried.total() > 0)
            .map(|(name, a)| format!("{name} {}", a.retried.describe()))
            .collect();
        let retried = if retried.is_empty() {
            String::new()
        } else {
            format!("; retried: {}", retried.join("; "))
        };
        if self.pushback == 0 {
            return format!(
                "API: {} requests, no pushback from the cloud{retried}",
                self.requests
            );
        }
        let parts: Vec<String> = self
            .services
            .iter()
            .filter(|(_, a)| a.throttled + a.overloaded + a.no_answer > 0)
            .map(|(name, a)| {
                let mut what = vec![];
                for (n, label) in [
                    (a.throttled, "429"),
                    (a.overloaded, "502/503/504"),
                    (a.no_answer, "no answer"),
                ] {
                    if n > 0 {
                        what.push(format!("{n} {label}"));
                    }
                }
                let rate = a
                    .rate_limit
                    .map(|r| format!(", {r:.0}/s"))
                    .unwrap_or_default();
                format!(
                    "{name} {} (limit now {} in flight{rate})",
                    what.join(", "),
                    a.concurrency_limit
                )
            })
            .collect();
        format!(
            "API: {} requests, the cloud pushed back {} times ({:.1}%): {}{retried}",
            self.requests,
            self.pushback,
            100.0 * self.pushback as f64 / self.requests.max(1) as f64,
            parts.join("; ")
        )
    }
}

/// The report of one sweep of one project.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// The cloud's name.
    pub cloud: String,
    /// The project swept.
    pub project_id: String,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// When the sweep started.
    pub started_at: Timestamp,
    /// How long it took, in seconds.
    pub duration_seconds: f64,
    /// Counts per kind (kinds with nothing found are left out).
    pub kinds: BTreeMap<Kind, KindCounts>,
    /// Why nothing was deleted, when the sweep refused to start (`max_deletes`).
    pub aborted: Option<String>,
    /// The sweep was cancelled (SIGTERM/SIGINT, the daemon's deadline) before it had
    /// carried out its plan: steps not started are `not-attempted`, deletes sent but not
    /// confirmed are `failed` with an `unconfirmed:` reason.
    pub cancelled: bool,
    /// Kinds whose listing failed, with the error.
    pub errors: BTreeMap<Kind, String>,
    /// Every resource found and what became of it.
    pub resources: Vec<ResourceOutcome>,
    /// The plan that was carried out.
    pub plan: Plan,
    /// How the cloud answered the sweep's requests (listing and quota reads included):
    /// how often it pushed back, and the pacing limits it ended at.
    pub api: ApiSummary,
}

impl Report {
    /// Nothing selected was left behind and every kind could be listed: exit 0 (else 1).
    pub fn is_clean(&self) -> bool {
        self.aborted.is_none()
            && self.errors.is_empty()
            && self.resources.iter().all(|r| !r.outcome.left_behind())
    }

    /// Totals over all kinds.
    pub fn totals(&self) -> KindCounts {
        let mut t = KindCounts::default();
        for c in self.kinds.values() {
            t.found += c.found;
            t.selected += c.selected;
            t.deleted += c.deleted;
            t.skipped += c.skipped;
            t.stuck += c.stuck;
            t.failed += c.failed;
            t.conflict_retries += c.conflict_retries;
        }
        t
    }

    /// Age at `now` of the oldest selected resource whose age is known (deleted or not):
    /// how long leaks lived before this sweep.
    pub fn oldest_selected_age(&self, now: Timestamp) -> Option<std::time::Duration> {
        self.resources
            .iter()
            .filter(|r| r.selected)
            .filter_map(|r| r.created_at)
            .min()
            .map(|t| {
                let secs = now.as_second().saturating_sub(t.as_second());
                std::time::Duration::from_secs(u64::try_from(secs).unwrap_or(0))
            })
    }

    /// The selected resources that were left behind, with their reasons.
    pub fn left_behind(&self) -> impl Iterator<Item = &ResourceOutcome> {
        self.resources
            .iter()
            .filter(|r| r.selected && r.outcome.left_behind())
    }

    /// A human summary: a table per kind, then what was left behind and why.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let mode = if self.dry_run { " (dry run)" } else { "" };
        let t = self.totals();
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        let _ = writeln!(
            out,
            "Sweep of {} / {}{mode}: {} found, {} selected, {} {verb}, {} skipped, {} stuck, {} failed, {} conflict retries, {:.1}s",
            self.cloud, self.project_id, t.found, t.selected, t.deleted, t.skipped, t.stuck, t.failed, t.conflict_retries, self.duration_seconds
        );
        if self.api.requests > 0 {
            let _ = writeln!(out, "{}", self.api.render_line());
        }
        if let Some(why) = &self.aborted {
            let _ = writeln!(out, "Nothing deleted: {why}");
        }
        if self.cancelled {
            let _ = writeln!(
                out,
                "CANCELLED: stopped before the end of the plan; {} deleted before stopping, {} left (see below)",
                t.deleted,
                t.selected.saturating_sub(t.deleted)
            );
        }
        let rows: Vec<[String; 8]> = self
            .kinds
            .iter()
            .map(|(k, c)| {
                [
                    k.to_string(),
                    c.found.to_string(),
                    c.selected.to_string(),
                    c.deleted.to_string(),
                    c.skipped.to_string(),
                    c.stuck.to_string(),
                    c.failed.to_string(),
                    c.conflict_retries.to_string(),
                ]
            })
            .collect();
        let deleted = if self.dry_run {
            "WOULD-DELETE"
        } else {
            "DELETED"
        };
        render_table(
            &mut out,
            &[
                "KIND", "FOUND", "SELECTED", deleted, "SKIPPED", "STUCK", "FAILED", "RETRIES",
            ],
            &rows,
        );
        for (kind, error) in &self.errors {
            let _ = writeln!(out, "Listing {kind}s failed: {error}");
        }
        let left: Vec<[String; 5]> = self
            .left_behind()
            .map(|r| {
                [
                    r.kind.to_string(),
                    r.id.clone(),
                    r.name.clone(),
                    r.outcome.as_str().into(),
                    r.reason.clone(),
                ]
            })
            .collect();
        if !left.is_empty() {
            let _ = writeln!(out, "\nLeft behind:");
            render_table(
                &mut out,
                &["KIND", "ID", "NAME", "OUTCOME", "REASON"],
                &left,
            );
        }
        out
    }
}
