//! Designate zones (`dns`, `/v2/zones`; bare objects, `links.next` pages). No tags (in
//! most deployments): a name pattern (`ci-123.example.org.`), the description and the
//! age mark them. A delete answers 202 and the zone turns `PENDING` with action
//! `DELETE` until it is gone (read here as status `PENDING_DELETE`; an `ERROR` during a
//! delete as `error_deleting`, stuck). Deleting a zone deletes every recordset in it,
//! so a zone **takes** its user recordsets (`Takes`, added by `recordset::link`): one
//! holding a recordset we keep stays, that recordset named. Designate's own SOA and apex
//! NS recordsets are not counted. Read again before its delete, the zone's recordsets
//! are listed again, so a record added since the plan keeps it too.

use serde_json::Value;

use super::recordset::{self, DELETED_WITH_ZONE};
use super::{
    api_error, item_path, Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation,
    Resource, ResourceError,
};
use crate::openstack::{Service, Session};

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Zone,
    name: "zone",
    service: Service::Dns,
    api: Api {
        list_path: "/zones",
        collection: "zones",
        item_prefix: "/zones/",
        item_key: None,
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: true,
    blockers: &[Kind::Recordset, Kind::Stack],
    rank: 180,
    stuck: &["error_deleting"],
    stuck_after_delete: &["ERROR"],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        read: Some(|session, r| Box::pin(read(session, r))),
        ..Hooks::NONE
    },
};

/// Status and action of a Designate zone or recordset as one status: `PENDING_DELETE`
/// while a delete runs (what [`Resource::is_deleting`] knows), `error_deleting` when it
/// failed, else the status as sent.
pub(super) fn designate_status(o: &Obj<'_>) -> Result<Option<String>, ParseError> {
    let status = o.str("status")?;
    let deleting = o.str("action")?.is_some_and(|a| a.eq_ignore_ascii_case("DELETE"));
    Ok(match status {
        Some(s) if deleting && s.eq_ignore_ascii_case("PENDING") => Some("PENDING_DELETE".into()),
        Some(s) if deleting && s.eq_ignore_ascii_case("ERROR") => Some("error_deleting".into()),
        other => other,
    })
}

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Zone, v)?;
    let mut r = Resource::new(Kind::Zone, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("project_id")?;
    r.created_at = o.time("created_at")?;
    r.status = designate_status(&o)?;
    r.description = o.string("description")?;
    Ok(r)
}

/// Shows the zone, then lists its recordsets again: each user recordset is taken along
/// by the zone's delete.
async fn read(session: &Session, r: &Resource) -> Result<Option<Resource>, ResourceError> {
    let body = match session.get(Service::Dns, &item_path(r)).await {
        Ok(body) => body,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(api_error(Kind::Zone)(e)),
    };
    let mut fresh = parse(&body)?;
    if fresh.id != r.id {
        return Err(ParseError {
            kind: Kind::Zone,
            field: "id".into(),
            problem: format!("the answer is about {}, not {}", fresh.id, r.id),
        }
        .into());
    }
    let records = match recordset::list_of_zone(session, &r.id, &r.name).await {
        Ok(records) => records,
        Err(e) if e.api().is_some_and(|a| a.is_not_found()) => return Ok(None),
        Err(e) => return Err(e),
    };
    for rs in records.iter().filter(|rs| !recordset::is_managed(rs)) {
        fresh.refs.push(Reference::new(
            Relation::Takes,
            Kind::Recordset,
            rs.id.clone(),
            DELETED_WITH_ZONE,
        ));
    }
    Ok(Some(fresh))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A zone parses from Designate's bare object; a pending delete reads as
    /// `PENDING_DELETE` (deleting), a failed one as stuck.
    #[test]
    fn parses_a_zone() {
        let z = json!({"id": "z1", "name": "ci-1.example.org.", "email": "ci@example.org",
            "project_id": "p", "status": "ACTIVE", "action": "NONE", "ttl": 3600,
            "serial": 1, "type": "PRIMARY", "description": "ci job 1", "attributes": {},
            "created_at": "2026-11-22T06:11:02.000000", "updated_at": null,
            "links": {"self": "http://d/v2/zones/z1"}});
        let r = parse(&z).unwrap();
        assert_eq!(r.name, "ci-1.example.org.");
        assert_eq!(r.status.as_deref(), Some("ACTIVE"));
        assert!(r.created_at.is_some());
        let mut deleting = z.clone();
        deleting["status"] = json!("PENDING");
        deleting["action"] = json!("DELETE");
        assert!(parse(&deleting).unwrap().is_deleting());
        deleting["status"] = json!("ERROR");
        assert!(parse(&deleting).unwrap().is_stuck());
        let mut creating = z;
        creating["status"] = json!("PENDING");
        creating["action"] = json!("CREATE");
        let r = parse(&creating).unwrap();
        assert!(!r.is_deleting() && !r.is_stuck());
    }
}
