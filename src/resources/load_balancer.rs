//! Octavia load balancers, deleted with `cascade=true` (listeners, pools, members go
//! with them, and so does the VIP port). `PENDING_*` answers 409 until it settles.
//! When the cloud has Barbican, the listeners and pools are listed too (once each,
//! `/lbaas/listeners`, `/lbaas/pools`): the secrets and containers their TLS references
//! name are needed by the load balancer, so they stay while it stays and go only after
//! it.

use serde_json::Value;

use std::collections::HashMap;

use super::secret::needs;
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
        complete: Some(|session, lbs| Box::pin(tls_refs(session, lbs))),
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

/// The role of a load balancer's reference to a secret or container one of its
/// listeners or pools uses.
const LISTENER_TLS: &str = "TLS certificate of its listener or pool";

/// What one listener or pool refers to in Barbican, by load balancer: a listener's
/// default and SNI certificates, client CA and CRL; a pool's client certificate, CA and
/// CRL for its members.
fn listener_refs(v: &Value) -> Result<Vec<(String, Reference)>, ParseError> {
    let o = Obj::new(Kind::LoadBalancer, v)?;
    let mut lbs: Vec<String> = o
        .objs("loadbalancers")?
        .iter()
        .map(|l| l.required("id"))
        .collect::<Result<_, _>>()?;
    if let Some(lb) = o.str("loadbalancer_id")? {
        lbs.push(lb);
    }
    let mut urls = o.strings("sni_container_refs")?;
    for field in [
        "default_tls_container_ref",
        "client_ca_tls_container_ref",
        "client_crl_container_ref",
        "tls_container_ref",
        "ca_tls_container_ref",
        "crl_container_ref",
    ] {
        urls.extend(o.str(field)?);
    }
    let refs: Vec<Reference> = urls.iter().filter_map(|u| needs(u, LISTENER_TLS)).collect();
    Ok(lbs
        .iter()
        .flat_map(|lb| refs.iter().map(move |r| (lb.clone(), r.clone())))
        .collect())
}

/// Gives each load balancer the Barbican secrets and containers its listeners and
/// pools use, when the cloud has Barbican (without it, nothing they name can be swept).
async fn tls_refs(session: &Session, lbs: &mut [Resource]) -> Result<(), ResourceError> {
    if lbs.is_empty() || !session.has_service(Service::KeyManager) {
        return Ok(());
    }
    let mut by_lb: HashMap<String, Vec<Reference>> = HashMap::new();
    for (path, collection) in [("/lbaas/listeners", "listeners"), ("/lbaas/pools", "pools")] {
        let listed = session
            .list_map(Service::LoadBalancer, path, collection, |v| {
                listener_refs(&v)
            })
            .await
            .map_err(api_error(Kind::LoadBalancer))?;
        for pairs in listed {
            for (lb, reference) in pairs? {
                by_lb.entry(lb).or_default().push(reference);
            }
        }
    }
    for lb in lbs {
        for reference in by_lb.remove(&lb.id).into_iter().flatten() {
            if !lb.refs.contains(&reference) {
                lb.refs.push(reference);
            }
        }
    }
    Ok(())
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

    /// A listener's TLS references become its load balancer's needs, by kind.
    #[test]
    fn listener_tls_refs() {
        let pairs = listener_refs(&json!({"id": "l1", "loadbalancers": [{"id": "lb1"}],
            "default_tls_container_ref": "http://k/v1/containers/c1",
            "sni_container_refs": ["http://k/v1/secrets/s1"],
            "client_ca_tls_container_ref": null, "protocol": "TERMINATED_HTTPS"}))
        .unwrap();
        let got: Vec<_> = pairs
            .iter()
            .map(|(lb, r)| (lb.as_str(), r.kind, r.id.as_str(), r.relation))
            .collect();
        assert_eq!(
            got,
            vec![
                ("lb1", Some(Kind::Secret), "s1", Relation::Needs),
                ("lb1", Some(Kind::SecretContainer), "c1", Relation::Needs)
            ]
        );
        assert!(listener_refs(&json!({"id": "l2", "loadbalancers": []}))
            .unwrap()
            .is_empty());
        // A pool's CA for its members (re-encryption) is needed too.
        let pool = listener_refs(&json!({"id": "p1", "loadbalancers": [{"id": "lb2"}],
            "tls_enabled": true, "ca_tls_container_ref": "http://k/v1/secrets/ca",
            "tls_container_ref": null}))
        .unwrap();
        assert_eq!(pool.len(), 1);
        assert_eq!((pool[0].0.as_str(), pool[0].1.id.as_str()), ("lb2", "ca"));
    }
}
