//! Selection: which resources are ours to delete. **Marks** say "this is ours" (tags,
//! metadata, a name pattern); **filters** then narrow, all of them (age, keep-tags,
//! kinds, the protect list, never the `default` security group, never another
//! project's resource). Every resource gets a [`Verdict`] with a human reason; the
//! [`Selection`] judges a resource again on its state as read right before its delete.
//! [`Selector::unanchored_matches`] finds the names an unanchored `name_regex` matches
//! past their start, for `check-config`'s warning.

use std::collections::BTreeMap;
use std::time::Duration;

use jiff::Timestamp;
use regex::Regex;
use serde::Serialize;

use crate::engine::inventory::Inventory;
use crate::resources::{Kind, Resource, ResourceKey};

/// The marks that say a resource is ours. A resource carries a mark only when the mark
/// can exist on its kind.
#[derive(Debug, Clone, Default)]
pub struct Marks {
    /// One mark: the resource has every one of these tags.
    pub all_tags: Vec<String>,
    /// Each one a mark: the resource has this tag.
    pub any_tags: Vec<String>,
    /// Each one a mark: metadata (image: property) `key` equals `value`; a value of `*`
    /// matches any value of the key.
    pub metadata: Vec<(String, String)>,
    /// One mark: the name (a floating IP's description) matches.
    pub name_regex: Option<Regex>,
    /// One mark: the description matches (presets only: Cluster API describes the ports
    /// and trunks it creates `Created by cluster-api-provider-openstack cluster …`).
    pub description_regex: Option<Regex>,
}

impl Marks {
    /// Whether no mark at all is given.
    pub fn is_empty(&self) -> bool {
        self.all_tags.is_empty()
            && self.any_tags.is_empty()
            && self.metadata.is_empty()
            && self.name_regex.is_none()
            && self.description_regex.is_none()
    }

    /// Adds `other`'s marks. Name patterns combine as alternatives; `all_tags` sets
    /// combine as one larger set, which is why presets never use them.
    pub fn merge(&mut self, other: Marks) {
        for tag in other.all_tags {
            push_unique(&mut self.all_tags, tag);
        }
        for tag in other.any_tags {
            push_unique(&mut self.any_tags, tag);
        }
        for pair in other.metadata {
            if !self.metadata.contains(&pair) {
                self.metadata.push(pair);
            }
        }
        self.name_regex = either(self.name_regex.take(), other.name_regex);
        self.description_regex = either(self.description_regex.take(), other.description_regex);
    }

    /// The first mark `r` carries, described (`tag ci-123`), if any.
    fn first_carried(&self, r: &Resource) -> Option<String> {
        if r.kind.has_tags() {
            if !self.all_tags.is_empty() && self.all_tags.iter().all(|t| r.tags.contains(t)) {
                return Some(format!("tags {}", self.all_tags.join("+")));
            }
            if let Some(tag) = self.any_tags.iter().find(|t| r.tags.contains(t)) {
                return Some(format!("tag {tag}"));
            }
        }
        if r.kind.has_metadata() {
            for (key, value) in &self.metadata {
                if r.metadata
                    .get(key)
                    .is_some_and(|v| value == "*" || v == value)
                {
                    return Some(format!("metadata {key}={value}"));
                }
            }
        }
        if let Some(re) = &self.name_regex {
            let name = mark_name(r);
            if !name.is_empty() && re.is_match(name) {
                return Some(format!("name {name}"));
            }
        }
        if let Some(re) = &self.description_regex {
            if !r.description.is_empty() && re.is_match(&r.description) {
                return Some(format!("description {}", r.description));
            }
        }
        None
    }

    /// Whether any given mark can exist on `kind`.
    fn can_mark(&self, kind: Kind) -> bool {
        (kind.has_tags() && (!self.all_tags.is_empty() || !self.any_tags.is_empty()))
            || (kind.has_metadata() && !self.metadata.is_empty())
            || self.name_regex.is_some()
            || self.description_regex.is_some()
    }
}

/// Two patterns as alternatives.
fn either(a: Option<Regex>, b: Option<Regex>) -> Option<Regex> {
    match (a, b) {
        (None, b) => b,
        (a, None) => a,
        (Some(a), Some(b)) => {
            let joined = format!("(?:{})|(?:{})", a.as_str(), b.as_str());
            // Both compiled on their own, so their alternation compiles too; keep the
            // first should the size limit object.
            Some(Regex::new(&joined).unwrap_or(a))
        }
    }
}

fn push_unique(list: &mut Vec<String>, item: String) {
    if !list.contains(&item) {
        list.push(item);
    }
}

/// The text a name pattern is matched against: floating IPs have no name, their
/// description stands in.
fn mark_name(r: &Resource) -> &str {
    if r.kind.named_by_description() {
        &r.description
    } else {
        &r.name
    }
}

/// Names of the built-in presets.
pub const PRESETS: &[&str] = &[
    "kubespray",
    "terraform",
    "cluster-api-openstack",
    "cloud-provider-openstack",
    "cinder-csi",
];

/// The built-in presets that take a value (`NAME=VALUE`), as they are written.
pub const PRESETS_WITH_VALUE: &[&str] = &["openshift=<infraID>"];

/// Why a preset given in the config or on the command line cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresetError {
    /// No such preset.
    #[error("unknown preset {0:?}; known presets: {known}", known = PRESETS.iter().chain(PRESETS_WITH_VALUE).copied().collect::<Vec<_>>().join(", "))]
    Unknown(String),
    /// A preset that needs a value was given none.
    #[error("preset {0:?} needs a value: {0}=<infraID> (the cluster's infrastructure ID)")]
    NeedsValue(String),
    /// A preset that takes no value was given one, or the value is not a plain name.
    #[error("preset {0:?}: {1}")]
    BadValue(String, String),
}

/// A preset as written (`cinder-csi`, `openshift=mycluster-x7k2p`): its marks.
pub fn resolve_preset(spec: &str) -> Result<Marks, PresetError> {
    let (name, value) = match spec.split_once('=') {
        Some((name, value)) => (name.trim(), Some(value.trim())),
        None => (spec.trim(), None),
    };
    match (name, value) {
        ("openshift", None) => Err(PresetError::NeedsValue(name.into())),
        ("openshift", Some(id)) => {
            openshift(id).map_err(|why| PresetError::BadValue(spec.into(), why))
        }
        (_, Some(_)) if PRESETS.contains(&name) => Err(PresetError::BadValue(
            spec.into(),
            "this preset takes no value".into(),
        )),
        _ => preset(name).ok_or_else(|| PresetError::Unknown(spec.into())),
    }
}

/// The OpenShift installer's marks for the cluster with infrastructure ID `id`: the
/// `openshiftClusterID=<id>` tag it puts on Neutron (and Nova) resources and the
/// `openshiftClusterID` metadata of its servers and its RHCOS image; the cluster ID its
/// Cinder and Manila CSI drivers put in volume, snapshot, backup and share metadata;
/// names `<id>-…` (servers, ports, networks, security groups, the image registry's
/// Swift container `<id>-image-registry-…`) and `kube_service_<id>_…` (the cloud
/// provider's load balancers).
fn openshift(id: &str) -> Result<Marks, String> {
    let plain = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    if !plain {
        return Err(format!(
            "the infraID {id:?} must be a plain name (letters, digits, `-`, `_`, `.`)"
        ));
    }
    let escaped = regex::escape(id);
    let name_regex =
        Regex::new(&format!("^{escaped}-|^kube_service_{escaped}_")).map_err(|e| e.to_string())?;
    Ok(Marks {
        all_tags: Vec::new(),
        any_tags: vec![format!("openshiftClusterID={id}")],
        metadata: [
            "openshiftClusterID",
            "cinder.csi.openstack.org/cluster",
            "manila.csi.openstack.org/cluster",
        ]
        .iter()
        .map(|k| (k.to_string(), id.to_string()))
        .collect(),
        name_regex: Some(name_regex),
        description_regex: None,
    })
}

const UUID: &str = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}";

/// The marks the usual leakers put on what they create.
///
/// - `kubespray`: its Terraform (contrib/terraform/openstack) puts `kubespray_groups`
///   metadata on servers and names things `<cluster>-k8s-master-N`, `<cluster>-k8s-node-…`,
///   `<cluster>-bastion-N`, groups `<cluster>-k8s…`, the keypair `kubernetes-<cluster>`.
/// - `terraform`: Terraform marks nothing by itself; the common conventions are a
///   `terraform` / `managed-by-terraform` tag or `managed_by=terraform` metadata.
/// - `cluster-api-openstack`: CAPO names its network, subnet, router and API load
///   balancer `k8s-clusterapi-cluster-<namespace>-<cluster>[-kubeapi]` and its groups
///   `k8s-cluster-<namespace>-<cluster>-secgroup-<role>`. Its machines' ports, and the
///   trunks it makes of them (named like the port), are described `Created by
///   cluster-api-provider-openstack cluster <namespace>-<cluster>`.
/// - `cloud-provider-openstack`: load balancers `kube_service_<cluster>_<ns>_<svc>`, their
///   groups `lb-sg-…`, floating IPs described `Floating IP for Kubernetes external service …`.
/// - `cinder-csi`: volumes carry `cinder.csi.openstack.org/cluster` metadata and are named
///   `pvc-<uuid>`, snapshots `snapshot-<uuid>`; its backups (snapshots of the `backup`
///   type) carry the same metadata and the snapshot's name.
///
/// `openshift` takes the cluster's infrastructure ID and is resolved by
/// [`resolve_preset`] (`openshift=<infraID>`), not here.
pub fn preset(name: &str) -> Option<Marks> {
    let (any_tags, metadata, pattern): (&[&str], &[(&str, &str)], String) = match name {
        "kubespray" => (
            &[],
            &[("kubespray_groups", "*")],
            r"^kubernetes-[\w.-]+$|-k8s(-master|-node|-etcd|-worker)?(-[\w-]*)?$|-bastion(-\d+)?$"
                .into(),
        ),
        "terraform" => (
            &["terraform", "managed-by-terraform"],
            &[("managed_by", "terraform")],
            String::new(),
        ),
        "cluster-api-openstack" => (
            &[],
            &[],
            r"^k8s-clusterapi-cluster-|^k8s-cluster-.+-secgroup-(controlplane|worker|bastion)$"
                .into(),
        ),
        "cloud-provider-openstack" => (
            &[],
            &[],
            r"^kube_service_|^lb-sg-|^Floating IP for Kubernetes external service ".into(),
        ),
        "cinder-csi" => (
            &[],
            &[("cinder.csi.openstack.org/cluster", "*")],
            format!("^pvc-{UUID}$|^snapshot-{UUID}$"),
        ),
        _ => return None,
    };
    let name_regex = if pattern.is_empty() {
        None
    } else {
        Regex::new(&pattern).ok()
    };
    let description_regex = match name {
        "cluster-api-openstack" => {
            Regex::new("^Created by cluster-api-provider-openstack cluster ").ok()
        }
        _ => None,
    };
    Some(Marks {
        all_tags: Vec::new(),
        any_tags: any_tags.iter().map(|s| s.to_string()).collect(),
        metadata: metadata
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        name_regex,
        description_regex,
    })
}

/// Filters that narrow what the marks select; all of them apply.
#[derive(Debug, Clone, Default)]
pub struct Filters {
    /// Minimum age; a resource whose age is unknown is not old enough.
    pub older_than: Option<Duration>,
    /// A resource with any of these tags is kept.
    pub keep_tags: Vec<String>,
    /// Only these kinds (empty: all).
    pub include_kinds: Vec<Kind>,
    /// Never these kinds.
    pub exclude_kinds: Vec<Kind>,
    /// IDs or names never touched.
    pub protect: Vec<String>,
}

/// Why a selector could not be built.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SelectError {
    /// Without a mark everything would be "ours".
    #[error(
        "the selector has no mark: give at least one tag, metadata pair, name pattern or preset"
    )]
    NoMarks,
}

/// Marks and filters together.
#[derive(Debug, Clone)]
pub struct Selector {
    marks: Marks,
    filters: Filters,
    /// The user's own name pattern (`select.name_regex`, `--name-regex`), presets'
    /// aside: what [`Selector::unanchored_matches`] checks.
    own_name_regex: Option<Regex>,
}

impl Selector {
    /// Builds a selector; no mark at all is an error.
    pub fn new(marks: Marks, filters: Filters) -> Result<Selector, SelectError> {
        if marks.is_empty() {
            return Err(SelectError::NoMarks);
        }
        Ok(Selector {
            marks,
            filters,
            own_name_regex: None,
        })
    }

    /// Records the user's own name pattern (the marks hold it merged with presets').
    pub fn with_own_name_regex(mut self, regex: Option<Regex>) -> Selector {
        self.own_name_regex = regex;
        self
    }

    /// The user's own name pattern when it is not anchored at the start (`^`, `\A`).
    pub fn unanchored_name_regex(&self) -> Option<&Regex> {
        let re = self.own_name_regex.as_ref()?;
        let pattern = re.as_str().trim_start();
        let pattern = pattern.strip_prefix("(?i)").unwrap_or(pattern).trim_start();
        let anchored = pattern.starts_with('^') || pattern.starts_with("\\A");
        (!anchored).then_some(re)
    }

    /// Resources of `inventory`'s project whose name (a floating IP's description) the
    /// user's own name pattern matches only past its start: a pattern that is not
    /// anchored with `^` (`ci-` matching `prod-ci-db`) selects what anchoring would
    /// keep. Their labels, for a warning; empty when the pattern is anchored.
    pub fn unanchored_matches(&self, inventory: &Inventory) -> Vec<String> {
        let Some(re) = self.unanchored_name_regex() else {
            return Vec::new();
        };
        let Ok(anchored) = Regex::new(&format!("^(?:{})", re.as_str())) else {
            return Vec::new();
        };
        let project = inventory.project_id();
        inventory
            .resources()
            .iter()
            .filter(|r| r.project_id.as_deref().is_none_or(|p| p == project))
            .filter(|r| {
                let name = mark_name(r);
                !name.is_empty() && re.is_match(name) && !anchored.is_match(name)
            })
            .map(|r| format!("{} {:?} ({})", r.kind, mark_name(r), r.id))
            .collect()
    }

    /// The marks.
    pub fn marks(&self) -> &Marks {
        &self.marks
    }

    /// The filters.
    pub fn filters(&self) -> &Filters {
        &self.filters
    }

    /// Whether this selector sweeps `kind` at all (its include/exclude kind lists).
    pub fn selects_kind(&self, kind: Kind) -> bool {
        let f = &self.filters;
        (f.include_kinds.is_empty() || f.include_kinds.contains(&kind))
            && !f.exclude_kinds.contains(&kind)
    }

    /// Judges one resource of `project` at `now`.
    pub fn judge(&self, r: &Resource, project: &str, now: Timestamp) -> Verdict {
        match self.judge_before_age(r, project) {
            Err(reason) => Verdict::kept(reason),
            Ok(mark) => self.judge_age(r, now, mark),
        }
    }

    /// Whether `r` is selected but for an unknown age: worth one more request to learn
    /// it (keypairs' `created_at` is only in their details).
    pub fn needs_age(&self, r: &Resource, project: &str) -> bool {
        self.filters.older_than.is_some()
            && r.created_at.is_none()
            && self.judge_before_age(r, project).is_ok()
    }

    /// The filters that apply to a kind without marks of its own: kind lists and the
    /// protect list (by ID). `Some(kept)` when one of them keeps it.
    fn judge_follower(&self, r: &Resource) -> Option<Verdict> {
        if !self.selects_kind(r.kind) {
            return Some(Verdict::kept("kept: kind not swept".into()));
        }
        if self.filters.protect.contains(&r.id) {
            return Some(Verdict::kept("kept: protected".into()));
        }
        None
    }

    /// Every check but age; `Ok(mark)` when only the age is left to judge.
    fn judge_before_age(&self, r: &Resource, project: &str) -> Result<String, String> {
        if let Some(owner) = r.project_id.as_deref() {
            if owner != project {
                return Err(format!("kept: owned by another project ({owner})"));
            }
        }
        if let Some(why) = &r.undeletable {
            return Err(format!("kept: {why}"));
        }
        let f = &self.filters;
        if !f.include_kinds.is_empty() && !f.include_kinds.contains(&r.kind) {
            return Err("kept: kind not included".into());
        }
        if f.exclude_kinds.contains(&r.kind) {
            return Err("kept: kind excluded".into());
        }
        if !self.marks.can_mark(r.kind) {
            return Err(format!(
                "kept: not marked (no given mark can exist on a {})",
                r.kind
            ));
        }
        let mark = self
            .marks
            .first_carried(r)
            .ok_or_else(|| "kept: not marked".to_string())?;
        // A floating IP's description is its name everywhere else (name patterns), so it
        // protects it too: when in doubt, keep.
        let named = |p: &String| {
            [r.name.as_str(), mark_name(r)]
                .iter()
                .any(|n| !n.is_empty() && p == n)
        };
        if f.protect.iter().any(|p| *p == r.id || named(p)) {
            return Err("kept: protected".into());
        }
        if let Some(tag) = f.keep_tags.iter().find(|t| r.tags.contains(t)) {
            return Err(format!("kept: has keep-tag {tag}"));
        }
        Ok(mark)
    }

    fn judge_age(&self, r: &Resource, now: Timestamp, mark: String) -> Verdict {
        let age = r.created_at.map(|t| age_between(t, now));
        match (self.filters.older_than, age) {
            (Some(_), None) => Verdict::kept("kept: age unknown".into()),
            (Some(min), Some(age)) if age < min => Verdict::kept(format!(
                "kept: too young ({} < {})",
                format_age(age),
                format_age(min)
            )),
            (_, Some(age)) => {
                Verdict::selected(format!("selected: {mark}, age {}", format_age(age)))
            }
            (None, None) => Verdict::selected(format!("selected: {mark}")),
        }
    }
}

fn age_between(then: Timestamp, now: Timestamp) -> Duration {
    let secs = now.as_second().saturating_sub(then.as_second());
    Duration::from_secs(u64::try_from(secs).unwrap_or(0))
}

/// `7h`, `2h 5m`, `3d 4h`, `45s`: the two largest units.
pub fn format_age(d: Duration) -> String {
    let secs = d.as_secs();
    let units = [(86_400, "d"), (3_600, "h"), (60, "m"), (1, "s")];
    let mut parts = Vec::new();
    let mut rest = secs;
    for (size, unit) in units {
        if rest >= size || (parts.is_empty() && size == 1) {
            parts.push(format!("{}{unit}", rest / size));
            rest %= size;
        }
        if parts.len() == 2 || (!parts.is_empty() && rest == 0) {
            break;
        }
    }
    parts.join(" ")
}

/// What selection decided about one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Whether it is to be deleted.
    pub selected: bool,
    /// Why, for humans (`selected: tag ci-123, age 7h`, `kept: protected`).
    pub reason: String,
}

impl Verdict {
    fn selected(reason: String) -> Self {
        Verdict {
            selected: true,
            reason,
        }
    }

    fn kept(reason: String) -> Self {
        Verdict {
            selected: false,
            reason,
        }
    }
}

/// A verdict for every resource of an inventory.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Selection {
    verdicts: BTreeMap<ResourceKey, Verdict>,
    /// The selector, project and time the verdicts were given with: a resource read
    /// again before its delete is judged again on what the cloud says now.
    #[serde(skip)]
    judged_by: Option<(Selector, String, Timestamp)>,
}

impl Selection {
    /// The verdict on one resource; `None` when it was not in the inventory.
    pub fn verdict(&self, key: &ResourceKey) -> Option<&Verdict> {
        self.verdicts.get(key)
    }

    /// Whether the resource is selected.
    pub fn is_selected(&self, key: &ResourceKey) -> bool {
        self.verdicts.get(key).is_some_and(|v| v.selected)
    }

    /// Judges a selected resource again on its state as just read (`fresh`; `known` is
    /// how it was listed): `Some(reason)` when it is no longer ours (it lost its mark,
    /// gained a keep tag, was protected by name, moved project). What a read does not
    /// repeat (a keypair's age from its details) is taken from `known`.
    pub fn rejudge(&self, known: &Resource, fresh: &Resource) -> Option<String> {
        let (selector, project, now) = self.judged_by.as_ref()?;
        if !self.is_selected(&known.key()) {
            return None;
        }
        // A follower (a port forwarding) has no marks: it stays ours unless it is now
        // protected or its kind excluded; its leader is judged on its own.
        if fresh.kind.follows().is_some() {
            return selector
                .judge_follower(fresh)
                .filter(|v| !v.selected)
                .map(|v| v.reason);
        }
        let verdict = if fresh.created_at.is_none() && known.created_at.is_some() {
            let mut aged = fresh.clone();
            aged.created_at = known.created_at;
            selector.judge(&aged, project, *now)
        } else {
            selector.judge(fresh, project, *now)
        };
        (!verdict.selected).then_some(verdict.reason)
    }

    /// Un-selects a resource with a reason (the daemon's grace period: first seen too
    /// recently). Does nothing to a resource that is not selected.
    pub fn demote(&mut self, kind: Kind, id: &str, reason: impl Into<String>) {
        if let Some(v) = self.verdicts.get_mut(&ResourceKey::new(kind, id)) {
            if v.selected {
                *v = Verdict::kept(reason.into());
            }
        }
    }

    /// The selected resources' keys, in key order.
    pub fn selected(&self) -> impl Iterator<Item = &ResourceKey> {
        self.verdicts
            .iter()
            .filter(|(_, v)| v.selected)
            .map(|(k, _)| k)
    }

    /// How many are selected.
    pub fn selected_count(&self) -> usize {
        self.selected().count()
    }

    /// Every verdict, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&ResourceKey, &Verdict)> {
        self.verdicts.iter()
    }
}

/// Judges every resource of `inventory` at `now`. A kind without marks of its own
/// ([`Kind::follows`]: port forwardings) takes the verdict of what it follows (its
/// floating IP), after the kind filters and the protect list.
pub fn evaluate(inventory: &Inventory, selector: &Selector, now: Timestamp) -> Selection {
    let mut verdicts: BTreeMap<ResourceKey, Verdict> = inventory
        .resources()
        .iter()
        .filter(|r| r.kind.follows().is_none())
        .map(|r| (r.key(), selector.judge(r, inventory.project_id(), now)))
        .collect();
    let followers: Vec<(ResourceKey, Verdict)> = inventory
        .resources()
        .iter()
        .filter_map(|r| {
            let role = r.kind.follows()?;
            let leader = r.refs.iter().find(|x| x.role == role);
            let verdict = selector.judge_follower(r).unwrap_or_else(|| {
                match leader.and_then(|x| inventory.resolve(x)) {
                    Some(l) if verdicts.get(&l.key()).is_some_and(|v| v.selected) => {
                        Verdict::selected(format!("selected: its {role} {} is", l.id))
                    }
                    Some(l) => Verdict::kept(format!("kept: its {role} {} is kept", l.id)),
                    None => Verdict::kept(format!("kept: its {role} is not listed")),
                }
            });
            Some((r.key(), verdict))
        })
        .collect();
    verdicts.extend(followers);
    Selection {
        verdicts,
        judged_by: Some((selector.clone(), inventory.project_id().to_string(), now)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const P: &str = "proj";

    fn now() -> Timestamp {
        "2026-11-22T12:00:00Z".parse().unwrap()
    }

    fn res(kind: Kind, name: &str, hours_old: Option<i64>) -> Resource {
        let mut r = Resource::new(kind, format!("{name}-id"));
        r.name = name.into();
        r.project_id = Some(P.into());
        r.created_at = hours_old.map(|h| now() - jiff::SignedDuration::from_hours(h));
        r
    }

    fn sel(marks: Marks, filters: Filters) -> Selector {
        Selector::new(marks, filters).unwrap()
    }

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    /// No mark at all is refused.
    #[test]
    fn no_marks_is_an_error() {
        assert!(matches!(
            Selector::new(Marks::default(), Filters::default()),
            Err(SelectError::NoMarks)
        ));
    }

    /// A tag selects tag-capable kinds only; a keypair with only tags given is left alone.
    #[test]
    fn tags_mark_only_kinds_that_have_tags() {
        let s = sel(
            Marks {
                any_tags: tags(&["ci-1"]),
                ..Marks::default()
            },
            Filters::default(),
        );
        let mut port = res(Kind::Port, "p", Some(7));
        port.tags = tags(&["ci-1"]);
        assert_eq!(
            s.judge(&port, P, now()).reason,
            "selected: tag ci-1, age 7h"
        );
        let mut vol = res(Kind::Volume, "v", Some(7));
        vol.tags = tags(&["ci-1"]);
        assert!(!s.judge(&vol, P, now()).selected);
        let key = s.judge(&res(Kind::Keypair, "k", None), P, now());
        assert_eq!(
            key.reason,
            "kept: not marked (no given mark can exist on a keypair)"
        );
    }

    /// `all_tags` is one mark needing every tag; each metadata pair is a mark; `*`
    /// matches any value.
    #[test]
    fn all_tags_and_metadata() {
        let marks = Marks {
            all_tags: tags(&["a", "b"]),
            metadata: vec![("job".into(), "*".into())],
            ..Marks::default()
        };
        let s = sel(marks, Filters::default());
        let mut net = res(Kind::Network, "n", Some(1));
        net.tags = tags(&["a"]);
        assert_eq!(s.judge(&net, P, now()).reason, "kept: not marked");
        net.tags.push("b".into());
        assert!(s.judge(&net, P, now()).selected);
        let mut vol = res(Kind::Volume, "v", Some(1));
        vol.metadata.insert("job".into(), "42".into());
        assert_eq!(
            s.judge(&vol, P, now()).reason,
            "selected: metadata job=*, age 1h"
        );
    }

    /// A floating IP is matched by its description, not its address.
    #[test]
    fn floating_ip_description_stands_in_for_name() {
        let s = sel(
            Marks {
                name_regex: Some(Regex::new("^ci-").unwrap()),
                ..Marks::default()
            },
            Filters::default(),
        );
        let mut fip = res(Kind::FloatingIp, "172.24.4.5", Some(2));
        assert!(!s.judge(&fip, P, now()).selected);
        fip.description = "ci-77".into();
        assert!(s.judge(&fip, P, now()).selected);
    }

    /// A floating IP is protected by its description, the name it is matched by.
    #[test]
    fn floating_ip_protected_by_description() {
        let s = sel(
            Marks {
                name_regex: Some(Regex::new("^ci-").unwrap()),
                ..Marks::default()
            },
            Filters {
                protect: tags(&["ci-bastion-ip"]),
                ..Filters::default()
            },
        );
        let mut fip = res(Kind::FloatingIp, "172.24.4.5", Some(2));
        fip.description = "ci-bastion-ip".into();
        assert_eq!(s.judge(&fip, P, now()).reason, "kept: protected");
    }

    /// Every filter narrows, each with its own reason.
    #[test]
    fn filters_and_reasons() {
        let marks = Marks {
            name_regex: Some(Regex::new("^ci").unwrap()),
            ..Marks::default()
        };
        let filters = Filters {
            older_than: Some(Duration::from_secs(6 * 3600)),
            keep_tags: tags(&["keep"]),
            exclude_kinds: vec![Kind::Image],
            protect: tags(&["ci-precious"]),
            ..Filters::default()
        };
        let s = sel(marks, filters);
        let reason = |r: &Resource| s.judge(r, P, now()).reason;
        assert_eq!(
            reason(&res(Kind::Network, "ci-young", Some(2))),
            "kept: too young (2h < 6h)"
        );
        assert_eq!(
            reason(&res(Kind::Keypair, "ci-key", None)),
            "kept: age unknown"
        );
        assert_eq!(
            reason(&res(Kind::Network, "ci-precious", Some(9))),
            "kept: protected"
        );
        assert_eq!(
            reason(&res(Kind::Image, "ci-img", Some(9))),
            "kept: kind excluded"
        );
        let mut kept = res(Kind::Network, "ci-kept", Some(9));
        kept.tags = tags(&["keep"]);
        assert_eq!(reason(&kept), "kept: has keep-tag keep");
        let mut foreign = res(Kind::Network, "ci-public", Some(9));
        foreign.project_id = Some("admin".into());
        assert_eq!(reason(&foreign), "kept: owned by another project (admin)");
        let mut default = res(Kind::SecurityGroup, "ci-default", Some(9));
        default.undeletable = Some("the project's default security group".into());
        assert_eq!(
            reason(&default),
            "kept: the project's default security group"
        );
        assert_eq!(
            reason(&res(Kind::Network, "ci-old", Some(30))),
            "selected: name ci-old, age 1d 6h"
        );
        assert!(s.needs_age(&res(Kind::Keypair, "ci-key", None), P));
    }

    /// A selected resource judged again on a fresh read: a keep tag or a lost mark
    /// un-selects it, an age the read does not repeat is kept from the listing.
    #[test]
    fn rejudge_on_the_fresh_state() {
        let s = sel(
            Marks {
                any_tags: tags(&["ci"]),
                ..Marks::default()
            },
            Filters {
                older_than: Some(Duration::from_secs(3600)),
                keep_tags: tags(&["keep"]),
                ..Filters::default()
            },
        );
        let mut net = res(Kind::Network, "n", Some(5));
        net.tags = tags(&["ci"]);
        let inv = Inventory::new(P, vec![net.clone()]);
        let selection = evaluate(&inv, &s, now());
        let mut fresh = net.clone();
        fresh.created_at = None;
        assert_eq!(selection.rejudge(&net, &fresh), None);
        fresh.tags.push("keep".into());
        assert_eq!(
            selection.rejudge(&net, &fresh).as_deref(),
            Some("kept: has keep-tag keep")
        );
        fresh.tags = Vec::new();
        assert_eq!(
            selection.rejudge(&net, &fresh).as_deref(),
            Some("kept: not marked")
        );
    }

    /// An unanchored own name pattern reports the names it matches past their start;
    /// an anchored one, or the presets' patterns, none.
    #[test]
    fn unanchored_name_patterns() {
        let names = |re: &str| {
            let regex = Regex::new(re).unwrap();
            let marks = Marks {
                name_regex: Some(regex.clone()),
                ..Marks::default()
            };
            let s = sel(marks, Filters::default()).with_own_name_regex(Some(regex));
            let inv = Inventory::new(
                P,
                vec![
                    res(Kind::Network, "ci-net", Some(1)),
                    res(Kind::Network, "prod-ci-db", Some(1)),
                ],
            );
            s.unanchored_matches(&inv)
        };
        assert_eq!(names("ci-"), vec!["network \"prod-ci-db\" (prod-ci-db-id)"]);
        assert!(names("^ci-").is_empty());
        assert!(names("(?i)^ci-").is_empty());
        let preset_only = sel(preset("kubespray").unwrap(), Filters::default());
        assert!(preset_only.unanchored_name_regex().is_none());
    }

    /// Demotion un-selects with the given reason; selected() skips it.
    #[test]
    fn demote() {
        let s = sel(
            Marks {
                name_regex: Some(Regex::new("x").unwrap()),
                ..Marks::default()
            },
            Filters::default(),
        );
        let r = res(Kind::Network, "x", Some(1));
        let mut selection = Selection::default();
        selection.verdicts.insert(r.key(), s.judge(&r, P, now()));
        assert_eq!(selection.selected_count(), 1);
        selection.demote(Kind::Network, "x-id", "kept: first seen 5m ago (grace 1h)");
        assert_eq!(selection.selected_count(), 0);
        assert_eq!(
            selection.verdict(&r.key()).unwrap().reason,
            "kept: first seen 5m ago (grace 1h)"
        );
    }

    /// `openshift=<infraID>` marks the installer's tag, its servers' and the CSI
    /// drivers' metadata, `<infraID>-…` and `kube_service_<infraID>_…` names, and
    /// nothing of another cluster; without a value, or with an odd one, it is an error
    /// naming the form.
    #[test]
    fn openshift_preset() {
        let os = sel(
            resolve_preset("openshift=ocp-x7k2p").unwrap(),
            Filters::default(),
        );
        let judge = |r: &Resource| os.judge(r, P, now()).selected;
        let mut net = res(Kind::Network, "whatever", Some(8));
        net.tags = vec!["openshiftClusterID=ocp-x7k2p".into()];
        assert!(judge(&net));
        net.tags = vec!["openshiftClusterID=ocp-other".into()];
        assert!(!judge(&net));
        let mut share = res(Kind::Share, "pvc-1", Some(8));
        share.metadata.insert(
            "manila.csi.openstack.org/cluster".into(),
            "ocp-x7k2p".into(),
        );
        assert!(judge(&share));
        let mut backup = res(Kind::VolumeBackup, "b", Some(8));
        backup.metadata.insert(
            "cinder.csi.openstack.org/cluster".into(),
            "ocp-x7k2p".into(),
        );
        assert!(judge(&backup));
        let mut server = res(Kind::Server, "x", Some(8));
        server
            .metadata
            .insert("openshiftClusterID".into(), "ocp-x7k2p".into());
        assert!(judge(&server));
        let registry = res(Kind::Container, "ocp-x7k2p-image-registry-abcdef", Some(8));
        assert!(judge(&registry));
        let lb = res(
            Kind::LoadBalancer,
            "kube_service_ocp-x7k2p_default_router",
            Some(8),
        );
        assert!(judge(&lb));
        assert!(!judge(&res(
            Kind::Container,
            "ocp-x7k2px-image-registry",
            Some(8)
        )));
        assert!(!judge(&res(Kind::Network, "prod-ocp-x7k2p-net", Some(8))));
        assert_eq!(
            resolve_preset("openshift").unwrap_err(),
            PresetError::NeedsValue("openshift".into())
        );
        assert!(matches!(
            resolve_preset("openshift=a|b"),
            Err(PresetError::BadValue(..))
        ));
        assert!(matches!(
            resolve_preset("kubespray=x"),
            Err(PresetError::BadValue(..))
        ));
        let unknown = resolve_preset("openshfit=x").unwrap_err().to_string();
        assert!(unknown.contains("openshift=<infraID>"), "{unknown}");
        assert!(resolve_preset("cinder-csi").is_ok());
    }

    /// Every preset exists and compiles; merging keeps both name patterns.
    #[test]
    fn presets() {
        let mut all = Marks::default();
        for name in PRESETS {
            all.merge(preset(name).unwrap());
        }
        assert!(preset("nope").is_none());
        let re = all.name_regex.unwrap();
        assert!(re.is_match("kube_service_ci_default_web"));
        assert!(re.is_match("ci42-k8s-master-1"));
        assert!(re.is_match("pvc-0a1b2c3d-0000-4000-8000-000000000000"));
        assert!(!re.is_match("production-db"));
    }

    /// The Cluster API preset marks the trunks (and ports) CAPO describes as its own,
    /// named like any machine port; not another trunk of the same name.
    #[test]
    fn capo_marks_its_trunks_by_description() {
        let capo = sel(preset("cluster-api-openstack").unwrap(), Filters::default());
        let mut trunk = res(Kind::Trunk, "default-md-0-abcde-0", Some(8));
        trunk.description = "Created by cluster-api-provider-openstack cluster default-ci".into();
        let v = capo.judge(&trunk, P, now());
        assert!(v.selected, "{}", v.reason);
        assert!(v.reason.contains("description Created by"), "{}", v.reason);
        trunk.description = "office VM".into();
        assert!(!capo.judge(&trunk, P, now()).selected);
        // Backups carry cinder-csi's metadata like its volumes.
        let mut backup = res(Kind::VolumeBackup, "b", Some(8));
        backup
            .metadata
            .insert("cinder.csi.openstack.org/cluster".into(), "ci".into());
        let csi = sel(preset("cinder-csi").unwrap(), Filters::default());
        assert!(csi.judge(&backup, P, now()).selected);
    }

    /// A port forwarding follows its floating IP's verdict, unless its kind is excluded
    /// or its ID protected.
    #[test]
    fn forwardings_follow_their_floating_ip() {
        use crate::resources::{Reference, Relation};
        let mut fip = res(Kind::FloatingIp, "f", Some(8));
        fip.description = "ci-f".into();
        let mut pf = Resource::new(Kind::PortForwarding, "pf");
        pf.refs.push(Reference::new(
            Relation::Needs,
            Kind::FloatingIp,
            "f-id",
            "floating IP",
        ));
        let inv = Inventory::new(P, vec![fip, pf]);
        let marks = || Marks {
            name_regex: Some(Regex::new("^ci-").unwrap()),
            ..Marks::default()
        };
        let key = ResourceKey::new(Kind::PortForwarding, "pf");
        let s = evaluate(&inv, &sel(marks(), Filters::default()), now());
        assert!(s.is_selected(&key), "{:?}", s.verdict(&key));
        let protect = Filters {
            protect: vec!["pf".into()],
            ..Filters::default()
        };
        assert!(!evaluate(&inv, &sel(marks(), protect), now()).is_selected(&key));
        let excluded = Filters {
            exclude_kinds: vec![Kind::PortForwarding],
            ..Filters::default()
        };
        assert!(!evaluate(&inv, &sel(marks(), excluded), now()).is_selected(&key));
        let young = Filters {
            older_than: Some(Duration::from_secs(24 * 3600)),
            ..Filters::default()
        };
        let verdict = evaluate(&inv, &sel(marks(), young), now());
        assert!(!verdict.is_selected(&key), "{:?}", verdict.verdict(&key));
    }

    /// Ages print with their two largest units.
    #[test]
    fn ages() {
        assert_eq!(format_age(Duration::from_secs(45)), "45s");
        assert_eq!(format_age(Duration::from_secs(7 * 3600)), "7h");
        assert_eq!(format_age(Duration::from_secs(2 * 3600 + 300)), "2h 5m");
        assert_eq!(format_age(Duration::from_secs(0)), "0s");
    }
}
