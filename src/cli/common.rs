//! What several subcommands share: the selector flags, reading and validating a config,
//! and a target named only on the command line.

use std::path::PathBuf;

use anyhow::Context;

use stacksweep::config::{self, Config, RawConfig, RawSelect, RawTarget};
use stacksweep::openstack::ENVVARS_CLOUD;

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
    /// A preset set of marks: kubespray, terraform, cluster-api-openstack, cloud-provider-openstack, cinder-csi, openshift=<infraID>.
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
    raw.validate()
        .map_err(|problems| config::ConfigError::Invalid {
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
