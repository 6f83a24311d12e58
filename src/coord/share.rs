//! This process's share of the work, as the daemon and `sweep` ask it: everything (one
//! process), a static shard, or (with etcd) what rendezvous hashing over the live members
//! gives it, each unit locked while it is swept.

use crate::config::{Coordination, Target};
use crate::engine::unit::Unit;

use super::Shard;

/// Which units this process sweeps.
#[derive(Debug, Clone, Default)]
pub enum Share {
    /// Every unit (no coordination configured).
    #[default]
    Everything,
    /// The units of this static shard.
    Shard(Shard),
}

impl Share {
    /// The share a config without etcd gives (etcd needs a connection: see the daemon).
    pub fn of_static(coordination: &Coordination) -> Share {
        match coordination {
            Coordination::Shard(s) => Share::Shard(s.clone()),
            Coordination::Alone | Coordination::Etcd(_) => Share::Everything,
        }
    }

    /// Whether this process sweeps the unit of `key`.
    pub fn owns(&self, key: &str) -> bool {
        match self {
            Share::Everything => true,
            Share::Shard(s) => s.owns(key),
        }
    }
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
