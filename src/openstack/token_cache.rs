//! Scoped Keystone tokens kept across sessions, so that a daemon sweeping the same
//! projects every few minutes asks Keystone for a token per scope about once an hour, not
//! once per sweep. Keyed by auth URL, interface, identity and scope (no secret in the key); an entry
//! also holds the credential's secret, and a lookup with another secret (rotated
//! credentials) drops it. A token is reused only while more than a margin of its life is
//! left (see [`reuse_margin`]); a 401 still renews it.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use tokio::time::Instant;

use super::clouds::{AuthMethod, CloudConfig};
use super::token::Scoped;

/// How much life a cached token must have left to be reused by a new session: 10 minutes
/// or a tenth of its life, whichever is larger, but never more than half its life (a
/// short-lived token is then still reused for its first half).
pub(crate) fn reuse_margin(lifetime: Duration) -> Duration {
    (lifetime / 10)
        .max(Duration::from_secs(600))
        .min(lifetime / 2)
}

/// Who asks, for what scope, where: everything but the secret. The interface too, as a
/// cached token keeps only its catalog's endpoints.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Key {
    auth_url: String,
    interface: String,
    identity: String,
}

impl Key {
    fn of(cloud: &CloudConfig) -> Key {
        // The refs' `Debug` carries IDs and names only; the secret is compared apart.
        let identity = match cloud.auth() {
            AuthMethod::Password { user, project, .. } => {
                format!("password {user:?} {project:?}")
            }
            AuthMethod::ApplicationCredential { id, name, user, .. } => {
                format!("appcred {id:?} {name:?} {user:?}")
            }
        };
        Key {
            auth_url: cloud.auth_url().trim_end_matches('/').to_owned(),
            interface: cloud.interface().to_owned(),
            identity,
        }
    }
}

fn secret_of(cloud: &CloudConfig) -> &SecretString {
    match cloud.auth() {
        AuthMethod::Password { password, .. } => password,
        AuthMethod::ApplicationCredential { secret, .. } => secret,
    }
}

struct Entry {
    /// The credential's secret the token was issued for.
    credential: SecretString,
    token: Arc<Scoped>,
}

/// Scoped tokens shared by the sessions given it (through
/// [`SessionOptions::tokens`](super::SessionOptions::tokens)). Cheap to clone: clones
/// share the entries. The daemon keeps one per config generation, so a reload starts
/// empty.
#[derive(Clone, Default)]
pub struct TokenCache {
    entries: Arc<Mutex<HashMap<Key, Entry>>>,
    /// One lock per scope being authenticated, so that sessions of one scope starting
    /// together (a project's regions) ask Keystone once, not once each.
    issuing: Arc<Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.len())
            .finish()
    }
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> TokenCache {
        TokenCache::default()
    }

    /// How many scopes have a token cached (expired ones included until the next insert).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets every token.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until no other session is asking Keystone for a token of `cloud`'s
    /// credential and scope; holding the guard, the caller looks in the cache again and
    /// asks itself only if it is still empty.
    pub(crate) async fn issuing(&self, cloud: &CloudConfig) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self.issuing.lock().unwrap_or_else(PoisonError::into_inner);
            // A lock only the map holds is not in use.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
            Arc::clone(locks.entry(Key::of(cloud)).or_default())
        };
        lock.lock_owned().await
    }

    /// The cached token of `cloud`'s credential and scope, if it was issued for the same
    /// secret and has enough life left for a new session. An entry for another secret
    /// (the credential was rotated) is dropped.
    pub(crate) fn get(&self, cloud: &CloudConfig) -> Option<Arc<Scoped>> {
        let key = Key::of(cloud);
        let mut entries = self.lock();
        let entry = entries.get(&key)?;
        if entry.credential.expose_secret() != secret_of(cloud).expose_secret() {
            entries.remove(&key);
            return None;
        }
        (Instant::now() < entry.token.reuse_until).then(|| Arc::clone(&entry.token))
    }

    /// The latest token of `cloud`'s credential and scope, whatever its age, if issued
    /// for the same secret: for a session renewing after a 401 to see whether another
    /// already did.
    pub(crate) fn latest(&self, cloud: &CloudConfig) -> Option<Arc<Scoped>> {
        let entries = self.lock();
        let entry = entries.get(&Key::of(cloud))?;
        (entry.credential.expose_secret() == secret_of(cloud).expose_secret())
            .then(|| Arc::clone(&entry.token))
    }

    /// Keeps `token` for `cloud`'s credential and scope; drops tokens past their renewal
    /// time (projects no longer swept do not accumulate).
    pub(crate) fn put(&self, cloud: &CloudConfig, token: Arc<Scoped>) {
        let now = Instant::now();
        let mut entries = self.lock();
        entries.retain(|_, e| now < e.token.renew_at);
        entries.insert(
            Key::of(cloud),
            Entry {
                credential: secret_of(cloud).clone(),
                token,
            },
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Reused while more than max(10 min, 10 %) of the life is left, at most half of it.
    #[test]
    fn margins() {
        let hour = Duration::from_secs(3600);
        assert_eq!(reuse_margin(hour), Duration::from_secs(600));
        assert_eq!(reuse_margin(hour * 24), Duration::from_secs(8640));
        assert_eq!(
            reuse_margin(Duration::from_secs(600)),
            Duration::from_secs(300)
        );
    }

    /// The cache's `Debug` shows a count, never a token or a secret.
    #[test]
    fn debug_shows_no_token() {
        assert_eq!(
            format!("{:?}", TokenCache::new()),
            "TokenCache { entries: 0 }"
        );
    }
}
