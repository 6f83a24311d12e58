//! Secondary indexes of a [`Table`](crate::store::Table): "the ports on this subnet" in
//! time proportional to the answer, not to the whole cloud (a sweep of 20,000 resources
//! was O(n²) in the simulator's scans).
//!
//! An index is only ever a cache of a full scan. The table marks an id dirty whenever
//! it hands out that resource mutably (or inserts or removes it), and the index catches
//! up on the dirty ids before it answers; no caller has an index to keep in step, so no
//! caller can forget to. A table without the index asked for answers by a full scan, so
//! an index changes the cost of an answer, never the answer.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::store::Obj;

/// What one index files a resource under: its keys (none, one or several).
#[derive(Debug)]
pub struct IndexDef {
    /// Names the index in messages.
    pub name: &'static str,
    /// The keys a resource is found under.
    pub keys_of: fn(&Obj) -> Vec<String>,
}

impl IndexDef {
    /// Whether `obj` is filed under `key` (what a full scan asks).
    pub fn matches(&self, obj: &Obj, key: &str) -> bool {
        (self.keys_of)(obj).iter().any(|k| k == key)
    }

    /// The keys of `obj`, sorted and without repeats.
    fn keys(&self, obj: &Obj) -> Vec<String> {
        let mut keys = (self.keys_of)(obj);
        keys.sort();
        keys.dedup();
        keys
    }
}

/// One index's entries: ids by key (ordered, so answers come in id order as a scan's
/// do) and the keys each id was filed under (to unfile it).
#[derive(Debug, Clone, Default, PartialEq)]
struct Entries {
    by_key: HashMap<String, BTreeSet<String>>,
    keys_of_id: HashMap<String, Vec<String>>,
}

impl Entries {
    fn unfile(&mut self, id: &str) {
        for key in self.keys_of_id.remove(id).unwrap_or_default() {
            if let Some(ids) = self.by_key.get_mut(&key) {
                ids.remove(id);
                if ids.is_empty() {
                    self.by_key.remove(&key);
                }
            }
        }
    }

    fn file(&mut self, id: &str, keys: Vec<String>) {
        for key in &keys {
            self.by_key
                .entry(key.clone())
                .or_default()
                .insert(id.to_string());
        }
        if !keys.is_empty() {
            self.keys_of_id.insert(id.to_string(), keys);
        }
    }
}

/// What the indexes still have to look at again.
#[derive(Debug, Clone, Default)]
struct Pending {
    ids: Vec<String>,
    all: bool,
}

/// The indexes of one table, with the ids changed since they last caught up.
#[derive(Debug, Clone, Default)]
pub(crate) struct Indexes {
    defs: Vec<&'static IndexDef>,
    entries: RefCell<Vec<Entries>>,
    pending: RefCell<Pending>,
}

impl Indexes {
    /// Indexes by these definitions (all of a table's resources are filed when it is
    /// first asked).
    pub(crate) fn new(defs: &[&'static IndexDef]) -> Indexes {
        Indexes {
            defs: defs.to_vec(),
            entries: RefCell::new(vec![Entries::default(); defs.len()]),
            pending: RefCell::new(Pending {
                ids: Vec::new(),
                all: true,
            }),
        }
    }

    /// Notes that the resource `id` may have changed (or appeared, or gone).
    pub(crate) fn touched(&mut self, id: &str) {
        if self.defs.is_empty() {
            return;
        }
        let pending = self.pending.get_mut();
        if !pending.all {
            pending.ids.push(id.to_string());
        }
    }

    /// Notes that any resource may have changed.
    pub(crate) fn touched_all(&mut self) {
        if self.defs.is_empty() {
            return;
        }
        let pending = self.pending.get_mut();
        pending.all = true;
        pending.ids.clear();
    }

    fn position(&self, def: &IndexDef) -> Option<usize> {
        self.defs.iter().position(|d| std::ptr::eq(*d, def))
    }

    /// The ids filed under `key` by `def`, or `None` when this table has no such index.
    pub(crate) fn ids(
        &self,
        def: &IndexDef,
        key: &str,
        items: &BTreeMap<String, Obj>,
    ) -> Option<Vec<String>> {
        let at = self.position(def)?;
        self.catch_up(items);
        let entries = self.entries.borrow();
        Some(
            entries
                .get(at)
                .and_then(|e| e.by_key.get(key))
                .map(|ids| ids.iter().cloned().collect())
                .unwrap_or_default(),
        )
    }

    /// Refiles every id changed since the last answer.
    fn catch_up(&self, items: &BTreeMap<String, Obj>) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        let mut entries = self.entries.borrow_mut();
        if pending.all {
            *entries = self.rebuilt(items);
            return;
        }
        for id in &pending.ids {
            for (def, e) in self.defs.iter().zip(entries.iter_mut()) {
                e.unfile(id);
                if let Some(obj) = items.get(id) {
                    e.file(id, def.keys(obj));
                }
            }
        }
    }

    /// The entries a full scan of `items` gives.
    fn rebuilt(&self, items: &BTreeMap<String, Obj>) -> Vec<Entries> {
        self.defs
            .iter()
            .map(|def| {
                let mut e = Entries::default();
                for (id, obj) in items {
                    e.file(id, def.keys(obj));
                }
                e
            })
            .collect()
    }

    /// Whether the indexes, caught up, are what a full scan gives (tests).
    pub(crate) fn agree(&self, items: &BTreeMap<String, Obj>) -> bool {
        self.catch_up(items);
        *self.entries.borrow() == self.rebuilt(items)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use crate::neutron::indexes::{
        ports_table, PORTS_BY_DEVICE, PORTS_BY_NETWORK, PORTS_BY_SECURITY_GROUP, PORTS_BY_SUBNET,
    };
    use crate::store::{Obj, Table};

    /// One step on the ports table, over a few ids and keys so they collide.
    #[derive(Debug, Clone)]
    enum Step {
        Insert(u8, u8, Vec<u8>, u8, Vec<u8>),
        SetDevice(u8, u8),
        SetSubnets(u8, Vec<u8>),
        SetGroupsOfAll(u8),
        Remove(u8),
        Ask(u8),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (
                0..8u8,
                0..3u8,
                prop::collection::vec(0..4u8, 0..3),
                0..3u8,
                prop::collection::vec(0..3u8, 0..3)
            )
                .prop_map(|(i, n, s, d, g)| Step::Insert(i, n, s, d, g)),
            (0..8u8, 0..3u8).prop_map(|(i, d)| Step::SetDevice(i, d)),
            (0..8u8, prop::collection::vec(0..4u8, 0..3)).prop_map(|(i, s)| Step::SetSubnets(i, s)),
            (0..3u8).prop_map(Step::SetGroupsOfAll),
            (0..8u8).prop_map(Step::Remove),
            (0..4u8).prop_map(Step::Ask),
        ]
    }

    fn port(i: u8, net: u8, subs: &[u8], dev: u8, groups: &[u8]) -> Obj {
        let ips: Vec<_> = subs
            .iter()
            .map(|s| json!({"subnet_id": format!("s{s}"), "ip_address": "10.0.0.1"}))
            .collect();
        let groups: Vec<_> = groups.iter().map(|g| format!("g{g}")).collect();
        let device = if dev == 0 {
            String::new()
        } else {
            format!("d{dev}")
        };
        json!({"id": format!("p{i}"), "network_id": format!("n{net}"), "fixed_ips": ips,
            "device_id": device, "security_groups": groups})
        .as_object()
        .cloned()
        .unwrap_or_default()
    }

    fn apply(t: &mut Table, s: &Step) {
        match s {
            Step::Insert(i, n, subs, d, g) => {
                t.insert(port(*i, *n, subs, *d, g));
            }
            Step::SetDevice(i, d) => {
                if let Some(p) = t.get_mut(&format!("p{i}")) {
                    p.insert("device_id".into(), json!(format!("d{d}")));
                }
            }
            Step::SetSubnets(i, subs) => {
                if let Some(p) = t.get_mut(&format!("p{i}")) {
                    let ips: Vec<_> = subs
                        .iter()
                        .map(|s| json!({"subnet_id": format!("s{s}")}))
                        .collect();
                    p.insert("fixed_ips".into(), json!(ips));
                }
            }
            Step::SetGroupsOfAll(g) => {
                for p in t.values_mut() {
                    p.insert("security_groups".into(), json!([format!("g{g}")]));
                }
            }
            Step::Remove(i) => {
                t.remove(&format!("p{i}"));
            }
            Step::Ask(_) => {}
        }
    }

    /// Every index answer, asked between steps, is the full scan's answer.
    fn answers_agree(indexed: &Table, plain: &Table, k: u8) -> Result<(), TestCaseError> {
        let asks = [
            (&PORTS_BY_NETWORK, format!("n{}", k % 3)),
            (&PORTS_BY_SUBNET, format!("s{k}")),
            (&PORTS_BY_DEVICE, format!("d{}", k % 3)),
            (&PORTS_BY_DEVICE, String::new()),
            (&PORTS_BY_SECURITY_GROUP, format!("g{}", k % 3)),
        ];
        for (def, key) in asks {
            prop_assert_eq!(
                indexed.by(def, &key),
                plain.by(def, &key),
                "{} {}",
                def.name,
                key
            );
        }
        Ok(())
    }

    proptest! {
        /// The port indexes agree with a full scan after any sequence of creates, updates
        /// (one port or all) and deletes, asked between steps or only at the end.
        #[test]
        fn indexes_agree_with_a_full_scan(steps in prop::collection::vec(step(), 0..40)) {
            let mut indexed = ports_table();
            let mut plain = Table::default();
            for s in &steps {
                apply(&mut indexed, s);
                apply(&mut plain, s);
                if let Step::Ask(k) = s {
                    answers_agree(&indexed, &plain, *k)?;
                }
            }
            for k in 0..4 {
                answers_agree(&indexed, &plain, k)?;
            }
            prop_assert!(indexed.indexes_agree());
        }
    }
}
