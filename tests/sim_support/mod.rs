//! Shared helpers of the simulator's integration tests: a started simulator and a small
//! authenticated JSON client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};
use stacksweep_sim::{Sim, SimConfig, SimHandle};

/// A JSON client holding a token for the `ci` project.
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub project: String,
}

/// Starts a simulator with `config` and logs in as the CI member.
pub async fn start(config: SimConfig) -> (SimHandle, Api) {
    let sim = Sim::start(config).await.unwrap();
    let api = login(&sim, "ci-user", "ci-password", "ci").await;
    (sim, api)
}

/// A token for `user` on `project`.
pub async fn login(sim: &SimHandle, user: &str, password: &str, project: &str) -> Api {
    let http = reqwest::Client::new();
    let base = format!("http://{}", sim.addr());
    let body = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": user, "domain": {"id": "default"}, "password": password}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}}}});
    let resp = http
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let token = resp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();
    let body: Value = resp.json().await.unwrap();
    let project = body["token"]["project"]["id"].as_str().unwrap().to_string();
    Api {
        http,
        base,
        token,
        project,
    }
}

impl Api {
    /// Sends a request; returns the status and the JSON body (`null` when empty).
    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let url = format!("{}{}", self.base, path.replace("{project}", &self.project));
        let mut req = self
            .http
            .request(method.parse().unwrap(), url)
            .header("x-auth-token", &self.token)
            .header("openstack-api-version", "compute 2.79, volume 3.60")
            .header("x-openstack-nova-api-version", "2.79");
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("POST", path, Some(body)).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.call("PUT", path, Some(body)).await
    }
    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.call("DELETE", path, None).await
    }
    /// Creates a Neutron resource and returns its id.
    pub async fn neutron(&self, coll: &str, key: &str, body: Value) -> String {
        let (status, out) = self
            .post(&format!("/network/v2.0/{coll}"), json!({ key: body }))
            .await;
        assert_eq!(status, 201, "{out}");
        out[key]["id"].as_str().unwrap().to_string()
    }
    /// Network + subnet (10.x.0.0/24); returns (network, subnet).
    pub async fn net_with_subnet(&self, name: &str, cidr: &str) -> (String, String) {
        let net = self
            .neutron("networks", "network", json!({"name": name}))
            .await;
        let sub = self
            .neutron(
                "subnets",
                "subnet",
                json!({"name": name, "network_id": net, "cidr": cidr, "ip_version": 4}),
            )
            .await;
        (net, sub)
    }
}

/// The Neutron error type of a body.
pub fn neutron_type(body: &Value) -> &str {
    body["NeutronError"]["type"].as_str().unwrap_or("")
}
