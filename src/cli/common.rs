//! What several subcommands share: the selector flags, turning a config's selector into
//! the engine's, and connecting to a target's cloud.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;

use crate::config::{self, Config, KnownNames, RawConfig, RawSelect, RawTarget, SelectSpec};
use crate::openstack::{
    AuthMethod, CloudConfig, RequestObserver, RetryPolicy, Session, SessionOptions, ENVVARS_CLOUD,
};
use crate::resources::Kind;
use crate::select::{self, Filters, Marks, Selector};

/// Selector flags, shared by `sweep` and `daemon`. Given with `--config`, each flag that is
/// set overrides the same key of every target's selector.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct SelectFlags {
    /// Ours when it has this tag; repeat: ours when it has all of them.
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// Ours when it has this tag; repeat: any one of them is enough.
    #[arg(long = "any-tag", value_name = "TAG")]
    pub any_tags: Vec<String>,
    /// Ours when its metadata/properties has KEY=VALUE (volumes and snapshots have no tags).
    #[arg(long = "metadata", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub metadata: Vec<(String, String)>,
    /// Ours when its name matches (floating IPs: their description).
    #[arg(long, value_name = "REGEX")]
    pub name_regex: Option<String>,
    /// A preset set of marks: kubespray, terraform, cluster-api-openstack, cloud-provider-openstack, cinder-csi.
    #[arg(long = "preset", value_name = "NAME")]
    pub presets: Vec<String>,
    /// Never when it has this tag (keep marker); repeatable.
    #[arg(long = "not-tag", value_name = "TAG")]
    pub not_tags: Vec<String>,
    /// Only resources older than this (e.g. 6h, 30m, 1d).
    #[arg(long, value_name = "DURATION")]
    pub older_than: Option<String>,
    /// Only these kinds (repeatable): server, port, volume, ...
    #[arg(long = "kind", value_name = "KIND")]
    pub kinds: Vec<String>,
    /// Never these kinds (repeatable).
    #[arg(long = "exclude-kind", value_name = "KIND")]
    pub exclude_kinds: Vec<String>,
}

fn parse_key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got {text:?}")),
    }
}

fn some_if_set<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

impl SelectFlags {
    /// The flags as selector keys; unset flags are `None` so they do not override.
    pub fn to_raw(&self) -> RawSelect {
        RawSelect {
            presets: some_if_set(self.presets.clone()),
            tags: some_if_set(self.tags.clone()),
            any_tags: some_if_set(self.any_tags.clone()),
            metadata: some_if_set(self.metadata.clone()).map(|m| m.into_iter().collect()),
            name_regex: self.name_regex.clone(),
            not_tags: some_if_set(self.not_tags.clone()),
            older_than: self.older_than.clone(),
            kinds: some_if_set(self.kinds.clone()),
            exclude_kinds: some_if_set(self.exclude_kinds.clone()),
        }
    }

    /// Whether any selector flag is set.
    pub fn any_set(&self) -> bool {
        let raw = self.to_raw();
        raw.presets.is_some()
            || raw.tags.is_some()
            || raw.any_tags.is_some()
            || raw.metadata.is_some()
            || raw.name_regex.is_some()
            || raw.not_tags.is_some()
            || raw.older_than.is_some()
            || raw.kinds.is_some()
            || raw.exclude_kinds.is_some()
    }
}

/// Overlays `flags` on `base`: each flag that is set wins.
pub fn overlay_select(flags: &RawSelect, base: &RawSelect) -> RawSelect {
    RawSelect {
        presets: flags.presets.clone().or_else(|| base.presets.clone()),
        tags: flags.tags.clone().or_else(|| base.tags.clone()),
        any_tags: flags.any_tags.clone().or_else(|| base.any_tags.clone()),
        metadata: flags.metadata.clone().or_else(|| base.metadata.clone()),
        name_regex: flags.name_regex.clone().or_else(|| base.name_regex.clone()),
        not_tags: flags.not_tags.clone().or_else(|| base.not_tags.clone()),
        older_than: flags.older_than.clone().or_else(|| base.older_than.clone()),
        kinds: flags.kinds.clone().or_else(|| base.kinds.clone()),
        exclude_kinds: flags
            .exclude_kinds
            .clone()
            .or_else(|| base.exclude_kinds.clone()),
    }
}

/// The engine's preset and kind names, for validating configs.
pub fn with_known_names<R>(f: impl FnOnce(KnownNames<'_>) -> R) -> R {
    let kinds: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
    f(KnownNames {
        presets: select::PRESETS,
        kinds: &kinds,
    })
}

/// Reads the raw config file, or an empty one.
pub fn read_raw_config(path: Option<&PathBuf>) -> anyhow::Result<RawConfig> {
    let Some(path) = path else {
        return Ok(RawConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {}", path.display(), e.to_string().trim_end()))
}

/// Validates a raw config, naming its origin in the error.
pub fn validate(raw: RawConfig, origin: &str) -> Result<Config, config::ConfigError> {
    with_known_names(|known| raw.validate(known)).map_err(|problems| config::ConfigError::Invalid {
        path: origin.to_owned(),
        problems,
    })
}

/// A target named only on the command line (`--cloud`, else `OS_CLOUD`, else `OS_*`).
pub fn flag_target(cloud: Option<&str>) -> RawTarget {
    let cloud = cloud
        .map(str::to_owned)
        .or_else(|| std::env::var("OS_CLOUD").ok().filter(|c| !c.is_empty()))
        .unwrap_or_else(|| ENVVARS_CLOUD.to_owned());
    RawTarget {
        cloud: Some(cloud),
        ..RawTarget::default()
    }
}

/// Turns a validated selector into the engine's.
pub fn build_selector(spec: &SelectSpec) -> anyhow::Result<Selector> {
    let mut marks = Marks {
        all_tags: spec.tags.clone(),
        any_tags: spec.any_tags.clone(),
        metadata: spec.metadata.clone(),
        name_regex: spec.name_regex.clone(),
    };
    for name in &spec.presets {
        let preset = select::preset(name).with_context(|| format!("unknown preset {name:?}"))?;
        marks.merge(preset);
    }
    let kinds = |names: &[String]| -> anyhow::Result<Vec<Kind>> {
        names
            .iter()
            .map(|n| {
                n.parse::<Kind>()
                    .map_err(|_| anyhow::anyhow!("unknown kind {n:?}"))
            })
            .collect()
    };
    let filters = Filters {
        older_than: spec.older_than,
        keep_tags: spec.not_tags.clone(),
        include_kinds: kinds(&spec.kinds)?,
        exclude_kinds: kinds(&spec.exclude_kinds)?,
        protect: spec.protect.clone(),
    };
    Ok(Selector::new(marks, filters)?)
}

/// Session options from the config's retry section.
pub fn session_options(
    retry: &config::Retry,
    observer: Option<Arc<dyn RequestObserver>>,
) -> SessionOptions {
    SessionOptions {
        retry: RetryPolicy {
            base_delay: retry.base_delay,
            max_delay: retry.max_delay,
            deadline: retry.deadline,
        },
        concurrency_per_service: retry.concurrency,
        requests_per_second: retry.requests_per_second,
        observer,
        ..SessionOptions::default()
    }
}

/// Resolves a target's credentials (clouds.yaml / `OS_*`) with its overrides.
pub fn cloud_config(target: &config::Target) -> anyhow::Result<CloudConfig> {
    // `envvars` is resolved by name too: the OS_* variables alone, even when OS_CLOUD is set.
    let mut cloud = CloudConfig::resolve(Some(target.cloud.as_str())).with_context(|| {
        format!(
            "target {:?}: cannot resolve cloud {:?}",
            target.name, target.cloud
        )
    })?;
    cloud.set_region(target.region.clone());
    if let Some(project) = &target.project {
        // Keystone project IDs are 32 hex digits; anything else is a name.
        let is_id = project.len() == 32 && project.chars().all(|c| c.is_ascii_hexdigit());
        let (id, name) = if is_id {
            (Some(project.clone()), None)
        } else {
            (None, Some(project.clone()))
        };
        cloud
            .set_project(id, name)
            .with_context(|| format!("target {:?}: cannot override the project", target.name))?;
    }
    Ok(cloud)
}

/// Connects to a target's cloud, checking the projects allow-list.
pub async fn connect(
    config: &Config,
    target: &config::Target,
    observer: Option<Arc<dyn RequestObserver>>,
) -> anyhow::Result<Session> {
    let cloud = cloud_config(target)?;
    let project_name = match cloud.auth() {
        AuthMethod::Password { project, .. } => project.name.clone(),
        AuthMethod::ApplicationCredential { .. } => None,
    };
    let session = Session::connect(&cloud, session_options(&config.retry, observer))
        .await
        .with_context(|| {
            format!(
                "target {:?}: cannot authenticate to cloud {:?}",
                target.name, target.cloud
            )
        })?;
    let allowed = &config.safety.projects;
    if !allowed.is_empty()
        && !allowed
            .iter()
            .any(|p| p == session.project_id() || Some(p) == project_name.as_ref())
    {
        anyhow::bail!(
            "target {:?}: project {} is not in safety.projects ({}); refusing to sweep it",
            target.name,
            session.project_id(),
            allowed.join(", ")
        );
    }
    Ok(session)
}
