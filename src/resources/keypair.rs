//! Nova keypairs: named, no tags; the list has no `created_at`, one keypair's details do.

use serde_json::Value;

use super::{Api, Hooks, Kind, KindSpec, Obj, ParseError, Resource, ResourceError};
use crate::openstack::{ApiError, Service, Session};

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Keypair,
    name: "keypair",
    service: Service::Compute,
    api: Api {
        list_path: "/os-keypairs",
        collection: "keypairs",
        item_prefix: "/os-keypairs/",
        item_key: Some("keypair"),
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Stack],
    rank: 130,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    // List items are wrapped in {"keypair": {...}}; a show answer is unwrapped already.
    let inner = v.get("keypair").unwrap_or(v);
    let o = Obj::new(Kind::Keypair, inner)?;
    let mut r = Resource::new(Kind::Keypair, o.required("name")?);
    r.name = r.id.clone();
    r.created_at = o.time("created_at")?;
    Ok(r)
}

/// Reads one keypair's details (the list has no `created_at`).
pub async fn keypair_details(session: &Session, name: &str) -> Result<Resource, ResourceError> {
    let probe = Resource::new(Kind::Keypair, name);
    super::read(session, &probe)
        .await?
        .ok_or_else(|| ResourceError::Api {
            kind: Kind::Keypair,
            source: ApiError::Other(format!("keypair {name} vanished")),
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// List items are unwrapped; a zone-less `created_at` from the show answer is UTC.
    #[test]
    fn parses_list_and_show_shapes() {
        let listed =
            parse(&json!({"keypair": {"name": "kubernetes-ci", "fingerprint": "x"}})).unwrap();
        assert_eq!(listed.id, "kubernetes-ci");
        assert!(listed.created_at.is_none());
        let shown =
            parse(&json!({"name": "k", "created_at": "2026-11-22T06:14:46.000000"})).unwrap();
        assert!(shown.created_at.is_some());
    }
}
