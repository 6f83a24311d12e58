//! Cinder volume backups (`/backups/detail`; metadata from microversion 3.43, names, no
//! tags; `created_at` without a zone). Deletes are asynchronous (`deleting`, then gone;
//! `error_deleting` is stuck). Cinder refuses a backup in the wrong state, or one with
//! incremental backups on top of it, with 400 ("Incremental backups exist for this
//! backup."), so incrementals go first, newest first. A backup neither blocks nor is
//! blocked by its volume. The API names no parent, only `is_incremental` and
//! `has_dependent_backups`: an incremental builds on the latest backup of the same
//! volume before it, so a backup with dependents is taken to be needed by every
//! incremental of its volume made after it, up to the next full backup (never fewer
//! than the real ones; an unselected one among them keeps it, named).

use std::collections::HashMap;

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource};
use crate::openstack::Service;

/// What the parser keeps about the chain, for [`link`].
const INCREMENTAL: &str = "is_incremental";
const HAS_DEPENDENTS: &str = "has_dependent_backups";
const VOLUME: &str = "volume_id";

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::VolumeBackup,
    name: "volume-backup",
    service: Service::BlockStorage,
    api: Api {
        list_path: "/backups/detail",
        collection: "backups",
        item_prefix: "/backups/",
        item_key: Some("backup"),
    },
    parse,
    tags: false,
    metadata: true,
    deletes_asynchronously: true,
    blockers: &[Kind::VolumeBackup, Kind::Stack],
    rank: 95,
    stuck: &["error_deleting"],
    stuck_after_delete: &[],
    wrong_state_statuses: &[400],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        link: Some(link),
        after_read: Some(keep_chain),
        ..Hooks::NONE
    },
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::VolumeBackup, v)?;
    let mut r = Resource::new(Kind::VolumeBackup, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("os-backup-project-attr:project_id")?;
    r.metadata = o.string_map("metadata")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("status")?;
    r.description = o.string("description")?;
    let flag = |b: Option<bool>| if b == Some(true) { "true" } else { "false" };
    r.facts
        .insert(INCREMENTAL, flag(o.bool("is_incremental")?).into());
    r.facts
        .insert(HAS_DEPENDENTS, flag(o.bool("has_dependent_backups")?).into());
    r.facts
        .insert(VOLUME, o.str("volume_id")?.unwrap_or_default());
    Ok(r)
}

fn is(r: &Resource, key: &str) -> bool {
    r.facts.get(key).is_some_and(|v| v == "true")
}

/// Makes every incremental need the backups of its volume it may build on: those made
/// before it, back to the last full backup, that say they have dependents.
fn link(resources: &mut [Resource]) {
    let mut chains: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, r) in resources.iter().enumerate() {
        if r.kind == Kind::VolumeBackup {
            let volume = r.facts.get(VOLUME).cloned().unwrap_or_default();
            if !volume.is_empty() {
                chains.entry(volume).or_default().push(i);
            }
        }
    }
    let mut additions: Vec<(usize, String)> = Vec::new();
    for chain in chains.values_mut() {
        chain.sort_by_key(|&i| (resources[i].created_at, resources[i].id.clone()));
        for (pos, &i) in chain.iter().enumerate() {
            if !is(&resources[i], INCREMENTAL) {
                continue;
            }
            for &base in chain[..pos].iter().rev() {
                if is(&resources[base], HAS_DEPENDENTS) {
                    additions.push((i, resources[base].id.clone()));
                }
                if !is(&resources[base], INCREMENTAL) {
                    break;
                }
            }
        }
    }
    for (i, base) in additions {
        let needs = Reference::new(Relation::Needs, Kind::VolumeBackup, base, "parent backup");
        if !resources[i].refs.contains(&needs) {
            resources[i].refs.push(needs);
        }
    }
}

/// Keeps the chain learnt from the inventory, which a show does not repeat.
fn keep_chain(known: &Resource, mut fresh: Resource) -> Option<Resource> {
    fresh.refs.extend(known.refs.iter().cloned());
    Some(fresh)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn backup(id: &str, minute: u32, incremental: bool, dependents: bool) -> Resource {
        parse(&json!({"id": id, "name": format!("ci-{id}"), "volume_id": "v1",
            "status": "available", "is_incremental": incremental,
            "has_dependent_backups": dependents,
            "created_at": format!("2026-11-22T06:{minute:02}:00.000000"),
            "metadata": {"cinder.csi.openstack.org/cluster": "ci"},
            "os-backup-project-attr:project_id": "p"}))
        .unwrap()
    }

    fn needs(r: &Resource) -> Vec<&str> {
        r.refs.iter().map(|x| x.id.as_str()).collect()
    }

    /// Incrementals need the backups below them back to the last full one (only those
    /// with dependents); a full backup needs nothing; metadata and project parse.
    #[test]
    fn chains_are_linked_newest_first() {
        let mut all = vec![
            backup("full1", 1, false, true),
            backup("inc1", 2, true, true),
            backup("inc2", 3, true, false),
            backup("full2", 4, false, true),
            backup("inc3", 5, true, false),
        ];
        link(&mut all);
        assert!(needs(&all[0]).is_empty());
        assert_eq!(needs(&all[1]), vec!["full1"]);
        assert_eq!(needs(&all[2]), vec!["inc1", "full1"]);
        assert!(needs(&all[3]).is_empty());
        assert_eq!(needs(&all[4]), vec!["full2"]);
        assert_eq!(all[0].project_id.as_deref(), Some("p"));
        assert!(all[0].metadata.contains_key("cinder.csi.openstack.org/cluster"));
        assert_eq!(all[0].metadata.len(), 1);
        let mut stuck = backup("x", 1, false, false);
        stuck.status = Some("error_deleting".into());
        assert!(stuck.is_stuck());
    }
}
