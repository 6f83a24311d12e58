//! The plan: a dependency graph built from live references, in the order it can be
//! carried out. An edge A → B means "A must be gone (or detached) before B can go".
//! A selected resource that an unselected one still needs, or whose deletion would
//! change an unselected one (the router a subnet goes out through, a server whose delete
//! takes a volume along, a port holding an address another port pairs), is skipped with
//! its blocker named, and so is everything waiting on it; cycles are reported, not
//! looped on.
//! Knows nothing of HTTP.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use serde::Serialize;

use crate::engine::inventory::Inventory;
use crate::engine::select::Selection;
use crate::resources::{self, Detach, Kind, Relation, Resource, ResourceKey};

/// What a step does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "type")]
pub enum Action {
    /// Delete the resource (after re-reading it), then, for kinds the cloud deletes
    /// asynchronously, wait until it is gone.
    Delete,
    /// A detach action of the resource's (extra routes, router interface, gateway,
    /// floating IP).
    Detach {
        /// The action.
        detach: Detach,
    },
    /// An unselected resource the cloud deletes with its owner (a server's port): wait
    /// until it is gone before what it holds can go; never deleted by us.
    AwaitGone {
        /// The owner whose deletion takes it away.
        owner: ResourceKey,
    },
}

impl Action {
    /// `delete`, `detach` or `await-gone`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Action::Delete => "delete",
            Action::Detach { .. } => "detach",
            Action::AwaitGone { .. } => "await-gone",
        }
    }
}

/// One step of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct Step {
    /// 1-based position in the plan.
    pub number: usize,
    /// The resource's kind.
    pub kind: Kind,
    /// The resource's ID.
    pub id: String,
    /// The resource's name.
    pub name: String,
    /// What the step does.
    pub action: Action,
    /// Steps (by number) that must be done first.
    pub after: Vec<usize>,
}

impl Step {
    /// The resource this step acts on.
    pub fn key(&self) -> ResourceKey {
        ResourceKey::new(self.kind, self.id.clone())
    }

    /// A short description of what the step does.
    pub fn describe(&self) -> String {
        match &self.action {
            Action::Delete => "delete".into(),
            Action::Detach { detach } => detach.describe(),
            Action::AwaitGone { owner } => format!("wait until gone with {owner}"),
        }
    }
}

/// A selected resource the plan leaves alone, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// Kind.
    pub kind: Kind,
    /// ID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Why (`skipped: in use by port 1234 (unselected)`).
    pub reason: String,
}

/// The ordered steps, the skipped resources and any cycles.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    /// Steps in an order that respects every edge.
    pub steps: Vec<Step>,
    /// Selected resources that will not be deleted, with the reason.
    pub skipped: Vec<Skipped>,
    /// Dependency cycles found (each as the labels of its members); their members are
    /// skipped.
    pub cycles: Vec<Vec<String>>,
}

impl Plan {
    /// How many delete steps (the resources the sweep would delete).
    pub fn delete_count(&self) -> usize {
        self.steps
            .iter()
            .filter(|s| s.action == Action::Delete)
            .count()
    }

    /// Whether nothing is to be done and nothing is skipped.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.skipped.is_empty()
    }

    /// A human table of the steps, then the skipped resources with their reasons.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let detaches = self
            .steps
            .iter()
            .filter(|s| matches!(s.action, Action::Detach { .. }))
            .count();
        let waits = self
            .steps
            .iter()
            .filter(|s| matches!(s.action, Action::AwaitGone { .. }))
            .count();
        let _ = writeln!(
            out,
            "Plan: {} deletes, {} detaches, {} waits; {} skipped",
            self.delete_count(),
            detaches,
            waits,
            self.skipped.len()
        );
        let rows: Vec<[String; 7]> = self
            .steps
            .iter()
            .map(|s| {
                let after: Vec<String> = s.after.iter().map(|n| n.to_string()).collect();
                let detail = match &s.action {
                    Action::Delete => String::new(),
                    Action::Detach { detach } => detach.short(),
                    Action::AwaitGone { owner } => format!("goes with {owner}"),
                };
                let number = s.number.to_string();
                let (action, kind) = (s.action.as_str().to_string(), s.kind.to_string());
                [
                    number,
                    action,
                    kind,
                    s.id.clone(),
                    s.name.clone(),
                    after.join(","),
                    detail,
                ]
            })
            .collect();
        let header = ["#", "ACTION", "KIND", "ID", "NAME", "AFTER", "DETAIL"];
        render_table(&mut out, &header, &rows);
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\nSkipped:");
            let rows: Vec<[String; 4]> = self
                .skipped
                .iter()
                .map(|s| {
                    [
                        s.kind.to_string(),
                        s.id.clone(),
                        s.name.clone(),
                        s.reason.clone(),
                    ]
                })
                .collect();
            render_table(&mut out, &["KIND", "ID", "NAME", "REASON"], &rows);
        }
        for cycle in &self.cycles {
            let _ = writeln!(out, "Cycle: {}", cycle.join(" -> "));
        }
        out
    }
}

/// Writes rows as left-aligned columns (the last one unpadded).
pub(crate) fn render_table<const N: usize>(
    out: &mut String,
    header: &[&str; N],
    rows: &[[String; N]],
) {
    let mut widths = header.map(str::len);
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<w$}  ", w = widths[i]);
            }
        }
        let _ = writeln!(out, "  {}", text.trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// A node of the graph: a resource's deletion, or one of its detach actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NodeKind {
    Delete,
    Detach(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Selected: we carry it out.
    Active,
    /// Unselected, gone with an owner we delete: we wait for it.
    Await(usize),
    /// Unselected (or waiting on an owner that will not go): stays.
    Stays,
    /// Selected but left alone: reason, and the root blocker named in reasons downstream.
    Skipped { reason: String, root: String },
}

impl State {
    fn happens(&self) -> bool {
        matches!(self, State::Active | State::Await(_))
    }
}

/// An edge's meaning for the reason given when its source does not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Why {
    /// Order: the target waits for the source.
    Order,
    /// No order: the source keeps the target (a rule's group refers to it, a subnet
    /// goes out through it, a volume would be deleted with it); the role says how.
    Keeps(&'static str),
    /// [`Why::Keeps`] from a resource expected to go with its owner (a port passed to a
    /// selected server may outlive it instead): the target also waits until it is gone,
    /// and stays with it.
    KeepsUntilGone(&'static str),
    /// The target is attached to the source.
    Attached,
    /// The target is attached to the source, which the cloud removes with its owner:
    /// the target waits for it to go (and stays with it if it does not).
    AttachedUntilGone,
}

impl Why {
    /// A total order for sorting edges.
    fn rank(self) -> (u8, &'static str) {
        match self {
            Why::Order => (0, ""),
            Why::Keeps(role) => (1, role),
            Why::KeepsUntilGone(role) => (4, role),
            Why::Attached => (2, ""),
            Why::AttachedUntilGone => (3, ""),
        }
    }

    /// Whether the edge also orders its ends.
    fn orders(self) -> bool {
        matches!(
            self,
            Why::Order | Why::AttachedUntilGone | Why::KeepsUntilGone(_)
        )
    }
}

struct Graph<'a> {
    inventory: &'a Inventory,
    /// (resource index, node kind)
    nodes: Vec<(usize, NodeKind)>,
    /// first node index of each resource's detach nodes
    detach_base: Vec<usize>,
    state: Vec<State>,
    /// (from, to, why): `to` happens only if `from` happens; edges whose `why` [`Why::orders`]
    /// also order.
    edges: Vec<(usize, usize, Why)>,
    /// resource index → reason it is blocked by something not listed
    external: Vec<Option<String>>,
    /// resource index → the node whose completion makes the cloud remove it
    owner: Vec<Option<usize>>,
    /// resource index → selected
    selected: Vec<bool>,
}

impl<'a> Graph<'a> {
    fn res(&self, node: usize) -> &'a Resource {
        &self.inventory.resources()[self.nodes[node].0]
    }

    fn label(&self, node: usize) -> String {
        let r = self.res(node);
        match self.nodes[node].1 {
            NodeKind::Delete => r.label(),
            NodeKind::Detach(d) => r.detach[d].describe(),
        }
    }

    /// Every node of resource `i`: its detaches and its deletion.
    fn all_nodes(&self, i: usize) -> Vec<usize> {
        let r = &self.inventory.resources()[i];
        let mut v: Vec<usize> = (0..r.detach.len())
            .map(|d| self.detach_base[i] + d)
            .collect();
        v.push(i);
        v
    }

    /// The node whose completion frees what resource `i` references.
    fn release(&self, i: usize) -> usize {
        let r = &self.inventory.resources()[i];
        r.detach
            .iter()
            .position(Detach::releases_owner)
            .map_or(i, |d| self.detach_base[i] + d)
    }
}

/// Builds the plan for the selected resources of `inventory`.
pub fn build(inventory: &Inventory, selection: &Selection) -> Plan {
    let resources = inventory.resources();
    let n = resources.len();
    let index: HashMap<ResourceKey, usize> = resources
        .iter()
        .enumerate()
        .map(|(i, r)| (r.key(), i))
        .collect();
    let mut nodes: Vec<(usize, NodeKind)> = (0..n).map(|i| (i, NodeKind::Delete)).collect();
    let mut detach_base = Vec::with_capacity(n);
    for (i, r) in resources.iter().enumerate() {
        detach_base.push(nodes.len());
        nodes.extend((0..r.detach.len()).map(|d| (i, NodeKind::Detach(d))));
    }
    let state = nodes
        .iter()
        .map(|&(i, kind)| {
            let r = &resources[i];
            if !selection.is_selected(&r.key()) {
                return State::Stays;
            }
            match (kind, inventory.unverifiable(r.kind)) {
                (NodeKind::Delete, Some((failed, error))) => State::Skipped {
                    reason: format!("skipped: cannot tell whether it is in use: listing {failed}s failed ({error})"),
                    root: format!("a failed {failed} listing"),
                },
                _ => State::Active,
            }
        })
        .collect();
    let mut g = Graph {
        inventory,
        nodes,
        detach_base,
        state,
        edges: Vec::new(),
        external: vec![None; n],
        owner: vec![None; n],
        selected: resources
            .iter()
            .map(|r| selection.is_selected(&r.key()))
            .collect(),
    };
    let resolve = |r: &crate::resources::Reference| -> Option<usize> {
        inventory
            .resolve(r)
            .and_then(|t| index.get(&t.key()).copied())
    };
    // Attachments are wired once every owner is known: which way depends on whether the
    // resource attached to goes with its owner.
    let mut attached: Vec<(usize, usize)> = Vec::new();
    // (needing, needed) and (taker, taken) pairs, for `follow_takers`.
    let mut needs: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut takes: Vec<(usize, usize)> = Vec::new();
    for (i, r) in resources.iter().enumerate() {
        for d in 0..r.detach.len() {
            g.edges.push((g.detach_base[i] + d, i, Why::Order));
        }
        // Routes go before the interfaces they go through.
        let routes = r
            .detach
            .iter()
            .position(|x| matches!(x, Detach::RouterRoutes { .. }));
        if let Some(routes) = routes {
            for (d, x) in r.detach.iter().enumerate() {
                if matches!(x, Detach::RouterInterface { .. }) {
                    let (from, to) = (g.detach_base[i] + routes, g.detach_base[i] + d);
                    g.edges.push((from, to, Why::Order));
                }
            }
        }
        for reference in &r.refs {
            let target = resolve(reference);
            match (reference.relation, target) {
                (Relation::Owns, _) => {}
                (_, None)
                    if inventory.is_stale_attachment(reference)
                        || inventory.is_orphan_binding(reference) => {}
                (Relation::HeldBy | Relation::OwnedBy, None) => {
                    let what = reference.kind.map_or(reference.role, Kind::as_str);
                    g.external[i] = Some(format!(
                        "{what} {} (not listed in this project)",
                        reference.id
                    ));
                }
                (_, None) => {}
                (Relation::Needs, Some(t)) => {
                    needs.insert((i, t));
                    let from = g.release(i);
                    for to in g.all_nodes(t) {
                        g.edges.push((from, to, Why::Order));
                    }
                }
                (Relation::AttachedTo, Some(t)) => attached.push((i, t)),
                (Relation::HeldBy, Some(t)) => {
                    for to in g.all_nodes(i) {
                        g.edges.push((t, to, Why::Order));
                    }
                }
                (Relation::OwnedBy, Some(t)) => {
                    let owner = owner_node(&g, t, r, reference.role);
                    for to in g.all_nodes(i) {
                        g.edges.push((owner, to, Why::Order));
                    }
                    g.owner[i] = Some(owner);
                    if g.state[i] == State::Stays {
                        g.state[i] = State::Await(owner);
                    }
                }
                (Relation::Guards, Some(t)) => g.edges.push((i, t, Why::Keeps(reference.role))),
                // The target's deletion comes with ours: we go only if it may.
                (Relation::Takes, Some(t)) => {
                    takes.push((i, t));
                    g.edges.push((t, i, Why::Keeps(reference.role)));
                }
            }
        }
    }
    for &(i, t) in &attached {
        wire_attachment(&mut g, i, t);
    }
    keep_owners_too(&mut g);
    // A keeper expected to go with its owner may stay after all: what it keeps waits
    // until it is gone, detaches included (they change it too).
    let mut waits = Vec::new();
    for &(from, to, why) in &g.edges {
        if let Why::Keeps(role) = why {
            // Selected or not: a blocked selected one is waited for too, not deleted.
            if g.owner[g.nodes[from].0].is_some_and(|o| o != to) {
                let kept = g.nodes[to].0;
                for node in g.all_nodes(kept) {
                    waits.push((from, node, Why::KeepsUntilGone(role)));
                }
            }
        }
    }
    g.edges.extend(waits);
    release_after_awaited(&mut g, &attached);
    g.edges.retain(|(a, b, _)| a != b);
    g.edges.sort_by_key(|&(a, b, w)| (a, b, w.rank()));
    g.edges.dedup();
    let taken_needing: Vec<(usize, usize)> = takes
        .into_iter()
        .filter(|&(taker, taken)| needs.contains(&(taken, taker)))
        .collect();
    if !taken_needing.is_empty() {
        propagate(&mut g);
        follow_takers(&mut g, &taken_needing);
    }
    let mut cycles = Vec::new();
    let order = loop {
        propagate(&mut g);
        match topo_order(&g) {
            Ok(order) => break order,
            Err(cycle) => {
                let labels: Vec<String> = cycle.iter().map(|&c| g.label(c)).collect();
                let text = labels.join(" -> ");
                for &c in &cycle {
                    g.state[c] = State::Skipped {
                        reason: format!("skipped: in a dependency cycle: {text}"),
                        root: "a dependency cycle".into(),
                    };
                }
                cycles.push(labels);
            }
        }
    };
    assemble(&g, order, cycles, selection)
}

/// A resource that needs its taker gone last (a Designate recordset, deleted before its
/// zone) while the taker's delete takes it (the zone's delete deletes its recordsets):
/// when both go, deleting it first only races the taker's own delete (Designate's
/// worker, still updating the zone for the recordset's delete, can leave the zone in
/// `ERROR`). Its step then comes after the taker's, and finds it gone with the taker.
/// Where the taker stays (a zone holding a recordset we keep), it still goes alone.
/// `pairs` holds (taker, taken); `g` has been propagated once.
fn follow_takers(g: &mut Graph<'_>, pairs: &[(usize, usize)]) {
    let goes = |i: usize| g.all_nodes(i).iter().all(|&n| g.state[n] == State::Active);
    let both_go: Vec<(usize, usize)> = pairs
        .iter()
        .copied()
        .filter(|&(taker, taken)| goes(taker) && goes(taken))
        .collect();
    if both_go.is_empty() {
        return;
    }
    // The `Needs` order edges (taken first) go; the taker's delete comes first instead.
    let mut first: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut add = Vec::new();
    for &(taker, taken) in &both_go {
        let release = g.release(taken);
        first.extend(g.all_nodes(taker).into_iter().map(|to| (release, to)));
        add.extend(
            g.all_nodes(taken)
                .into_iter()
                .map(|to| (taker, to, Why::Order)),
        );
    }
    g.edges
        .retain(|&(a, b, why)| !(why == Why::Order && first.contains(&(a, b))));
    g.edges.extend(add);
    g.edges.sort_by_key(|&(a, b, w)| (a, b, w.rank()));
    g.edges.dedup();
}

/// Wires resource `i`, attached to `t` (a floating IP to its port). Normally `i` lets go
/// of `t` first. But an unselected `t` that is only expected to go with its owner (a
/// server's port) may stay after all (a port passed to Nova outlives the server):
/// letting go of it first would detach `i` from a kept resource, so `i` waits until `t`
/// is gone, and stays with it.
fn wire_attachment(g: &mut Graph<'_>, i: usize, t: usize) {
    let rides_owner = !g.selected[t] && g.owner[t].is_some();
    if rides_owner {
        for to in g.all_nodes(i) {
            g.edges.push((t, to, Why::AttachedUntilGone));
        }
        return;
    }
    let from = g.release(i);
    for to in g.all_nodes(t) {
        g.edges.push((from, to, Why::Order));
    }
    for to in g.all_nodes(i) {
        g.edges.push((t, to, Why::Attached));
    }
}

/// A selected `t` that `i` is attached to (a floating IP's port) may stay after all when
/// its delete waits on something only expected to go with its owner (a port passed to
/// Nova, pairing `t`'s address, may outlive its server and keep `t`). Letting go of `t`
/// first would then have detached `i` from a kept resource: `i` lets go only once every
/// such awaited resource is gone, and stays when one stays.
fn release_after_awaited(g: &mut Graph<'_>, attached: &[(usize, usize)]) {
    let mut into: Vec<Vec<usize>> = vec![Vec::new(); g.nodes.len()];
    for &(from, to, why) in &g.edges {
        if why.orders() {
            into[to].push(from);
        }
    }
    let mut waits = Vec::new();
    for &(i, t) in attached.iter().filter(|&&(_, t)| g.selected[t]) {
        let mut seen: BTreeSet<usize> = BTreeSet::new();
        let mut stack = vec![t];
        while let Some(node) = stack.pop() {
            for &from in &into[node] {
                if seen.insert(from) {
                    stack.push(from);
                }
            }
        }
        let awaited = seen
            .into_iter()
            .filter(|&a| matches!(g.state[a], State::Await(_)) && g.nodes[a].0 != i);
        for a in awaited {
            waits.extend(g.all_nodes(i).into_iter().map(|to| (a, to, Why::Order)));
        }
    }
    g.edges.extend(waits);
}

/// What the cloud deletes with its owner (a server's port, a stack's router) can only
/// be kept by keeping the owner: every keeping edge into an owned resource also keeps
/// its owners, up the chain.
fn keep_owners_too(g: &mut Graph<'_>) {
    let mut seen: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut todo: Vec<(usize, usize, Why)> = g
        .edges
        .iter()
        .filter(|(_, _, why)| matches!(why, Why::Keeps(_) | Why::KeepsUntilGone(_)))
        .copied()
        .collect();
    while let Some((from, to, why)) = todo.pop() {
        let owned = g.nodes[to];
        let Some(owner) = g.owner[owned.0].filter(|_| owned.1 == NodeKind::Delete) else {
            continue;
        };
        let keeper = g.nodes[from].0;
        if g.owner[keeper] == Some(owner) {
            // Keeper and kept go with the same owner, or one of them outlives it (a port
            // passed to Nova): which, the API does not say, so the owner stays.
            if !g.selected[keeper] && g.state[owner] == State::Active {
                let (Why::Keeps(role) | Why::KeepsUntilGone(role)) = why else {
                    continue;
                };
                let root = format!("{} (unselected)", g.label(from));
                g.state[owner] = State::Skipped {
                    reason: format!("skipped: {} {root}", keeps_reason(role)),
                    root,
                };
            }
            continue;
        }
        if owner != from && seen.insert((from, owner)) {
            g.edges.push((from, owner, why));
            todo.push((from, owner, why));
        }
    }
}

/// The node whose completion removes a resource owned by `t` (a router interface port
/// goes with its interface's removal, everything else with its owner's deletion).
fn owner_node(g: &Graph<'_>, t: usize, owned: &Resource, role: &str) -> usize {
    let owner = &g.inventory.resources()[t];
    if role == "router interface" {
        if let Some(d) = owner.detach.iter().position(|d| {
            matches!(d, Detach::RouterInterface { .. }) && d.port() == Some(owned.id.as_str())
        }) {
            return g.detach_base[t] + d;
        }
    }
    t
}

/// Spreads "does not happen" along edges until nothing changes.
fn propagate(g: &mut Graph<'_>) {
    loop {
        let mut changed = false;
        for node in 0..g.nodes.len() {
            if let State::Await(owner) = g.state[node] {
                if !g.state[owner].happens() {
                    g.state[node] = if g.selected[g.nodes[node].0] {
                        blocked_state(g, owner, Why::Order)
                    } else {
                        State::Stays
                    };
                    changed = true;
                }
            }
        }
        for i in 0..g.external.len() {
            if let Some(blocker) = &g.external[i] {
                if g.state[i].happens() {
                    g.state[i] = State::Skipped {
                        reason: format!("skipped: in use by {blocker}"),
                        root: blocker.clone(),
                    };
                    changed = true;
                }
            }
        }
        for e in 0..g.edges.len() {
            let (from, to, why) = g.edges[e];
            // Waiting for something the cloud removes with its owner does not depend on
            // anything but that owner.
            let awaited = matches!(g.state[to], State::Await(owner) if owner != from);
            if g.state[to].happens() && !g.state[from].happens() && !awaited {
                // A selected resource its owner's deletion takes away is waited for,
                // not deleted, when something else keeps us from deleting it.
                let owner = match g.nodes[to] {
                    (i, NodeKind::Delete) => {
                        g.owner[i].filter(|&o| o != from && g.state[o].happens())
                    }
                    _ => None,
                };
                g.state[to] = match owner {
                    Some(o) => State::Await(o),
                    None => blocked_state(g, from, why),
                };
                changed = true;
            }
        }
        // A detach is only worth doing for a resource that is then deleted.
        for i in 0..g.external.len() {
            if let State::Skipped { root, .. } = g.state[i].clone() {
                for node in g.all_nodes(i) {
                    if node != i && g.state[node].happens() {
                        g.state[node] = State::Skipped {
                            reason: format!("skipped: {} is skipped", g.res(i).label()),
                            root: root.clone(),
                        };
                        changed = true;
                    }
                }
            }
        }
        if !changed {
            return;
        }
    }
}

fn blocked_state(g: &Graph<'_>, from: usize, why: Why) -> State {
    // A detach of something we keep (a kept floating IP on a selected port) never
    // happens: the kept resource is the blocker to name.
    let (owner, node) = g.nodes[from];
    let kept_detach = matches!(node, NodeKind::Detach(_)) && !g.selected[owner];
    let label = match kept_detach {
        true => g.res(from).label(),
        false => g.label(from),
    };
    let direct = |what: &str| {
        let root = format!("{label} (unselected)");
        State::Skipped {
            reason: format!("skipped: {what} {root}"),
            root,
        }
    };
    match (&g.state[from], why) {
        (State::Skipped { root, .. }, Why::Order) => State::Skipped {
            reason: format!("skipped: waits on {label}, blocked by {root}"),
            root: root.clone(),
        },
        (State::Skipped { root, .. }, _) => State::Skipped {
            reason: format!("skipped: {label} stays, blocked by {root}"),
            root: root.clone(),
        },
        (_, Why::Keeps(role) | Why::KeepsUntilGone(role)) => direct(keeps_reason(role)),
        (_, Why::Attached | Why::AttachedUntilGone) => direct("attached to"),
        (_, Why::Order) if node == NodeKind::Delete || kept_detach => direct("in use by"),
        (_, Why::Order) => direct("waits on"),
    }
}

/// How a resource that keeps another is named in the kept one's reason.
fn keeps_reason(role: &str) -> &'static str {
    match role {
        resources::ROUTER_OF_SUBNET => "its interface is the way out of",
        resources::DELETED_WITH_SERVER | resources::DELETED_WITH_ZONE => "deleting it would delete",
        resources::ALLOWED_ADDRESS_PAIR => "its address is an allowed address pair of",
        resources::ROUTE_NEXTHOP => "a route of it goes through",
        _ => "a rule of it refers to it:",
    }
}

/// Kahn's algorithm over happening nodes, ties broken by (kind, action, name) so plans are
/// stable; `Err` with one cycle when some nodes cannot be ordered.
fn topo_order(g: &Graph<'_>) -> Result<Vec<usize>, Vec<usize>> {
    let live: Vec<bool> = g.state.iter().map(State::happens).collect();
    let mut indegree = vec![0usize; g.nodes.len()];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); g.nodes.len()];
    for &(a, b, why) in &g.edges {
        if why.orders() && live[a] && live[b] {
            indegree[b] += 1;
            out[a].push(b);
        }
    }
    let sort_key = |node: usize| {
        let r = g.res(node);
        let (action, detach) = match g.nodes[node].1 {
            NodeKind::Detach(d) => (0u8, d),
            NodeKind::Delete if matches!(g.state[node], State::Await(_)) => (2, 0),
            NodeKind::Delete => (1, 0),
        };
        // The inventory is in kind and name order, so its index breaks ties stably.
        (r.kind.rank(), action, g.nodes[node].0, detach, node)
    };
    let mut ready: BTreeSet<_> = (0..g.nodes.len())
        .filter(|&n| live[n] && indegree[n] == 0)
        .map(sort_key)
        .collect();
    let mut order = Vec::new();
    while let Some(first) = ready.pop_first() {
        let node = first.4;
        order.push(node);
        for &next in &out[node] {
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.insert(sort_key(next));
            }
        }
    }
    let left: Vec<usize> = (0..g.nodes.len())
        .filter(|&n| live[n] && indegree[n] > 0)
        .collect();
    if left.is_empty() {
        return Ok(order);
    }
    Err(find_cycle(&left, &out, &indegree))
}

/// Walks backwards from a leftover node along leftover predecessors until a node repeats.
fn find_cycle(left: &[usize], out: &[Vec<usize>], indegree: &[usize]) -> Vec<usize> {
    let mut preds: HashMap<usize, usize> = HashMap::new();
    for &a in left {
        for &b in &out[a] {
            if indegree[b] > 0 {
                preds.entry(b).or_insert(a);
            }
        }
    }
    let mut seen: Vec<usize> = Vec::new();
    let mut node = left[0];
    while !seen.contains(&node) {
        seen.push(node);
        match preds.get(&node) {
            Some(&p) => node = p,
            None => return vec![node],
        }
    }
    let start = seen.iter().position(|&x| x == node).unwrap_or(0);
    let mut cycle = seen[start..].to_vec();
    cycle.reverse();
    cycle
}

fn assemble(
    g: &Graph<'_>,
    order: Vec<usize>,
    cycles: Vec<Vec<String>>,
    selection: &Selection,
) -> Plan {
    let mut number = vec![0usize; g.nodes.len()];
    for (pos, &node) in order.iter().enumerate() {
        number[node] = pos + 1;
    }
    // Each node's ordering predecessors, gathered once: scanning every edge per step
    // made planning quadratic (0.48 s of a 20,000-resource sweep).
    let mut before: Vec<Vec<usize>> = vec![Vec::new(); g.nodes.len()];
    for &(a, b, why) in &g.edges {
        if why.orders() && number[a] > 0 {
            before[b].push(number[a]);
        }
    }
    let steps = order
        .iter()
        .map(|&node| {
            let r = g.res(node);
            let action = match (g.nodes[node].1, &g.state[node]) {
                (NodeKind::Detach(d), _) => Action::Detach {
                    detach: r.detach[d].clone(),
                },
                (NodeKind::Delete, State::Await(owner)) => Action::AwaitGone {
                    owner: g.res(*owner).key(),
                },
                (NodeKind::Delete, _) => Action::Delete,
            };
            let mut after = std::mem::take(&mut before[node]);
            after.sort_unstable();
            after.dedup();
            Step {
                number: number[node],
                kind: r.kind,
                id: r.id.clone(),
                name: r.name.clone(),
                action,
                after,
            }
        })
        .collect();
    let mut skipped: Vec<Skipped> = g
        .inventory
        .resources()
        .iter()
        .enumerate()
        .filter(|(_, r)| selection.is_selected(&r.key()))
        .filter_map(|(i, r)| match &g.state[i] {
            State::Skipped { reason, .. } => Some(Skipped {
                kind: r.kind,
                id: r.id.clone(),
                name: r.name.clone(),
                reason: reason.clone(),
            }),
            _ => None,
        })
        .collect();
    // Stable: within a kind, inventory (name) order.
    skipped.sort_by_key(|s| s.kind.rank());
    Plan {
        steps,
        skipped,
        cycles,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::engine::select::{Filters, Marks, Selector};
    use crate::resources::Reference;
    use Kind::*;
    use Relation::*;

    const P: &str = "proj";

    type Ref = (Relation, Kind, &'static str, &'static str);

    /// A resource; `marked` ones are named `ci-<id>` and so selected.
    fn mk(kind: Kind, id: &str, marked: bool, refs: &[Ref]) -> Resource {
        let mut r = Resource::new(kind, id);
        r.name = if marked {
            format!("ci-{id}")
        } else {
            id.to_string()
        };
        r.project_id = Some(P.into());
        for &(relation, kind, id, role) in refs {
            r.refs.push(Reference::new(relation, kind, id, role));
        }
        r
    }

    fn fip(id: &str, marked: bool, port: &'static str, router: Option<&'static str>) -> Resource {
        let mut refs = vec![(AttachedTo, Port, port, "port")];
        refs.extend(router.map(|r| (Needs, Router, r, "router")));
        let mut f = mk(FloatingIp, id, false, &refs);
        if marked {
            f.description = format!("ci-{id}");
        }
        f.detach.push(Detach::FloatingIp {
            floating_ip_id: id.into(),
            port_id: port.into(),
        });
        f
    }

    fn plan_of(resources: Vec<Resource>) -> Plan {
        plan_with(Inventory::new(P, resources))
    }

    fn plan_with(inv: Inventory) -> Plan {
        let name_regex = Some(regex::Regex::new("^ci-").unwrap());
        let selector = Selector::new(
            Marks {
                name_regex,
                ..Marks::default()
            },
            Filters::default(),
        );
        let selection =
            crate::engine::select::evaluate(&inv, &selector.unwrap(), jiff::Timestamp::now());
        build(&inv, &selection)
    }

    fn pos(plan: &Plan, kind: Kind, id: &str, action: &str) -> usize {
        let found = plan
            .steps
            .iter()
            .find(|s| s.kind == kind && s.id == id && s.action.as_str() == action);
        found
            .unwrap_or_else(|| panic!("no {action} {kind} {id}:\n{}", plan.render_text()))
            .number
    }

    fn detach_pos(plan: &Plan, pick: fn(&Detach) -> bool) -> usize {
        let found = plan
            .steps
            .iter()
            .find(|x| matches!(&x.action, Action::Detach { detach } if pick(detach)));
        found.unwrap().number
    }

    fn reason(plan: &Plan, id: &str) -> String {
        plan.skipped
            .iter()
            .find(|s| s.id == id)
            .map(|s| s.reason.clone())
            .unwrap_or_default()
    }

    /// A zone and its recordsets all going: the zone's delete takes them, so their steps
    /// come after it (they find them gone) instead of racing it. A zone that stays (it
    /// holds a recordset we keep) lets its selected recordset go alone, first.
    #[test]
    fn recordsets_follow_their_zone_when_both_go() {
        let zone = |id: &str, records: &[&'static str]| {
            let mut z = mk(Zone, id, true, &[]);
            for &r in records {
                z.refs.push(Reference::new(
                    Takes,
                    Recordset,
                    r,
                    resources::DELETED_WITH_ZONE,
                ));
            }
            z
        };
        let record = |id: &str, marked: bool, zone: &'static str| {
            mk(Recordset, id, marked, &[(Needs, Zone, zone, "zone")])
        };
        let plan = plan_of(vec![
            zone("z1", &["a", "b"]),
            record("a", true, "z1"),
            record("b", true, "z1"),
            zone("z2", &["c", "kept"]),
            record("c", true, "z2"),
            record("kept", false, "z2"),
        ]);
        let z1 = pos(&plan, Zone, "z1", "delete");
        assert!(
            pos(&plan, Recordset, "a", "delete") > z1,
            "{}",
            plan.render_text()
        );
        assert!(pos(&plan, Recordset, "b", "delete") > z1);
        let a = plan.steps.iter().find(|s| s.id == "a").unwrap();
        assert!(a.after.contains(&z1), "{a:?}");
        assert_eq!(plan.delete_count(), 4, "{}", plan.render_text());
        assert!(pos(&plan, Recordset, "c", "delete") > 0);
        assert!(
            reason(&plan, "z2").contains("kept"),
            "{}",
            plan.render_text()
        );
    }

    /// A leaked job (server with a Nova port and a volume, floating IP, router with
    /// interface and gateway, subnet, network, group) is ordered from its references.
    #[test]
    fn leaked_job_order() {
        let net = (Needs, Network, "n", "network");
        let subnet = (Needs, Subnet, "sn", "subnet");
        let mut router = mk(
            Router,
            "r",
            true,
            &[(Needs, Network, "ext", "gateway network")],
        );
        router.detach.push(Detach::RouterGateway {
            router_id: "r".into(),
            network_id: "ext".into(),
        });
        let mut ext = mk(Network, "ext", true, &[]);
        ext.project_id = Some("admin".into());
        let resources = vec![
            mk(Server, "s", true, &[]),
            mk(
                Port,
                "p",
                false,
                &[
                    net,
                    subnet,
                    (Needs, SecurityGroup, "g", "group"),
                    (OwnedBy, Server, "s", "server"),
                ],
            ),
            mk(
                Port,
                "rp",
                false,
                &[net, subnet, (OwnedBy, Router, "r", "router interface")],
            ),
            router,
            fip("f", true, "p", Some("r")),
            mk(Subnet, "sn", true, &[net]),
            mk(Network, "n", true, &[]),
            ext,
            mk(SecurityGroup, "g", true, &[]),
            mk(
                Volume,
                "v",
                true,
                &[(HeldBy, Server, "s", "attached server")],
            ),
        ];
        let plan = plan_of(resources);
        assert!(plan.skipped.is_empty(), "{}", plan.render_text());
        let s = pos(&plan, Server, "s", "delete");
        let p = pos(&plan, Port, "p", "await-gone");
        let rp = pos(&plan, Port, "rp", "await-gone");
        let f_detach = pos(&plan, FloatingIp, "f", "detach");
        let f = pos(&plan, FloatingIp, "f", "delete");
        let iface = detach_pos(&plan, |d| matches!(d, Detach::RouterInterface { .. }));
        let gw = detach_pos(&plan, |d| matches!(d, Detach::RouterGateway { .. }));
        let r = pos(&plan, Router, "r", "delete");
        let (sn, n) = (
            pos(&plan, Subnet, "sn", "delete"),
            pos(&plan, Network, "n", "delete"),
        );
        let g = pos(&plan, SecurityGroup, "g", "delete");
        let v = pos(&plan, Volume, "v", "delete");
        assert!(s < p && s < v && p < f_detach && f_detach < f);
        assert!(f_detach < iface && f_detach < gw && iface < r && gw < r && iface < rp);
        assert!(p < sn && rp < sn && sn < n && p < g);
        assert_eq!(plan.delete_count(), 7);
        assert!(plan.steps.iter().all(|x| x.id != "ext"));
    }

    /// An unselected port keeps its network, subnet and group, and what waits on them.
    #[test]
    fn skip_propagates_with_blocker_named() {
        let plan = plan_of(vec![
            mk(
                Port,
                "keep",
                false,
                &[
                    (Needs, Subnet, "sn", "subnet"),
                    (Needs, SecurityGroup, "g", "group"),
                ],
            ),
            mk(Subnet, "sn", true, &[(Needs, Network, "n", "network")]),
            mk(Network, "n", true, &[]),
            mk(SecurityGroup, "g", true, &[]),
            mk(SecurityGroup, "g2", true, &[]),
        ]);
        assert_eq!(
            reason(&plan, "sn"),
            "skipped: in use by port keep (unselected)"
        );
        assert_eq!(
            reason(&plan, "g"),
            "skipped: in use by port keep (unselected)"
        );
        let expected = "skipped: waits on subnet sn (ci-sn), blocked by port keep (unselected)";
        assert_eq!(reason(&plan, "n"), expected);
        assert_eq!(plan.steps.len(), 1);
        assert_eq!(plan.steps[0].id, "g2");
    }

    /// A group named as remote group by a kept group's rule is kept; a router whose
    /// interface is behind an unselected floating IP is kept, and its detaches too.
    #[test]
    fn guards_and_detaches() {
        let mut router = mk(Router, "r", true, &[]);
        router.detach.push(Detach::RouterGateway {
            router_id: "r".into(),
            network_id: "ext".into(),
        });
        let plan = plan_of(vec![
            mk(
                SecurityGroup,
                "a",
                false,
                &[(Guards, SecurityGroup, "b", "remote group")],
            ),
            mk(SecurityGroup, "b", true, &[]),
            router,
            fip("f", false, "x", Some("r")),
        ]);
        let expected = "skipped: a rule of it refers to it: security-group a (unselected)";
        assert_eq!(reason(&plan, "b"), expected);
        assert!(
            reason(&plan, "r").contains("in use by floating-ip f"),
            "{}",
            plan.render_text()
        );
        assert!(plan.steps.is_empty(), "{}", plan.render_text());
    }

    /// Router `r`'s interface port on subnet `sn`.
    fn interface_port() -> Resource {
        mk(
            Port,
            "rp",
            false,
            &[
                (Needs, Subnet, "sn", "subnet"),
                (OwnedBy, Router, "r", "router interface"),
            ],
        )
    }

    /// A server whose deletion would delete an unselected volume (`delete_on_termination`)
    /// is kept, naming the volume; with the volume selected too, both go, server first.
    #[test]
    fn takes_an_unselected_volume() {
        let server = |id: &str| {
            mk(
                Server,
                id,
                true,
                &[(Takes, Volume, "v", resources::DELETED_WITH_SERVER)],
            )
        };
        let attached = (HeldBy, Server, "s", crate::resources::ATTACHED_SERVER);
        let plan = plan_of(vec![server("s"), mk(Volume, "v", false, &[attached])]);
        assert_eq!(
            reason(&plan, "s"),
            "skipped: deleting it would delete volume v (unselected)"
        );
        assert!(plan.steps.is_empty(), "{}", plan.render_text());
        let plan = plan_of(vec![server("s"), mk(Volume, "v", true, &[attached])]);
        assert!(plan.skipped.is_empty(), "{}", plan.render_text());
        assert!(pos(&plan, Server, "s", "delete") < pos(&plan, Volume, "v", "delete"));
    }

    /// A router with an interface on a subnet we keep is kept (the subnet goes out
    /// through it), and its detaches too; a subnet kept by a port keeps it the same way.
    #[test]
    fn router_of_a_kept_subnet() {
        let router = || {
            let mut r = mk(Router, "r", true, &[]);
            r.detach.push(Detach::RouterGateway {
                router_id: "r".into(),
                network_id: "ext".into(),
            });
            r
        };
        let iface = interface_port();
        let plan = plan_of(vec![router(), iface.clone(), mk(Subnet, "sn", false, &[])]);
        assert_eq!(
            reason(&plan, "r"),
            "skipped: its interface is the way out of subnet sn (unselected)"
        );
        assert!(plan.steps.is_empty(), "{}", plan.render_text());
        let plan = plan_of(vec![
            router(),
            iface.clone(),
            mk(Subnet, "sn", true, &[]),
            mk(Port, "vm", false, &[(Needs, Subnet, "sn", "subnet")]),
        ]);
        assert!(
            reason(&plan, "r").contains("port vm (unselected)"),
            "{}",
            plan.render_text()
        );
        let plan = plan_of(vec![router(), iface, mk(Subnet, "sn", true, &[])]);
        assert!(plan.skipped.is_empty(), "{}", plan.render_text());
    }

    /// Extra routes are cleared before any interface is removed; a route through a port
    /// we keep keeps the router. A port whose address pairs name a kept port's address
    /// goes; the port holding an address a kept port's pairs name stays.
    #[test]
    fn routes_and_address_pairs() {
        let port = |id: &str, marked: bool, address: &str, pair: Option<&'static str>| {
            let mut p = mk(Port, id, marked, &[(Needs, Subnet, "sn", "subnet")]);
            p.addresses.push(address.into());
            if let Some(pair) = pair {
                p.refs.push(Reference::new(
                    Guards,
                    Port,
                    pair,
                    resources::ALLOWED_ADDRESS_PAIR,
                ));
            }
            p
        };
        let router = |nexthop: &'static str| {
            let mut r = mk(
                Router,
                "r",
                true,
                &[(Guards, Port, nexthop, resources::ROUTE_NEXTHOP)],
            );
            r.detach.push(Detach::RouterRoutes {
                router_id: "r".into(),
            });
            r
        };
        let iface = interface_port();
        let subnet = || mk(Subnet, "sn", true, &[]);
        let plan = plan_of(vec![
            router("10.0.0.9"),
            iface.clone(),
            subnet(),
            port("hop", true, "10.0.0.9", None),
        ]);
        let routes = detach_pos(&plan, |d| matches!(d, Detach::RouterRoutes { .. }));
        let remove = detach_pos(&plan, |d| matches!(d, Detach::RouterInterface { .. }));
        assert!(routes < remove, "{}", plan.render_text());
        let plan = plan_of(vec![
            router("10.0.0.9"),
            iface,
            subnet(),
            port("hop", false, "10.0.0.9", None),
        ]);
        assert_eq!(
            reason(&plan, "r"),
            "skipped: a route of it goes through port hop (unselected)"
        );
        let plan = plan_of(vec![
            subnet(),
            port("vip", true, "10.0.0.5", None),
            port("vm", false, "10.0.0.6", Some("10.0.0.5")),
            port("other", true, "10.0.0.7", Some("10.0.0.6")),
        ]);
        assert_eq!(
            reason(&plan, "vip"),
            "skipped: its address is an allowed address pair of port vm (unselected)"
        );
        assert!(pos(&plan, Port, "other", "delete") > 0);
        // The VIP port is a server's (Nova may delete it with the server): the server is
        // kept too, naming the pairing port.
        let mut vip = port("vip", false, "10.0.0.5", None);
        vip.refs
            .push(Reference::new(OwnedBy, Server, "s", "server"));
        let plan = plan_of(vec![
            subnet(),
            mk(Server, "s", true, &[]),
            vip,
            port("vm", false, "10.0.0.6", Some("10.0.0.5")),
        ]);
        assert_eq!(
            reason(&plan, "s"),
            "skipped: its address is an allowed address pair of port vm (unselected)"
        );
        assert!(
            plan.steps.iter().all(|x| x.id != "s"),
            "{}",
            plan.render_text()
        );
        // The pairing port is a selected server's (passed in, it may outlive it): the
        // VIP port waits until it is gone.
        let mut vm = port("vm", false, "10.0.0.6", Some("10.0.0.5"));
        vm.refs.push(Reference::new(OwnedBy, Server, "s", "server"));
        let plan = plan_of(vec![
            subnet(),
            mk(Server, "s", true, &[]),
            port("vip", true, "10.0.0.5", None),
            vm,
        ]);
        let vm = pos(&plan, Port, "vm", "await-gone");
        let vip = pos(&plan, Port, "vip", "delete");
        assert!(
            plan.steps[vip - 1].after.contains(&vm),
            "{}",
            plan.render_text()
        );
    }

    /// An address names a port only within a network: a kept port on another network
    /// holding the address a selected port's pairs name, or a route's next hop on a
    /// subnet the router has no interface on, keeps nothing.
    #[test]
    fn addresses_name_ports_of_one_network() {
        let port = |id: &str, marked: bool, net: &'static str, subnet: &'static str| {
            let mut p = mk(
                Port,
                id,
                marked,
                &[
                    (Needs, Network, net, "network"),
                    (Needs, Subnet, subnet, "subnet"),
                ],
            );
            p.addresses.push("10.0.0.5".into());
            p
        };
        let mut pairing = port("vm", false, "net-a", "sn-a");
        pairing.addresses = vec!["10.0.0.6".into()];
        pairing.refs.push(Reference::new(
            Guards,
            Port,
            "10.0.0.5",
            resources::ALLOWED_ADDRESS_PAIR,
        ));
        let plan = plan_of(vec![
            pairing.clone(),
            port("vip", true, "net-a", "sn-a"),
            port("twin", true, "net-b", "sn-b"),
        ]);
        assert!(reason(&plan, "vip").contains("allowed address pair of port vm"));
        assert!(pos(&plan, Port, "twin", "delete") > 0);

        let mut router = mk(
            Router,
            "r",
            true,
            &[(Guards, Port, "10.0.0.5", resources::ROUTE_NEXTHOP)],
        );
        router.detach.push(Detach::RouterRoutes {
            router_id: "r".into(),
        });
        let plan = plan_of(vec![
            router.clone(),
            interface_port(),
            port("elsewhere", false, "net-b", "sn-b"),
        ]);
        assert!(
            pos(&plan, Router, "r", "delete") > 0,
            "{}",
            plan.render_text()
        );
        let plan = plan_of(vec![
            router,
            interface_port(),
            port("hop", false, "net-a", "sn"),
        ]);
        assert_eq!(
            reason(&plan, "r"),
            "skipped: a route of it goes through port hop (unselected)"
        );
    }

    /// A floating IP attached to a port we keep is kept.
    #[test]
    fn attached_to_kept_port() {
        let plan = plan_of(vec![mk(Port, "p", false, &[]), fip("f", true, "p", None)]);
        assert_eq!(
            reason(&plan, "f"),
            "skipped: attached to port p (unselected)"
        );
        assert!(plan.steps.is_empty());
    }

    /// A floating IP on an unselected port that should go with a selected server waits
    /// until the port is gone (were it detached first and the port outlived the server,
    /// it would have been detached from a kept port); with the server kept, it is kept.
    #[test]
    fn attached_to_port_that_goes_with_its_server() {
        let port =
            |server: &'static str| mk(Port, "p", false, &[(OwnedBy, Server, server, "server")]);
        let plan = plan_of(vec![
            mk(Server, "s", true, &[]),
            port("s"),
            fip("f", true, "p", None),
        ]);
        let s = pos(&plan, Server, "s", "delete");
        let p = pos(&plan, Port, "p", "await-gone");
        let f_detach = pos(&plan, FloatingIp, "f", "detach");
        let f = pos(&plan, FloatingIp, "f", "delete");
        assert!(
            s < p && p < f_detach && f_detach < f,
            "{}",
            plan.render_text()
        );
        let detach_step = &plan.steps[f_detach - 1];
        assert!(detach_step.after.contains(&p), "{}", plan.render_text());

        let plan = plan_of(vec![
            mk(Server, "s", false, &[]),
            port("s"),
            fip("f", true, "p", None),
        ]);
        assert_eq!(
            reason(&plan, "f"),
            "skipped: attached to port p (unselected)"
        );
        assert!(plan.steps.is_empty(), "{}", plan.render_text());
    }

    /// A floating IP on a selected port that a port passed to a selected server keeps
    /// (its address pairs name the port's): the pairing port may outlive the server and
    /// keep the port, so the floating IP lets go only once the pairing port is gone, not
    /// first (it would have been detached from a port that stays).
    #[test]
    fn attached_to_port_kept_until_an_awaited_port_is_gone() {
        let mut vip = mk(Port, "vip", true, &[]);
        vip.addresses.push("10.0.0.5".into());
        let vm = mk(
            Port,
            "vm",
            false,
            &[
                (OwnedBy, Server, "s", "server"),
                (Guards, Port, "10.0.0.5", resources::ALLOWED_ADDRESS_PAIR),
            ],
        );
        let plan = plan_of(vec![
            mk(Server, "s", true, &[]),
            vm,
            vip,
            fip("f", true, "vip", None),
        ]);
        let vm = pos(&plan, Port, "vm", "await-gone");
        for action in ["detach", "delete"] {
            let f = pos(&plan, FloatingIp, "f", action);
            assert!(
                plan.steps[f - 1].after.contains(&vm),
                "{action} of f runs before vm is gone:\n{}",
                plan.render_text()
            );
        }
    }

    /// A volume attached to a server this project cannot see is kept.
    #[test]
    fn unlisted_holder() {
        let plan = plan_of(vec![mk(
            Volume,
            "v",
            true,
            &[(HeldBy, Server, "ghost", "attached")],
        )]);
        let expected = "skipped: in use by server ghost (not listed in this project)";
        assert_eq!(reason(&plan, "v"), expected);
    }

    /// A volume still showing an attachment to a server that is gone (not in a complete
    /// server list) is planned; when the server list failed, it is not.
    #[test]
    fn stale_attachment_is_not_a_blocker() {
        let attached = (HeldBy, Server, "gone", crate::resources::ATTACHED_SERVER);
        let plan = plan_of(vec![mk(Volume, "v", true, &[attached])]);
        assert_eq!(pos(&plan, Volume, "v", "delete"), 1);
        let mut inv = Inventory::new(P, vec![mk(Volume, "v", true, &[attached])]);
        inv.record_error(Server, "HTTP 500");
        assert!(reason(&plan_with(inv), "v").contains("listing servers failed"));
    }

    /// A cycle is reported and its members skipped, not looped on; the rest goes ahead.
    #[test]
    fn cycles_are_reported() {
        let plan = plan_of(vec![
            mk(Volume, "a", true, &[(HeldBy, Volume, "b", "x")]),
            mk(Volume, "b", true, &[(HeldBy, Volume, "a", "x")]),
            mk(Snapshot, "c", true, &[(HeldBy, Volume, "a", "x")]),
            mk(Image, "i", true, &[]),
        ]);
        assert_eq!(plan.cycles.len(), 1);
        assert!(reason(&plan, "a").starts_with("skipped: in a dependency cycle"));
        assert!(reason(&plan, "c").starts_with("skipped: waits on volume a"));
        assert_eq!(plan.steps.len(), 1);
    }

    /// When listing ports failed, networks are not deleted; images still are.
    #[test]
    fn failed_listing_blocks_what_it_could_hold() {
        let mut inv = Inventory::new(
            P,
            vec![mk(Network, "n", true, &[]), mk(Image, "i", true, &[])],
        );
        inv.record_error(Port, "HTTP 500");
        let plan = plan_with(inv);
        assert!(reason(&plan, "n").contains("listing ports failed"));
        assert_eq!(plan.steps.len(), 1);
    }

    /// A trunk: its sub-ports are removed, then it goes, then its parent port and the
    /// sub-ports; its parent port's server goes first.
    #[test]
    fn trunk_order() {
        let mut trunk = mk(
            Trunk,
            "t",
            true,
            &[
                (Needs, Port, "parent", "parent port"),
                (Needs, Port, "sub", "sub-port"),
            ],
        );
        trunk.detach.push(Detach::TrunkSubports {
            trunk_id: "t".into(),
            port_ids: vec!["sub".into()],
        });
        let plan = plan_of(vec![
            mk(Server, "s", true, &[]),
            mk(Port, "parent", true, &[(OwnedBy, Server, "s", "server")]),
            mk(Port, "sub", true, &[(HeldBy, Trunk, "t", "trunk")]),
            trunk.clone(),
        ]);
        assert!(plan.skipped.is_empty(), "{}", plan.render_text());
        let s = pos(&plan, Server, "s", "delete");
        let remove = detach_pos(&plan, |d| matches!(d, Detach::TrunkSubports { .. }));
        let t = pos(&plan, Trunk, "t", "delete");
        let parent = pos(&plan, Port, "parent", "delete");
        let sub = pos(&plan, Port, "sub", "delete");
        assert!(
            s < t && remove < t && t < parent && t < sub,
            "{}",
            plan.render_text()
        );

        // Its parent port's server is kept: the trunk, its ports and its sub-port
        // removal stay, with the server named.
        let plan = plan_of(vec![
            mk(Server, "s", false, &[]),
            mk(Port, "parent", true, &[(OwnedBy, Server, "s", "server")]),
            mk(Port, "sub", true, &[(HeldBy, Trunk, "t", "trunk")]),
            trunk,
        ]);
        assert_eq!(
            reason(&plan, "t"),
            "skipped: in use by server s (unselected)",
            "{}",
            plan.render_text()
        );
        assert!(reason(&plan, "sub").contains("blocked by server s (unselected)"));
        assert!(plan.steps.is_empty(), "{}", plan.render_text());
    }

    /// A port forwarding follows its floating IP: to a selected port it goes before
    /// both; to a kept port it stays, and so does its floating IP, with the port named;
    /// a kept floating IP's forwarding keeps a selected port.
    #[test]
    fn port_forwardings() {
        let pf = |id: &str, fip: &'static str, port: &'static str| {
            mk(
                PortForwarding,
                id,
                false,
                &[
                    (Needs, FloatingIp, fip, "floating IP"),
                    (AttachedTo, Port, port, "internal port"),
                ],
            )
        };
        let free_fip = |id: &str, marked: bool| {
            let mut f = mk(FloatingIp, id, false, &[]);
            if marked {
                f.description = format!("ci-{id}");
            }
            f
        };
        let plan = plan_of(vec![
            free_fip("f", true),
            mk(Port, "job", true, &[]),
            pf("pf-job", "f", "job"),
        ]);
        let forwarding = pos(&plan, PortForwarding, "pf-job", "delete");
        assert!(forwarding < pos(&plan, FloatingIp, "f", "delete"));
        assert!(forwarding < pos(&plan, Port, "job", "delete"));

        let plan = plan_of(vec![
            free_fip("f", true),
            mk(Port, "job", true, &[]),
            mk(Port, "kept", false, &[]),
            pf("pf-job", "f", "job"),
            pf("pf-kept", "f", "kept"),
        ]);
        assert_eq!(
            reason(&plan, "pf-kept"),
            "skipped: attached to port kept (unselected)"
        );
        assert_eq!(
            reason(&plan, "f"),
            "skipped: waits on port-forwarding pf-kept, blocked by port kept (unselected)",
            "{}",
            plan.render_text()
        );
        // The other forwarding and its port still go.
        assert!(pos(&plan, PortForwarding, "pf-job", "delete") < pos(&plan, Port, "job", "delete"));

        let plan = plan_of(vec![
            free_fip("f", false),
            mk(Port, "job", true, &[]),
            pf("pf", "f", "job"),
        ]);
        assert!(plan.skipped.iter().all(|s| s.id != "pf"));
        assert_eq!(
            reason(&plan, "job"),
            "skipped: in use by port-forwarding pf (unselected)"
        );
        assert!(plan.steps.is_empty(), "{}", plan.render_text());
    }

    /// Backups of one volume: incrementals go newest first, before the full backup; an
    /// unselected incremental keeps what it builds on, named.
    #[test]
    fn backup_chains() {
        let backup = |id: &str, minute: u32, incremental: bool, dependents: bool, marked: bool| {
            let name = if marked {
                format!("ci-{id}")
            } else {
                id.to_string()
            };
            crate::resources::parse(
                VolumeBackup,
                &serde_json::json!({"id": id, "name": name, "volume_id": "v",
                    "status": "available", "is_incremental": incremental,
                    "has_dependent_backups": dependents,
                    "os-backup-project-attr:project_id": P,
                    "created_at": format!("2026-11-22T06:{minute:02}:00.000000")}),
            )
            .unwrap()
        };
        let plan = plan_of(vec![
            backup("full", 1, false, true, true),
            backup("inc1", 2, true, true, true),
            backup("inc2", 3, true, false, true),
            mk(Volume, "v", true, &[]),
        ]);
        let full = pos(&plan, VolumeBackup, "full", "delete");
        let inc1 = pos(&plan, VolumeBackup, "inc1", "delete");
        let inc2 = pos(&plan, VolumeBackup, "inc2", "delete");
        assert!(inc2 < inc1 && inc1 < full, "{}", plan.render_text());
        assert_eq!(plan.delete_count(), 4);

        let plan = plan_of(vec![
            backup("full", 1, false, true, true),
            backup("inc1", 2, true, true, true),
            backup("inc2", 3, true, false, false),
            mk(Volume, "v", true, &[]),
        ]);
        assert_eq!(
            reason(&plan, "inc1"),
            "skipped: in use by volume-backup inc2 (unselected)"
        );
        assert!(reason(&plan, "full").contains("volume-backup inc2 (unselected)"));
        // The volume does not wait for its backups.
        assert_eq!(plan.delete_count(), 1);
        pos(&plan, Volume, "v", "delete");
    }

    /// The same inventory gives the same plan whatever order it was listed in.
    #[test]
    fn deterministic() {
        let make = || {
            let subnet = mk(Subnet, "s", true, &[(Needs, Network, "n2", "network")]);
            vec![
                mk(Network, "n1", true, &[]),
                mk(Network, "n2", true, &[]),
                subnet,
            ]
        };
        let a = plan_of(make());
        let mut reversed = make();
        reversed.reverse();
        let b = plan_of(reversed);
        assert_eq!(a.render_text(), b.render_text());
        assert_eq!(
            serde_json::to_string(&a).unwrap(),
            serde_json::to_string(&b).unwrap()
        );
    }
}
