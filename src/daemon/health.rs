//! What `/readyz` answers from: whether each configured target's last authentication
//! succeeded.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// A target's last authentication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStatus {
    /// Not tried yet (just started or just added by a reload).
    Pending,
    /// Succeeded.
    Ok,
    /// Failed, with the reason (never a secret: error messages carry none).
    Failed(String),
}

/// Per-target authentication status, shared by the scheduler and the HTTP server.
#[derive(Debug, Default)]
pub struct Health {
    targets: Mutex<BTreeMap<String, AuthStatus>>,
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, AuthStatus>> {
        self.targets.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the tracked targets exactly `names`: new ones start [`AuthStatus::Pending`],
    /// removed ones are forgotten, the others keep their status.
    pub fn set_targets<'a>(&self, names: impl IntoIterator<Item = &'a str>) {
        let mut map = self.lock();
        let old = std::mem::take(&mut *map);
        for name in names {
            let status = old.get(name).cloned().unwrap_or(AuthStatus::Pending);
            map.insert(name.to_owned(), status);
        }
    }

    /// Records the outcome of authenticating to `target` (ignored if it is not tracked).
    pub fn set(&self, target: &str, status: AuthStatus) {
        if let Some(s) = self.lock().get_mut(target) {
            *s = status;
        }
    }

    /// `Ok` when every target last authenticated; else one line per target that did not.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        let not_ready: Vec<String> = self
            .lock()
            .iter()
            .filter_map(|(name, status)| match status {
                AuthStatus::Ok => None,
                AuthStatus::Pending => Some(format!("{name}: not authenticated yet")),
                AuthStatus::Failed(why) => Some(format!("{name}: authentication failed: {why}")),
            })
            .collect();
        if not_ready.is_empty() {
            Ok(())
        } else {
            Err(not_ready)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Ready only when every tracked target authenticated; a reload keeps known statuses.
    #[test]
    fn ready_when_all_authenticated() {
        let h = Health::default();
        h.set_targets(["a", "b"]);
        assert_eq!(h.readiness().unwrap_err().len(), 2);
        h.set("a", AuthStatus::Ok);
        h.set("b", AuthStatus::Failed("401".into()));
        assert_eq!(
            h.readiness().unwrap_err(),
            vec!["b: authentication failed: 401".to_owned()]
        );
        h.set_targets(["a"]);
        assert!(h.readiness().is_ok());
    }
}
