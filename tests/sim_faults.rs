//! Injected faults on the simulator: 5xx (counted and at a rate), 429 with Retry-After
//! (counted and over a rate limit), dropped connections, latency, token expiry, and the
//! request log that records them.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim_support;

use std::time::Duration;

use serde_json::json;
use sim_support::start;
use stacksweep_sim::{FaultConfig, SimConfig};

/// `fail_next` answers 503 that many times, then the service answers normally again.
#[tokio::test]
async fn fail_next_answers_503_then_recovers() {
    let (sim, api) = start(SimConfig::default()).await;
    sim.set_faults(
        "neutron",
        FaultConfig {
            fail_next: 2,
            ..FaultConfig::default()
        },
    );
    assert_eq!(api.get("/network/v2.0/networks").await.0, 503);
    let (status, body) = api.get("/network/v2.0/networks").await;
    assert_eq!(status, 503);
    assert!(
        body["NeutronError"].is_object(),
        "errors keep the service's shape: {body}"
    );
    assert_eq!(api.get("/network/v2.0/networks").await.0, 200);
    // Other services are untouched.
    sim.set_faults(
        "network",
        FaultConfig {
            fail_next: 1,
            ..FaultConfig::default()
        },
    );
    assert_eq!(api.get("/compute/v2.1/flavors").await.0, 200);
}

/// An error rate of 1 fails every request of that service; a custom status is honoured.
#[tokio::test]
async fn error_rate_fails_requests() {
    let (sim, api) = start(SimConfig::default()).await;
    sim.set_faults(
        "compute",
        FaultConfig {
            error_rate: 1.0,
            error_status: 500,
            ..FaultConfig::default()
        },
    );
    for _ in 0..3 {
        let (status, body) = api.get("/compute/v2.1/servers").await;
        assert_eq!(status, 500);
        assert!(body["computeFault"].is_object());
    }
    sim.set_faults("compute", FaultConfig::default());
    assert_eq!(api.get("/compute/v2.1/servers").await.0, 200);
}

/// Throttled answers are 429 with the configured Retry-After.
#[tokio::test]
async fn throttle_sends_retry_after() {
    let (sim, api) = start(SimConfig::default()).await;
    sim.set_faults(
        "cinder",
        FaultConfig {
            throttle_next: 1,
            retry_after_secs: 7,
            ..FaultConfig::default()
        },
    );
    let url = format!("{}/volume/v3/{}/volumes", api.base, api.project);
    let resp = api
        .http
        .get(&url)
        .header("x-auth-token", &api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
    let resp = api
        .http
        .get(&url)
        .header("x-auth-token", &api.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

/// Above the request-rate limit a service answers 429 until the next second.
#[tokio::test(start_paused = true)]
async fn rate_limit_throttles_bursts() {
    let (sim, api) = start(SimConfig::default()).await;
    sim.set_faults(
        "network",
        FaultConfig {
            rate_limit: Some(3),
            ..FaultConfig::default()
        },
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(api.get("/network/v2.0/ports").await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(api.get("/network/v2.0/ports").await.0, 200);
}

/// A dropped connection gives the client a transport error, and the log says so.
#[tokio::test]
async fn dropped_connection_is_a_transport_error() {
    let (sim, api) = start(SimConfig::default()).await;
    sim.set_faults(
        "network",
        FaultConfig {
            drop_next: 1,
            ..FaultConfig::default()
        },
    );
    let url = format!("{}/network/v2.0/networks", api.base);
    // Not even the status line arrives.
    let result = api
        .http
        .get(&url)
        .header("x-auth-token", &api.token)
        .send()
        .await;
    assert!(result.is_err(), "the answer must not arrive: {result:?}");
    assert_eq!(api.get("/network/v2.0/networks").await.0, 200);
    let dropped = sim
        .request_log()
        .into_iter()
        .filter(|r| r.status.is_none())
        .count();
    assert_eq!(dropped, 1);
}

/// A drop rate of 1 drops every request of the service.
#[tokio::test]
async fn drop_rate_drops_everything() {
    let (sim, api) = start(SimConfig::default()).await;
    sim.set_faults(
        "image",
        FaultConfig {
            drop_rate: 1.0,
            ..FaultConfig::default()
        },
    );
    let url = format!("{}/image/v2/images", api.base);
    for _ in 0..2 {
        let r = async {
            api.http
                .get(&url)
                .header("x-auth-token", &api.token)
                .send()
                .await?
                .bytes()
                .await
        }
        .await;
        assert!(r.is_err());
    }
}

/// Latency delays answers by the configured time (paused clock: no real waiting).
#[tokio::test(start_paused = true)]
async fn latency_delays_answers() {
    let (sim, api) = start(SimConfig::default()).await;
    sim.set_faults(
        "*",
        FaultConfig {
            latency: Duration::from_secs(30),
            ..FaultConfig::default()
        },
    );
    let before = tokio::time::Instant::now();
    assert_eq!(api.get("/network/v2.0/networks").await.0, 200);
    assert!(before.elapsed() >= Duration::from_secs(30));
}

/// Expired tokens answer 401 everywhere; a new token works again.
#[tokio::test]
async fn expired_tokens_answer_401() {
    let (sim, api) = start(SimConfig::default()).await;
    assert_eq!(api.get("/network/v2.0/networks").await.0, 200);
    sim.expire_tokens();
    for path in [
        "/network/v2.0/networks",
        "/compute/v2.1/servers",
        "/volume/v3/{project}/volumes",
        "/image/v2/images",
    ] {
        let (status, body) = api.get(path).await;
        assert_eq!(status, 401, "{path}");
        assert_eq!(body["error"]["code"], 401);
    }
    let fresh = sim_support::login(&sim, "ci-user", "ci-password", "ci").await;
    assert_eq!(fresh.get("/network/v2.0/networks").await.0, 200);
}

/// Tokens expire after the configured TTL (paused clock).
#[tokio::test(start_paused = true)]
async fn tokens_expire_after_ttl() {
    let (_sim, api) = start(SimConfig {
        token_ttl: Duration::from_secs(60),
        ..SimConfig::default()
    })
    .await;
    assert_eq!(api.get("/network/v2.0/networks").await.0, 200);
    tokio::time::sleep(Duration::from_secs(61)).await;
    assert_eq!(api.get("/network/v2.0/networks").await.0, 401);
}

/// Neutron resources marked stuck answer 500 to every delete; conflict_for answers 409 N times.
#[tokio::test]
async fn neutron_stuck_and_conflicts() {
    let (sim, api) = start(SimConfig::default()).await;
    let net = api
        .neutron("networks", "network", json!({"name": "n"}))
        .await;
    sim.conflict_for("network", &net, 2);
    let (status, body) = api.delete(&format!("/network/v2.0/networks/{net}")).await;
    assert_eq!(
        (status, sim_support::neutron_type(&body)),
        (409, "NetworkInUse")
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/networks/{net}")).await.0,
        409
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/networks/{net}")).await.0,
        204
    );
    let sg = api
        .neutron("security-groups", "security_group", json!({"name": "g"}))
        .await;
    sim.make_stuck("security-group", &sg);
    assert_eq!(
        api.delete(&format!("/network/v2.0/security-groups/{sg}"))
            .await
            .0,
        500
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/security-groups/{sg}"))
            .await
            .0,
        500
    );
    assert!(sim.exists("security-group", &sg));
}

/// The request log and per-endpoint counters record every request with its status.
#[tokio::test]
async fn request_log_and_counters() {
    let (sim, api) = start(SimConfig::default()).await;
    let net = api
        .neutron("networks", "network", json!({"name": "n"}))
        .await;
    api.delete(&format!("/network/v2.0/networks/{net}")).await;
    api.delete(&format!("/network/v2.0/networks/{net}")).await;
    assert_eq!(sim.request_count("DELETE", "/network/v2.0/networks"), 2);
    assert_eq!(sim.request_count("POST", "/identity/v3/auth/tokens"), 1);
    let statuses: Vec<Option<u16>> = sim
        .request_log()
        .iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.status)
        .collect();
    assert_eq!(statuses, [Some(204), Some(404)]);
    assert_eq!(
        sim.endpoint_counts()["DELETE /network/v2.0/networks/{id}"],
        2
    );
}
