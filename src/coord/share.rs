//! This process's share of the work, as the daemon and `sweep` ask it: everything (one
//! process), a static shard, or (with etcd) what rendezvous hashing over the live members
//! gives it, each unit locked while it is swept.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::etcd::{EtcdError, EtcdMember, UnitLock, View};
use super::Shard;
use crate::config::{Coordination, Target};
use crate::engine::unit::Unit;
use crate::metrics::Metrics;

/// Which units this process sweeps.
#[derive(Debug, Clone, Default)]
pub enum Share {
    /// Every unit (no coordination configured).
    #[default]
    Everything,
    /// The units of this static shard.
    Shard(Shard),
    /// The units rendezvous hashing gives this member among the live ones on etcd.
    Etcd(Arc<EtcdMember>),
}

/// Why a unit is not swept now.
#[derive(Debug, thiserror::Error)]
pub enum Skip {
    /// Another replica owns it (or took it over while this one waited).
    #[error("another replica's unit")]
    NotOurs,
    /// Another replica held its lock for a whole lease TTL.
    #[error("its lock stayed held by another replica")]
    Held,
    /// The etcd session is down: no deletes start.
    #[error("not swept: {0}")]
    Etcd(#[from] EtcdError),
}

/// The right to sweep one unit now: its lock (with etcd) and a cancellation token that
/// fires when the etcd session ends, so the sweep starts no more deletes (in-flight ones
/// finish, as at shutdown). [`Turn::finish`] gives it back.
pub struct Turn {
    /// Cancel the unit's sweep with this.
    pub cancel: CancellationToken,
    lock: Option<UnitLock>,
    watcher: Option<tokio::task::JoinHandle<()>>,
    metrics: Option<Arc<Metrics>>,
}

impl Turn {
    /// Releases the unit's lock.
    pub async fn finish(mut self) {
        if let Some(lock) = self.lock.take() {
            lock.release().await;
        }
        // Drop does the rest.
    }
}

impl Drop for Turn {
    /// A turn dropped unfinished (its sweep abandoned after the drain timeout) still
    /// gives its lock back, in the background: else it would stay held as long as this
    /// replica's lease lives.
    fn drop(&mut self) {
        if let Some(w) = self.watcher.take() {
            w.abort();
        }
        if let Some(lock) = self.lock.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(lock.release());
            }
        }
        if let Some(m) = self.metrics.take() {
            m.add_units_in_progress(-1);
        }
    }
}

impl Share {
    /// The share a config gives: etcd needs `metrics` (membership and session gauges) and
    /// is not connected until [`EtcdMember::run`] runs.
    pub fn of(coordination: &Coordination, metrics: &Arc<Metrics>) -> Share {
        match coordination {
            Coordination::Alone => Share::Everything,
            Coordination::Shard(s) => {
                metrics.set_coordination_members("shard", s.count());
                Share::Shard(s.clone())
            }
            Coordination::Etcd(c) => Share::Etcd(EtcdMember::new(c.clone(), Arc::clone(metrics))),
        }
    }

    /// The share a config without etcd gives (`sweep`: a one-off run takes no locks).
    pub fn of_static(coordination: &Coordination) -> Share {
        match coordination {
            Coordination::Shard(s) => Share::Shard(s.clone()),
            Coordination::Alone | Coordination::Etcd(_) => Share::Everything,
        }
    }

    /// Whether this process sweeps the unit of `key` now.
    pub fn owns(&self, key: &str) -> bool {
        match self {
            Share::Everything => true,
            Share::Shard(s) => s.owns(key),
            Share::Etcd(m) => m.owns(key),
        }
    }

    /// `shard` or `etcd` (metric label); `None` for one process.
    pub fn label(&self) -> Option<&'static str> {
        match self {
            Share::Everything => None,
            Share::Shard(_) => Some("shard"),
            Share::Etcd(_) => Some("etcd"),
        }
    }

    /// The name this replica gives itself towards the cloud (`User-Agent`).
    pub fn member(&self) -> Option<String> {
        match self {
            Share::Everything => None,
            Share::Shard(s) => Some(format!("shard-{}-of-{}", s.index(), s.count())),
            Share::Etcd(m) => Some(m.name().to_owned()),
        }
    }

    /// How long membership must stay quiet before a replica sweeps its new share (a
    /// quarter of the lease TTL, within 250 ms and 2 s).
    pub fn settle(&self) -> std::time::Duration {
        use std::time::Duration;
        match self {
            Share::Etcd(m) => {
                (m.lease_ttl() / 4).clamp(Duration::from_millis(250), Duration::from_secs(2))
            }
            _ => Duration::ZERO,
        }
    }

    /// The etcd view to follow (membership and session changes), if coordinated on etcd.
    pub fn subscribe(&self) -> Option<watch::Receiver<View>> {
        match self {
            Share::Etcd(m) => Some(m.subscribe()),
            _ => None,
        }
    }

    /// Takes the unit of `key` for sweeping: with etcd, checks it is still ours and
    /// takes its lock, and ties the turn's cancellation to the session.
    pub async fn begin(&self, key: &str, parent: &CancellationToken) -> Result<Turn, Skip> {
        let Share::Etcd(member) = self else {
            if !self.owns(key) {
                return Err(Skip::NotOurs);
            }
            return Ok(Turn {
                cancel: parent.child_token(),
                lock: None,
                watcher: None,
                metrics: None,
            });
        };
        let view = member.view();
        if !view.up {
            // Counted as a unit not swept: the target's sweep is then incomplete.
            return Err(Skip::Etcd(EtcdError::Down));
        }
        let session = view.session;
        let lock = member.lock(key, parent).await?;
        let Some(lock) = lock else {
            return Err(if member.owns(key) {
                Skip::Held
            } else {
                Skip::NotOurs
            });
        };
        let cancel = parent.child_token();
        let watcher = tokio::spawn({
            let (member, cancel) = (Arc::clone(member), cancel.clone());
            async move {
                member.session_ended(session).await;
                cancel.cancel();
            }
        });
        let metrics = member.metrics();
        metrics.add_units_in_progress(1);
        Ok(Turn {
            cancel,
            lock: Some(lock),
            watcher: Some(watcher),
            metrics: Some(metrics),
        })
    }
}

/// Resolves when the etcd view changes (never without etcd).
pub async fn view_changed(rx: &mut Option<watch::Receiver<View>>) {
    if let Some(r) = rx {
        if r.changed().await.is_ok() {
            return;
        }
    }
    std::future::pending().await
}

/// The key of a target of one project in one region as configured (it is its own single
/// unit): `target/project/region`, the project and region as configured (`-` when the
/// cloud's own).
pub fn single_key(target: &Target) -> String {
    Unit {
        target: target.name.clone(),
        project_id: String::new(),
        project_name: target.project.clone().unwrap_or_else(|| "-".to_owned()),
        region: target.region.clone(),
    }
    .key()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A static shard hands out turns only for its own units (a single-target's key
    /// included); one process takes every unit.
    #[tokio::test]
    async fn static_turns_only_for_owned_units() {
        let shard: Shard = "0/2".parse().unwrap();
        let share = Share::Shard(shard.clone());
        let cancel = CancellationToken::new();
        for p in 0..20 {
            let key = format!("ci/p{p}/-");
            let turn = share.begin(&key, &cancel).await;
            assert_eq!(turn.is_ok(), shard.owns(&key), "{key}");
            if let Ok(t) = turn {
                t.finish().await;
            }
            assert!(Share::Everything.begin(&key, &cancel).await.is_ok());
        }
        assert_eq!(share.member().as_deref(), Some("shard-0-of-2"));
        assert_eq!(Share::Everything.member(), None);
    }
}
