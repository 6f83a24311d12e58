//! State shared by every simulated service, behind one lock, plus the small helpers they
//! all use: ids, timestamps as each service formats them, query parameters, tag filters,
//! marker/limit pagination and delayed follow-up jobs (asynchronous deletes).
//!
//! Resources are kept as JSON objects, the shape the API returns, so filters and renders
//! stay generic. Keys starting with `_` are the simulator's own bookkeeping and are
//! stripped before a resource leaves the simulator.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;
use std::time::Duration;

use jiff::Timestamp;
use serde_json::{Map, Value};

use super::cinder::CinderState;
use super::faults::FaultState;
use super::glance::GlanceState;
use super::heat::HeatState;
use super::keystone::KeystoneState;
use super::log::RequestLog;
use super::neutron::NeutronState;
use super::nova::NovaState;
use super::octavia::OctaviaState;
use super::swift::SwiftState;

/// A resource as the API shows it (plus `_`-prefixed private keys).
pub type Obj = Map<String, Value>;

/// One kind's resources, ordered by id so a marker page is a range scan.
#[derive(Debug, Default, Clone)]
pub struct Table {
    items: BTreeMap<String, Obj>,
}

impl Table {
    /// The resource with this id.
    pub fn get(&self, id: &str) -> Option<&Obj> {
        self.items.get(id)
    }
    /// The resource with this id, to change it.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Obj> {
        self.items.get_mut(id)
    }
    /// Stores a resource under its `id` key.
    pub fn insert(&mut self, obj: Obj) -> String {
        let id = str_of(&obj, "id").to_string();
        self.items.insert(id.clone(), obj);
        id
    }
    /// Removes and returns a resource.
    pub fn remove(&mut self, id: &str) -> Option<Obj> {
        self.items.remove(id)
    }
    /// Whether a resource with this id exists.
    pub fn contains(&self, id: &str) -> bool {
        self.items.contains_key(id)
    }
    /// Number of resources.
    pub fn len(&self) -> usize {
        self.items.len()
    }
    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
    /// All resources, by id.
    pub fn values(&self) -> impl Iterator<Item = &Obj> {
        self.items.values()
    }
    /// All resources, by id, to change them.
    pub fn values_mut(&mut self) -> impl Iterator<Item = &mut Obj> {
        self.items.values_mut()
    }
    /// All ids, sorted.
    pub fn ids(&self) -> Vec<String> {
        self.items.keys().cloned().collect()
    }
    /// Resources after `marker` (all when `None`), in id order.
    pub fn after<'a>(&'a self, marker: Option<&'a str>) -> impl Iterator<Item = &'a Obj> + 'a {
        let lower = match marker {
            Some(m) => Bound::Excluded(m),
            None => Bound::Unbounded,
        };
        self.items
            .range::<str, _>((lower, Bound::Unbounded))
            .map(|(_, v)| v)
    }
}

/// Who is calling: the project and roles of the token.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Project the token is scoped to.
    pub project_id: String,
    /// The user behind the token.
    pub user_id: String,
    /// Whether the token carries the `admin` role.
    pub admin: bool,
}

impl Ctx {
    /// Whether this caller may see a resource owned by `project_id`.
    pub fn owns(&self, project_id: &str) -> bool {
        self.admin || self.project_id == project_id
    }
}

/// What a [`Job`] does to the state; it may schedule further jobs.
pub type JobFn = Box<dyn FnOnce(&mut SimState) -> Vec<Job> + Send>;

/// Work to do later, on the state (a delete finishing). Returns further jobs.
pub struct Job {
    /// How long after scheduling it runs.
    pub delay: Duration,
    /// What it does.
    pub run: JobFn,
}

impl Job {
    /// A job running `f` after `delay`.
    pub fn after(
        delay: Duration,
        f: impl FnOnce(&mut SimState) -> Vec<Job> + Send + 'static,
    ) -> Job {
        Job {
            delay,
            run: Box::new(f),
        }
    }
}

/// Everything the simulator holds: every service's resources, faults, the request log.
pub struct SimState {
    /// Users, projects, tokens, application credentials.
    pub keystone: KeystoneState,
    /// Networks, subnets, ports, routers, floating IPs, security groups.
    pub neutron: NeutronState,
    /// Servers, keypairs, server groups, flavors.
    pub nova: NovaState,
    /// Volumes and snapshots.
    pub cinder: CinderState,
    /// Load balancers.
    pub octavia: OctaviaState,
    /// Images.
    pub glance: GlanceState,
    /// Stacks.
    pub heat: HeatState,
    /// Containers and objects.
    pub swift: SwiftState,
    /// Injected faults per service.
    pub(crate) faults: FaultState,
    /// Every request answered, and counters.
    pub(crate) log: RequestLog,
    /// `(kind, id)` whose next delete ends in a failed state.
    pub(crate) stuck: HashSet<(String, String)>,
    /// `(kind, id)` → deletes still to answer 409.
    pub(crate) conflicts: HashMap<(String, String), u32>,
    /// Base URL (`http://127.0.0.1:PORT`) for links and the catalog.
    pub base_url: String,
    /// Delays of asynchronous operations.
    pub delays: Delays,
    /// Quota limits (usage follows the state).
    pub quota: super::quota::QuotaLimits,
}

/// How long asynchronous operations take.
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    /// A server in `deleting` until it disappears.
    pub server_delete: Duration,
    /// A volume or snapshot in `deleting` until it disappears.
    pub volume_delete: Duration,
    /// A volume stays `in-use`/`detaching` this long after its server is gone.
    pub volume_detach: Duration,
    /// A load balancer or stack in `PENDING_DELETE`/`DELETE_IN_PROGRESS`.
    pub other_delete: Duration,
}

impl SimState {
    pub(crate) fn new(base_url: String, delays: Delays, faults: FaultState) -> SimState {
        let keystone = KeystoneState::new();
        let admin_project = keystone.admin_project_id.clone();
        let mut st = SimState {
            neutron: NeutronState::new(&admin_project),
            keystone,
            nova: NovaState::new(),
            cinder: CinderState::default(),
            octavia: OctaviaState::default(),
            glance: GlanceState::default(),
            heat: HeatState::default(),
            swift: SwiftState::default(),
            faults,
            log: RequestLog::default(),
            stuck: HashSet::new(),
            conflicts: HashMap::new(),
            base_url,
            delays,
            quota: Default::default(),
        };
        let admin = Ctx {
            project_id: admin_project,
            user_id: String::new(),
            admin: true,
        };
        let image = serde_json::json!({"name": "cirros-0.6.2-x86_64-disk", "visibility": "public"});
        let image = super::glance::create_image(
            &mut st,
            &admin,
            image.as_object().unwrap_or(&Obj::new()),
            true,
        );
        st.glance.default_image = str_of(&image, "id").to_string();
        st
    }

    /// Whether `(kind, id)` was marked stuck; consumes the mark.
    pub fn take_stuck(&mut self, kind: &str, id: &str) -> bool {
        self.stuck.remove(&(kind.to_string(), id.to_string()))
    }

    /// Whether this delete of `(kind, id)` must answer 409; counts one down.
    pub fn take_conflict(&mut self, kind: &str, id: &str) -> bool {
        let key = (kind.to_string(), id.to_string());
        match self.conflicts.get_mut(&key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    self.conflicts.remove(&key);
                }
                true
            }
            _ => false,
        }
    }

    /// Whether a resource of `kind` (CLI word: `server`, `port`, ...) with `id` exists.
    pub fn exists(&self, kind: &str, id: &str) -> bool {
        self.table(kind).is_some_and(|t| t.contains(id))
    }

    /// Ids of every resource of `kind`, all projects.
    pub fn ids(&self, kind: &str) -> Vec<String> {
        self.table(kind).map(Table::ids).unwrap_or_default()
    }

    /// The table holding `kind` (CLI word).
    pub fn table(&self, kind: &str) -> Option<&Table> {
        Some(match kind {
            "network" => &self.neutron.networks,
            "subnet" => &self.neutron.subnets,
            "port" => &self.neutron.ports,
            "router" => &self.neutron.routers,
            "floating-ip" => &self.neutron.floatingips,
            "security-group" => &self.neutron.security_groups,
            "security-group-rule" => &self.neutron.security_group_rules,
            "server" => &self.nova.servers,
            "server-group" => &self.nova.server_groups,
            "keypair" => &self.nova.keypairs,
            "volume" => &self.cinder.volumes,
            "snapshot" => &self.cinder.snapshots,
            "load-balancer" => &self.octavia.loadbalancers,
            "image" => &self.glance.images,
            "stack" => &self.heat.stacks,
            "container" => &self.swift.containers,
            _ => return None,
        })
    }

    /// The table holding `kind`, to change it.
    pub fn table_mut(&mut self, kind: &str) -> Option<&mut Table> {
        Some(match kind {
            "network" => &mut self.neutron.networks,
            "subnet" => &mut self.neutron.subnets,
            "port" => &mut self.neutron.ports,
            "router" => &mut self.neutron.routers,
            "floating-ip" => &mut self.neutron.floatingips,
            "security-group" => &mut self.neutron.security_groups,
            "security-group-rule" => &mut self.neutron.security_group_rules,
            "server" => &mut self.nova.servers,
            "server-group" => &mut self.nova.server_groups,
            "keypair" => &mut self.nova.keypairs,
            "volume" => &mut self.cinder.volumes,
            "snapshot" => &mut self.cinder.snapshots,
            "load-balancer" => &mut self.octavia.loadbalancers,
            "image" => &mut self.glance.images,
            "stack" => &mut self.heat.stacks,
            "container" => &mut self.swift.containers,
            _ => return None,
        })
    }

    /// Sets the creation time of a resource, formatted the way its service formats it.
    pub fn set_created_at(&mut self, kind: &str, id: &str, at: Timestamp) {
        let (key, text) = match kind {
            "server" => ("created", fmt_z(at)),
            "volume" | "snapshot" => ("created_at", fmt_micro(at)),
            "keypair" => ("created_at", fmt_micro(at)),
            "load-balancer" => ("created_at", fmt_plain(at)),
            "stack" => ("creation_time", fmt_z(at)),
            "container" => ("last_modified", fmt_micro(at)),
            _ => ("created_at", fmt_z(at)),
        };
        if let Some(obj) = self.table_mut(kind).and_then(|t| t.get_mut(id)) {
            obj.insert(key.into(), Value::String(text.clone()));
            if key == "created" {
                obj.insert("updated".into(), Value::String(text));
            } else if obj.contains_key("updated_at") {
                obj.insert("updated_at".into(), Value::String(text));
            }
        }
    }

    /// Sets one field of a resource (tests shaping odd states).
    pub fn set_field(&mut self, kind: &str, id: &str, key: &str, value: Value) -> bool {
        match self.table_mut(kind).and_then(|t| t.get_mut(id)) {
            Some(obj) => {
                obj.insert(key.to_string(), value);
                true
            }
            None => false,
        }
    }
}

/// A fresh UUID, hyphenated, as most services use.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A fresh UUID without hyphens, as Keystone uses.
pub fn new_hex_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// `2026-11-22T06:11:02Z` (Neutron, Nova, Glance, Heat).
pub fn fmt_z(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `2026-11-22T06:14:46.000000` (Cinder, Nova keypairs), UTC without a zone.
pub fn fmt_micro(at: Timestamp) -> String {
    format!(
        "{}.{:06}",
        at.strftime("%Y-%m-%dT%H:%M:%S"),
        at.subsec_microsecond()
    )
}

/// `2026-11-22T06:11:02` (Octavia).
pub fn fmt_plain(at: Timestamp) -> String {
    at.strftime("%Y-%m-%dT%H:%M:%S").to_string()
}

/// The string at `key`, or `""`.
pub fn str_of<'a>(obj: &'a Obj, key: &str) -> &'a str {
    obj.get(key).and_then(Value::as_str).unwrap_or("")
}

/// The strings in the array at `key`.
pub fn strs_of(obj: &Obj, key: &str) -> Vec<String> {
    obj.get(key)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A copy of a resource without the simulator's private `_` keys.
pub fn public(obj: &Obj) -> Value {
    Value::Object(
        obj.iter()
            .filter(|(k, _)| !k.starts_with('_'))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// A resource serialized as the API shows it (no `_` keys, only `fields` when given),
/// straight from the store without cloning.
pub struct PublicRef<'a> {
    obj: &'a Obj,
    fields: &'a [&'a str],
}

impl serde::Serialize for PublicRef<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.obj.iter().filter(|(k, _)| {
            !k.starts_with('_') && (self.fields.is_empty() || self.fields.contains(&k.as_str()))
        }))
    }
}

/// A list answer (`{"ports": [...], "ports_links": [...]}`) serialized from references.
pub struct Listing<'a> {
    /// Key of the list (`ports`).
    pub key: &'static str,
    /// The page.
    pub items: Vec<&'a Obj>,
    /// Only these fields of each item (all when empty).
    pub fields: Vec<&'a str>,
    /// Further keys (`ports_links`).
    pub extra: Vec<(String, Value)>,
}

struct Items<'a, 'b>(&'b Listing<'a>);

impl serde::Serialize for Items<'_, '_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.items.iter().map(|obj| PublicRef {
            obj,
            fields: &self.0.fields,
        }))
    }
}

impl serde::Serialize for Listing<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(1 + self.extra.len()))?;
        map.serialize_entry(self.key, &Items(self))?;
        for (k, v) in &self.extra {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// Query parameters in order, repeated keys kept (`?tags=a&tags=b`).
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            raw.map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        )
    }
    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// Every value of `key`, comma-separated lists split.
    pub fn list(&self, key: &str) -> Vec<String> {
        self.all(key)
            .iter()
            .flat_map(|v| v.split(','))
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    }
    /// Whether `key` is true (`true`, `True`, `1`, `yes`).
    pub fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "true" | "1" | "yes" | "on"))
    }
    /// `limit` as a number.
    pub fn limit(&self) -> Option<usize> {
        self.get("limit").and_then(|v| v.parse().ok())
    }
}

/// The `tags`, `tags-any`, `not-tags`, `not-tags-any` filters (Neutron and Nova).
#[derive(Debug, Default, Clone)]
pub struct TagFilter {
    all: Vec<String>,
    any: Vec<String>,
    not_all: Vec<String>,
    not_any: Vec<String>,
}

impl TagFilter {
    /// Reads the four filters from the query.
    pub fn from_params(p: &Params) -> TagFilter {
        TagFilter {
            all: p.list("tags"),
            any: p.list("tags-any"),
            not_all: p.list("not-tags"),
            not_any: p.list("not-tags-any"),
        }
    }
    /// Whether no tag filter was given.
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
            && self.any.is_empty()
            && self.not_all.is_empty()
            && self.not_any.is_empty()
    }

    /// Whether a resource with these tags passes.
    pub fn matches(&self, tags: &[String]) -> bool {
        let has = |t: &String| tags.contains(t);
        (self.all.is_empty() || self.all.iter().all(has))
            && (self.any.is_empty() || self.any.iter().any(has))
            && (self.not_all.is_empty() || !self.not_all.iter().all(has))
            && (self.not_any.is_empty() || !self.not_any.iter().any(has))
    }
}

/// Whether a resource's field matches a query value (strings, booleans, numbers).
pub fn field_matches(value: &Value, wanted: &str) -> bool {
    match value {
        Value::String(s) => s == wanted,
        Value::Bool(b) => wanted.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == wanted,
        Value::Null => wanted.is_empty() || wanted == "None" || wanted == "null",
        _ => true,
    }
}

/// One page of a list: up to `limit` matching resources after `marker`, and whether the
/// page is full (so a `next` link is due).
pub fn page<'a>(
    table: &'a Table,
    marker: Option<&'a str>,
    limit: Option<usize>,
    keep: impl Fn(&Obj) -> bool,
) -> (Vec<&'a Obj>, bool) {
    let mut out = Vec::new();
    for obj in table.after(marker) {
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
        if keep(obj) {
            out.push(obj);
        }
    }
    let full = limit.is_some_and(|l| l > 0 && out.len() == l);
    (out, full)
}

/// A `next` link for a page ending at `last`, keeping the other query parameters.
pub fn next_link(base: &str, params: &Params, last: &str) -> Value {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in &params.0 {
        if k != "marker" {
            q.append_pair(k, v);
        }
    }
    q.append_pair("marker", last);
    serde_json::json!({"rel": "next", "href": format!("{base}?{}", q.finish())})
}
