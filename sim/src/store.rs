//! The vocabulary every simulated service shares: resources as JSON objects in tables,
//! the caller's context, ids, timestamps as each service formats them, query parameters,
//! tag filters and marker/limit pagination. It depends on nothing else of the crate.
//!
//! Resources are kept as JSON objects, the shape the API returns, so filters and renders
//! stay generic. Keys starting with `_` are the simulator's own bookkeeping and are
//! stripped before a resource leaves the simulator.

use std::collections::BTreeMap;
use std::ops::Bound;

use jiff::Timestamp;
use serde_json::{Map, Value};

use crate::index::{IndexDef, Indexes};

/// A resource as the API shows it (plus `_`-prefixed private keys).
pub type Obj = Map<String, Value>;

/// One kind's resources, ordered by id so a marker page is a range scan.
#[derive(Debug, Default, Clone)]
pub struct Table {
    items: BTreeMap<String, Obj>,
    /// Secondary indexes (none unless made [`Table::indexed`]); every path that can
    /// change a resource below tells them.
    index: Indexes,
}

impl Table {
    /// An empty table that keeps these indexes, for [`Table::by`].
    pub fn indexed(defs: &[&'static IndexDef]) -> Table {
        Table {
            items: BTreeMap::new(),
            index: Indexes::new(defs),
        }
    }
    /// The resources filed under `key` by `def`, in id order: exactly what
    /// `values().filter(|o| def.matches(o, key))` gives, from the index when the table
    /// keeps it.
    pub fn by<'a>(&'a self, def: &IndexDef, key: &str) -> Vec<&'a Obj> {
        match self.index.ids(def, key, &self.items) {
            Some(ids) => ids.iter().filter_map(|id| self.items.get(id)).collect(),
            None => self.values().filter(|o| def.matches(o, key)).collect(),
        }
    }
    /// Whether the table's indexes agree with a full scan (tests).
    pub fn indexes_agree(&self) -> bool {
        self.index.agree(&self.items)
    }
    /// The resource with this id.
    pub fn get(&self, id: &str) -> Option<&Obj> {
        self.items.get(id)
    }
    /// The resource with this id, to change it.
    pub fn get_mut(&mut self, id: &str) -> Option<&mut Obj> {
        self.index.touched(id);
        self.items.get_mut(id)
    }
    /// Stores a resource under its `id` key.
    pub fn insert(&mut self, obj: Obj) -> String {
        let id = str_of(&obj, "id").to_string();
        self.index.touched(&id);
        self.items.insert(id.clone(), obj);
        id
    }
    /// Removes and returns a resource.
    pub fn remove(&mut self, id: &str) -> Option<Obj> {
        self.index.touched(id);
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
        self.index.touched_all();
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
