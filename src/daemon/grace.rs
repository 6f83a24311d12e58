//! The daemon's grace period and first sightings, as hooks between a sweep's phases:
//! every resource of a completely listed kind is remembered when first seen (its age when
//! the API gives none), and a selected resource is held back until it has been eligible
//! for `safety.grace` in sweeps that far apart. The sightings live in [`State`].

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;

use super::state::{State, StateStore};
use crate::engine::inventory::Inventory;
use crate::engine::select::{self, Selection};
use crate::engine::SweepHooks;
use crate::resources::{Kind, ResourceKey};

/// The grace-period hooks of one sweep of one target.
pub struct Grace<'a> {
    /// Where sightings are kept (shared by every target).
    pub state: &'a StateStore,
    /// The target's name (sightings are per target).
    pub target: &'a str,
    /// The sweep's wall time, from the daemon's clock.
    pub now: Timestamp,
    /// `safety.grace`.
    pub grace: Duration,
    /// The resources held back in this sweep (filled by [`SweepHooks::selected`]).
    pub held: Vec<ResourceKey>,
}

impl SweepHooks for Grace<'_> {
    fn listed(&mut self, listed: Inventory) -> Inventory {
        let (target, now) = (self.target, self.now);
        self.state.with(|state| {
            observe_found(state, target, &listed, now);
            with_first_seen_ages(state, target, listed)
        })
    }

    fn selected(&mut self, inventory: &Inventory, selection: &mut Selection) {
        let (target, now, grace) = (self.target, self.now, self.grace);
        self.held = self
            .state
            .with(|state| hold_for_grace(state, target, inventory, selection, now, grace));
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::engine::select::{Filters, Marks, Selector};

    fn at(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    /// One sweep's selection with the grace filter and first-seen ages applied.
    fn sweep_at(
        state: &mut State,
        resources: &[crate::resources::Resource],
        selector: &Selector,
        now: Timestamp,
        grace: Duration,
    ) -> (Selection, Vec<ResourceKey>) {
        let listed = Inventory::new("p", resources.to_vec());
        observe_found(state, "ci", &listed, now);
        let inventory = with_first_seen_ages(state, "ci", listed);
        let mut selection = select::evaluate(&inventory, selector, now);
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
        let marks = Marks {
            all_tags: vec!["ci".into()],
            ..Marks::default()
        };
        let spec = Selector::new(marks, Filters::default()).unwrap();
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
        let marks = Marks {
            name_regex: Some(regex::Regex::new("^ci-").unwrap()),
            ..Marks::default()
        };
        let filters = Filters {
            older_than: Some(Duration::from_secs(3600)),
            ..Filters::default()
        };
        let spec = Selector::new(marks, filters).unwrap();
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
