//! The grace-period state: when each resource was first seen, and since when it has been
//! eligible for deletion, per target. It lives in a small JSON file so that it survives
//! restarts.
//!
//! The state can only ever make stacksweep delete *later*: a missing or corrupt file is
//! reported and rebuilt from scratch, which restarts every grace period and makes every
//! resource without `created_at` look new.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

/// Version of the file format; a file with another version is treated as corrupt.
const FORMAT_VERSION: u32 = 1;

/// What we remember of one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sighting {
    /// When a sweep first listed it (its age when the API gives none).
    pub first_seen: Timestamp,
    /// Since when it has been selected in every sweep that listed it; `None` while it is
    /// not selected (a resource that stops being eligible starts its grace period over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eligible_since: Option<Timestamp>,
}

/// Sightings of one target: kind → resource ID → sighting.
pub type TargetState = BTreeMap<String, BTreeMap<String, Sighting>>;

/// Every target's sightings, as stored in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    version: u32,
    /// Target name → its sightings.
    targets: BTreeMap<String, TargetState>,
}

impl Default for State {
    fn default() -> Self {
        State {
            version: FORMAT_VERSION,
            targets: BTreeMap::new(),
        }
    }
}

/// Whether a resource eligible since `eligible_since` has waited out `grace` at `now`.
/// A clock that went backwards (`now` before `eligible_since`) never makes it ripe.
pub fn past_grace(eligible_since: Option<Timestamp>, now: Timestamp, grace: Duration) -> bool {
    let Some(since) = eligible_since else {
        return false;
    };
    match Duration::try_from(now.duration_since(since)) {
        Ok(waited) => waited >= grace,
        Err(_) => false,
    }
}

impl State {
    /// Records one complete listing of `kind` in `target`: new resources get a first
    /// sighting at `now`, and resources no longer listed are forgotten. Call it only with
    /// a listing that succeeded: a kind that was not listed keeps its entries.
    pub fn observe_found<'a>(
        &mut self,
        target: &str,
        kind: &str,
        ids: impl IntoIterator<Item = &'a str>,
        now: Timestamp,
    ) {
        let old = self
            .targets
            .entry(target.to_owned())
            .or_default()
            .remove(kind)
            .unwrap_or_default();
        let mut new = BTreeMap::new();
        for id in ids {
            let sighting = old.get(id).copied().unwrap_or(Sighting {
                first_seen: now,
                eligible_since: None,
            });
            new.insert(id.to_owned(), sighting);
        }
        if let Some(t) = self.targets.get_mut(target) {
            if !new.is_empty() {
                t.insert(kind.to_owned(), new);
            }
        }
    }

    /// Records which of the listed resources of `kind` the selector chose this sweep:
    /// they become eligible at `now` unless they already were; the others stop being
    /// eligible. Resources not recorded by [`State::observe_found`] are added.
    pub fn observe_selected<'a>(
        &mut self,
        target: &str,
        kind: &str,
        selected: impl IntoIterator<Item = &'a str>,
        now: Timestamp,
    ) {
        let sightings = self
            .targets
            .entry(target.to_owned())
            .or_default()
            .entry(kind.to_owned())
            .or_default();
        let mut chosen: Vec<&str> = selected.into_iter().collect();
        chosen.sort_unstable();
        for (id, s) in sightings.iter_mut() {
            if chosen.binary_search(&id.as_str()).is_err() {
                s.eligible_since = None;
            }
        }
        for id in chosen {
            let s = sightings.entry(id.to_owned()).or_insert(Sighting {
                first_seen: now,
                eligible_since: None,
            });
            s.eligible_since.get_or_insert(now);
        }
    }

    /// When `id` of `kind` was first seen in `target`, if it has been.
    pub fn first_seen(&self, target: &str, kind: &str, id: &str) -> Option<Timestamp> {
        self.sighting(target, kind, id).map(|s| s.first_seen)
    }

    /// What we remember of one resource.
    pub fn sighting(&self, target: &str, kind: &str, id: &str) -> Option<&Sighting> {
        self.targets.get(target)?.get(kind)?.get(id)
    }

    /// Of the `selected` resources (kind, ID), those that have *not* yet been eligible for
    /// `grace` at `now`, i.e. those to hold back this sweep. With a zero grace period,
    /// only resources never recorded as selected are held.
    pub fn held_back<'a>(
        &self,
        target: &str,
        selected: impl IntoIterator<Item = (&'a str, &'a str)>,
        now: Timestamp,
        grace: Duration,
    ) -> Vec<(&'a str, &'a str)> {
        selected
            .into_iter()
            .filter(|(kind, id)| {
                let since = self
                    .sighting(target, kind, id)
                    .and_then(|s| s.eligible_since);
                !past_grace(since, now, grace)
            })
            .collect()
    }

    /// Forgets resources a sweep saw go (deleted, or gone with an owner it deleted): an
    /// ID never comes back, and until the next listing of the unit their sightings would
    /// only take memory (a fleet's first cycle deletes half of what it lists).
    pub fn forget_gone<'a>(
        &mut self,
        target: &str,
        gone: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        let Some(t) = self.targets.get_mut(target) else {
            return;
        };
        for (kind, id) in gone {
            if let Some(sightings) = t.get_mut(kind) {
                sightings.remove(id);
                if sightings.is_empty() {
                    t.remove(kind);
                }
            }
        }
        if t.is_empty() {
            self.targets.remove(target);
        }
    }

    /// Forgets targets that are no longer configured.
    pub fn retain_targets(&mut self, keep: &[&str]) {
        // A unit's sightings are under its key, `target/project/region`.
        self.targets.retain(|name, _| {
            keep.iter().any(|k| {
                name == k
                    || name
                        .strip_prefix(k)
                        .is_some_and(|rest| rest.starts_with('/'))
            })
        });
    }

    /// How many resources are remembered, over all targets.
    pub fn len(&self) -> usize {
        self.targets
            .values()
            .flat_map(|t| t.values())
            .map(BTreeMap::len)
            .sum()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why the state file could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Writing the temporary file or renaming it over the state file failed.
    #[error("cannot write state file {path}: {source}")]
    Write {
        /// The state file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The state could not be serialized (not expected).
    #[error("cannot serialize state: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The blocking writer task died.
    #[error("state writer task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// The state, shared by the targets of a daemon, and the file it is kept in.
#[derive(Debug)]
pub struct StateStore {
    /// `None`: kept in memory only (grace periods restart with the process).
    path: Option<PathBuf>,
    state: Mutex<State>,
    /// Serializes writers, so an older snapshot never renames over a newer one.
    write: tokio::sync::Mutex<()>,
}

impl StateStore {
    /// A store kept in memory only.
    pub fn in_memory() -> StateStore {
        StateStore {
            path: None,
            state: Mutex::default(),
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// Loads the state file at `path` (`None`: memory only). A missing file starts empty;
    /// an unreadable or corrupt one is reported, moved aside to `<path>.corrupt`, and
    /// rebuilt from empty — which can only delay deletes, never hasten them.
    pub fn load(path: Option<&Path>) -> StateStore {
        let state = match path {
            None => State::default(),
            Some(p) => read_state(p),
        };
        StateStore {
            path: path.map(Path::to_owned),
            state: Mutex::new(state),
            write: tokio::sync::Mutex::new(()),
        }
    }

    /// The file the state is kept in.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `f` on the state under its lock (keep `f` short: no I/O).
    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut guard)
    }

    /// A copy of the current state.
    pub fn snapshot(&self) -> State {
        self.with(|s| s.clone())
    }

    /// Writes the state atomically (temporary file, fsync, rename); a no-op in memory.
    pub async fn save(&self) -> Result<(), StateError> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let _writer = self.write.lock().await;
        let bytes = serde_json::to_vec_pretty(&self.snapshot())?;
        tokio::task::spawn_blocking(move || {
            write_atomically(&path, &bytes).map_err(|source| StateError::Write { path, source })
        })
        .await?
    }
}

/// Reads the state file, reporting (and moving aside) what cannot be used.
fn read_state(path: &Path) -> State {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::info!(path = %path.display(), "no state file yet: grace periods start now");
            return State::default();
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e,
                "cannot read state file: starting empty (grace periods start over)");
            return State::default();
        }
    };
    match serde_json::from_slice::<State>(&bytes) {
        Ok(state) if state.version == FORMAT_VERSION => state,
        Ok(state) => {
            tracing::warn!(path = %path.display(), version = state.version,
                "state file has an unknown format version: starting empty (grace periods start over)");
            move_aside(path);
            State::default()
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e,
                "state file is corrupt: starting empty (grace periods start over)");
            move_aside(path);
            State::default()
        }
    }
}

/// Keeps a corrupt state file for inspection instead of overwriting it.
fn move_aside(path: &Path) {
    let mut aside = path.as_os_str().to_owned();
    aside.push(".corrupt");
    if let Err(e) = std::fs::rename(path, &aside) {
        tracing::warn!(path = %path.display(), error = %e, "cannot move the corrupt state file aside");
    }
}

/// Writes `bytes` to `path` so that a reader sees the old or the new file, never half of one.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return result;
    }
    // Make the rename itself durable; not every filesystem lets a directory be synced.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + secs).unwrap()
    }

    const HOUR: Duration = Duration::from_secs(3600);

    /// A resource is held until it has been eligible for the whole grace period.
    #[test]
    fn held_until_grace_has_passed() {
        let mut s = State::default();
        s.observe_found("ci", "port", ["a"], t(0));
        s.observe_selected("ci", "port", ["a"], t(0));
        assert_eq!(
            s.held_back("ci", [("port", "a")], t(0), HOUR),
            vec![("port", "a")]
        );
        assert_eq!(
            s.held_back("ci", [("port", "a")], t(3599), HOUR),
            vec![("port", "a")]
        );
        s.observe_selected("ci", "port", ["a"], t(3600));
        assert!(s.held_back("ci", [("port", "a")], t(3600), HOUR).is_empty());
    }

    /// A resource that stops being eligible starts its grace period over.
    #[test]
    fn ineligible_sweep_restarts_grace() {
        let mut s = State::default();
        s.observe_selected("ci", "volume", ["v"], t(0));
        s.observe_selected("ci", "volume", [], t(1800));
        s.observe_selected("ci", "volume", ["v"], t(3600));
        assert_eq!(
            s.held_back("ci", [("volume", "v")], t(4000), HOUR),
            vec![("volume", "v")]
        );
        assert!(s
            .held_back("ci", [("volume", "v")], t(7200), HOUR)
            .is_empty());
    }

    /// With a zero grace period a selected resource goes in the sweep that selects it.
    #[test]
    fn zero_grace_holds_nothing_recorded() {
        let mut s = State::default();
        s.observe_selected("ci", "port", ["a"], t(0));
        assert!(s
            .held_back("ci", [("port", "a")], t(0), Duration::ZERO)
            .is_empty());
        // Never recorded: held, whatever the grace (the caller records first).
        assert_eq!(
            s.held_back("ci", [("port", "b")], t(0), Duration::ZERO),
            vec![("port", "b")]
        );
    }

    /// A clock that went backwards never makes a resource ripe.
    #[test]
    fn clock_going_back_holds() {
        assert!(!past_grace(Some(t(100)), t(0), Duration::ZERO));
        assert!(!past_grace(None, t(0), Duration::ZERO));
        assert!(past_grace(Some(t(0)), t(60), Duration::from_secs(60)));
    }

    /// Resources no longer listed are forgotten; first sightings of the rest are kept.
    #[test]
    fn gone_resources_are_pruned() {
        let mut s = State::default();
        s.observe_found("ci", "keypair", ["k1", "k2"], t(0));
        s.observe_found("ci", "keypair", ["k2", "k3"], t(60));
        assert_eq!(s.first_seen("ci", "keypair", "k1"), None);
        assert_eq!(s.first_seen("ci", "keypair", "k2"), Some(t(0)));
        assert_eq!(s.first_seen("ci", "keypair", "k3"), Some(t(60)));
        // Another kind and another target are untouched.
        s.observe_found("other", "keypair", ["k9"], t(0));
        s.observe_found("ci", "port", [], t(120));
        assert_eq!(s.first_seen("other", "keypair", "k9"), Some(t(0)));
        assert_eq!(s.len(), 3);
        s.retain_targets(&["ci"]);
        assert_eq!(s.len(), 2);
    }

    /// What a sweep saw go is forgotten at once; the rest, another kind and another
    /// target are untouched.
    #[test]
    fn gone_resources_are_forgotten() {
        let mut s = State::default();
        s.observe_found("ci", "keypair", ["k1", "k2"], t(0));
        s.observe_found("ci", "port", ["p1"], t(0));
        s.observe_found("other", "keypair", ["k1"], t(0));
        s.forget_gone("ci", [("keypair", "k1"), ("port", "p1"), ("network", "n1")]);
        assert_eq!(s.first_seen("ci", "keypair", "k1"), None);
        assert_eq!(s.first_seen("ci", "keypair", "k2"), Some(t(0)));
        assert_eq!(s.first_seen("other", "keypair", "k1"), Some(t(0)));
        assert_eq!(s.len(), 2);
        s.forget_gone("ci", [("keypair", "k2")]);
        s.forget_gone("nowhere", [("keypair", "k1")]);
        assert_eq!(s, {
            let mut o = State::default();
            o.observe_found("other", "keypair", ["k1"], t(0));
            o
        });
    }

    /// The state round-trips through its file, written atomically (no temp file left).
    #[tokio::test]
    async fn save_and_load_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let store = StateStore::load(Some(&path));
        assert!(store.snapshot().is_empty());
        store.with(|s| s.observe_selected("ci", "server", ["s1"], t(5)));
        store.save().await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(files.len(), 1);
        let again = StateStore::load(Some(&path));
        assert_eq!(again.snapshot(), store.snapshot());
        assert_eq!(
            again
                .snapshot()
                .sighting("ci", "server", "s1")
                .unwrap()
                .eligible_since,
            Some(t(5))
        );
    }

    /// A corrupt file is moved aside and the state starts empty (holding, never hastening).
    #[test]
    fn corrupt_file_is_rebuilt_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, b"{ not json").unwrap();
        let store = StateStore::load(Some(&path));
        assert!(store.snapshot().is_empty());
        assert!(dir.path().join("state.json.corrupt").exists());
        assert!(!path.exists());
    }

    /// A file of an unknown format version is not trusted.
    #[test]
    fn unknown_version_is_rebuilt_empty() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        std::fs::write(&path, br#"{"version": 99, "targets": {}}"#).unwrap();
        assert!(StateStore::load(Some(&path)).snapshot().is_empty());
    }
}
