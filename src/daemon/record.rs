//! The daemon's view of a sweep: the report turned into the metrics' record (counts per
//! kind, the oldest leak's age), and one log event per sweep and per resource left.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use crate::engine::inventory::Inventory;
use crate::engine::report::Report;
use crate::metrics::{KindCounts, SweepRecord};
use crate::resources::ResourceKey;

/// The metrics' view of a report; `first_seen` ages resources the API gives no age.
pub fn record(
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
        units: Vec::new(),
        unit_series: false,
    }
}

/// One summary event per sweep, and one per selected resource left behind, with why.
pub(super) fn log_report(target: &str, report: &Report) {
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
