//! Keystone's model: projects, users, application credentials and issued tokens, and
//! how a `POST /v3/auth/tokens` body authenticates against them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{json, Value};
use tokio::time::Instant;

use super::catalog::catalog;
use crate::error::ApiError;
use crate::store::{fmt_micro, new_hex_id, Ctx};

/// Name of the project CI jobs run in.
pub const CI_PROJECT: &str = "ci";
/// The CI user's name.
pub const CI_USER: &str = "ci-user";
/// The CI user's password (a simulator; nothing to protect).
pub const CI_PASSWORD: &str = "ci-password";
/// The admin user's password.
pub const ADMIN_PASSWORD: &str = "admin-password";

/// A Keystone project.
#[derive(Debug, Clone)]
pub struct Project {
    /// Project name.
    pub name: String,
}

/// A Keystone user and its password.
#[derive(Debug, Clone)]
pub struct User {
    /// User name.
    pub name: String,
    password: String,
    /// `(project_id, role)` assignments.
    pub roles: Vec<(String, String)>,
}

/// An application credential, bound to one user and project.
#[derive(Debug, Clone)]
pub struct AppCred {
    /// Its name.
    pub name: String,
    secret: String,
    /// Owner.
    pub user_id: String,
    /// Project its tokens are scoped to.
    pub project_id: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub(super) ctx: Ctx,
    pub(super) expires: Instant,
    pub(super) expires_at: Timestamp,
}

/// Users, projects, credentials and issued tokens.
#[derive(Debug, Clone)]
pub struct KeystoneState {
    /// Projects by id.
    pub projects: BTreeMap<String, Project>,
    /// Users by id.
    pub users: BTreeMap<String, User>,
    /// Application credentials by id.
    pub app_creds: BTreeMap<String, AppCred>,
    pub(super) tokens: HashMap<String, Token>,
    /// How long a token lives.
    pub token_ttl: Duration,
    /// The regions the catalog lists (the first is the primary).
    pub regions: Vec<String>,
    /// The `ci` project's id.
    pub ci_project_id: String,
    /// The `admin` project's id.
    pub admin_project_id: String,
    /// The CI user's id.
    pub ci_user_id: String,
    /// The application credential of the CI user (id, secret).
    pub app_cred: (String, String),
    /// Optional services in the catalog (`key-manager`, ...): absent by default, as on
    /// most clouds, so a cloud without them stays the default.
    pub optional_services: Vec<String>,
}

impl KeystoneState {
    pub(crate) fn new() -> KeystoneState {
        let mut ks = KeystoneState {
            projects: BTreeMap::new(),
            users: BTreeMap::new(),
            app_creds: BTreeMap::new(),
            tokens: HashMap::new(),
            token_ttl: Duration::from_secs(3600),
            regions: vec!["RegionOne".to_owned()],
            ci_project_id: String::new(),
            admin_project_id: String::new(),
            ci_user_id: String::new(),
            app_cred: (String::new(), String::new()),
            optional_services: Vec::new(),
        };
        ks.admin_project_id = ks.add_project("admin");
        let admin = ks.add_user("admin", ADMIN_PASSWORD);
        ks.assign(&admin, &ks.admin_project_id.clone(), "admin");
        ks.ci_project_id = ks.add_project(CI_PROJECT);
        ks.ci_user_id = ks.add_user(CI_USER, CI_PASSWORD);
        ks.assign(&ks.ci_user_id.clone(), &ks.ci_project_id.clone(), "member");
        let secret = new_hex_id();
        let id = new_hex_id();
        ks.app_creds.insert(
            id.clone(),
            AppCred {
                name: "stacksweep".into(),
                secret: secret.clone(),
                user_id: ks.ci_user_id.clone(),
                project_id: ks.ci_project_id.clone(),
            },
        );
        ks.app_cred = (id, secret);
        ks
    }

    /// The project with this name, made (with the CI user a member of it) if it is not
    /// there yet; returns its id.
    pub fn ci_member_project(&mut self, name: &str) -> String {
        if let Some(id) = self.project_by_name(name) {
            return id;
        }
        let id = self.add_project(name);
        let user = self.ci_user_id.clone();
        self.assign(&user, &id, "member");
        id
    }

    /// [`Self::ci_member_project`] with a known id (a further region's copy of the
    /// primary's Keystone).
    pub fn ci_member_project_as(&mut self, name: &str, id: &str) {
        if self.projects.contains_key(id) {
            return;
        }
        self.projects
            .insert(id.to_owned(), Project { name: name.into() });
        let user = self.ci_user_id.clone();
        self.assign(&user, id, "member");
    }

    /// Adds a project; returns its id.
    pub fn add_project(&mut self, name: &str) -> String {
        let id = new_hex_id();
        self.projects
            .insert(id.clone(), Project { name: name.into() });
        id
    }

    /// Adds a user with a password; returns its id.
    pub fn add_user(&mut self, name: &str, password: &str) -> String {
        let id = new_hex_id();
        self.users.insert(
            id.clone(),
            User {
                name: name.into(),
                password: password.into(),
                roles: Vec::new(),
            },
        );
        id
    }

    /// Gives a user a role (`member`, `admin`) on a project.
    pub fn assign(&mut self, user_id: &str, project_id: &str, role: &str) {
        if let Some(u) = self.users.get_mut(user_id) {
            u.roles.push((project_id.into(), role.into()));
        }
    }

    /// The project id with this name.
    pub fn project_by_name(&self, name: &str) -> Option<String> {
        self.projects
            .iter()
            .find(|(_, p)| p.name == name)
            .map(|(id, _)| id.clone())
    }

    /// The caller behind a token, if it is known, scoped and not expired.
    pub fn validate(&self, token: &str) -> Option<Ctx> {
        let t = self.tokens.get(token)?;
        (Instant::now() < t.expires && !t.ctx.project_id.is_empty()).then(|| t.ctx.clone())
    }

    /// Every token issued so far, expired or not, except those expired for longer than
    /// a token lifetime (tests grep outputs for them).
    pub fn issued_tokens(&self) -> Vec<String> {
        self.tokens.keys().cloned().collect()
    }

    /// Expires every issued token (a client must re-authenticate).
    pub fn expire_tokens(&mut self) {
        let past = Instant::now();
        for t in self.tokens.values_mut() {
            t.expires = past;
        }
    }

    pub(super) fn issue(&mut self, ctx: Ctx) -> (String, Timestamp) {
        // Tokens expired for longer than a lifetime are forgotten (they answer 401 like
        // any unknown token), so a long-running simulator does not keep every one.
        let now = Instant::now();
        let ttl = self.token_ttl;
        self.tokens.retain(|_, t| t.expires + ttl > now);
        let id = format!("gAAAAA{}", new_hex_id());
        let expires_at = Timestamp::now() + self.token_ttl;
        self.tokens.insert(
            id.clone(),
            Token {
                ctx,
                expires: Instant::now() + self.token_ttl,
                expires_at,
            },
        );
        (id, expires_at)
    }

    fn find_user(&self, spec: &Value) -> Option<String> {
        if let Some(id) = spec.get("id").and_then(Value::as_str) {
            return self.users.contains_key(id).then(|| id.to_string());
        }
        let name = spec.get("name").and_then(Value::as_str)?;
        self.users
            .iter()
            .find(|(_, u)| u.name == name)
            .map(|(id, _)| id.clone())
    }

    fn find_project(&self, spec: &Value) -> Option<String> {
        if let Some(id) = spec.get("id").and_then(Value::as_str) {
            return self.projects.contains_key(id).then(|| id.to_string());
        }
        self.project_by_name(spec.get("name").and_then(Value::as_str)?)
    }

    /// Authenticates a `POST /v3/auth/tokens` body; returns the token's caller.
    pub(super) fn authenticate(
        &self,
        body: &Value,
    ) -> Result<(Ctx, Vec<&'static str>, Option<String>), ApiError> {
        let identity = &body["auth"]["identity"];
        let methods: Vec<&str> = identity["methods"]
            .as_array()
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if methods.contains(&"application_credential") {
            let ac = &identity["application_credential"];
            let secret = ac["secret"].as_str().unwrap_or("");
            let found = match ac["id"].as_str() {
                Some(id) => self.app_creds.get(id).map(|c| (id.to_string(), c)),
                None => {
                    let name = ac["name"].as_str().unwrap_or("");
                    let user = self.find_user(&ac["user"]);
                    self.app_creds
                        .iter()
                        .find(|(_, c)| c.name == name && Some(&c.user_id) == user.as_ref())
                        .map(|(id, c)| (id.clone(), c))
                }
            };
            let (id, cred) = found
                .filter(|(_, c)| c.secret == secret)
                .ok_or_else(ApiError::unauthorized)?;
            let ctx = self.ctx_for(&cred.user_id, &cred.project_id)?;
            return Ok((ctx, vec!["application_credential"], Some(id)));
        }
        if methods.contains(&"password") {
            let user_spec = &identity["password"]["user"];
            let user_id = self
                .find_user(user_spec)
                .ok_or_else(ApiError::unauthorized)?;
            let password = user_spec["password"].as_str().unwrap_or("");
            if self.users.get(&user_id).map(|u| u.password.as_str()) != Some(password) {
                return Err(ApiError::unauthorized());
            }
            let project = match body["auth"].get("scope").and_then(|s| s.get("project")) {
                Some(p) => self.find_project(p).ok_or_else(ApiError::unauthorized)?,
                None => String::new(),
            };
            let ctx = if project.is_empty() {
                Ctx {
                    project_id: String::new(),
                    user_id,
                    admin: false,
                }
            } else {
                self.ctx_for(&user_id, &project)?
            };
            return Ok((ctx, vec!["password"], None));
        }
        if methods.contains(&"token") {
            let token = identity["token"]["id"].as_str().unwrap_or("");
            let t = self
                .tokens
                .get(token)
                .filter(|t| Instant::now() < t.expires);
            let t = t.ok_or_else(ApiError::unauthorized)?;
            let project = match body["auth"].get("scope").and_then(|s| s.get("project")) {
                Some(p) => self.find_project(p).ok_or_else(ApiError::unauthorized)?,
                None => t.ctx.project_id.clone(),
            };
            let ctx = self.ctx_for(&t.ctx.user_id, &project)?;
            return Ok((ctx, vec!["token"], None));
        }
        Err(ApiError::unauthorized())
    }

    fn ctx_for(&self, user_id: &str, project_id: &str) -> Result<Ctx, ApiError> {
        let user = self.users.get(user_id).ok_or_else(ApiError::unauthorized)?;
        let roles: Vec<&str> = user
            .roles
            .iter()
            .filter(|(p, _)| p == project_id)
            .map(|(_, r)| r.as_str())
            .collect();
        if roles.is_empty() {
            return Err(ApiError::unauthorized());
        }
        Ok(Ctx {
            project_id: project_id.into(),
            user_id: user_id.into(),
            admin: roles.contains(&"admin"),
        })
    }

    pub(super) fn token_body(
        &self,
        ctx: &Ctx,
        methods: &[&str],
        app_cred: Option<&str>,
        expires_at: Timestamp,
        base: &str,
    ) -> Value {
        let domain = json!({"id": "default", "name": "Default"});
        let user_name = self
            .users
            .get(&ctx.user_id)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        let mut token = json!({
            "methods": methods,
            "user": {"id": ctx.user_id, "name": user_name, "domain": domain, "password_expires_at": null},
            "audit_ids": [new_hex_id()[..22].to_string()],
            "expires_at": format!("{}Z", fmt_micro(expires_at)),
            "issued_at": format!("{}Z", fmt_micro(Timestamp::now())),
        });
        if !ctx.project_id.is_empty() {
            let name = self
                .projects
                .get(&ctx.project_id)
                .map(|p| p.name.clone())
                .unwrap_or_default();
            let mut roles = vec![
                json!({"id": "member-role", "name": "member"}),
                json!({"id": "reader-role", "name": "reader"}),
            ];
            if ctx.admin {
                roles.push(json!({"id": "admin-role", "name": "admin"}));
            }
            token["project"] = json!({"id": ctx.project_id, "name": name, "domain": domain});
            token["is_domain"] = json!(false);
            token["roles"] = json!(roles);
            token["catalog"] = catalog(
                base,
                &ctx.project_id,
                &self.regions,
                &self.optional_services,
            );
        }
        if let Some(id) = app_cred {
            let name = self
                .app_creds
                .get(id)
                .map(|c| c.name.clone())
                .unwrap_or_default();
            token["application_credential"] = json!({"id": id, "name": name, "restricted": true});
        }
        json!({ "token": token })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx {
            project_id: "p".into(),
            user_id: "u".into(),
            admin: false,
        }
    }

    /// A token is valid for its lifetime, answers as unknown after it, and is forgotten
    /// once expired for a further lifetime: a daemon authenticating every sweep does not
    /// grow the simulator.
    #[tokio::test(start_paused = true)]
    async fn expired_tokens_are_forgotten() {
        let mut ks = KeystoneState::new();
        ks.token_ttl = Duration::from_secs(60);
        let (old, _) = ks.issue(ctx());
        assert!(ks.validate(&old).is_some());
        tokio::time::advance(Duration::from_secs(61)).await;
        assert!(ks.validate(&old).is_none());
        let (_, _) = ks.issue(ctx());
        assert!(ks.issued_tokens().contains(&old), "forgotten too soon");
        tokio::time::advance(Duration::from_secs(60)).await;
        let (new, _) = ks.issue(ctx());
        assert!(!ks.issued_tokens().contains(&old));
        assert!(ks.validate(&new).is_some());
        assert_eq!(ks.issued_tokens().len(), 2);
    }
}
