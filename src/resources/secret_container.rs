//! Barbican secret containers (`key-manager`, `/v1/containers`): named groups of
//! secrets (a TLS certificate, its key and chain). Like secrets, identified by their
//! `container_ref` URL, with no tags and no project in the answer: a name pattern and
//! age mark them. Deleting a container leaves its secrets; it needs them (`Needs`), so
//! they go after it, and a kept container keeps them. A load balancer's listener that
//! refers to it keeps it (see `load_balancer::tls_refs`). Its `consumers` are not read:
//! what they name is the consuming service's own convention.

use serde_json::Value;

use super::secret::{needs, parse_item};
use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::SecretContainer,
    name: "secret-container",
    service: Service::KeyManager,
    api: Api {
        list_path: "/containers",
        collection: "containers",
        item_prefix: "/containers/",
        item_key: None,
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::LoadBalancer, Kind::Stack],
    rank: 150,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::SecretContainer, v)?;
    let mut r = parse_item(&o, Kind::SecretContainer, "container_ref", "a container's")?;
    for member in o.objs("secret_refs")? {
        if let Some(reference) = needs(&member.required("secret_ref")?, "secret of the container")
        {
            if !r.refs.contains(&reference) {
                r.refs.push(reference);
            }
        }
    }
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::resources::Relation;
    use serde_json::json;

    /// The ID comes from `container_ref`; each member secret is needed, once.
    #[test]
    fn parses_a_container() {
        let r = parse(&json!({"container_ref": "http://k/key-manager/v1/containers/c1",
            "name": "ci-tls", "type": "certificate", "status": "ACTIVE",
            "created": "2026-11-22T06:11:02", "consumers": [],
            "secret_refs": [
                {"name": "certificate", "secret_ref": "http://k/key-manager/v1/secrets/s1"},
                {"name": "private_key", "secret_ref": "http://k/key-manager/v1/secrets/s2"},
                {"name": "intermediates", "secret_ref": "http://k/key-manager/v1/secrets/s1"}]}))
        .unwrap();
        assert_eq!(r.id, "c1");
        let refs: Vec<_> = r
            .refs
            .iter()
            .map(|x| (x.relation, x.kind, x.id.as_str()))
            .collect();
        assert_eq!(
            refs,
            vec![
                (Relation::Needs, Some(Kind::Secret), "s1"),
                (Relation::Needs, Some(Kind::Secret), "s2")
            ]
        );
        assert!(parse(&json!({"container_ref": "http://k/v1/secrets/s1"})).is_err());
    }
}
