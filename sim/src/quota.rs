//! Quota limits, one set per simulator, settable by tests; `-1` is unlimited.
//!
//! Each service answers its own quota call with these limits and the usage of the live
//! state (flavors give cores and RAM; a server counts until it is gone, as in Nova): Nova
//! `GET /limits` (`nova/limits.rs`), Neutron `GET /v2.0/quotas/{project_id}/details`
//! (`neutron/quota.rs`), Cinder `GET /os-quota-sets/{project_id}?usage=true`
//! (`cinder/quota.rs`) and Octavia `GET /v2/lbaas/quotas/{project_id}` (`octavia`).

use std::collections::BTreeMap;

use crate::store::{str_of, Obj};

/// Every quota name the simulator knows, with its default limit. Names are the services'
/// own (`instances`, `ram` in MiB, `floatingip`, `gigabytes`, `load_balancer`, ...).
const DEFAULTS: &[(&str, i64)] = &[
    // Nova
    ("instances", 100),
    ("cores", 200),
    ("ram", 512_000),
    ("key_pairs", 100),
    ("server_groups", 10),
    ("server_group_members", 10),
    // Neutron
    ("network", 200),
    ("subnet", 200),
    ("port", 500),
    ("router", 200),
    ("floatingip", 200),
    ("security_group", 200),
    ("security_group_rule", 1000),
    // Cinder
    ("volumes", 200),
    ("gigabytes", 2000),
    ("snapshots", 200),
    ("backups", 10),
    ("backup_gigabytes", 1000),
    ("groups", 10),
    ("per_volume_gigabytes", -1),
    // Octavia
    ("load_balancer", -1),
    ("listener", -1),
    ("pool", -1),
    ("member", -1),
    ("health_monitor", -1),
    ("l7policy", -1),
    ("l7rule", -1),
];

/// The simulator's quota limits (one set for every project). `-1` is unlimited.
#[derive(Debug, Clone)]
pub struct QuotaLimits(BTreeMap<String, i64>);

impl Default for QuotaLimits {
    fn default() -> QuotaLimits {
        QuotaLimits(
            DEFAULTS
                .iter()
                .map(|(k, v)| ((*k).to_string(), *v))
                .collect(),
        )
    }
}

impl QuotaLimits {
    /// The limit of `name` (`-1` unlimited; unknown names are unlimited).
    pub fn get(&self, name: &str) -> i64 {
        self.0.get(name).copied().unwrap_or(-1)
    }

    /// Sets the limit of `name` (`-1`: unlimited).
    pub fn set(&mut self, name: &str, limit: i64) {
        self.0.insert(name.to_string(), limit);
    }
}

/// How many of `objs` belong to `project` (its id at `key`): a service's usage.
pub fn count<'a>(objs: impl Iterator<Item = &'a Obj>, key: &str, project: &str) -> u64 {
    objs.filter(|o| str_of(o, key) == project).count() as u64
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Unknown names are unlimited; set limits stick, including `-1`.
    #[test]
    fn limits_default_and_set() {
        let mut q = QuotaLimits::default();
        assert_eq!(q.get("instances"), 100);
        assert_eq!(q.get("no-such"), -1);
        q.set("instances", -1);
        q.set("cores", 8);
        assert_eq!(q.get("instances"), -1);
        assert_eq!(q.get("cores"), 8);
    }
}
