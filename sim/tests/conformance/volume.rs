//! Cinder on the simulator: the 400 refusals, cascade, asynchronous `deleting`,
//! `error_deleting`, metadata filters, timestamps and pagination, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{start, Api};
use serde_json::{json, Value};
use stacksweep_sim::cinder::{SNAPSHOT_BUSY, VOLUME_IN_USE};
use stacksweep_sim::SimConfig;

fn config() -> SimConfig {
    SimConfig {
        volume_delete_delay: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

async fn volume(api: &Api, body: Value) -> String {
    let (status, out) = api
        .post("/volume/v3/{project}/volumes", json!({ "volume": body }))
        .await;
    assert_eq!(status, 202, "{out}");
    out["volume"]["id"].as_str().unwrap().to_string()
}

async fn snapshot(api: &Api, volume: &str) -> String {
    let (status, out) = api
        .post(
            "/volume/v3/{project}/snapshots",
            json!({"snapshot": {"volume_id": volume, "name": "snap"}}),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    out["snapshot"]["id"].as_str().unwrap().to_string()
}

/// A volume with snapshots answers 400 badRequest with real Cinder's message.
#[tokio::test(start_paused = true)]
async fn volume_with_snapshots_is_refused() {
    let (sim, api) = start(config()).await;
    let vol = volume(&api, json!({"size": 1, "name": "v"})).await;
    let snap = snapshot(&api, &vol).await;
    let (status, body) = api
        .delete(&format!("/volume/v3/{{project}}/volumes/{vol}"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"badRequest": {"code": 400, "message": VOLUME_IN_USE}})
    );
    // Snapshot first, asynchronously.
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/snapshots/{snap}"))
            .await
            .0,
        202
    );
    let (_, s) = api
        .get(&format!("/volume/v3/{{project}}/snapshots/{snap}"))
        .await;
    assert_eq!(s["snapshot"]["status"], "deleting");
    let (status, body) = api
        .delete(&format!("/volume/v3/{{project}}/snapshots/{snap}"))
        .await;
    assert_eq!(
        (status, body["badRequest"]["message"].as_str().unwrap()),
        (400, SNAPSHOT_BUSY)
    );
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/volumes/{vol}"))
            .await
            .0,
        400
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!sim.exists("snapshot", &snap));
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/volumes/{vol}"))
            .await
            .0,
        202
    );
    let (_, v) = api
        .get(&format!("/volume/v3/{{project}}/volumes/{vol}"))
        .await;
    assert_eq!(v["volume"]["status"], "deleting");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, body) = api
        .get(&format!("/volume/v3/{{project}}/volumes/{vol}"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["itemNotFound"]["message"],
        format!("Volume {vol} could not be found.")
    );
}

/// `cascade=true` deletes a volume with its snapshots, both passing through `deleting`.
#[tokio::test(start_paused = true)]
async fn cascade_takes_snapshots() {
    let (sim, api) = start(config()).await;
    let vol = volume(&api, json!({"size": 1})).await;
    let snap = snapshot(&api, &vol).await;
    assert_eq!(
        api.delete(&format!(
            "/volume/v3/{{project}}/volumes/{vol}?cascade=true"
        ))
        .await
        .0,
        202
    );
    let (_, s) = api
        .get(&format!("/volume/v3/{{project}}/snapshots/{snap}"))
        .await;
    assert_eq!(s["snapshot"]["status"], "deleting");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!sim.exists("volume", &vol));
    assert!(!sim.exists("snapshot", &snap));
}

/// A stuck volume ends in `error_deleting`, and a further delete answers 400.
#[tokio::test(start_paused = true)]
async fn stuck_volume_ends_in_error_deleting() {
    let (sim, api) = start(config()).await;
    let vol = volume(&api, json!({"size": 1})).await;
    let snap = snapshot(&api, &vol).await;
    sim.make_stuck("snapshot", &snap);
    api.delete(&format!("/volume/v3/{{project}}/snapshots/{snap}"))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, s) = api
        .get(&format!("/volume/v3/{{project}}/snapshots/{snap}"))
        .await;
    assert_eq!(s["snapshot"]["status"], "error_deleting");
    let other = volume(&api, json!({"size": 1})).await;
    sim.make_stuck("volume", &other);
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/volumes/{other}"))
            .await
            .0,
        202
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, v) = api
        .get(&format!("/volume/v3/{{project}}/volumes/{other}"))
        .await;
    assert_eq!(v["volume"]["status"], "error_deleting");
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/volumes/{other}"))
            .await
            .0,
        400
    );
}

/// `conflict_for` on a volume answers 409 N times, then the delete goes through.
#[tokio::test]
async fn volume_conflict_n_times() {
    let (sim, api) = start(config()).await;
    let vol = volume(&api, json!({"size": 1})).await;
    sim.conflict_for("volume", &vol, 1);
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/volumes/{vol}"))
            .await
            .0,
        409
    );
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/volumes/{vol}"))
            .await
            .0,
        202
    );
}

/// `?metadata={"k":"v"}` filters, metadata calls edit, `created_at` has no zone suffix.
#[tokio::test]
async fn metadata_filter_and_timestamps() {
    let (_sim, api) = start(config()).await;
    let a = volume(
        &api,
        json!({"size": 1, "name": "a", "metadata": {"ci": "job-1", "x": "y"}}),
    )
    .await;
    let b = volume(&api, json!({"size": 1, "name": "b"})).await;
    let (status, _) = api
        .post(
            &format!("/volume/v3/{{project}}/volumes/{b}/metadata"),
            json!({"metadata": {"ci": "job-2"}}),
        )
        .await;
    assert_eq!(status, 200);
    let ids = |v: Value| -> Vec<String> {
        v["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["id"].as_str().unwrap().to_string())
            .collect()
    };
    let q = url_encode(r#"{"ci":"job-1"}"#);
    assert_eq!(
        ids(api
            .get(&format!(
                "/volume/v3/{{project}}/volumes/detail?metadata={q}"
            ))
            .await
            .1),
        [a.as_str()]
    );
    assert_eq!(
        ids(api
            .get("/volume/v3/{project}/volumes/detail?name=b")
            .await
            .1),
        [b.as_str()]
    );
    assert_eq!(
        api.get("/volume/v3/{project}/volumes?metadata=notjson")
            .await
            .0,
        400
    );
    let (_, v) = api
        .get(&format!("/volume/v3/{{project}}/volumes/{a}"))
        .await;
    let created = v["volume"]["created_at"].as_str().unwrap();
    assert_eq!(created.len(), "2026-11-22T06:14:46.000000".len());
    assert!(!created.ends_with('Z'));
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Volume lists page with `volumes_links`.
#[tokio::test]
async fn volume_pagination() {
    let (_sim, api) = start(config()).await;
    for _ in 0..5 {
        volume(&api, json!({"size": 1})).await;
    }
    let (_, p1) = api.get("/volume/v3/{project}/volumes/detail?limit=2").await;
    let mut seen = p1["volumes"].as_array().unwrap().len();
    let mut link = p1["volumes_links"][0]["href"].as_str().map(String::from);
    while let Some(href) = link {
        let (_, p) = api.get(&href.replace(&api.base, "")).await;
        seen += p["volumes"].as_array().unwrap().len();
        link = p["volumes_links"][0]["href"].as_str().map(String::from);
    }
    assert_eq!(seen, 5);
}

async fn backup(api: &Api, volume: &str, incremental: bool) -> (u16, Value) {
    api.post(
        "/volume/v3/{project}/backups",
        json!({"backup": {"volume_id": volume, "name": "b", "incremental": incremental,
            "metadata": {"cinder.csi.openstack.org/cluster": "ci"}}}),
    )
    .await
}

/// Backups: an incremental needs a backup to build on (400 otherwise); the backup it
/// builds on has dependents and answers 400 "Incremental backups exist for this backup."
/// until the incremental is gone; a `deleting` backup answers the status 400; deletes are
/// asynchronous, then 404 `itemNotFound`. A volume with backups deletes fine.
#[tokio::test(start_paused = true)]
async fn backup_chain_is_deleted_newest_first() {
    use stacksweep_sim::cinder::{BACKUP_BUSY, INCREMENTALS_EXIST};
    let (sim, api) = start(config()).await;
    let vol = volume(&api, json!({"size": 1, "name": "v"})).await;
    let (status, body) = backup(&api, &vol, true).await;
    assert_eq!(status, 400, "{body}");
    let (status, out) = backup(&api, &vol, false).await;
    assert_eq!(status, 202, "{out}");
    let full = out["backup"]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(1)).await; // until the backup is made
    let (_, out) = backup(&api, &vol, true).await;
    let inc = out["backup"]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (_, list) = api.get("/volume/v3/{project}/backups/detail").await;
    let shown: Vec<&Value> = list["backups"].as_array().unwrap().iter().collect();
    assert_eq!(shown.len(), 2);
    let full_shown = shown.iter().find(|b| b["id"] == json!(full)).unwrap();
    assert_eq!(full_shown["has_dependent_backups"], json!(true));
    assert_eq!(
        full_shown["metadata"]["cinder.csi.openstack.org/cluster"],
        "ci"
    );
    assert!(full_shown
        .get("os-backup-project-attr:project_id")
        .is_some());
    assert!(full_shown.get("_parent").is_none());

    let (status, body) = api
        .delete(&format!("/volume/v3/{{project}}/backups/{full}"))
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"badRequest": {"code": 400, "message": INCREMENTALS_EXIST}})
    );
    let inc_path = format!("/volume/v3/{{project}}/backups/{inc}");
    assert_eq!(api.delete(&inc_path).await.0, 202);
    let (_, b) = api.get(&inc_path).await;
    assert_eq!(b["backup"]["status"], "deleting");
    let (status, body) = api.delete(&inc_path).await;
    assert_eq!(
        (status, body["badRequest"]["message"].as_str().unwrap()),
        (400, BACKUP_BUSY)
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (status, body) = api.get(&inc_path).await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"itemNotFound": {"code": 404, "message": format!("Backup {inc} could not be found.")}})
    );
    // The volume does not wait for its backups, nor they for it.
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/volumes/{vol}"))
            .await
            .0,
        202
    );
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/backups/{full}"))
            .await
            .0,
        202
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(!sim.exists("volume-backup", &full));
}

/// While a backup is being made (as real cinder-backup answered on the test bed): the
/// backup is `creating` and refuses a delete ("Backup status must be available or
/// error"), its volume is `backing-up` and refuses a delete and a further backup (400);
/// once made, the backup is `available` and the volume back to `available`.
#[tokio::test(start_paused = true)]
async fn backup_in_progress_holds_backup_and_volume() {
    use stacksweep_sim::cinder::BACKUP_BUSY;
    let (_sim, api) = start(config()).await;
    let vol = volume(&api, json!({"size": 1, "name": "v"})).await;
    let (status, out) = backup(&api, &vol, false).await;
    assert_eq!(status, 202, "{out}");
    let id = out["backup"]["id"].as_str().unwrap().to_string();
    let path = format!("/volume/v3/{{project}}/backups/{id}");
    let vol_path = format!("/volume/v3/{{project}}/volumes/{vol}");
    assert_eq!(api.get(&path).await.1["backup"]["status"], "creating");
    assert_eq!(api.get(&vol_path).await.1["volume"]["status"], "backing-up");
    let (status, body) = api.delete(&vol_path).await;
    assert_eq!(status, 400, "{body}");
    assert!(body["badRequest"]["message"]
        .as_str()
        .unwrap()
        .starts_with("Invalid volume: Volume status must be available or error"));
    let (status, body) = api.delete(&path).await;
    assert_eq!(
        (status, body["badRequest"]["message"].as_str().unwrap()),
        (400, BACKUP_BUSY)
    );
    let (status, body) = backup(&api, &vol, true).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["badRequest"]["message"],
        "Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"backing-up\"."
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(api.get(&path).await.1["backup"]["status"], "available");
    assert_eq!(api.get(&vol_path).await.1["volume"]["status"], "available");
    assert_eq!(api.delete(&path).await.0, 202);
}
