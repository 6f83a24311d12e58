//! Nova on the simulator: asynchronous server delete and what it does to ports and
//! volumes, tags, keypairs, server groups, stuck and conflicting deletes, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{neutron_type, start, Api};
use serde_json::{json, Value};
use stacksweep_sim::cinder::VOLUME_IN_USE;
use stacksweep_sim::SimConfig;

fn config() -> SimConfig {
    SimConfig {
        server_delete_delay: Duration::from_secs(5),
        volume_detach_delay: Duration::from_secs(3),
        volume_delete_delay: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

async fn volume(api: &Api, name: &str) -> String {
    let (status, body) = api
        .post(
            "/volume/v3/{project}/volumes",
            json!({"volume": {"size": 1, "name": name}}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    body["volume"]["id"].as_str().unwrap().to_string()
}

async fn server(api: &Api, body: Value) -> String {
    let (status, out) = api
        .post("/compute/v2.1/servers", json!({ "server": body }))
        .await;
    assert_eq!(status, 202, "{out}");
    out["server"]["id"].as_str().unwrap().to_string()
}

/// Server delete is asynchronous: Nova's ports go after the server, passed-in ports survive
/// unbound, volumes stay in use (Cinder answers 400) until the detach delay has passed.
#[tokio::test(start_paused = true)]
async fn server_delete_releases_ports_then_volumes() {
    let (sim, api) = start(config()).await;
    let (net, _) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let (net2, _) = api.net_with_subnet("m", "10.2.0.0/24").await;
    let pre = api
        .neutron("ports", "port", json!({"network_id": net2, "name": "pre"}))
        .await;
    let vol = volume(&api, "root").await;
    let id = server(&api, json!({"name": "vm", "flavorRef": "1", "tags": ["ci"],
        "networks": [{"uuid": net}, {"port": pre}],
        "block_device_mapping_v2": [{"boot_index": 0, "uuid": vol, "source_type": "volume", "destination_type": "volume"}]})).await;
    let (_, ports) = api
        .get(&format!("/network/v2.0/ports?device_id={id}"))
        .await;
    let ports = ports["ports"].as_array().unwrap().clone();
    assert_eq!(ports.len(), 2);
    let created = ports.iter().find(|p| p["id"] != json!(pre)).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, s) = api.get(&format!("/compute/v2.1/servers/{id}")).await;
    assert_eq!(s["server"]["tags"], json!(["ci"]));
    assert_eq!(
        s["server"]["os-extended-volumes:volumes_attached"][0]["id"],
        json!(vol)
    );
    assert_eq!(s["server"]["addresses"].as_object().unwrap().len(), 2);
    let (status, body) = api.delete(&format!("/network/v2.0/ports/{created}")).await;
    assert_eq!((status, neutron_type(&body)), (403, "PolicyNotAuthorized"));
    let (status, body) = api
        .delete(&format!(
            "/volume/v3/{{project}}/volumes/{vol}?cascade=true"
        ))
        .await;
    assert_eq!(
        (status, body["badRequest"]["message"].as_str().unwrap()),
        (400, VOLUME_IN_USE)
    );

    assert_eq!(
        api.delete(&format!("/compute/v2.1/servers/{id}")).await.0,
        204
    );
    let (status, s) = api.get(&format!("/compute/v2.1/servers/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(s["server"]["OS-EXT-STS:task_state"], "deleting");
    assert!(
        sim.exists("port", &created),
        "ports go only after the server"
    );

    tokio::time::sleep(Duration::from_secs(6)).await;
    let (status, body) = api.get(&format!("/compute/v2.1/servers/{id}")).await;
    assert_eq!(status, 404);
    assert!(body["itemNotFound"]["message"].is_string());
    assert!(!sim.exists("port", &created));
    let (_, p) = api.get(&format!("/network/v2.0/ports/{pre}")).await;
    assert_eq!(p["port"]["device_id"], "");
    assert_eq!(p["port"]["device_owner"], "");
    let (status, _) = api
        .delete(&format!("/volume/v3/{{project}}/volumes/{vol}"))
        .await;
    assert_eq!(
        status, 400,
        "volume still attached right after the server is gone"
    );

    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, v) = api
        .get(&format!("/volume/v3/{{project}}/volumes/{vol}"))
        .await;
    assert_eq!(v["volume"]["status"], "available");
    assert_eq!(
        api.delete(&format!("/volume/v3/{{project}}/volumes/{vol}"))
            .await
            .0,
        202
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/ports/{pre}")).await.0,
        204
    );
}

/// Boot from image to a new volume with delete_on_termination: the volume goes too.
#[tokio::test(start_paused = true)]
async fn delete_on_termination_volume_goes_with_server() {
    let (sim, api) = start(config()).await;
    let id = server(&api, json!({"name": "vm", "flavorRef": "1", "networks": "none",
        "block_device_mapping_v2": [{"boot_index": 0, "uuid": "img", "source_type": "image", "destination_type": "volume", "volume_size": 1, "delete_on_termination": true}]})).await;
    let vol = sim.ids("volume").pop().unwrap();
    let (_, att) = api
        .get(&format!("/compute/v2.1/servers/{id}/os-volume_attachments"))
        .await;
    assert_eq!(att["volumeAttachments"][0]["volumeId"], json!(vol));
    api.delete(&format!("/compute/v2.1/servers/{id}")).await;
    tokio::time::sleep(Duration::from_secs(10)).await;
    assert!(!sim.exists("server", &id));
    assert!(!sim.exists("volume", &vol));
}

/// `os-extended-volumes:volumes_attached` carries `delete_on_termination` from
/// microversion 2.3 on, only the ID before (what the janitor reads to know that a
/// server's delete takes its boot volume along).
#[tokio::test]
async fn volumes_attached_show_delete_on_termination_from_2_3() {
    let (_sim, api) = start(config()).await;
    let kept = volume(&api, "kept").await;
    let id = server(&api, json!({"name": "vm", "flavorRef": "1", "networks": "none",
        "block_device_mapping_v2": [{"boot_index": 0, "uuid": kept, "source_type": "volume", "destination_type": "volume", "delete_on_termination": true}]})).await;
    let (_, s) = api.get(&format!("/compute/v2.1/servers/{id}")).await;
    assert_eq!(
        s["server"]["os-extended-volumes:volumes_attached"],
        json!([{"id": kept, "delete_on_termination": true}])
    );
    for version in ["2.1", "2.2"] {
        let resp = api
            .http
            .get(format!("{}/compute/v2.1/servers/{id}", api.base))
            .header("x-auth-token", &api.token)
            .header("openstack-api-version", format!("compute {version}"))
            .send()
            .await
            .unwrap();
        let old: Value = resp.json().await.unwrap();
        assert_eq!(
            old["server"]["os-extended-volumes:volumes_attached"],
            json!([{ "id": kept }]),
            "microversion {version}"
        );
    }
}

/// Attach and detach through os-volume_attachments move the volume through in-use/detaching.
#[tokio::test(start_paused = true)]
async fn volume_attachments() {
    let (_sim, api) = start(config()).await;
    let vol = volume(&api, "data").await;
    let id = server(
        &api,
        json!({"name": "vm", "flavorRef": "1", "imageRef": "img", "networks": "none"}),
    )
    .await;
    let (status, _) = api
        .post(
            &format!("/compute/v2.1/servers/{id}/os-volume_attachments"),
            json!({"volumeAttachment": {"volumeId": vol}}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, v) = api
        .get(&format!("/volume/v3/{{project}}/volumes/{vol}"))
        .await;
    assert_eq!(v["volume"]["status"], "in-use");
    assert_eq!(v["volume"]["attachments"][0]["server_id"], json!(id));
    assert_eq!(
        api.delete(&format!(
            "/compute/v2.1/servers/{id}/os-volume_attachments/{vol}"
        ))
        .await
        .0,
        202
    );
    let (_, v) = api
        .get(&format!("/volume/v3/{{project}}/volumes/{vol}"))
        .await;
    assert_eq!(v["volume"]["status"], "detaching");
    tokio::time::sleep(Duration::from_secs(4)).await;
    let (_, v) = api
        .get(&format!("/volume/v3/{{project}}/volumes/{vol}"))
        .await;
    assert_eq!(v["volume"]["status"], "available");
}

/// Server tags: hidden before 2.26, tag filters on the list, tag PUT/DELETE.
#[tokio::test]
async fn server_tags_and_filters() {
    let (_sim, api) = start(config()).await;
    let a = server(&api, json!({"name": "a", "flavorRef": "1", "imageRef": "i", "networks": "none", "tags": ["ci", "job-1"]})).await;
    let b = server(
        &api,
        json!({"name": "b", "flavorRef": "1", "imageRef": "i", "networks": "none"}),
    )
    .await;
    assert_eq!(
        api.put(&format!("/compute/v2.1/servers/{b}/tags/keep"), json!(null))
            .await
            .0,
        201
    );
    let names = |v: Value| -> Vec<String> {
        v["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(api.get("/compute/v2.1/servers/detail?tags=ci").await.1),
        ["a"]
    );
    assert_eq!(
        names(
            api.get("/compute/v2.1/servers/detail?not-tags-any=keep")
                .await
                .1
        ),
        ["a"]
    );
    assert_eq!(
        names(api.get("/compute/v2.1/servers?tags-any=keep,job-1").await.1).len(),
        2
    );
    let (_, t) = api.get(&format!("/compute/v2.1/servers/{a}/tags")).await;
    assert_eq!(t["tags"], json!(["ci", "job-1"]));
    let resp = api
        .http
        .get(format!("{}/compute/v2.1/servers/{a}", api.base))
        .header("x-auth-token", &api.token)
        .send()
        .await
        .unwrap();
    let old: Value = resp.json().await.unwrap();
    assert!(
        old["server"].get("tags").is_none(),
        "no tags at microversion 2.1"
    );
    let (_, s) = api.get(&format!("/compute/v2.1/servers/{a}")).await;
    assert!(s["server"]["created"].as_str().unwrap().ends_with('Z'));
}

/// Keypairs: list without created_at, `GET /os-keypairs/{name}` with it, 409 on duplicates.
#[tokio::test]
async fn keypairs() {
    let (sim, api) = start(config()).await;
    let (status, kp) = api
        .post(
            "/compute/v2.1/os-keypairs",
            json!({"keypair": {"name": "ci-key"}}),
        )
        .await;
    assert_eq!(status, 201);
    assert!(kp["keypair"]["private_key"].is_string());
    assert_eq!(
        api.post(
            "/compute/v2.1/os-keypairs",
            json!({"keypair": {"name": "ci-key"}})
        )
        .await
        .0,
        409
    );
    let (_, list) = api.get("/compute/v2.1/os-keypairs").await;
    assert_eq!(list["keypairs"][0]["keypair"]["name"], "ci-key");
    assert!(list["keypairs"][0]["keypair"].get("created_at").is_none());
    let (_, one) = api.get("/compute/v2.1/os-keypairs/ci-key").await;
    assert!(!one["keypair"]["created_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert!(sim.exists("keypair", "ci-key"));
    assert_eq!(api.delete("/compute/v2.1/os-keypairs/ci-key").await.0, 204);
    assert_eq!(api.get("/compute/v2.1/os-keypairs/ci-key").await.0, 404);
}

/// Server groups list their members; members leave when the server is gone.
#[tokio::test(start_paused = true)]
async fn server_groups() {
    let (_sim, api) = start(config()).await;
    let (status, g) = api
        .post(
            "/compute/v2.1/os-server-groups",
            json!({"server_group": {"name": "g", "policy": "anti-affinity"}}),
        )
        .await;
    assert_eq!(status, 200);
    let gid = g["server_group"]["id"].as_str().unwrap().to_string();
    let s = server(
        &api,
        json!({"name": "a", "flavorRef": "1", "imageRef": "i", "networks": "none"}),
    )
    .await;
    let _ = s;
    let s2 = {
        let (status, out) = api
            .post("/compute/v2.1/servers", json!({"server": {"name": "b", "flavorRef": "1", "imageRef": "i", "networks": "none"}, "os:scheduler_hints": {"group": gid}}))
            .await;
        assert_eq!(status, 202);
        out["server"]["id"].as_str().unwrap().to_string()
    };
    let _ = s2;
    let (_, list) = api.get("/compute/v2.1/os-server-groups").await;
    assert_eq!(list["server_groups"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.delete(&format!("/compute/v2.1/os-server-groups/{gid}"))
            .await
            .0,
        204
    );
    assert_eq!(
        api.get(&format!("/compute/v2.1/os-server-groups/{gid}"))
            .await
            .0,
        404
    );
}

/// A stuck server ends in ERROR instead of disappearing; the next delete works.
#[tokio::test(start_paused = true)]
async fn stuck_server_ends_in_error() {
    let (sim, api) = start(config()).await;
    let id = server(
        &api,
        json!({"name": "vm", "flavorRef": "1", "imageRef": "i", "networks": "none"}),
    )
    .await;
    sim.make_stuck("server", &id);
    api.delete(&format!("/compute/v2.1/servers/{id}")).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let (_, s) = api.get(&format!("/compute/v2.1/servers/{id}")).await;
    assert_eq!(s["server"]["status"], "ERROR");
    assert_eq!(s["server"]["OS-EXT-STS:task_state"], Value::Null);
    api.delete(&format!("/compute/v2.1/servers/{id}")).await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert!(!sim.exists("server", &id));
}

/// `conflict_for` makes the next N deletes answer 409, then the delete goes through.
#[tokio::test(start_paused = true)]
async fn conflict_n_times() {
    let (sim, api) = start(config()).await;
    let id = server(
        &api,
        json!({"name": "vm", "flavorRef": "1", "imageRef": "i", "networks": "none"}),
    )
    .await;
    sim.conflict_for("server", &id, 2);
    assert_eq!(
        api.delete(&format!("/compute/v2.1/servers/{id}")).await.0,
        409
    );
    let (status, body) = api.delete(&format!("/compute/v2.1/servers/{id}")).await;
    assert_eq!(status, 409);
    assert!(body["conflictingRequest"]["message"].is_string());
    assert_eq!(
        api.delete(&format!("/compute/v2.1/servers/{id}")).await.0,
        204
    );
}

/// Server lists page with `servers_links`; a bad marker answers 400.
#[tokio::test]
async fn server_pagination() {
    let (_sim, api) = start(config()).await;
    for i in 0..5 {
        server(
            &api,
            json!({"name": format!("s{i}"), "flavorRef": "1", "imageRef": "i", "networks": "none"}),
        )
        .await;
    }
    let (_, page1) = api.get("/compute/v2.1/servers/detail?limit=3").await;
    assert_eq!(page1["servers"].as_array().unwrap().len(), 3);
    let next = page1["servers_links"][0]["href"]
        .as_str()
        .unwrap()
        .replace(&api.base, "");
    let (_, page2) = api.get(&next).await;
    assert_eq!(page2["servers"].as_array().unwrap().len(), 2);
    assert!(page2.get("servers_links").is_none());
    assert_eq!(api.get("/compute/v2.1/servers?marker=nope").await.0, 400);
}
