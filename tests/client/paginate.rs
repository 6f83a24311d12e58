//! Pagination against scripted services: each service's next-link shape, marker/limit
//! and offset fallbacks, and the guards against lists that never end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::fake_cloud;
use crate::support::fake_cloud::{options, Answer, FakeCloud, Seen};
use serde_json::{json, Value};
use stacksweep::openstack::{ApiError, Service, Session};

fn param(seen: &Seen, key: &str) -> Option<String> {
    let query = seen.query.as_deref()?;
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.into_owned())
}

/// The page of `items` (by `key`) after `marker`/`offset`, `limit` long; and whether more remain.
fn page(items: &[Value], seen: &Seen, key: &str) -> (Vec<Value>, bool) {
    let limit: usize = param(seen, "limit")
        .map(|l| l.parse().unwrap())
        .unwrap_or(usize::MAX);
    let start = match (param(seen, "marker"), param(seen, "offset")) {
        (Some(m), _) => items.iter().position(|i| i[key] == m.as_str()).unwrap() + 1,
        (None, Some(o)) => o.parse().unwrap(),
        (None, None) => 0,
    };
    let end = (start + limit).min(items.len());
    (items[start..end].to_vec(), end < items.len())
}

fn ids(prefix: &str, n: usize, key: &str) -> Vec<Value> {
    (1..=n)
        .map(|i| json!({ key: format!("{prefix}{i}") }))
        .collect()
}

fn names(list: &[Value], key: &str) -> Vec<String> {
    list.iter()
        .map(|v| v[key].as_str().unwrap().to_owned())
        .collect()
}

async fn session(cloud: &FakeCloud) -> Session {
    Session::connect(&cloud.cloud("fake"), options())
        .await
        .unwrap()
}

/// Neutron's `ports_links` are followed (rebased from a foreign host onto our endpoint),
/// keeping the caller's filters.
#[tokio::test]
async fn neutron_links_followed_and_rebased() {
    let items = ids("p", 5, "id");
    let cloud = FakeCloud::start(move |seen| {
        let (ports, more) = page(&items, seen, "id");
        let mut body = json!({ "ports": ports });
        if more {
            let last = ports.last().unwrap()["id"].as_str().unwrap();
            body["ports_links"] = json!([{"rel": "next", "href": format!("http://10.9.9.9:9696/v2.0/ports?tags=ci&limit=2&marker={last}")}]);
        }
        Answer::Json(200, body)
    })
    .await;
    let list = session(&cloud)
        .await
        .list(Service::Network, "/ports?tags=ci", "ports")
        .await
        .unwrap();
    assert_eq!(names(&list, "id"), ["p1", "p2", "p3", "p4", "p5"]);
    let seen = cloud.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen
        .iter()
        .all(|s| s.path == "/network/v2.0/ports" && param(s, "tags").as_deref() == Some("ci")));
    assert_eq!(param(&seen[0], "limit").as_deref(), Some("2"));
}

/// Glance's relative `next` is followed under the image endpoint.
#[tokio::test]
async fn glance_next_followed() {
    let items = ids("i", 3, "id");
    let cloud = FakeCloud::start(move |seen| {
        let (images, more) = page(&items, seen, "id");
        let mut body = json!({ "images": images, "first": "/v2/images" });
        if more {
            body["next"] = json!(format!(
                "/v2/images?limit=2&marker={}",
                images.last().unwrap()["id"].as_str().unwrap()
            ));
        }
        Answer::Json(200, body)
    })
    .await;
    let list = session(&cloud)
        .await
        .list(Service::Image, "/images", "images")
        .await
        .unwrap();
    assert_eq!(names(&list, "id"), ["i1", "i2", "i3"]);
    assert!(cloud.seen().iter().all(|s| s.path == "/image/v2/images"));
}

/// Swift's top-level array pages by `marker=<last name>` until a short page.
#[tokio::test]
async fn swift_marker_paging() {
    let items = ids("c", 5, "name");
    let cloud =
        FakeCloud::start(move |seen| Answer::Json(200, json!(page(&items, seen, "name").0))).await;
    let list = session(&cloud)
        .await
        .list(Service::ObjectStore, "?format=json", "")
        .await
        .unwrap();
    assert_eq!(names(&list, "name"), ["c1", "c2", "c3", "c4", "c5"]);
    let queries: Vec<String> = cloud
        .seen()
        .iter()
        .map(|s| s.query.clone().unwrap())
        .collect();
    assert_eq!(
        queries,
        [
            "format=json&limit=2",
            "format=json&limit=2&marker=c2",
            "format=json&limit=2&marker=c4"
        ]
    );
}

/// A full page without links is followed by marker/limit; an exact multiple ends on an empty page.
#[tokio::test]
async fn plain_marker_fallback() {
    let items = ids("s", 4, "id");
    let cloud = FakeCloud::start(move |seen| {
        Answer::Json(200, json!({"servers": page(&items, seen, "id").0}))
    })
    .await;
    let list = session(&cloud)
        .await
        .list(Service::Compute, "/servers/detail", "servers")
        .await
        .unwrap();
    assert_eq!(names(&list, "id"), ["s1", "s2", "s3", "s4"]);
    assert_eq!(cloud.seen().len(), 3);
}

/// Nova server groups page by offset, not marker.
#[tokio::test]
async fn server_groups_by_offset() {
    let items = ids("g", 3, "id");
    let cloud = FakeCloud::start(move |seen| {
        assert!(
            param(seen, "marker").is_none(),
            "server groups take no marker"
        );
        Answer::Json(200, json!({"server_groups": page(&items, seen, "id").0}))
    })
    .await;
    let list = session(&cloud)
        .await
        .list(Service::Compute, "/os-server-groups", "server_groups")
        .await
        .unwrap();
    assert_eq!(names(&list, "id"), ["g1", "g2", "g3"]);
    assert_eq!(param(&cloud.seen()[1], "offset").as_deref(), Some("2"));
}

/// A next link that comes back again stops the list with a pagination error.
#[tokio::test]
async fn repeated_next_link_is_an_error() {
    let cloud = FakeCloud::start(|_| {
        Answer::Json(200, json!({"ports": [{"id": "a"}], "ports_links": [{"rel": "next", "href": "http://x/v2.0/ports?marker=a"}]}))
    })
    .await;
    let err = session(&cloud)
        .await
        .list(Service::Network, "/ports", "ports")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Pagination { .. }), "{err:?}");
    assert!(err.to_string().contains("came back twice"), "{err}");
    assert_eq!(cloud.seen().len(), 2);
}

/// A service that ignores the marker (same full page again) is caught, not looped on.
#[tokio::test]
async fn ignored_marker_is_an_error() {
    let cloud =
        FakeCloud::start(|_| Answer::Json(200, json!({"volumes": [{"id": "v1"}, {"id": "v2"}]})))
            .await;
    let err = session(&cloud)
        .await
        .list(Service::BlockStorage, "/volumes/detail", "volumes")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("marker v2 came back twice"),
        "{err}"
    );
}

/// Endless distinct pages stop at `max_pages`.
#[tokio::test]
async fn page_guard() {
    let cloud = FakeCloud::start(|seen| {
        let n: u64 = param(seen, "marker").map(|m| m.parse().unwrap()).unwrap_or(0) + 1;
        Answer::Json(200, json!({"ports": [{"id": n.to_string()}], "ports_links": [{"rel": "next", "href": format!("/v2.0/ports?marker={n}")}]}))
    })
    .await;
    let err = session(&cloud)
        .await
        .list(Service::Network, "/ports", "ports")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("more than 10 pages"), "{err}");
    assert_eq!(cloud.seen().len(), 10);
}

/// A full page whose last item has neither id nor name cannot be paged on.
#[tokio::test]
async fn item_without_id_is_an_error() {
    let cloud =
        FakeCloud::start(|_| Answer::Json(200, json!({"things": [{"id": "a"}, {"size": 3}]})))
            .await;
    let err = session(&cloud)
        .await
        .list(Service::Compute, "/things", "things")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no id or name"), "{err}");
}

/// A page without the expected collection is a decode error naming service and path.
#[tokio::test]
async fn missing_collection_is_decode_error() {
    let cloud =
        FakeCloud::start(|_| Answer::Json(200, json!({"NeutronError": {"message": "odd"}}))).await;
    let err = session(&cloud)
        .await
        .list(Service::Network, "/ports", "ports")
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Decode { .. }), "{err:?}");
    assert!(
        err.to_string()
            .starts_with("network GET /ports?limit=2: unexpected response"),
        "{err}"
    );
}

/// A caller's own `limit` is kept and used as the page size.
#[tokio::test]
async fn caller_limit_is_kept() {
    let items = ids("p", 3, "id");
    let cloud = FakeCloud::start(move |seen| {
        Answer::Json(200, json!({"ports": page(&items, seen, "id").0}))
    })
    .await;
    let list = session(&cloud)
        .await
        .list(Service::Network, "/ports?limit=1", "ports")
        .await
        .unwrap();
    assert_eq!(list.len(), 3);
    assert!(cloud
        .seen()
        .iter()
        .all(|s| param(s, "limit").as_deref() == Some("1")));
}

/// Heat's stack resources are one unpaged list: no `limit` is sent, no marker followed.
#[tokio::test]
async fn heat_resources_unpaged() {
    let cloud = FakeCloud::start(|_| {
        Answer::Json(
            200,
            json!({"resources": [{"physical_resource_id": "a"}, {"physical_resource_id": "b"}]}),
        )
    })
    .await;
    let list = session(&cloud)
        .await
        .list(
            Service::Orchestration,
            "/stacks/s/1/resources?nested_depth=5",
            "resources",
        )
        .await
        .unwrap();
    assert_eq!(list.len(), 2);
    let seen = cloud.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].path_and_query(),
        format!(
            "/heat-api/v1/{}/stacks/s/1/resources?nested_depth=5",
            fake_cloud::PROJECT_ID
        )
    );
}
