//! Octavia load balancers, deleted with `cascade=true` (listeners, pools, members go
//! with them, and so does the VIP port). `PENDING_*` answers 409 until it settles.

use serde_json::Value;

use super::{
    api_error, item_path, Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation,
    Resource, ResourceError,
};
use crate::openstack::{DeleteOutcome, Service, Session};

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::LoadBalancer,
    name: "load-balancer",
    service: Service::LoadBalancer,
    api: Api {
        list_path: "/lbaas/loadbalancers",
        collection: "loadbalancers",
        item_prefix: "/lbaas/loadbalancers/",
        item_key: Some("loadbalancer"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: true,
    blockers: &[Kind::Stack],
    rank: 10,
    stuck: &[],
    stuck_after_delete: &["ERROR"],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        delete: Some(|session, r| Box::pin(delete(session, r))),
        ..Hooks::NONE
    },
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::LoadBalancer, v)?;
    let mut r = Resource::new(Kind::LoadBalancer, o.required("id")?);
    r.name = o.string("name")?;
    r.project_id = o.str("project_id")?;
    r.tags = o.strings("tags")?;
    r.created_at = o.time("created_at")?;
    r.status = o.str("provisioning_status")?;
    r.description = o.string("description")?;
    if let Some(port) = o.str("vip_port_id")? {
        r.refs
            .push(Reference::new(Relation::Owns, Kind::Port, port, "VIP port"));
    }
    if let Some(subnet) = o.str("vip_subnet_id")? {
        r.refs.push(Reference::new(
            Relation::Needs,
            Kind::Subnet,
            subnet,
            "VIP subnet",
        ));
    }
    Ok(r)
}

/// Deletes with `cascade=true`, so listeners, pools, members and the VIP port go too.
async fn delete(session: &Session, r: &Resource) -> Result<DeleteOutcome, ResourceError> {
    let path = format!("{}?cascade=true", item_path(r));
    session
        .delete(Kind::LoadBalancer.service(), &path)
        .await
        .map_err(api_error(Kind::LoadBalancer))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The VIP port is owned (it goes with the cascade), the VIP subnet needed; the
    /// provisioning status is the status.
    #[test]
    fn parses_a_load_balancer() {
        let r = parse(&json!({"id": "lb1", "name": "kube_service_ci_default_web",
            "provisioning_status": "PENDING_UPDATE", "operating_status": "ONLINE",
            "vip_port_id": "p1", "vip_subnet_id": "s1", "tags": ["ci"], "project_id": "p",
            "created_at": "2026-11-22T06:11:02"}))
        .unwrap();
        assert_eq!(r.status.as_deref(), Some("PENDING_UPDATE"));
        let rels: Vec<_> = r.refs.iter().map(|x| (x.relation, x.kind)).collect();
        assert_eq!(
            rels,
            vec![
                (Relation::Owns, Some(Kind::Port)),
                (Relation::Needs, Some(Kind::Subnet))
            ]
        );
    }
}
