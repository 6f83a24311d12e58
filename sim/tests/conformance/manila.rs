//! Manila on the simulator: an optional service at `/share/v2/{project_id}`, its
//! refusals (403 `forbidden` for a share with snapshots, 409 `conflictingRequest` for
//! a share network with shares), asynchronous share and snapshot deletes (202,
//! `deleting`, then 404 `itemNotFound`) and `limit`/`offset` pages, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{login, start};
use serde_json::json;
use stacksweep_sim::scenarios::Seeder;
use stacksweep_sim::SimConfig;

fn config() -> SimConfig {
    SimConfig {
        volume_delete_delay: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

/// Each conflict Manila answers, then the order that works: snapshot, share, network.
#[tokio::test(start_paused = true)]
async fn share_conflicts_and_async_deletes() {
    let (sim, _) = start(config()).await;
    sim.enable_service("sharev2");
    let api = login(&sim, "ci-user", "ci-password", "ci").await;
    let (_, catalog) = api.get("/identity/v3/auth/catalog").await;
    let manila = catalog["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["type"] == "sharev2")
        .cloned()
        .unwrap();
    let url = manila["endpoints"][0]["url"].as_str().unwrap().to_string();
    assert!(
        url.ends_with(&format!("/share/v2/{}", api.project)),
        "{url}"
    );
    // Version discovery at the versioned root, as Manila answers it.
    let (status, doc) = api.get("/share/v2/").await;
    assert_eq!(status, 200);
    assert_eq!(doc["versions"][0]["status"], "CURRENT");
    assert!(doc["versions"][0]["min_version"].is_string());
    let project = sim.project_id();
    let (net, share, snap) = sim.with_state(|st| {
        let mut s = Seeder::new(st, &project);
        let net = s.share_network("n");
        let share = s.share("s", Some(&net), json!({"k": "v"}));
        let snap = s.share_snapshot(&share, "sn");
        (net, share, snap)
    });
    let base = "/share/v2/{project}";
    let (status, body) = api.delete(&format!("{base}/shares/{share}")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body["forbidden"]["message"]
        .as_str()
        .unwrap()
        .contains("dependent snapshots"));
    let (status, body) = api.delete(&format!("{base}/share-networks/{net}")).await;
    assert_eq!(status, 409, "{body}");
    assert!(body["conflictingRequest"]["message"]
        .as_str()
        .unwrap()
        .contains("it has 1 share(s)"));
    let (status, _) = api.delete(&format!("{base}/snapshots/{snap}")).await;
    assert_eq!(status, 202);
    let (_, shown) = api.get(&format!("{base}/snapshots/{snap}")).await;
    assert_eq!(shown["snapshot"]["status"], "deleting");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, body) = api.get(&format!("{base}/snapshots/{snap}")).await;
    assert_eq!(status, 404);
    assert!(body["itemNotFound"].is_object());
    let (status, _) = api.delete(&format!("{base}/shares/{share}")).await;
    assert_eq!(status, 202);
    let (status, body) = api.delete(&format!("{base}/shares/{share}")).await;
    assert_eq!(status, 403, "a deleting share is refused: {body}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, _) = api.delete(&format!("{base}/share-networks/{net}")).await;
    assert_eq!(status, 202);
    let (status, _) = api.get(&format!("{base}/share-networks/{net}")).await;
    assert_eq!(status, 404);
    sim.shutdown().await;
}

/// Lists are `{"shares": […]}` without links, paged by `limit` and `offset`.
#[tokio::test]
async fn lists_page_by_offset() {
    let (sim, api) = start(config()).await;
    let project = sim.project_id();
    sim.with_state(|st| {
        let mut s = Seeder::new(st, &project);
        for n in 0..5 {
            s.share(&format!("s{n}"), None, json!({}));
        }
    });
    let (status, page) = api
        .get("/share/v2/{project}/shares/detail?limit=2&offset=4")
        .await;
    assert_eq!(status, 200);
    assert_eq!(page["shares"].as_array().unwrap().len(), 1);
    assert!(page.get("shares_links").is_none());
    let (_, all) = api.get("/share/v2/{project}/shares/detail").await;
    assert_eq!(all["shares"].as_array().unwrap().len(), 5);
    sim.shutdown().await;
}

/// Creates answer as Manila 23 did on the real bed: a share network 200, a share 200
/// `creating` (then `available`), a snapshot 202 `creating`; a share on an unknown
/// share network 404 `itemNotFound`, a body without its wrapper 400.
#[tokio::test]
async fn creates_answer_as_manila_does() {
    let (sim, api) = start(config()).await;
    let base = "/share/v2/{project}";
    let (status, net) = api
        .post(
            &format!("{base}/share-networks"),
            json!({"share_network": {"name": "sn"}}),
        )
        .await;
    assert_eq!(status, 200, "{net}");
    let net = net["share_network"]["id"].as_str().unwrap().to_string();
    let (status, share) = api
        .post(
            &format!("{base}/shares"),
            json!({"share": {"name": "s", "share_proto": "NFS", "size": 1,
                "share_network_id": net, "share_type": "dhss", "metadata": {"ci-job": "1"}}}),
        )
        .await;
    assert_eq!(status, 200, "{share}");
    assert_eq!(share["share"]["status"], "creating");
    assert_eq!(share["share"]["share_network_id"], net.as_str());
    let share = share["share"]["id"].as_str().unwrap().to_string();
    let (_, shown) = api.get(&format!("{base}/shares/{share}")).await;
    assert_eq!(shown["share"]["status"], "available");
    assert_eq!(shown["share"]["metadata"]["ci-job"], "1");
    let (status, snap) = api
        .post(
            &format!("{base}/snapshots"),
            json!({"snapshot": {"share_id": share, "name": "sn1"}}),
        )
        .await;
    assert_eq!(status, 202, "{snap}");
    assert_eq!(snap["snapshot"]["status"], "creating");
    let snap = snap["snapshot"]["id"].as_str().unwrap().to_string();
    let (_, shown) = api.get(&format!("{base}/snapshots/{snap}")).await;
    assert_eq!(shown["snapshot"]["status"], "available");
    let (status, body) = api
        .post(
            &format!("{base}/shares"),
            json!({"share": {"name": "x", "share_proto": "NFS", "size": 1,
                "share_network_id": "nope"}}),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert!(body["itemNotFound"]["message"]
        .as_str()
        .unwrap()
        .contains("nope"));
    let (status, _) = api
        .post(&format!("{base}/shares"), json!({"name": "x"}))
        .await;
    assert_eq!(status, 400);
    sim.shutdown().await;
}
