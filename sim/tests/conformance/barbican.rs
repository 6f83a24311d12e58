//! Barbican on the simulator: an optional service (in the catalog only when enabled),
//! secrets and containers referred to by URL, `limit`/`offset` pages with `next` links,
//! 204 deletes that refuse nothing (a secret a container still lists is deleted: the
//! conflict Barbican does not raise is the janitor's to avoid), and its 404 body, over
//! HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{login, start};
use serde_json::{json, Value};
use stacksweep_sim::SimConfig;

/// The ID at the end of a `secret_ref`/`container_ref` URL.
fn id_of(url: &Value) -> String {
    url.as_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string()
}

/// The catalog names Barbican only once it is enabled, at `/key-manager`.
#[tokio::test]
async fn key_manager_is_optional() {
    let (sim, api) = start(SimConfig::default()).await;
    let (_, body) = api.get("/identity/v3/auth/catalog").await;
    let types = |b: &Value| -> Vec<String> {
        b["catalog"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!types(&body).contains(&"key-manager".to_string()));
    sim.enable_service("key-manager");
    let api = login(&sim, "ci-user", "ci-password", "ci").await;
    let (_, body) = api.get("/identity/v3/auth/catalog").await;
    assert!(types(&body).contains(&"key-manager".to_string()));
    let entry = body["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "key-manager")
        .unwrap()
        .clone();
    assert!(entry["endpoints"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/key-manager"));
    sim.shutdown().await;
}

/// A secret in a container is deleted with 204 all the same (Barbican refuses nothing),
/// the container stops listing it; a second delete is 404 "Secret not found."; a
/// container delete is 204 and leaves its other secrets.
#[tokio::test]
async fn deletes_refuse_nothing() {
    let (sim, api) = start(SimConfig::default()).await;
    let (status, s1) = api
        .post(
            "/key-manager/v1/secrets",
            json!({"name": "ci-cert", "secret_type": "certificate"}),
        )
        .await;
    assert_eq!(status, 201, "{s1}");
    let (_, s2) = api
        .post("/key-manager/v1/secrets", json!({"name": "ci-key"}))
        .await;
    let (status, c) = api
        .post(
            "/key-manager/v1/containers",
            json!({"name": "ci-tls", "type": "certificate", "secret_refs": [
                {"name": "certificate", "secret_ref": s1["secret_ref"]},
                {"name": "private_key", "secret_ref": s2["secret_ref"]}]}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let s2_url = s2["secret_ref"].clone();
    let (s1, s2, c) = (
        id_of(&s1["secret_ref"]),
        id_of(&s2["secret_ref"]),
        id_of(&c["container_ref"]),
    );
    let (status, shown) = api.get(&format!("/key-manager/v1/secrets/{s1}")).await;
    assert_eq!(status, 200);
    assert!(shown.get("id").is_none(), "{shown}");
    assert!(shown["created"].as_str().unwrap().len() >= 19);
    let (status, _) = api.delete(&format!("/key-manager/v1/secrets/{s1}")).await;
    assert_eq!(status, 204);
    let (_, container) = api.get(&format!("/key-manager/v1/containers/{c}")).await;
    assert_eq!(container["secret_refs"].as_array().unwrap().len(), 1);
    assert_eq!(container["secret_refs"][0]["secret_ref"], s2_url);
    let (status, body) = api.delete(&format!("/key-manager/v1/secrets/{s1}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["code"], 404);
    assert_eq!(body["description"], "Secret not found.");
    let (status, _) = api.delete(&format!("/key-manager/v1/containers/{c}")).await;
    assert_eq!(status, 204);
    let (status, _) = api.get(&format!("/key-manager/v1/secrets/{s2}")).await;
    assert_eq!(status, 200);
    sim.shutdown().await;
}

/// Lists page with `limit` (at most 100) and `offset`, a `next` URL while more remain
/// and a `total`; no marker.
#[tokio::test]
async fn lists_page_by_offset() {
    let (sim, api) = start(SimConfig::default()).await;
    for n in 0..12 {
        api.post("/key-manager/v1/secrets", json!({"name": format!("s{n}")}))
            .await;
    }
    let (status, first) = api.get("/key-manager/v1/secrets?limit=5").await;
    assert_eq!(status, 200);
    assert_eq!(first["secrets"].as_array().unwrap().len(), 5);
    assert_eq!(first["total"], 12);
    let next = first["next"].as_str().unwrap();
    assert!(
        next.ends_with("/key-manager/v1/secrets?limit=5&offset=5"),
        "{next}"
    );
    let (_, last) = api.get("/key-manager/v1/secrets?limit=5&offset=10").await;
    assert_eq!(last["secrets"].as_array().unwrap().len(), 2);
    assert!(last.get("next").is_none());
    assert!(last["previous"].is_string());
    let (_, capped) = api.get("/key-manager/v1/secrets?limit=1000").await;
    assert_eq!(capped["secrets"].as_array().unwrap().len(), 12);
    let (_, default) = api.get("/key-manager/v1/secrets").await;
    assert_eq!(default["secrets"].as_array().unwrap().len(), 10);
    sim.shutdown().await;
}
