//! The simulator's outages answer as the real services did during the chaos stage on the
//! real bed: the answers recorded there (`sim/tests/fixtures/chaos-answers.json`) are the
//! expected values, service by service; and a stalled message bus holds asynchronous
//! deletes until it is back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{start, Api};
use serde_json::{json, Value};
use stacksweep_sim::{Outage, SimConfig, SimHandle};
use tokio::time::Instant;

/// The recorded answers.
fn fixture() -> Value {
    let text = include_str!("../fixtures/chaos-answers.json");
    serde_json::from_str(text).unwrap()
}

/// What one request met.
#[derive(Debug)]
enum Seen {
    /// An answer: its status and its JSON body (`null` when not JSON).
    Answer(u16, Value),
    /// No answer (a transport error), after this much (paused) time.
    Nothing(Duration),
}

/// Sends the probe's list request for `service`, as chaos_probe.py does: GET with the
/// token (Keystone validates it as the subject token too), no retries, no timeout.
async fn probe(api: &Api, fixture: &Value, service: &str) -> Seen {
    let path = fixture["requests"][service].as_str().unwrap();
    let url = format!("{}{}", api.base, path.replace("{project}", &api.project));
    let started = Instant::now();
    let sent = api
        .http
        .get(url)
        .header("x-auth-token", &api.token)
        .header("x-subject-token", &api.token)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            match resp.text().await {
                Ok(text) => {
                    Seen::Answer(status, serde_json::from_str(&text).unwrap_or(Value::Null))
                }
                Err(_) => Seen::Nothing(started.elapsed()),
            }
        }
        Err(_) => Seen::Nothing(started.elapsed()),
    }
}

/// Checks every service's answer under `fault` against the recorded one.
async fn assert_answers_as_recorded(api: &Api, fixture: &Value, fault: &str) {
    let timeout = Duration::from_secs(fixture["probe_timeout_secs"].as_u64().unwrap());
    let answers = fixture["faults"][fault]["answers"].as_object().unwrap();
    assert_eq!(
        answers.len(),
        4,
        "{fault}: every probed service is recorded"
    );
    for (service, want) in answers {
        let seen = probe(api, fixture, service).await;
        let what = format!("{fault}, {service}: want {want}, seen {seen:?}");
        match (want["error"].as_str(), seen) {
            (None, Seen::Answer(status, body)) => {
                assert_eq!(Some(u64::from(status)), want["status"].as_u64(), "{what}");
                if let Some(expected) = want.get("body") {
                    assert_eq!(&body, expected, "{what}");
                }
            }
            // Refused on the real bed: at once, without an answer (the simulator closes
            // the connection: it cannot refuse one service on its shared port).
            (Some("refused"), Seen::Nothing(after)) => assert!(after < timeout, "{what}"),
            // No answer within the probe's timeout: held at least that long, then dropped.
            (Some("timeout"), Seen::Nothing(after)) => assert!(after >= timeout, "{what}"),
            _ => panic!("{what}"),
        }
    }
}

/// Every probed service answers 200 again.
async fn assert_recovered(api: &Api, fixture: &Value, fault: &str) {
    for service in ["identity", "network", "compute", "block-storage"] {
        match probe(api, fixture, service).await {
            Seen::Answer(200, _) => {}
            seen => panic!("after {fault}, {service} answered {seen:?}"),
        }
    }
}

/// Applies one recorded fault to the simulator (`on`) or clears it.
fn apply(sim: &SimHandle, fault: &str, on: bool) {
    let (service, outage) = match fault {
        "mariadb-stopped" => ("*", Outage::Database),
        "neutron-server-stopped" => ("network", Outage::Down),
        "keystone-restarted" => ("identity", Outage::Down),
        "rabbitmq-restarted" => return sim.stall_async(on),
        other => panic!("no simulator fault for the recorded {other}"),
    };
    sim.set_outage(service, on.then_some(outage), None);
}

/// MariaDB stopped: Nova, Cinder and Keystone answer their recorded 500 bodies exactly,
/// Neutron holds the request past the probe's timeout; all answer again once cleared.
#[tokio::test(start_paused = true)]
async fn database_outage_answers_as_recorded() {
    let fixture = fixture();
    let (sim, api) = start(SimConfig::default()).await;
    apply(&sim, "mariadb-stopped", true);
    assert_answers_as_recorded(&api, &fixture, "mariadb-stopped").await;
    apply(&sim, "mariadb-stopped", false);
    assert_recovered(&api, &fixture, "mariadb-stopped").await;
}

/// neutron-server stopped: Neutron gives no answer at once, the others answer 200.
#[tokio::test(start_paused = true)]
async fn neutron_down_answers_as_recorded() {
    let fixture = fixture();
    let (sim, api) = start(SimConfig::default()).await;
    apply(&sim, "neutron-server-stopped", true);
    assert_answers_as_recorded(&api, &fixture, "neutron-server-stopped").await;
    apply(&sim, "neutron-server-stopped", false);
    assert_recovered(&api, &fixture, "neutron-server-stopped").await;
}

/// Keystone restarting: Keystone gives no answer at once, the others still answer 200.
#[tokio::test(start_paused = true)]
async fn keystone_down_answers_as_recorded() {
    let fixture = fixture();
    let (sim, api) = start(SimConfig::default()).await;
    apply(&sim, "keystone-restarted", true);
    assert_answers_as_recorded(&api, &fixture, "keystone-restarted").await;
    apply(&sim, "keystone-restarted", false);
    assert_recovered(&api, &fixture, "keystone-restarted").await;
}

/// RabbitMQ restarting: every API answers 200 as recorded; a deleted server and a
/// deleted volume stay `deleting` however long the bus is gone, and go once it is back.
#[tokio::test(start_paused = true)]
async fn stalled_bus_answers_as_recorded_and_holds_deletes() {
    let fixture = fixture();
    let (sim, api) = start(SimConfig::default()).await;
    let (status, out) = api
        .post(
            "/compute/v2.1/servers",
            json!({"server": {"name": "vm", "flavorRef": "1", "imageRef": "i", "networks": "none"}}),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    let server = out["server"]["id"].as_str().unwrap().to_string();
    let (status, out) = api
        .post(
            "/volume/v3/{project}/volumes",
            json!({"volume": {"size": 1, "name": "v"}}),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    let volume = out["volume"]["id"].as_str().unwrap().to_string();
    apply(&sim, "rabbitmq-restarted", true);
    assert_answers_as_recorded(&api, &fixture, "rabbitmq-restarted").await;
    let server_path = format!("/compute/v2.1/servers/{server}");
    let volume_path = format!("/volume/v3/{{project}}/volumes/{volume}");
    assert_eq!(api.delete(&server_path).await.0, 204);
    assert_eq!(api.delete(&volume_path).await.0, 202);
    // Far past every delay: still there, still deleting.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let (status, body) = api.get(&server_path).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = api.get(&volume_path).await;
    assert_eq!(
        (status, body["volume"]["status"].as_str()),
        (200, Some("deleting")),
        "{body}"
    );
    apply(&sim, "rabbitmq-restarted", false);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(api.get(&server_path).await.0, 404);
    assert_eq!(api.get(&volume_path).await.0, 404);
    assert!(!sim.exists("server", &server) && !sim.exists("volume", &volume));
}

/// A bounded outage lasts exactly its number of requests, then the service answers;
/// an outage keeps the service's other faults, and `Database` on a service not recorded
/// answers a 500 in its own error shape.
#[tokio::test(start_paused = true)]
async fn bounded_outage_counts_requests() {
    let (sim, api) = start(SimConfig::default()).await;
    sim.set_outage("nova", Some(Outage::Database), Some(2));
    assert_eq!(api.get("/compute/v2.1/servers").await.0, 500);
    assert_eq!(api.get("/compute/v2.1/servers").await.0, 500);
    assert_eq!(api.get("/compute/v2.1/servers").await.0, 200);
    sim.set_outage("load-balancer", Some(Outage::Database), Some(1));
    let (status, body) = api.get("/load-balancer/v2/lbaas/loadbalancers").await;
    assert_eq!(
        (status, body["faultcode"].as_str()),
        (500, Some("Server")),
        "{body}"
    );
    sim.set_outage("cinder", Some(Outage::Down), Some(1));
    let url = format!("{}/volume/v3/{}/volumes", api.base, api.project);
    let dropped = api
        .http
        .get(&url)
        .header("x-auth-token", &api.token)
        .send()
        .await;
    assert!(dropped.is_err(), "{dropped:?}");
    assert_eq!(api.get("/volume/v3/{project}/volumes").await.0, 200);
    let unanswered = sim
        .request_log()
        .iter()
        .filter(|r| r.status.is_none())
        .count();
    assert_eq!(
        unanswered, 1,
        "a closed connection is logged without a status"
    );
}
