//! Designate recordsets (`/v2/zones/{zone}/recordsets`, listed zone by zone; bare
//! objects, `links.next` pages). No tags: a name pattern, the description and the age
//! mark them. Designate manages each zone's SOA and apex NS recordsets and refuses to
//! delete them (400): they are never candidates, and go only with their zone
//! (`OwnedBy`). A user's recordset needs its zone (one in a zone we keep is deleted
//! alone), and a zone's delete deletes it too: `link` gives each zone a `Takes` on its
//! user recordsets, so a selected zone holding a recordset we keep stays, and when both
//! go the plan lets the zone's delete take it (`plan::follow_takers`). A delete answers 202 and the
//! recordset turns `PENDING` with action `DELETE` until its zone is updated.

use serde_json::Value;

use super::zone::designate_status;
use super::{
    api_error, segment, Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation,
    Resource, ResourceError,
};
use crate::openstack::{Service, Session};

/// The role of a zone's `Takes` on its recordsets.
pub const DELETED_WITH_ZONE: &str = "deleted with the zone";

/// The role of a recordset's reference to its zone.
const ZONE: &str = "zone";

/// What the parser keeps for `is_managed`: the record type and whether it is at the apex.
const TYPE: &str = "type";
const APEX: &str = "apex";

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Recordset,
    name: "recordset",
    service: Service::Dns,
    api: Api {
        list_path: "/zones",
        collection: "recordsets",
        item_prefix: "/zones/",
        item_key: None,
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: true,
    blockers: &[Kind::Stack],
    rank: 170,
    stuck: &["error_deleting"],
    stuck_after_delete: &["ERROR"],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        list: Some(|session| Box::pin(list(session))),
        link: Some(link),
        item_path: Some(path),
        ..Hooks::NONE
    },
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Recordset, v)?;
    let mut r = Resource::new(Kind::Recordset, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("project_id")?;
    r.created_at = o.time("created_at")?;
    r.status = designate_status(&o)?;
    r.description = o.string("description")?;
    let zone = o.required("zone_id")?;
    let kind = o.string("type")?.to_ascii_uppercase();
    let zone_name = o.string("zone_name")?;
    let apex = !zone_name.is_empty() && r.name.eq_ignore_ascii_case(&zone_name);
    // Designate's own go with their zone and nothing else; a user's goes before it.
    let relation = if kind == "SOA" || (kind == "NS" && apex) {
        r.undeletable = Some(format!("the zone's {kind} recordset, managed by Designate"));
        Relation::OwnedBy
    } else {
        Relation::Needs
    };
    r.refs.push(Reference::new(relation, Kind::Zone, zone, ZONE));
    r.facts.insert(TYPE, kind);
    r.facts.insert(APEX, apex.to_string());
    Ok(r)
}

/// Whether Designate manages this recordset (the zone's SOA, its apex NS).
pub(super) fn is_managed(r: &Resource) -> bool {
    r.undeletable.is_some()
}

/// The zone a recordset is in.
fn zone_of(r: &Resource) -> &str {
    r.refs
        .iter()
        .find(|x| x.role == ZONE)
        .map_or("", |x| x.id.as_str())
}

/// `/zones/{zone}/recordsets/{id}`.
fn path(r: &Resource) -> String {
    format!(
        "/zones/{}/recordsets/{}",
        segment(zone_of(r)),
        segment(&r.id)
    )
}

/// Gives each zone a `Takes` on the user recordsets in it (its delete deletes them).
fn link(resources: &mut [Resource]) {
    let taken: Vec<(String, String)> = resources
        .iter()
        .filter(|r| r.kind == Kind::Recordset && !is_managed(r))
        .map(|r| (zone_of(r).to_owned(), r.id.clone()))
        .collect();
    for (zone, record) in taken {
        let owner = resources
            .iter_mut()
            .find(|r| r.kind == Kind::Zone && r.id == zone);
        if let Some(owner) = owner {
            let takes = Reference::new(Relation::Takes, Kind::Recordset, record, DELETED_WITH_ZONE);
            if !owner.refs.contains(&takes) {
                owner.refs.push(takes);
            }
        }
    }
}

/// Every recordset of one zone (`zone_name` fills in what an answer leaves out).
pub(super) async fn list_of_zone(
    session: &Session,
    zone: &str,
    zone_name: &str,
) -> Result<Vec<Resource>, ResourceError> {
    let path = format!("/zones/{}/recordsets", segment(zone));
    let items = session
        .list_map(Service::Dns, &path, "recordsets", |mut v| {
            if let Value::Object(o) = &mut v {
                o.entry("zone_id")
                    .or_insert_with(|| Value::String(zone.to_owned()));
                o.entry("zone_name")
                    .or_insert_with(|| Value::String(zone_name.to_owned()));
            }
            parse(&v)
        })
        .await
        .map_err(api_error(Kind::Recordset))?;
    items.into_iter().map(|r| r.map_err(Into::into)).collect()
}

/// Lists the zones, then the recordsets of each.
async fn list(session: &Session) -> Result<Vec<Resource>, ResourceError> {
    let zones = session
        .list_map(Service::Dns, "/zones", "zones", |v| {
            let id = v.get("id").and_then(Value::as_str).map(str::to_owned);
            let name = v.get("name").and_then(Value::as_str).unwrap_or_default();
            id.map(|id| (id, name.to_owned()))
        })
        .await
        .map_err(api_error(Kind::Recordset))?;
    // Every zone's recordsets at once (the session paces Designate).
    let per_zone = zones.into_iter().flatten();
    let lists = futures::future::join_all(
        per_zone.map(|(zone, name)| async move { list_of_zone(session, &zone, &name).await }),
    )
    .await;
    let mut out = Vec::new();
    for listed in lists {
        match listed {
            Ok(mut records) => out.append(&mut records),
            // The zone went between the two listings: nothing of it is left.
            Err(e) if e.api().is_some_and(|a| a.is_not_found()) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(id: &str, name: &str, kind: &str) -> Resource {
        parse(&json!({"id": id, "zone_id": "z1", "zone_name": "ci-1.example.org.",
            "project_id": "p", "name": name, "type": kind, "records": ["10.0.0.1"],
            "status": "ACTIVE", "action": "NONE", "ttl": null, "description": null,
            "created_at": "2026-11-22T06:11:02.000000"}))
        .unwrap()
    }

    /// SOA and apex NS are Designate's (never candidates); a delegation NS and an A
    /// record are the user's and taken by their zone; a recordset needs its zone.
    #[test]
    fn managed_records_and_zone_links() {
        let soa = rs("r1", "ci-1.example.org.", "SOA");
        let ns = rs("r2", "ci-1.example.org.", "NS");
        let sub_ns = rs("r3", "sub.ci-1.example.org.", "NS");
        let www = rs("r4", "www.ci-1.example.org.", "A");
        assert!(is_managed(&soa) && is_managed(&ns));
        assert!(!is_managed(&sub_ns) && !is_managed(&www));
        assert_eq!(path(&www), "/zones/z1/recordsets/r4");
        assert_eq!(www.refs[0].relation, Relation::Needs);
        assert_eq!(soa.refs[0].relation, Relation::OwnedBy);
        let zone = Resource::new(Kind::Zone, "z1");
        let mut all = vec![soa, ns, sub_ns, www, zone];
        link(&mut all);
        let taken: Vec<&str> = all[4]
            .refs
            .iter()
            .filter(|x| x.relation == Relation::Takes)
            .map(|x| x.id.as_str())
            .collect();
        assert_eq!(taken, vec!["r3", "r4"]);
        assert!(parse(&json!({"id": "r5", "type": "A"})).is_err());
    }
}
