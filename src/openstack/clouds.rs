//! Credentials, read exactly where and how the `openstack` CLI reads them: `clouds.yaml`
//! and `secure.yaml` (deep-merged) from `OS_CLIENT_CONFIG_FILE`, `./`,
//! `~/.config/openstack/`, `/etc/openstack/`; the cloud named by the caller or `OS_CLOUD`;
//! `OS_*` variables overlaid on it, or alone (the `envvars` cloud).
//!
//! The environment and the directories come in through [`CloudsSource`], so tests never
//! touch the process environment.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use serde_json::{Map, Value};

/// The name `openstack` gives a cloud made from `OS_*` variables alone.
pub const ENVVARS_CLOUD: &str = "envvars";

/// Why resolving a cloud's credentials failed. Never carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum CloudsError {
    /// No cloud was named and no `OS_AUTH_URL` is set.
    #[error("no cloud given: pass a cloud name or set OS_CLOUD (or the OS_AUTH_URL family of variables)")]
    NoCloud {
        /// The files looked for (logged at debug level, not shown: there are many).
        searched: Vec<PathBuf>,
    },
    /// The named cloud is in no `clouds.yaml`. Names the files that were read; where
    /// else it looked is logged at debug level (`-v`).
    #[error("cloud \"{name}\" not found {}", where_not_found(.read, .available))]
    UnknownCloud {
        /// The cloud asked for.
        name: String,
        /// The files that exist and were read.
        read: Vec<PathBuf>,
        /// Every file looked for.
        searched: Vec<PathBuf>,
        /// The clouds that do exist.
        available: Vec<String>,
    },
    /// A file could not be read.
    #[error("cannot read {}: {message}", .path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// A file is not valid YAML (or JSON), or its top level is wrong.
    #[error("cannot parse {}: {message}", .path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong (location and message, no snippet of the file: it may hold secrets).
        message: String,
    },
    /// A key has the wrong type.
    #[error("cloud \"{cloud}\": `{key}` must be {expected}")]
    WrongType {
        /// The cloud being resolved.
        cloud: String,
        /// Dotted key (`auth.project_name`, `verify`).
        key: String,
        /// What it must be.
        expected: &'static str,
    },
    /// A required setting is missing.
    #[error("cloud \"{cloud}\": missing {what}")]
    Missing {
        /// The cloud being resolved.
        cloud: String,
        /// Which key(s) and where they may come from.
        what: String,
    },
    /// A value we do not support (`auth_type: token`, `identity_api_version: 2`).
    #[error("cloud \"{cloud}\": `{key}` = \"{value}\" is not supported ({supported})")]
    Unsupported {
        /// The cloud being resolved.
        cloud: String,
        /// The key.
        key: String,
        /// Its value (never a secret's).
        value: String,
        /// What is supported.
        supported: &'static str,
    },
    /// Anything else.
    #[error("{0}")]
    Invalid(String),
    /// A cloud's settings are wrong ([`CloudsError::WrongType`], `Missing`,
    /// `Unsupported`); names the files they were read from.
    #[error("{error} (in {})", list_paths(.files))]
    InFiles {
        /// The clouds.yaml / secure.yaml files read.
        files: Vec<PathBuf>,
        /// What is wrong.
        error: Box<CloudsError>,
    },
}

fn list_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The end of the unknown-cloud message: the files read and the clouds they define, or
/// that none was found (and where, in short).
fn where_not_found(read: &[PathBuf], available: &[String]) -> String {
    if read.is_empty() {
        "(no clouds.yaml found: set OS_CLIENT_CONFIG_FILE, or put one in ./, \
         ~/.config/openstack/ or /etc/openstack/; -v lists every path searched)"
            .to_owned()
    } else {
        format!(
            "in {}; clouds defined: {}",
            list_paths(read),
            list_or_none(available)
        )
    }
}

/// Logs every path a failed resolution looked at: too many for the error message.
fn log_searched(cloud: Option<&str>, searched: &[PathBuf]) {
    tracing::debug!(
        cloud = cloud.unwrap_or("-"),
        searched = %list_paths(searched),
        "clouds.yaml / secure.yaml paths searched"
    );
}

/// Where credentials come from: environment variables and the directories searched.
/// [`CloudsSource::from_process`] reads the real ones; tests build their own.
#[derive(Clone, Default)]
pub struct CloudsSource {
    env: HashMap<String, String>,
    dirs: Vec<PathBuf>,
}

impl fmt::Debug for CloudsSource {
    // The environment holds OS_PASSWORD; show only which variables are set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut keys: Vec<&String> = self.env.keys().filter(|k| k.starts_with("OS_")).collect();
        keys.sort();
        f.debug_struct("CloudsSource")
            .field("os_vars", &keys)
            .field("dirs", &self.dirs)
            .finish()
    }
}

impl CloudsSource {
    /// The process environment and the standard directories: `./`,
    /// `$XDG_CONFIG_HOME/openstack/`, `~/.config/openstack/`, `/etc/openstack/`.
    pub fn from_process() -> CloudsSource {
        let env: HashMap<String, String> = std::env::vars().collect();
        let cwd = std::env::current_dir().ok();
        Self::standard(env, cwd)
    }

    /// `env` with the standard directories computed from it (`HOME`, `XDG_CONFIG_HOME`)
    /// and the given working directory.
    pub fn standard(env: HashMap<String, String>, cwd: Option<PathBuf>) -> CloudsSource {
        let mut dirs = Vec::new();
        dirs.extend(cwd);
        if let Some(xdg) = env.get("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            dirs.push(Path::new(xdg).join("openstack"));
        }
        if let Some(home) = env.get("HOME").filter(|v| !v.is_empty()) {
            let dir = Path::new(home).join(".config").join("openstack");
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        dirs.push(PathBuf::from("/etc/openstack"));
        CloudsSource { env, dirs }
    }

    /// Exactly these variables and directories (tests).
    pub fn new(env: HashMap<String, String>, dirs: Vec<PathBuf>) -> CloudsSource {
        CloudsSource { env, dirs }
    }

    /// A variable, treating an empty value as unset (as the CLI's argparse defaults do).
    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// Candidate files for `stem` (`clouds`, `secure`): the override variable first, then
    /// each directory's `.yaml`, `.yml`, `.json`.
    fn candidates(&self, override_var: &str, stem: &str) -> Vec<PathBuf> {
        let mut out = Vec::new();
        if let Some(file) = self.var(override_var) {
            out.push(PathBuf::from(file));
        }
        for dir in &self.dirs {
            for ext in ["yaml", "yml", "json"] {
                out.push(dir.join(format!("{stem}.{ext}")));
            }
        }
        out
    }
}

/// A user, by ID or by name within a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRef {
    /// `user_id`.
    pub id: Option<String>,
    /// `username`.
    pub name: Option<String>,
    /// The user's domain (needed with a name).
    pub domain: DomainRef,
}

impl UserRef {
    /// How errors name the user: its name, else its ID.
    pub fn label(&self) -> &str {
        self.name.as_deref().or(self.id.as_deref()).unwrap_or("?")
    }
}

/// A domain, by ID or by name.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DomainRef {
    /// `*_domain_id`.
    pub id: Option<String>,
    /// `*_domain_name`.
    pub name: Option<String>,
}

/// The project a password token is scoped to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectScope {
    /// `project_id`.
    pub id: Option<String>,
    /// `project_name`.
    pub name: Option<String>,
    /// The project's domain (needed with a name).
    pub domain: DomainRef,
}

/// How the session authenticates. `Debug` shows secrets as `[REDACTED]`.
#[derive(Debug, Clone)]
pub enum AuthMethod {
    /// `password` / `v3password`: a user, a password and a project scope.
    Password {
        /// Who.
        user: UserRef,
        /// The password.
        password: SecretString,
        /// Which project.
        project: ProjectScope,
    },
    /// `v3applicationcredential`: the credential's project is implied.
    ApplicationCredential {
        /// `application_credential_id`.
        id: Option<String>,
        /// `application_credential_name` (needs the user).
        name: Option<String>,
        /// The owner, needed when the credential is given by name.
        user: Option<UserRef>,
        /// `application_credential_secret`.
        secret: SecretString,
    },
}

/// A cloud's resolved connection settings: auth URL, auth method and its secrets, project
/// scope, region, interface, CA, verify. Its `Debug` never shows a secret.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    name: String,
    auth_url: String,
    auth: AuthMethod,
    region: Option<String>,
    interface: String,
    cacert: Option<PathBuf>,
    insecure: bool,
}

impl CloudConfig {
    /// Resolves a cloud the way `openstack` does: `cloud` (or `OS_CLOUD`) looked up in
    /// `clouds.yaml` + `secure.yaml` (from `OS_CLIENT_CONFIG_FILE`, `./`,
    /// `~/.config/openstack/`, `/etc/openstack/`), overlaid with `OS_*` variables; with
    /// no cloud name at all, from `OS_*` variables alone.
    pub fn resolve(cloud: Option<&str>) -> Result<CloudConfig, CloudsError> {
        Self::resolve_from(cloud, &CloudsSource::from_process())
    }

    /// [`CloudConfig::resolve`] with an explicit environment and search path.
    pub fn resolve_from(
        cloud: Option<&str>,
        source: &CloudsSource,
    ) -> Result<CloudConfig, CloudsError> {
        let clouds_candidates = source.candidates("OS_CLIENT_CONFIG_FILE", "clouds");
        let secure_candidates = source.candidates("OS_CLIENT_SECURE_FILE", "secure");
        let name = cloud
            .map(str::to_owned)
            .or_else(|| source.var("OS_CLOUD").map(str::to_owned));
        let env_overlay = env_overlay(source);
        let Some(name) = name else {
            if env_overlay
                .get("auth")
                .and_then(|a| a.get("auth_url"))
                .is_none()
            {
                log_searched(None, &clouds_candidates);
                return Err(CloudsError::NoCloud {
                    searched: clouds_candidates,
                });
            }
            return build(ENVVARS_CLOUD, &Value::Object(env_overlay));
        };
        if name == ENVVARS_CLOUD {
            return build(ENVVARS_CLOUD, &Value::Object(env_overlay));
        }
        let mut doc = read_first(&clouds_candidates)?.unwrap_or(Value::Object(Map::new()));
        if let Some(secure) = read_first(&secure_candidates)? {
            deep_merge(&mut doc, secure);
        }
        let clouds_len = clouds_candidates.len();
        let mut searched = clouds_candidates;
        searched.extend(secure_candidates);
        let read: Vec<PathBuf> = [&searched[..clouds_len], &searched[clouds_len..]]
            .iter()
            .filter_map(|c| c.iter().find(|p| p.is_file()).cloned())
            .collect();
        let in_files = |error| match error {
            CloudsError::WrongType { .. }
            | CloudsError::Missing { .. }
            | CloudsError::Unsupported { .. }
                if !read.is_empty() =>
            {
                CloudsError::InFiles {
                    files: read.clone(),
                    error: Box::new(error),
                }
            }
            other => other,
        };
        let mut entry = lookup_cloud(&doc, &name, searched, read.clone()).map_err(|e| {
            if let CloudsError::UnknownCloud { searched, .. } = &e {
                log_searched(Some(&name), searched);
            }
            in_files(e)
        })?;
        deep_merge(&mut entry, Value::Object(env_overlay));
        build(&name, &entry).map_err(in_files)
    }

    /// Loads cloud `name` from one explicit `clouds.yaml` file (tests, `--clouds-yaml`),
    /// with no `secure.yaml` and no `OS_*` overlay.
    pub fn from_clouds_yaml(path: &Path, name: &str) -> Result<CloudConfig, CloudsError> {
        let doc = read_file(path)?;
        let entry = lookup_cloud(
            &doc,
            name,
            vec![path.to_path_buf()],
            vec![path.to_path_buf()],
        )?;
        build(name, &entry)
    }

    /// The cloud's name as configured (`sim`, `mycloud`); `envvars` when from `OS_*` only.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Keystone's URL as configured (versioned or not).
    pub fn auth_url(&self) -> &str {
        &self.auth_url
    }

    /// How the session authenticates.
    pub fn auth(&self) -> &AuthMethod {
        &self.auth
    }

    /// Region to pick endpoints in (`None`: any).
    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    /// Endpoint interface (`public`, `internal`, `admin`).
    pub fn interface(&self) -> &str {
        &self.interface
    }

    /// Extra CA bundle to trust.
    pub fn cacert(&self) -> Option<&Path> {
        self.cacert.as_deref()
    }

    /// Whether TLS verification is switched off (explicitly, by `verify: false`,
    /// `insecure: true` or `OS_INSECURE`).
    pub fn insecure(&self) -> bool {
        self.insecure
    }

    /// Overrides the region (a target's `region`).
    pub fn set_region(&mut self, region: Option<String>) {
        if region.is_some() {
            self.region = region;
        }
    }

    /// Overrides the project a password token is scoped to (a target's `project`). An
    /// application credential's project is fixed, so this returns an error for one.
    pub fn set_project(
        &mut self,
        id: Option<String>,
        name: Option<String>,
    ) -> Result<(), CloudsError> {
        match &mut self.auth {
            AuthMethod::Password { project, .. } => {
                if id.is_some() || name.is_some() {
                    project.id = id;
                    project.name = name;
                }
                Ok(())
            }
            AuthMethod::ApplicationCredential { .. } => Err(CloudsError::Invalid(format!(
                "cloud \"{}\": an application credential is bound to its project; the project cannot be overridden",
                self.name
            ))),
        }
    }

    /// Who authenticates, for messages: user name/ID or application credential name/ID.
    pub fn who(&self) -> String {
        match &self.auth {
            AuthMethod::Password { user, .. } => format!("user {}", user.label()),
            AuthMethod::ApplicationCredential { id, name, .. } => {
                format!(
                    "application credential {}",
                    name.as_deref().or(id.as_deref()).unwrap_or("?")
                )
            }
        }
    }
}

/// Reads the first candidate that exists.
fn read_first(candidates: &[PathBuf]) -> Result<Option<Value>, CloudsError> {
    for path in candidates {
        if path.is_file() {
            return read_file(path).map(Some);
        }
    }
    Ok(None)
}

fn read_file(path: &Path) -> Result<Value, CloudsError> {
    let text = std::fs::read_to_string(path).map_err(|e| CloudsError::Read {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    let parse_error = |message: String| CloudsError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let doc: Value = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_str(&text).map_err(|e| {
            parse_error(format!(
                "line {} column {}: {}",
                e.line(),
                e.column(),
                e.classify_kind()
            ))
        })?
    } else if text.trim().is_empty() {
        Value::Object(Map::new())
    } else {
        // No snippet of the file in the message: it may hold a password.
        serde_saphyr::from_str(&text).map_err(|e| parse_error(e.without_snippet().to_string()))?
    };
    if !doc.is_object() {
        return Err(parse_error("the top level must be a mapping".into()));
    }
    Ok(doc)
}

/// A short word for a serde_json error kind (its message could quote the file).
trait ClassifyKind {
    fn classify_kind(&self) -> &'static str;
}

impl ClassifyKind for serde_json::Error {
    fn classify_kind(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "data error",
            serde_json::error::Category::Eof => "unexpected end of file",
        }
    }
}

/// Cloud `name` of the merged document; `searched` and `read` name the files in the
/// error when it is not there.
fn lookup_cloud(
    doc: &Value,
    name: &str,
    searched: Vec<PathBuf>,
    read: Vec<PathBuf>,
) -> Result<Value, CloudsError> {
    let clouds = match doc.get("clouds") {
        None => None,
        Some(Value::Object(map)) => Some(map),
        Some(_) => {
            return Err(CloudsError::WrongType {
                cloud: name.into(),
                key: "clouds".into(),
                expected: "a mapping",
            })
        }
    };
    match clouds.and_then(|c| c.get(name)) {
        Some(entry @ Value::Object(_)) => Ok(entry.clone()),
        Some(_) => Err(CloudsError::WrongType {
            cloud: name.into(),
            key: format!("clouds.{name}"),
            expected: "a mapping",
        }),
        None => {
            let mut available: Vec<String> = clouds
                .map(|c| c.keys().cloned().collect())
                .unwrap_or_default();
            available.sort();
            Err(CloudsError::UnknownCloud {
                name: name.into(),
                read,
                searched,
                available,
            })
        }
    }
}

/// Merges `over` into `base`: mappings key by key, anything else replaced.
fn deep_merge(base: &mut Value, over: Value) {
    match (base, over) {
        (Value::Object(base), Value::Object(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(slot) => deep_merge(slot, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (slot, value) => *slot = value,
    }
}

/// The `OS_*` variables as a clouds.yaml entry, to overlay on the named cloud (the CLI
/// passes them as argparse options, which win over the file).
fn env_overlay(source: &CloudsSource) -> Map<String, Value> {
    const AUTH_VARS: &[(&str, &str)] = &[
        ("OS_AUTH_URL", "auth_url"),
        ("OS_USERNAME", "username"),
        ("OS_USER_ID", "user_id"),
        ("OS_PASSWORD", "password"),
        ("OS_TENANT_NAME", "project_name"),
        ("OS_PROJECT_NAME", "project_name"),
        ("OS_TENANT_ID", "project_id"),
        ("OS_PROJECT_ID", "project_id"),
        ("OS_USER_DOMAIN_NAME", "user_domain_name"),
        ("OS_USER_DOMAIN_ID", "user_domain_id"),
        ("OS_PROJECT_DOMAIN_NAME", "project_domain_name"),
        ("OS_PROJECT_DOMAIN_ID", "project_domain_id"),
        ("OS_DOMAIN_NAME", "domain_name"),
        ("OS_DOMAIN_ID", "domain_id"),
        ("OS_APPLICATION_CREDENTIAL_ID", "application_credential_id"),
        (
            "OS_APPLICATION_CREDENTIAL_NAME",
            "application_credential_name",
        ),
        (
            "OS_APPLICATION_CREDENTIAL_SECRET",
            "application_credential_secret",
        ),
    ];
    const TOP_VARS: &[(&str, &str)] = &[
        ("OS_AUTH_TYPE", "auth_type"),
        ("OS_REGION_NAME", "region_name"),
        ("OS_ENDPOINT_TYPE", "interface"),
        ("OS_INTERFACE", "interface"),
        ("OS_CACERT", "cacert"),
        ("OS_INSECURE", "insecure"),
        ("OS_IDENTITY_API_VERSION", "identity_api_version"),
    ];
    let mut auth = Map::new();
    for (var, key) in AUTH_VARS {
        if let Some(v) = source.var(var) {
            auth.insert((*key).into(), Value::String(v.into()));
        }
    }
    let mut top = Map::new();
    for (var, key) in TOP_VARS {
        if let Some(v) = source.var(var) {
            top.insert((*key).into(), Value::String(v.into()));
        }
    }
    if !auth.is_empty() {
        top.insert("auth".into(), Value::Object(auth));
    }
    top
}

/// Reads typed values out of one cloud's merged entry, naming the key on a wrong type.
struct Entry<'a> {
    cloud: &'a str,
    root: &'a Value,
}

impl Entry<'_> {
    fn wrong(&self, key: &str, expected: &'static str) -> CloudsError {
        CloudsError::WrongType {
            cloud: self.cloud.into(),
            key: key.into(),
            expected,
        }
    }

    fn raw(&self, key: &str) -> Option<&Value> {
        key.split('.')
            .try_fold(self.root, |v, part| v.get(part))
            .filter(|v| !v.is_null())
    }

    /// A string; numbers are accepted as their text (YAML reads `project_id: 1234` as one).
    fn string(&self, key: &str) -> Result<Option<String>, CloudsError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(_) => Err(self.wrong(key, "a string")),
        }
    }

    /// A boolean; the strings the CLI accepts from the environment count too.
    fn boolean(&self, key: &str) -> Result<Option<bool>, CloudsError> {
        match self.raw(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(Value::String(s)) => match s.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Ok(Some(true)),
                "false" | "no" | "0" | "off" | "" => Ok(Some(false)),
                _ => Err(self.wrong(key, "true or false")),
            },
            Some(_) => Err(self.wrong(key, "true or false")),
        }
    }

    fn secret(&self, key: &str) -> Result<Option<SecretString>, CloudsError> {
        Ok(self.string(key)?.map(SecretString::from))
    }

    fn domain(&self, prefix: &str, fallback: &DomainRef) -> Result<DomainRef, CloudsError> {
        let id = self.string(&format!("auth.{prefix}_domain_id"))?;
        let name = self.string(&format!("auth.{prefix}_domain_name"))?;
        if id.is_none() && name.is_none() {
            return Ok(fallback.clone());
        }
        Ok(DomainRef { id, name })
    }

    fn missing(&self, what: &str) -> CloudsError {
        CloudsError::Missing {
            cloud: self.cloud.into(),
            what: what.into(),
        }
    }
}

fn build(name: &str, root: &Value) -> Result<CloudConfig, CloudsError> {
    let e = Entry { cloud: name, root };
    if let Some(auth) = root.get("auth") {
        if !auth.is_object() && !auth.is_null() {
            return Err(e.wrong("auth", "a mapping"));
        }
    }
    if let Some(version) = e.string("identity_api_version")? {
        if !matches!(version.as_str(), "3" | "3.0") {
            return Err(CloudsError::Unsupported {
                cloud: name.into(),
                key: "identity_api_version".into(),
                value: version,
                supported: "only Keystone v3",
            });
        }
    }
    let auth_url = e
        .string("auth.auth_url")?
        .ok_or_else(|| e.missing("auth.auth_url (or OS_AUTH_URL)"))?;
    // `domain_*` stands for both user and project domain when those are not given
    // (openstacksdk does this); the CLI's default domain is `default`.
    let default_domain = DomainRef {
        id: Some("default".into()),
        name: None,
    };
    let shared_id = e.string("auth.domain_id")?;
    let shared_name = e.string("auth.domain_name")?;
    let shared = if shared_id.is_some() || shared_name.is_some() {
        DomainRef {
            id: shared_id,
            name: shared_name,
        }
    } else {
        default_domain
    };
    let user_domain = e.domain("user", &shared)?;
    let user_id = e.string("auth.user_id")?;
    let username = e.string("auth.username")?;
    let user = (user_id.is_some() || username.is_some()).then_some(UserRef {
        id: user_id,
        name: username,
        domain: user_domain,
    });

    let app_secret = e.secret("auth.application_credential_secret")?;
    let auth_type = match e.string("auth_type")? {
        Some(t) => t,
        None if app_secret.is_some() => "v3applicationcredential".into(),
        None => "password".into(),
    };
    let auth = match auth_type.as_str() {
        "password" | "v3password" => {
            let user = user.ok_or_else(|| {
                e.missing("auth.username or auth.user_id (or OS_USERNAME / OS_USER_ID)")
            })?;
            let password = e
                .secret("auth.password")?
                .ok_or_else(|| e.missing("auth.password (or OS_PASSWORD, or secure.yaml)"))?;
            let project_id = e.string("auth.project_id")?;
            let project_name = e.string("auth.project_name")?;
            if project_id.is_none() && project_name.is_none() {
                return Err(e.missing(
                    "auth.project_name or auth.project_id (or OS_PROJECT_NAME / OS_PROJECT_ID)",
                ));
            }
            let project = ProjectScope {
                id: project_id,
                name: project_name,
                domain: e.domain("project", &shared)?,
            };
            AuthMethod::Password {
                user,
                password,
                project,
            }
        }
        "v3applicationcredential" | "applicationcredential" | "v3_application_credential" => {
            let secret = app_secret.ok_or_else(|| {
                e.missing("auth.application_credential_secret (or OS_APPLICATION_CREDENTIAL_SECRET, or secure.yaml)")
            })?;
            let id = e.string("auth.application_credential_id")?;
            let cred_name = e.string("auth.application_credential_name")?;
            if id.is_none() {
                if cred_name.is_none() {
                    return Err(
                        e.missing("auth.application_credential_id (or a name with its user)")
                    );
                }
                if user.is_none() {
                    return Err(e.missing("auth.username or auth.user_id (an application credential given by name needs its user)"));
                }
            }
            AuthMethod::ApplicationCredential {
                id,
                name: cred_name,
                user,
                secret,
            }
        }
        other => {
            return Err(CloudsError::Unsupported {
                cloud: name.into(),
                key: "auth_type".into(),
                value: other.into(),
                supported: "password, v3password, v3applicationcredential, applicationcredential",
            })
        }
    };

    let region = match e.string("region_name")? {
        Some(r) => Some(r),
        None => first_region(&e)?,
    };
    let interface = match e.string("interface")? {
        None => "public".to_owned(),
        // `publicURL` is the v2-era spelling the CLI still accepts.
        Some(i) => i.trim_end_matches("URL").to_ascii_lowercase(),
    };
    if !matches!(interface.as_str(), "public" | "internal" | "admin") {
        return Err(CloudsError::Unsupported {
            cloud: name.into(),
            key: "interface".into(),
            value: interface,
            supported: "public, internal, admin",
        });
    }
    let mut cacert = e.string("cacert")?.map(PathBuf::from);
    // `verify` is true, false, or (as in openstacksdk) a CA bundle path.
    let verify = match e.raw("verify") {
        Some(Value::String(s))
            if !matches!(
                s.to_ascii_lowercase().as_str(),
                "true" | "false" | "yes" | "no" | "1" | "0"
            ) =>
        {
            cacert.get_or_insert_with(|| PathBuf::from(s));
            true
        }
        _ => e.boolean("verify")?.unwrap_or(true),
    };
    let insecure = e.boolean("insecure")?.unwrap_or(false) || !verify;
    Ok(CloudConfig {
        name: name.into(),
        auth_url,
        auth,
        region,
        interface,
        cacert,
        insecure,
    })
}

/// `regions: [a, b]` or `regions: [{name: a}]` with no `region_name`: the first one, as
/// the CLI picks it.
fn first_region(e: &Entry<'_>) -> Result<Option<String>, CloudsError> {
    match e.raw("regions") {
        None => Ok(None),
        Some(Value::Array(list)) => match list.first() {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(obj @ Value::Object(_)) => match obj.get("name") {
                Some(Value::String(s)) => Ok(Some(s.clone())),
                _ => Err(e.wrong("regions[0].name", "a string")),
            },
            Some(_) => Err(e.wrong("regions[0]", "a string or a mapping with `name`")),
        },
        Some(_) => Err(e.wrong("regions", "a list")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const CLOUDS: &str = r#"
clouds:
  mycloud:
    auth:
      auth_url: https://keystone.example:5000/v3
      username: ci
      project_name: ci-project
      user_domain_name: Default
      project_domain_id: default
    region_name: RegionOne
  appcred:
    auth_type: v3applicationcredential
    auth:
      auth_url: https://keystone.example:5000
      application_credential_id: "abc123"
      application_credential_secret: "s3cret-app"
    interface: internal
    verify: false
  bad:
    auth:
      auth_url: https://k
      username: [not, a, string]
"#;
    const SECURE: &str = "clouds:\n  mycloud:\n    auth:\n      password: hunter2-secure\n";

    fn setup(env: &[(&str, &str)], secure: bool) -> (tempfile::TempDir, CloudsSource) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("clouds.yaml"), CLOUDS).unwrap();
        if secure {
            std::fs::write(dir.path().join("secure.yaml"), SECURE).unwrap();
        }
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let source = CloudsSource::new(env, vec![dir.path().to_path_buf()]);
        (dir, source)
    }

    /// secure.yaml's password is merged into the clouds.yaml entry.
    #[test]
    fn secure_yaml_merges() {
        let (_dir, source) = setup(&[], true);
        let cloud = CloudConfig::resolve_from(Some("mycloud"), &source).unwrap();
        let AuthMethod::Password {
            user,
            password,
            project,
        } = cloud.auth()
        else {
            panic!("password auth")
        };
        assert_eq!(password.expose_secret(), "hunter2-secure");
        assert_eq!(user.name.as_deref(), Some("ci"));
        assert_eq!(user.domain.name.as_deref(), Some("Default"));
        assert_eq!(project.name.as_deref(), Some("ci-project"));
        assert_eq!(project.domain.id.as_deref(), Some("default"));
        assert_eq!(cloud.region(), Some("RegionOne"));
        assert_eq!(cloud.interface(), "public");
        assert!(!cloud.insecure());
    }

    /// OS_CLOUD names the cloud and OS_* variables overlay it, as the CLI does.
    #[test]
    fn os_cloud_and_env_overlay() {
        let (_dir, source) = setup(
            &[
                ("OS_CLOUD", "mycloud"),
                ("OS_PASSWORD", "from-env"),
                ("OS_REGION_NAME", "RegionTwo"),
                ("OS_PROJECT_NAME", ""),
            ],
            true,
        );
        let cloud = CloudConfig::resolve_from(None, &source).unwrap();
        assert_eq!(cloud.name(), "mycloud");
        assert_eq!(cloud.region(), Some("RegionTwo"));
        let AuthMethod::Password {
            password, project, ..
        } = cloud.auth()
        else {
            panic!()
        };
        assert_eq!(password.expose_secret(), "from-env");
        assert_eq!(
            project.name.as_deref(),
            Some("ci-project"),
            "an empty variable is unset"
        );
    }

    /// With no cloud named, OS_* variables alone make the `envvars` cloud.
    #[test]
    fn envvars_alone() {
        let (_dir, source) = setup(
            &[
                ("OS_AUTH_URL", "http://k:5000"),
                ("OS_USERNAME", "u"),
                ("OS_PASSWORD", "p"),
                ("OS_TENANT_NAME", "t"),
                ("OS_DOMAIN_NAME", "dom"),
                ("OS_INTERFACE", "internalURL"),
                ("OS_INSECURE", "true"),
            ],
            false,
        );
        let cloud = CloudConfig::resolve_from(None, &source).unwrap();
        assert_eq!(cloud.name(), ENVVARS_CLOUD);
        assert_eq!(cloud.interface(), "internal");
        assert!(cloud.insecure());
        let AuthMethod::Password { user, project, .. } = cloud.auth() else {
            panic!()
        };
        assert_eq!(
            user.domain.name.as_deref(),
            Some("dom"),
            "domain_name stands for the user domain"
        );
        assert_eq!(project.domain.name.as_deref(), Some("dom"));
        assert_eq!(project.name.as_deref(), Some("t"));
    }

    /// Application credentials: the auth type, ID and secret, interface and `verify: false`.
    #[test]
    fn application_credential() {
        let (_dir, source) = setup(&[], false);
        let cloud = CloudConfig::resolve_from(Some("appcred"), &source).unwrap();
        let AuthMethod::ApplicationCredential { id, secret, .. } = cloud.auth() else {
            panic!()
        };
        assert_eq!(id.as_deref(), Some("abc123"));
        assert_eq!(secret.expose_secret(), "s3cret-app");
        assert_eq!(cloud.interface(), "internal");
        assert!(cloud.insecure());
        // Inferred from the secret when auth_type is absent.
        let source = CloudsSource::new(
            [
                ("OS_AUTH_URL", "http://k"),
                ("OS_APPLICATION_CREDENTIAL_ID", "i"),
                ("OS_APPLICATION_CREDENTIAL_SECRET", "s"),
            ]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            vec![],
        );
        assert!(matches!(
            CloudConfig::resolve_from(None, &source).unwrap().auth(),
            AuthMethod::ApplicationCredential { .. }
        ));
    }

    /// An unknown cloud names itself, the files searched and the clouds that exist.
    #[test]
    fn unknown_cloud_error() {
        let (dir, source) = setup(&[], false);
        let err = CloudConfig::resolve_from(Some("nope"), &source)
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"nope\""), "{err}");
        assert!(
            err.contains(&dir.path().join("clouds.yaml").display().to_string()),
            "{err}"
        );
        assert!(err.contains("appcred, bad, mycloud"), "{err}");
        // Only the files read are named, not the dozen paths looked at.
        assert!(!err.contains("/etc/openstack"), "{err}");
        assert!(!err.contains("clouds.json"), "{err}");
        let none = CloudsSource::new(HashMap::new(), vec![dir.path().join("empty")]);
        let err = CloudConfig::resolve_from(Some("nope"), &none).unwrap_err();
        let CloudsError::UnknownCloud { read, searched, .. } = &err else {
            panic!("{err:?}")
        };
        assert!(read.is_empty() && !searched.is_empty());
        let text = err.to_string();
        assert!(text.contains("no clouds.yaml found"), "{text}");
        assert!(text.contains("-v"), "{text}");
        assert!(!text.contains(&dir.path().display().to_string()), "{text}");
    }

    /// A wrong type names the key and the file; a missing password says where it may
    /// come from.
    #[test]
    fn wrong_type_and_missing() {
        let (dir, source) = setup(&[], false);
        let err = CloudConfig::resolve_from(Some("bad"), &source)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`auth.username` must be a string"), "{err}");
        let file = dir.path().join("clouds.yaml").display().to_string();
        assert!(err.contains(&file), "{err}");
        let err = CloudConfig::resolve_from(Some("mycloud"), &source)
            .unwrap_err()
            .to_string();
        assert!(err.contains("auth.password"), "{err}");
        let none = CloudsSource::new(HashMap::new(), vec![]);
        assert!(matches!(
            CloudConfig::resolve_from(None, &none),
            Err(CloudsError::NoCloud { .. })
        ));
    }

    /// OS_CLIENT_CONFIG_FILE wins over the directories; from_clouds_yaml reads one file.
    #[test]
    fn config_file_override() {
        let (dir, _) = setup(&[], true);
        let other = dir.path().join("other.yaml");
        std::fs::write(&other, "clouds:\n  only:\n    auth: {auth_url: 'http://x', user_id: u1, password: p, project_id: 42}\n").unwrap();
        let source = CloudsSource::new(
            [(
                "OS_CLIENT_CONFIG_FILE".to_string(),
                other.display().to_string(),
            )]
            .into(),
            vec![dir.path().to_path_buf()],
        );
        let cloud = CloudConfig::resolve_from(Some("only"), &source).unwrap();
        let AuthMethod::Password { project, .. } = cloud.auth() else {
            panic!()
        };
        assert_eq!(
            project.id.as_deref(),
            Some("42"),
            "a number reads as its text"
        );
        assert!(CloudConfig::from_clouds_yaml(&other, "only").is_ok());
        assert!(matches!(
            CloudConfig::from_clouds_yaml(&other, "mycloud"),
            Err(CloudsError::UnknownCloud { .. })
        ));
    }

    /// OS_CLIENT_SECURE_FILE names the secure file; `envvars` by name means OS_* only.
    #[test]
    fn secure_file_override_and_envvars_by_name() {
        let (dir, _) = setup(&[], false);
        let secure = dir.path().join("elsewhere.yaml");
        std::fs::write(&secure, SECURE).unwrap();
        let env = [
            (
                "OS_CLIENT_SECURE_FILE".to_string(),
                secure.display().to_string(),
            ),
            ("OS_AUTH_URL".to_string(), "http://env:5000".to_string()),
            ("OS_USERNAME".to_string(), "envuser".to_string()),
            ("OS_PASSWORD".to_string(), "envpass".to_string()),
            ("OS_PROJECT_ID".to_string(), "envproj".to_string()),
        ];
        let source = CloudsSource::new(env.into_iter().collect(), vec![dir.path().to_path_buf()]);
        let cloud = CloudConfig::resolve_from(Some(ENVVARS_CLOUD), &source).unwrap();
        assert_eq!(cloud.auth_url(), "http://env:5000");
        // With the named cloud, the env overlays it, secure.yaml included underneath.
        let named = CloudConfig::resolve_from(Some("mycloud"), &source).unwrap();
        assert_eq!(named.auth_url(), "http://env:5000");
        let AuthMethod::Password {
            password, project, ..
        } = named.auth()
        else {
            panic!()
        };
        assert_eq!(password.expose_secret(), "envpass");
        assert_eq!(project.id.as_deref(), Some("envproj"));
        assert_eq!(
            project.name.as_deref(),
            Some("ci-project"),
            "kept from clouds.yaml"
        );
        let without_env = CloudsSource::new(
            [(
                "OS_CLIENT_SECURE_FILE".to_string(),
                secure.display().to_string(),
            )]
            .into(),
            vec![dir.path().to_path_buf()],
        );
        let AuthMethod::Password { password, .. } =
            CloudConfig::resolve_from(Some("mycloud"), &without_env)
                .unwrap()
                .auth()
                .clone()
        else {
            panic!()
        };
        assert_eq!(password.expose_secret(), "hunter2-secure");
    }

    /// Unsupported auth types and identity versions are refused by name.
    #[test]
    fn unsupported_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clouds.yaml");
        std::fs::write(&path, "clouds:\n  t:\n    auth_type: token\n    auth: {auth_url: 'http://x', token: abc}\n  v2:\n    identity_api_version: 2\n    auth: {auth_url: 'http://x'}\n").unwrap();
        assert!(CloudConfig::from_clouds_yaml(&path, "t")
            .unwrap_err()
            .to_string()
            .contains("`auth_type` = \"token\""));
        assert!(CloudConfig::from_clouds_yaml(&path, "v2")
            .unwrap_err()
            .to_string()
            .contains("identity_api_version"));
    }

    /// `verify: <path>` is a CA bundle (as in openstacksdk); `regions` gives the first region.
    #[test]
    fn verify_path_and_regions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clouds.yaml");
        std::fs::write(
            &path,
            "clouds:\n  c:\n    verify: /etc/ssl/ca.pem\n    regions: [{name: R2}, R3]\n    auth: {auth_url: 'https://x', username: u, password: p, project_id: q}\n  d:\n    verify: maybe-not\n    insecure: 7\n    auth: {auth_url: 'https://x', username: u, password: p, project_id: q}\n",
        )
        .unwrap();
        let c = CloudConfig::from_clouds_yaml(&path, "c").unwrap();
        assert_eq!(c.cacert(), Some(Path::new("/etc/ssl/ca.pem")));
        assert!(!c.insecure());
        assert_eq!(c.region(), Some("R2"));
        let err = CloudConfig::from_clouds_yaml(&path, "d")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`insecure` must be true or false"), "{err}");
    }

    /// Debug of a config and of a source never shows a password or secret.
    #[test]
    fn debug_is_redacted() {
        let (_dir, source) = setup(&[("OS_PASSWORD", "env-pass-xyz")], true);
        let cloud = CloudConfig::resolve_from(Some("mycloud"), &source).unwrap();
        let app = CloudConfig::resolve_from(Some("appcred"), &source).unwrap();
        let text = format!("{cloud:?} {app:?} {source:?}");
        for secret in ["env-pass-xyz", "s3cret-app", "hunter2-secure"] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("REDACTED"));
    }

    /// A YAML syntax error is reported without quoting the file.
    #[test]
    fn parse_error_has_no_snippet() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clouds.yaml");
        std::fs::write(&path, "clouds:\n  x:\n    auth: {password: topsecret-123\n").unwrap();
        let err = CloudConfig::from_clouds_yaml(&path, "x")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("cannot parse"), "{err}");
        assert!(!err.contains("topsecret-123"), "{err}");
    }
}
