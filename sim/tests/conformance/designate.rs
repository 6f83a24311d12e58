//! Designate on the simulator: an optional service, zones and recordsets as bare
//! objects, 202 deletes that go `PENDING`/`DELETE` and then 404, a zone's delete taking
//! its recordsets, the 400 for Designate's own SOA and apex NS, its error bodies and
//! `links.next` pages, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{login, start, Api};
use serde_json::{json, Value};
use stacksweep_sim::{SimConfig, SimHandle};

fn config() -> SimConfig {
    SimConfig {
        other_delete_delay: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

async fn designate() -> (SimHandle, Api) {
    let (sim, _) = start(config()).await;
    sim.enable_service("dns");
    let api = login(&sim, "ci-user", "ci-password", "ci").await;
    (sim, api)
}

/// Waits (paused time) for a create to settle.
async fn settle() {
    tokio::time::sleep(Duration::from_secs(3)).await;
}

async fn zone(api: &Api, name: &str) -> String {
    let (status, z) = api
        .post(
            "/dns/v2/zones",
            json!({"name": name, "email": "ci@example.org"}),
        )
        .await;
    assert_eq!(status, 202, "{z}");
    assert_eq!(z["status"], "PENDING");
    assert_eq!(z["action"], "CREATE");
    z["id"].as_str().unwrap().to_string()
}

/// A zone made `ACTIVE` with an `A` recordset `www.<zone>` in it, also `ACTIVE`: the
/// zone's and the recordset's ids.
async fn zone_with_www(api: &Api, name: &str) -> (String, String) {
    let z = zone(api, name).await;
    settle().await;
    let (status, rs) = api
        .post(
            &format!("/dns/v2/zones/{z}/recordsets"),
            json!({"name": format!("www.{name}"), "type": "A", "records": ["10.0.0.1"]}),
        )
        .await;
    assert_eq!(status, 202, "{rs}");
    let www = rs["id"].as_str().unwrap().to_string();
    settle().await;
    (z, www)
}

fn records_of(body: &Value, kind: &str) -> Vec<String> {
    body["recordsets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["type"] == kind)
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The catalog names Designate at `/dns` once enabled; a zone delete answers 202 with
/// the zone `PENDING`/`DELETE`, then the zone and every recordset in it are 404; a
/// missing zone is `zone_not_found` in Designate's body.
#[tokio::test(start_paused = true)]
async fn zone_delete_is_asynchronous_and_takes_its_records() {
    let (sim, api) = designate().await;
    let (_, catalog) = api.get("/identity/v3/auth/catalog").await;
    let dns = catalog["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "dns")
        .cloned()
        .unwrap();
    assert!(dns["endpoints"][0]["url"]
        .as_str()
        .unwrap()
        .ends_with("/dns"));
    let (z, www) = zone_with_www(&api, "ci-1.example.org.").await;
    let (status, body) = api.delete(&format!("/dns/v2/zones/{z}")).await;
    assert_eq!(status, 202);
    assert_eq!(
        (&body["status"], &body["action"]),
        (&json!("PENDING"), &json!("DELETE"))
    );
    let (status, shown) = api.get(&format!("/dns/v2/zones/{z}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["action"], "DELETE");
    settle().await;
    let (status, body) = api.get(&format!("/dns/v2/zones/{z}")).await;
    assert_eq!(status, 404);
    assert_eq!(body["type"], "zone_not_found");
    assert_eq!(body["code"], 404);
    assert!(!sim.exists("recordset", &www));
    let (status, body) = api
        .get(&format!("/dns/v2/zones/{z}/recordsets/{www}"))
        .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (404, Some("recordset_not_found"))
    );
    sim.shutdown().await;
}

/// A recordset whose zone's delete took it answers 404 `recordset_not_found` (Designate
/// looks the recordset up before the zone), its GET as its DELETE; the zone's list and a
/// create in it answer `zone_not_found` (as Designate 23 answered in the real bed).
#[tokio::test(start_paused = true)]
async fn a_recordset_of_a_deleted_zone_is_recordset_not_found() {
    let (sim, api) = designate().await;
    let (z, www) = zone_with_www(&api, "ci-4.example.org.").await;
    let (status, _) = api.delete(&format!("/dns/v2/zones/{z}")).await;
    assert_eq!(status, 202);
    settle().await;
    let item = format!("/dns/v2/zones/{z}/recordsets/{www}");
    let (status, body) = api.get(&item).await;
    assert_eq!(
        (status, body["type"].as_str(), body["message"].as_str()),
        (
            404,
            Some("recordset_not_found"),
            Some("Could not find RecordSet")
        )
    );
    let (status, body) = api.delete(&item).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (404, Some("recordset_not_found"))
    );
    let (status, body) = api.get(&format!("/dns/v2/zones/{z}/recordsets")).await;
    assert_eq!(
        (status, body["type"].as_str()),
        (404, Some("zone_not_found"))
    );
    let (status, body) = api
        .post(
            &format!("/dns/v2/zones/{z}/recordsets"),
            json!({"name": "x.ci-4.example.org.", "type": "A", "records": ["10.0.0.2"]}),
        )
        .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (404, Some("zone_not_found"))
    );
    sim.shutdown().await;
}

/// While a zone's delete runs (`PENDING`/`DELETE`), a recordset create or delete in it,
/// the SOA's included, answers 400 `bad_request` "Can not update a deleting zone", as
/// Designate 23 answered in the real bed; the recordset itself stays readable.
#[tokio::test(start_paused = true)]
async fn a_deleting_zone_refuses_recordset_changes() {
    let (sim, api) = designate().await;
    let (z, www) = zone_with_www(&api, "ci-5.example.org.").await;
    let (_, list) = api.get(&format!("/dns/v2/zones/{z}/recordsets")).await;
    let soa = records_of(&list, "SOA")[0].clone();
    let (status, _) = api.delete(&format!("/dns/v2/zones/{z}")).await;
    assert_eq!(status, 202);
    let refused = |status: u16, body: &Value| {
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["type"], "bad_request");
        assert_eq!(body["code"], 400);
        assert_eq!(body["message"], "Can not update a deleting zone");
    };
    let (status, body) = api
        .post(
            &format!("/dns/v2/zones/{z}/recordsets"),
            json!({"name": "new.ci-5.example.org.", "type": "A", "records": ["10.0.0.2"]}),
        )
        .await;
    refused(status, &body);
    for id in [&www, &soa] {
        let (status, body) = api
            .delete(&format!("/dns/v2/zones/{z}/recordsets/{id}"))
            .await;
        refused(status, &body);
    }
    let (status, _) = api
        .get(&format!("/dns/v2/zones/{z}/recordsets/{www}"))
        .await;
    assert_eq!(status, 200);
    sim.shutdown().await;
}

/// Designate's SOA and apex NS cannot be deleted (400 `bad_request`); a delegation NS
/// and an A record can (202, `PENDING`/`DELETE`, then 404 `recordset_not_found`).
#[tokio::test(start_paused = true)]
async fn managed_records_refuse_their_delete() {
    let (sim, api) = designate().await;
    let z = zone(&api, "ci-2.example.org.").await;
    settle().await;
    let (_, list) = api.get(&format!("/dns/v2/zones/{z}/recordsets")).await;
    let soa = &records_of(&list, "SOA")[0];
    let ns = &records_of(&list, "NS")[0];
    for id in [soa, ns] {
        let (status, body) = api
            .delete(&format!("/dns/v2/zones/{z}/recordsets/{id}"))
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["type"], "bad_request");
    }
    let (_, sub) = api
        .post(
            &format!("/dns/v2/zones/{z}/recordsets"),
            json!({"name": "sub.ci-2.example.org.", "type": "NS", "records": ["ns.other.org."]}),
        )
        .await;
    settle().await;
    let sub = sub["id"].as_str().unwrap();
    let (status, body) = api
        .delete(&format!("/dns/v2/zones/{z}/recordsets/{sub}"))
        .await;
    assert_eq!(status, 202);
    assert_eq!(body["action"], "DELETE");
    settle().await;
    let (status, body) = api
        .get(&format!("/dns/v2/zones/{z}/recordsets/{sub}"))
        .await;
    assert_eq!(
        (status, body["type"].as_str()),
        (404, Some("recordset_not_found"))
    );
    sim.shutdown().await;
}

/// Lists page with `limit` and `marker`, `links.next` while more remain, and
/// `metadata.total_count`.
#[tokio::test(start_paused = true)]
async fn zones_page_with_links_next() {
    let (sim, api) = designate().await;
    for n in 0..5 {
        zone(&api, &format!("z{n}.example.org.")).await;
    }
    let (status, first) = api.get("/dns/v2/zones?limit=2").await;
    assert_eq!(status, 200);
    assert_eq!(first["zones"].as_array().unwrap().len(), 2);
    assert_eq!(first["metadata"]["total_count"], 5);
    let next = first["links"]["next"].as_str().unwrap();
    assert!(next.contains("/dns/v2/zones?limit=2&marker="), "{next}");
    let (_, all) = api.get("/dns/v2/zones").await;
    assert!(all["links"].get("next").is_none());
    assert_eq!(all["zones"].as_array().unwrap().len(), 5);
    sim.shutdown().await;
}
