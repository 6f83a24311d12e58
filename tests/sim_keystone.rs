//! Keystone on the simulator: password and application-credential tokens, refusals,
//! the catalog, version discovery of every service, and the written clouds.yaml.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use stacksweep_sim::{Sim, SimConfig};

/// Password auth with a project scope returns a token and a catalog of every service.
#[tokio::test]
async fn password_token_and_catalog() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "ci-user", "domain": {"name": "Default"}, "password": "ci-password"}}},
        "scope": {"project": {"name": "ci", "domain": {"name": "Default"}}}}});
    let resp = http
        .post(format!("{}/auth/tokens", sim.auth_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    assert!(resp.headers().contains_key("x-subject-token"));
    let token: Value = resp.json().await.unwrap();
    assert_eq!(token["token"]["project"]["id"], json!(sim.project_id()));
    let roles: Vec<&str> = token["token"]["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert!(!roles.contains(&"admin"));
    let mut types: Vec<&str> = token["token"]["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["type"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(
        types,
        [
            "block-storage",
            "compute",
            "identity",
            "image",
            "load-balancer",
            "network",
            "object-store",
            "orchestration",
            "volumev3"
        ]
    );
    let bad = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "ci-user", "domain": {"name": "Default"}, "password": "wrong"}}}}});
    let resp = http
        .post(format!("{}/auth/tokens", sim.auth_url()))
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
}

/// Application credentials authenticate by id+secret or name+user; a wrong secret is 401.
#[tokio::test]
async fn application_credentials() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let (id, secret) = sim.with_state(|st| st.keystone.app_cred.clone());
    let http = reqwest::Client::new();
    let auth = |ac: Value| json!({"auth": {"identity": {"methods": ["application_credential"], "application_credential": ac}}});
    let url = format!("{}/auth/tokens", sim.auth_url());
    let ok = http
        .post(&url)
        .json(&auth(json!({"id": id, "secret": secret})))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 201);
    let body: Value = ok.json().await.unwrap();
    assert_eq!(body["token"]["project"]["id"], json!(sim.project_id()));
    assert_eq!(body["token"]["application_credential"]["id"], json!(id));
    let by_name = http
        .post(&url)
        .json(&auth(json!({"name": "stacksweep", "secret": secret, "user": {"name": "ci-user", "domain": {"id": "default"}}})))
        .send()
        .await
        .unwrap();
    assert_eq!(by_name.status(), 201);
    let wrong = http
        .post(&url)
        .json(&auth(json!({"id": id, "secret": "nope"})))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
}

/// Version discovery documents answer without a token where the real services serve them.
#[tokio::test]
async fn version_discovery() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("http://{}", sim.addr());
    for (path, status) in [
        ("/", 300),
        ("/identity", 300),
        ("/identity/v3", 200),
        ("/v3", 200),
        ("/compute", 200),
        ("/compute/v2.1", 200),
        ("/network", 200),
        ("/volume", 300),
        ("/volume/v3", 200),
        ("/image", 300),
        ("/load-balancer", 200),
        ("/heat-api", 300),
        ("/swift/info", 200),
    ] {
        let resp = http.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), status, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert!(body.is_object(), "{path}");
    }
    assert_eq!(
        http.get(format!("{base}/network/v2.0/networks"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

/// The clouds.yaml names the `sim` and `sim-appcred` clouds with the simulator's URL.
#[tokio::test]
async fn clouds_yaml() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clouds.yaml");
    sim.write_clouds_yaml(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("  sim:\n") && text.contains("  sim-appcred:\n"));
    assert!(text.contains(&sim.auth_url()));
    assert!(text.contains("region_name: RegionOne"));
}
