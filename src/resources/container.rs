//! Swift containers: named, with no creation time in the list. Their `last_modified`
//! stands in for it: it is never earlier than the creation, so an age taken from it is a
//! lower bound and never makes a container look older than it is. A container must be
//! empty to go: its objects are deleted first.

use serde_json::Value;

use super::{
    api_error, segment, Api, Hooks, Kind, KindSpec, Obj, ParseError, Resource, ResourceError,
};
use crate::openstack::{DeleteOutcome, Service, Session};

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Container,
    name: "container",
    service: Service::ObjectStore,
    api: Api {
        list_path: "?format=json",
        collection: "",
        item_prefix: "/",
        item_key: None,
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::Stack],
    rank: 140,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks {
        read: Some(|session, r| Box::pin(read(session, r))),
        delete: Some(|session, r| Box::pin(delete(session, r))),
        ..Hooks::NONE
    },
};

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Container, v)?;
    let mut r = Resource::new(Kind::Container, o.required("name")?);
    r.name = r.id.clone();
    r.created_at = o.time("last_modified")?;
    Ok(r)
}

fn object_path(container: &str, object: &str) -> String {
    // Object names may hold `/`, which Swift keeps as part of the name.
    let encoded: Vec<String> = object.split('/').map(segment).collect();
    format!("/{}/{}", segment(container), encoded.join("/"))
}

/// Whether the container still exists.
async fn read(session: &Session, r: &Resource) -> Result<Option<Resource>, ResourceError> {
    let path = format!("/{}?format=json&limit=1", segment(&r.id));
    match session.get(Kind::Container.service(), &path).await {
        Ok(_) => Ok(Some(r.clone())),
        Err(e) if e.is_not_found() => Ok(None),
        Err(e) => Err(api_error(Kind::Container)(e)),
    }
}

/// Deletes every object, then the container.
async fn delete(session: &Session, r: &Resource) -> Result<DeleteOutcome, ResourceError> {
    let service = Kind::Container.service();
    let list_path = format!("/{}?format=json", segment(&r.id));
    let objects = match session.list(service, &list_path, "").await {
        Ok(objects) => objects,
        Err(e) if e.is_not_found() => return Ok(DeleteOutcome::AlreadyGone),
        Err(e) => return Err(api_error(Kind::Container)(e)),
    };
    for object in &objects {
        let name = Obj::new(Kind::Container, object)?.required("name")?;
        session
            .delete(service, &object_path(&r.id, &name))
            .await
            .map_err(api_error(Kind::Container))?;
    }
    session
        .delete(service, &format!("/{}", segment(&r.id)))
        .await
        .map_err(api_error(Kind::Container))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// Object paths keep `/` but encode everything else.
    #[test]
    fn object_paths() {
        assert_eq!(object_path("ci logs", "a/b c"), "/ci%20logs/a/b%20c");
    }

    /// A container's age comes from `last_modified` (Swift's zone-less UTC format); without
    /// it the age stays unknown, so an age filter keeps the container.
    #[test]
    fn age_from_last_modified() {
        let v = serde_json::json!({"name": "ci-logs", "count": 2, "bytes": 10,
            "last_modified": "2026-11-22T01:28:54.123456"});
        let r = parse(&v).unwrap();
        assert_eq!(r.id, "ci-logs");
        assert_eq!(
            r.created_at.unwrap().to_string(),
            "2026-11-22T01:28:54.123456Z"
        );
        let bare = parse(&serde_json::json!({"name": "x"})).unwrap();
        assert!(bare.created_at.is_none());
    }
}
