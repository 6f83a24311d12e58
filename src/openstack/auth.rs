//! Keystone v3 authentication: password (project-scoped) and application credential,
//! the token from `X-Subject-Token`, and its renewal shortly before it expires or once
//! after a 401.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tokio::sync::{Mutex, RwLock};
use tokio::time::Instant;
use tracing::{debug, info};
use url::Url;

use super::catalog::{api_root, Catalog, ALL_SERVICES};
use super::clouds::{AuthMethod, CloudConfig, DomainRef, UserRef};
use super::error::{parse_error_body, ApiError};
use super::request::{Call, Credential, Requester};
use super::token::{Scoped, Token};
use super::token_cache::{reuse_margin, TokenCache};
use super::Service;

/// The margin before expiry at which a token is renewed: a tenth of its life, at least
/// 30 s, at most 5 min, and never more than half its life.
fn renewal_margin(lifetime: Duration) -> Duration {
    (lifetime / 10)
        .clamp(Duration::from_secs(30), Duration::from_secs(300))
        .min(lifetime / 2)
}

/// The token body, as far as we read it (unknown fields ignored).
#[derive(Deserialize)]
struct TokenBody {
    token: TokenInfo,
}

#[derive(Deserialize)]
struct TokenInfo {
    #[serde(default)]
    expires_at: Option<String>,
    #[serde(default)]
    issued_at: Option<String>,
    #[serde(default)]
    project: Option<IdName>,
    #[serde(default)]
    roles: Vec<IdName>,
    #[serde(default)]
    catalog: Catalog,
}

#[derive(Deserialize)]
struct IdName {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

/// Holds the current token and renews it.
pub(crate) struct Authenticator {
    cloud: CloudConfig,
    tokens_url: Url,
    identity_root: Url,
    current: RwLock<Arc<Token>>,
    /// Serialises renewals.
    renewing: Mutex<()>,
    /// Where tokens are shared with other sessions of the same credential and scope.
    cache: Option<TokenCache>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("cloud", &self.cloud.name())
            .field("identity", &self.identity_root.as_str())
            .finish()
    }
}

/// Keystone's v3 root for an auth URL: unversioned gets `/v3` (as keystoneauth's
/// discovery ends up), `/v3` is kept, anything else is refused.
pub(crate) fn identity_root(auth_url: &str) -> Result<Url, ApiError> {
    let root = api_root(Service::Identity, auth_url)
        .map_err(|e| ApiError::Setup(format!("auth_url {auth_url:?}: {e}")))?;
    let last = root
        .path_segments()
        .and_then(|mut s| s.next_back())
        .unwrap_or("");
    if last != "v3" {
        return Err(ApiError::Setup(format!(
            "auth_url {auth_url}: only Keystone v3 is supported"
        )));
    }
    Ok(root)
}

impl Authenticator {
    /// Authenticates for the first time: takes the cached token of this credential and
    /// scope when `cache` has one with life enough left, else asks Keystone (and caches
    /// the answer).
    pub async fn login(
        cloud: &CloudConfig,
        requester: &Requester,
        cache: Option<TokenCache>,
    ) -> Result<Authenticator, ApiError> {
        let identity_root = identity_root(cloud.auth_url())?;
        let tokens_url = Url::parse(&format!("{identity_root}/auth/tokens"))
            .map_err(|e| ApiError::Setup(e.to_string()))?;
        let _issuing = match &cache {
            Some(c) => Some(c.issuing(cloud).await),
            None => None,
        };
        let cached = cache.as_ref().and_then(|c| c.get(cloud));
        let scoped = match cached {
            Some(scoped) => {
                debug!(project_id = %scoped.project_id, "reusing a cached token");
                scoped
            }
            None => {
                let scoped = Arc::new(issue(cloud, &identity_root, &tokens_url, requester).await?);
                if let Some(cache) = &cache {
                    cache.put(cloud, Arc::clone(&scoped));
                }
                scoped
            }
        };
        let token = token_for(&scoped, cloud, &identity_root, 1);
        Ok(Authenticator {
            cloud: cloud.clone(),
            tokens_url,
            identity_root,
            current: RwLock::new(Arc::new(token)),
            renewing: Mutex::new(()),
            cache,
        })
    }

    /// The token to use now, renewed first when it is about to expire.
    pub async fn current(&self, requester: &Requester) -> Result<Arc<Token>, ApiError> {
        let token = self.current.read().await.clone();
        if Instant::now() >= token.renew_at {
            debug!("token close to expiry; renewing");
            return self.refresh(requester, token.generation).await;
        }
        Ok(token)
    }

    /// The token as it is (no renewal): for the catalog and project.
    pub async fn peek(&self) -> Arc<Token> {
        self.current.read().await.clone()
    }

    /// Renews the token unless someone already replaced generation `stale`: with another
    /// session's newer token of the same scope when the cache has one (so that a 401 on a
    /// shared token costs Keystone one request, not one per session), else from Keystone.
    pub async fn refresh(&self, requester: &Requester, stale: u64) -> Result<Arc<Token>, ApiError> {
        let _guard = self.renewing.lock().await;
        let token = self.current.read().await.clone();
        if token.generation != stale {
            return Ok(token);
        }
        let _issuing = match &self.cache {
            Some(c) => Some(c.issuing(&self.cloud).await),
            None => None,
        };
        let newer = self
            .cache
            .as_ref()
            .and_then(|c| c.latest(&self.cloud))
            .filter(|s| {
                s.secret.expose_secret() != token.secret.expose_secret()
                    && Instant::now() < s.renew_at
            });
        let scoped = match newer {
            Some(scoped) => scoped,
            None => {
                // Boxed: issuing goes through the request path, which calls back into us.
                let scoped = Arc::new(
                    Box::pin(issue(
                        &self.cloud,
                        &self.identity_root,
                        &self.tokens_url,
                        requester,
                    ))
                    .await?,
                );
                if let Some(cache) = &self.cache {
                    cache.put(&self.cloud, Arc::clone(&scoped));
                }
                scoped
            }
        };
        let fresh = Arc::new(token_for(
            &scoped,
            &self.cloud,
            &self.identity_root,
            stale + 1,
        ));
        info!(generation = fresh.generation, "re-authenticated");
        *self.current.write().await = fresh.clone();
        Ok(fresh)
    }
}

impl Credential for Authenticator {
    fn token<'a>(
        &'a self,
        requester: &'a Requester,
    ) -> BoxFuture<'a, Result<Arc<Token>, ApiError>> {
        Box::pin(self.current(requester))
    }

    fn refresh<'a>(
        &'a self,
        requester: &'a Requester,
        stale: u64,
    ) -> BoxFuture<'a, Result<Arc<Token>, ApiError>> {
        Box::pin(Authenticator::refresh(self, requester, stale))
    }
}

fn domain_json(domain: &DomainRef) -> Value {
    match (&domain.id, &domain.name) {
        (Some(id), _) => json!({ "id": id }),
        (None, Some(name)) => json!({ "name": name }),
        (None, None) => json!({ "id": "default" }),
    }
}

fn user_json(user: &UserRef) -> Map<String, Value> {
    let mut out = Map::new();
    match (&user.id, &user.name) {
        (Some(id), _) => {
            out.insert("id".into(), json!(id));
        }
        (None, name) => {
            out.insert("name".into(), json!(name));
            out.insert("domain".into(), domain_json(&user.domain));
        }
    }
    out
}

/// The POST /v3/auth/tokens body. Holds the secret: never logged.
fn auth_body(cloud: &CloudConfig) -> Value {
    match cloud.auth() {
        AuthMethod::Password {
            user,
            password,
            project,
        } => {
            let mut user = user_json(user);
            user.insert("password".into(), json!(password.expose_secret()));
            let project = match (&project.id, &project.name) {
                (Some(id), _) => json!({ "id": id }),
                (None, name) => json!({ "name": name, "domain": domain_json(&project.domain) }),
            };
            json!({"auth": {
                "identity": {"methods": ["password"], "password": {"user": user}},
                "scope": {"project": project}
            }})
        }
        AuthMethod::ApplicationCredential {
            id,
            name,
            user,
            secret,
        } => {
            let mut cred = Map::new();
            match (id, name) {
                (Some(id), _) => {
                    cred.insert("id".into(), json!(id));
                }
                (None, name) => {
                    cred.insert("name".into(), json!(name));
                    if let Some(user) = user {
                        cred.insert("user".into(), Value::Object(user_json(user)));
                    }
                }
            }
            cred.insert("secret".into(), json!(secret.expose_secret()));
            json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": cred}}})
        }
    }
}

/// Replaces any secret of `cloud` found in `text` (a Keystone message echoing input).
fn scrub(cloud: &CloudConfig, text: &str) -> String {
    let secret = match cloud.auth() {
        AuthMethod::Password { password, .. } => password.expose_secret(),
        AuthMethod::ApplicationCredential { secret, .. } => secret.expose_secret(),
    };
    if secret.is_empty() {
        text.to_owned()
    } else {
        text.replace(secret, "[REDACTED]")
    }
}

/// Asks Keystone for a token.
async fn issue(
    cloud: &CloudConfig,
    identity_root: &Url,
    tokens_url: &Url,
    requester: &Requester,
) -> Result<Scoped, ApiError> {
    let fail = |message: String| ApiError::Auth {
        who: cloud.who(),
        auth_url: identity_root.to_string(),
        message: scrub(cloud, &message),
    };
    let body = serde_json::to_vec(&auth_body(cloud)).map_err(|e| fail(e.to_string()))?;
    let call = Call {
        service: Service::Identity,
        method: "POST",
        url: tokens_url.clone(),
        path: "/auth/tokens",
        body: Some(body),
    };
    let reply = match requester.execute(&call, None).await {
        Ok(reply) => reply,
        // A wrong URL or CA: said as such, with the URL and the cause.
        Err(e @ ApiError::Unreachable { .. }) => return Err(e),
        Err(ApiError::Transport { message, .. }) => return Err(fail(message)),
        Err(other) => return Err(fail(other.to_string())),
    };
    if !reply.is_success() {
        let (_, message) = parse_error_body(&reply.body);
        return Err(fail(format!("HTTP {}: {message}", reply.status)));
    }
    let secret = reply
        .headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(|v| SecretString::from(v.to_owned()))
        .ok_or_else(|| {
            fail(format!(
                "HTTP {} without an X-Subject-Token header",
                reply.status
            ))
        })?;
    let body: TokenBody = serde_json::from_slice(&reply.body)
        .map_err(|e| fail(format!("unreadable token body: {e}")))?;
    let info = body.token;
    let project_name = info
        .project
        .as_ref()
        .and_then(|p| p.name.clone())
        .unwrap_or_default();
    let project_id = info
        .project
        .and_then(|p| p.id)
        .ok_or_else(|| fail("the token is not scoped to a project".into()))?;
    let roles = info
        .roles
        .into_iter()
        .filter_map(|r| r.name.or(r.id))
        .collect();
    let lifetime = token_lifetime(info.issued_at.as_deref(), info.expires_at.as_deref());
    let renew_at = match lifetime {
        Some(life) => Instant::now() + life.saturating_sub(renewal_margin(life)),
        // No usable expiry: renew only on 401.
        None => Instant::now() + Duration::from_secs(365 * 24 * 3600),
    };
    let reuse_until = match lifetime {
        Some(life) => Instant::now() + life.saturating_sub(reuse_margin(life)),
        None => renew_at,
    };
    debug!(project_id = %project_id, lifetime_s = lifetime.map(|l| l.as_secs()), "authenticated");
    Ok(Scoped {
        secret,
        renew_at,
        reuse_until,
        project_id,
        project_name,
        roles,
        catalog: info.catalog.trimmed(cloud.interface()),
    })
}

/// A session's token from what Keystone issued: the API roots of `cloud`'s interface
/// and region picked from the catalog.
fn token_for(scoped: &Scoped, cloud: &CloudConfig, identity_root: &Url, generation: u64) -> Token {
    let mut roots = HashMap::new();
    for service in ALL_SERVICES {
        if let Some(url) = scoped
            .catalog
            .endpoint(service, cloud.interface(), cloud.region())
        {
            match api_root(service, url) {
                Ok(root) => {
                    roots.insert(service, root);
                }
                Err(e) => {
                    debug!(service = service.as_str(), error = %e, "ignoring unparsable catalog URL")
                }
            }
        }
    }
    // Keystone itself is reachable at the auth URL even when the catalog hides it.
    roots
        .entry(Service::Identity)
        .or_insert_with(|| identity_root.clone());
    Token {
        secret: scoped.secret.clone(),
        generation,
        renew_at: scoped.renew_at,
        roots,
        project_id: scoped.project_id.clone(),
        project_name: scoped.project_name.clone(),
        roles: scoped.roles.clone(),
        regions: scoped.catalog.regions(cloud.interface()),
    }
}

/// How long the token lives: `expires_at - issued_at` by Keystone's own clock (immune to
/// skew of ours), else `expires_at - now`.
fn token_lifetime(issued_at: Option<&str>, expires_at: Option<&str>) -> Option<Duration> {
    let expires: jiff::Timestamp = expires_at?.parse().ok()?;
    let start = issued_at
        .and_then(|i| i.parse::<jiff::Timestamp>().ok())
        .unwrap_or_else(jiff::Timestamp::now);
    let span = expires.duration_since(start);
    Duration::try_from(span).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Auth URLs with and without `/v3` end at the v3 root; v2.0 is refused.
    #[test]
    fn identity_roots() {
        assert_eq!(
            identity_root("http://k:5000").unwrap().as_str(),
            "http://k:5000/v3"
        );
        assert_eq!(
            identity_root("http://k:5000/v3/").unwrap().as_str(),
            "http://k:5000/v3"
        );
        assert_eq!(
            identity_root("https://k/identity").unwrap().as_str(),
            "https://k/identity/v3"
        );
        assert!(identity_root("http://k:5000/v2.0").is_err());
        assert!(identity_root("not a url").is_err());
    }

    /// A Keystone message that echoes the secret is scrubbed; the body carries it.
    #[test]
    fn scrub_and_body() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clouds.yaml");
        std::fs::write(&path, "clouds:\n  c:\n    auth: {auth_url: 'http://x', user_id: u1, password: pw-echo, project_name: p, project_domain_id: d1}\n").unwrap();
        let cloud = CloudConfig::from_clouds_yaml(&path, "c").unwrap();
        assert_eq!(
            scrub(&cloud, "bad password pw-echo"),
            "bad password [REDACTED]"
        );
        let body = auth_body(&cloud);
        assert_eq!(
            body["auth"]["identity"]["password"]["user"],
            json!({"id": "u1", "password": "pw-echo"})
        );
        assert_eq!(
            body["auth"]["scope"]["project"],
            json!({"name": "p", "domain": {"id": "d1"}})
        );
    }

    /// The lifetime comes from Keystone's timestamps; the margin suits short and long tokens.
    #[test]
    fn lifetime_and_margin() {
        let life = token_lifetime(
            Some("2026-11-22T08:00:00.000000Z"),
            Some("2026-11-22T09:00:00.000000Z"),
        )
        .unwrap();
        assert_eq!(life, Duration::from_secs(3600));
        assert_eq!(renewal_margin(life), Duration::from_secs(300));
        assert_eq!(
            renewal_margin(Duration::from_secs(60)),
            Duration::from_secs(30)
        );
        assert_eq!(
            renewal_margin(Duration::from_secs(10)),
            Duration::from_secs(5)
        );
        assert_eq!(token_lifetime(None, Some("garbage")), None);
        assert_eq!(
            token_lifetime(Some("2026-11-22T09:00:00Z"), Some("2026-11-22T08:00:00Z")),
            None
        );
    }
}
