//! Barbican secrets (`key-manager`, `/v1/secrets`). A secret has no ID field, only its
//! `secret_ref` URL, whose last segment is the ID; no tags and no project in the
//! answer, so only a name pattern and its age (`created`, without a zone) mark it.
//! Barbican deletes a secret at once (204) even while a container or a load balancer's
//! listener still refers to it: it refuses nothing, so the janitor keeps it itself. A
//! container's `secret_refs` and a listener's TLS references (see
//! `load_balancer::tls_refs`) are `Needs` on it: a secret referred to by anything kept
//! stays, with that holder named; one referred to by something selected goes after it.
//! An unnamed secret matches no name pattern, so it is never ours: Cinder keeps its
//! encrypted volumes' keys in unnamed secrets, and their `encryption_key_id` is not
//! read (Cinder shows it only from microversion 3.64).

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Secret,
    name: "secret",
    service: Service::KeyManager,
    api: Api {
        list_path: "/secrets",
        collection: "secrets",
        item_prefix: "/secrets/",
        item_key: None,
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::SecretContainer, Kind::LoadBalancer, Kind::Stack],
    rank: 160,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Secret, v)?;
    parse_item(&o, Kind::Secret, "secret_ref", "a secret's")
}

/// What secrets and containers share: the ID from the reference URL in `field` (which
/// must name a `kind`, else `what` URL is refused), the name, age and status.
pub(crate) fn parse_item(
    o: &Obj<'_>,
    kind: Kind,
    field: &str,
    what: &str,
) -> Result<Resource, ParseError> {
    let url = o.required(field)?;
    let id = match barbican_ref(&url) {
        Some((k, id)) if k == kind => id,
        _ => {
            return Err(ParseError {
                kind,
                field: field.into(),
                problem: format!("not {what} URL: {url:?}"),
            })
        }
    };
    let mut r = Resource::new(kind, id);
    r.name = o.string("name")?;
    r.created_at = o.time("created")?;
    r.status = o.str("status")?;
    Ok(r)
}

/// The kind and ID a Barbican reference URL names (`…/v1/secrets/{id}`,
/// `…/v1/containers/{id}`); `None` for anything else.
pub(crate) fn barbican_ref(url: &str) -> Option<(Kind, String)> {
    let path = url.split(['?', '#']).next()?.trim_end_matches('/');
    let mut segments = path.rsplit('/');
    let id = segments.next().filter(|s| !s.is_empty())?;
    let kind = match segments.next()? {
        "secrets" => Kind::Secret,
        "containers" => Kind::SecretContainer,
        _ => return None,
    };
    Some((kind, id.to_owned()))
}

/// A `Needs` reference to the secret or container `url` names, if it names one.
pub(crate) fn needs(url: &str, role: &'static str) -> Option<Reference> {
    let (kind, id) = barbican_ref(url)?;
    Some(Reference::new(Relation::Needs, kind, id, role))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The ID comes from `secret_ref`, the age from `created` (no zone); references
    /// name secrets and containers by their URL's last two segments.
    #[test]
    fn parses_a_secret() {
        let r = parse(&json!({"secret_ref": "https://kms.example:9311/v1/secrets/9a1c",
            "name": "ci-tls-key", "status": "ACTIVE", "secret_type": "private",
            "created": "2026-11-22T06:11:02.805835", "expiration": null,
            "content_types": {"default": "application/octet-stream"}}))
        .unwrap();
        assert_eq!(r.id, "9a1c");
        assert_eq!(r.name, "ci-tls-key");
        assert!(r.created_at.is_some());
        assert!(parse(&json!({"secret_ref": "https://kms/v1/containers/x"})).is_err());
        assert!(parse(&json!({"name": "no ref"})).is_err());
        assert_eq!(
            barbican_ref("http://k/key-manager/v1/containers/c1/"),
            Some((Kind::SecretContainer, "c1".into()))
        );
        assert_eq!(barbican_ref("http://k/v1/orders/o1"), None);
        assert_eq!(barbican_ref(""), None);
    }
}
