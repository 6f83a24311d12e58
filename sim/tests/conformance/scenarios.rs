//! Built-in scenarios: what they seed is consistent (selected resources carry the tag,
//! survivors do not), and deleting the selected resources over HTTP in dependency order
//! empties the manifest's selection while every survivor stays.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{start, Api};
use serde_json::json;
use stacksweep_sim::{Manifest, Scenario, SimConfig, SimHandle};

/// Path of a resource's delete, or `None` when it needs a special call.
fn delete_path(kind: &str, id: &str) -> String {
    match kind {
        "server" => format!("/compute/v2.1/servers/{id}"),
        "keypair" => format!("/compute/v2.1/os-keypairs/{id}"),
        "server-group" => format!("/compute/v2.1/os-server-groups/{id}"),
        "floating-ip" => format!("/network/v2.0/floatingips/{id}"),
        "port" => format!("/network/v2.0/ports/{id}"),
        "router" => format!("/network/v2.0/routers/{id}"),
        "subnet" => format!("/network/v2.0/subnets/{id}"),
        "network" => format!("/network/v2.0/networks/{id}"),
        "security-group" => format!("/network/v2.0/security-groups/{id}"),
        "snapshot" => format!("/volume/v3/{{project}}/snapshots/{id}"),
        "volume" => format!("/volume/v3/{{project}}/volumes/{id}"),
        "volume-backup" => format!("/volume/v3/{{project}}/backups/{id}"),
        "trunk" => format!("/network/v2.0/trunks/{id}"),
        "load-balancer" => format!("/load-balancer/v2/lbaas/loadbalancers/{id}?cascade=true"),
        "image" => format!("/image/v2/images/{id}"),
        "container" => format!("/swift/v1/AUTH_{{project}}/{id}"),
        other => panic!("no delete path for {other}"),
    }
}

/// Deletes one resource, retrying conflicts and Cinder's 400 while things settle.
async fn delete(sim: &SimHandle, api: &Api, kind: &str, id: &str) {
    if kind == "router" {
        let (_, ports) = api
            .get(&format!(
                "/network/v2.0/ports?device_id={id}&device_owner=network:router_interface"
            ))
            .await;
        for p in ports["ports"].as_array().unwrap() {
            let (status, body) = api
                .put(
                    &format!("/network/v2.0/routers/{id}/remove_router_interface"),
                    json!({"port_id": p["id"]}),
                )
                .await;
            assert_eq!(status, 200, "{body}");
        }
    }
    if kind == "trunk" {
        let (_, t) = api.get(&format!("/network/v2.0/trunks/{id}")).await;
        let subs = t["trunk"]["sub_ports"].clone();
        let (status, body) = api
            .put(
                &format!("/network/v2.0/trunks/{id}/remove_subports"),
                json!({ "sub_ports": subs }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let path = if kind == "port-forwarding" {
        let fip = sim.with_state(|st| {
            st.neutron.port_forwardings.get(id).unwrap()["_fip"]
                .as_str()
                .unwrap()
                .to_string()
        });
        format!("/network/v2.0/floatingips/{fip}/port_forwardings/{id}")
    } else if kind == "stack" {
        let (_, s) = api
            .get(&format!("/heat-api/v1/{{project}}/stacks/{id}"))
            .await;
        format!(
            "/heat-api/v1/{{project}}/stacks/{}/{id}",
            s["stack"]["stack_name"].as_str().unwrap()
        )
    } else if kind == "container" {
        let url = format!("{}/swift/v1/AUTH_{}?bulk-delete", api.base, api.project);
        let (_, objs) = api
            .get(&format!("/swift/v1/AUTH_{{project}}/{id}?format=json"))
            .await;
        let body: String = objs
            .as_array()
            .unwrap()
            .iter()
            .map(|o| format!("/{id}/{}\n", o["name"].as_str().unwrap()))
            .collect();
        api.http
            .post(url)
            .header("x-auth-token", &api.token)
            .body(body)
            .send()
            .await
            .unwrap();
        delete_path(kind, id)
    } else {
        delete_path(kind, id)
    };
    for _ in 0..60 {
        let (status, body) = api.delete(&path).await;
        match status {
            200..=299 | 404 => break,
            400 | 409 => tokio::time::sleep(Duration::from_secs(1)).await,
            other => panic!("{kind} {id}: {other} {body}"),
        }
    }
    for _ in 0..60 {
        if !sim.exists(kind, id) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("{kind} {id} never went away");
}

/// Sweeps the manifest's selection in dependency order and checks the outcome.
async fn sweep_and_check(sim: &SimHandle, api: &Api, m: &Manifest) {
    let order = [
        "stack",
        "load-balancer",
        "server",
        "port-forwarding",
        "floating-ip",
        "trunk",
        "port",
        "router",
        "subnet",
        "network",
        "security-group",
        "snapshot",
        "volume-backup",
        "volume",
        "image",
        "keypair",
        "server-group",
        "container",
    ];
    for kind in order {
        let mut ids: Vec<&String> = m
            .selected
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, id)| id)
            .collect();
        if kind == "volume-backup" {
            // Recorded oldest first; incrementals must go before what they build on.
            ids.reverse();
        }
        for id in ids {
            delete(sim, api, kind, id).await;
        }
    }
    for (kind, id) in &m.selected {
        assert!(!sim.exists(kind, id), "selected {kind} {id} still exists");
    }
    for (kind, id) in &m.survivors {
        assert!(sim.exists(kind, id), "survivor {kind} {id} was deleted");
    }
}

/// Every recorded resource exists; selected and survivors do not overlap; every kind the
/// scenario promises is there.
fn check_manifest(sim: &SimHandle, m: &Manifest, kinds: &[&str]) {
    for (kind, id) in m.selected.iter().chain(&m.survivors) {
        assert!(sim.exists(kind, id), "{kind} {id} missing");
    }
    assert!(m.selected.iter().all(|s| !m.survivors.contains(s)));
    for kind in kinds {
        assert!(
            m.selected.iter().any(|(k, _)| k == kind),
            "no selected {kind}"
        );
    }
    assert!(!m.survivors.is_empty());
}

/// kubespray-aborted seeds servers in cross-referencing groups, a routed network with a
/// floating IP, volumes with snapshots, a keypair and a group, and sweeps cleanly.
#[tokio::test(start_paused = true)]
async fn kubespray_aborted() {
    let (sim, api) = start(SimConfig::default()).await;
    let m = sim.seed(&Scenario::parse("kubespray-aborted:3").unwrap());
    check_manifest(
        &sim,
        &m,
        &[
            "server",
            "port",
            "floating-ip",
            "router",
            "subnet",
            "network",
            "security-group",
            "volume",
            "snapshot",
            "keypair",
            "server-group",
        ],
    );
    assert_eq!(m.selected.iter().filter(|(k, _)| k == "server").count(), 4);
    let (_, sgs) = api
        .get(&format!("/network/v2.0/security-groups?tags={}", m.tag))
        .await;
    let rules: Vec<_> = sgs["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["security_group_rules"].as_array().unwrap().clone())
        .collect();
    assert!(
        rules
            .iter()
            .filter(|r| !r["remote_group_id"].is_null())
            .count()
            >= 2,
        "groups reference each other"
    );
    let (_, servers) = api
        .get(&format!("/compute/v2.1/servers/detail?tags={}", m.tag))
        .await;
    assert_eq!(servers["servers"].as_array().unwrap().len(), 4);
    let (_, vols) = api
        .get(&format!(
            "/volume/v3/{{project}}/volumes/detail?metadata={{\"ci-job\":\"{}\"}}",
            m.tag
        ))
        .await;
    assert_eq!(vols["volumes"].as_array().unwrap().len(), 5);
    sweep_and_check(&sim, &api, &m).await;
}

/// capo-cluster seeds load balancers, cinder-csi volumes, a stack and a container, and sweeps cleanly.
#[tokio::test(start_paused = true)]
async fn capo_cluster() {
    let (sim, api) = start(SimConfig::default()).await;
    let m = sim.seed(&Scenario::parse("capo-cluster:2").unwrap());
    check_manifest(
        &sim,
        &m,
        &[
            "load-balancer",
            "server",
            "port",
            "volume",
            "stack",
            "container",
            "image",
            "router",
            "trunk",
            "port-forwarding",
            "volume-backup",
        ],
    );
    let (_, lbs) = api
        .get(&format!(
            "/load-balancer/v2/lbaas/loadbalancers?tags={}",
            m.tag
        ))
        .await;
    assert_eq!(lbs["loadbalancers"].as_array().unwrap().len(), 2);
    sweep_and_check(&sim, &api, &m).await;
}

/// scale:N seeds about N resources, half selected, and sweeps cleanly.
#[tokio::test(start_paused = true)]
async fn scale() {
    let (sim, api) = start(SimConfig::default()).await;
    let m = sim.seed(&Scenario::parse("scale:120").unwrap());
    let total = m.selected.len() + m.survivors.len();
    assert!((100..=160).contains(&total), "{total}");
    check_manifest(
        &sim,
        &m,
        &[
            "port",
            "network",
            "subnet",
            "router",
            "security-group",
            "volume",
            "snapshot",
        ],
    );
    sweep_and_check(&sim, &api, &m).await;
}

/// A scenario JSON file seeds what it declares, with its tag.
#[tokio::test]
async fn scenario_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    std::fs::write(
        &path,
        r#"{"name": "mine", "tag": "job-9", "resources": [
            {"kind": "network", "ref": "n", "name": "job-9-net", "tags": ["job-9"], "selected": true, "age_hours": 8},
            {"kind": "subnet", "ref": "s", "network": "n", "cidr": "10.3.0.0/24", "tags": ["job-9"], "selected": true},
            {"kind": "security-group", "ref": "g", "name": "job-9-sg", "tags": ["job-9"], "selected": true},
            {"kind": "port", "network": "n", "security_groups": ["g"], "name": "keep-me"},
            {"kind": "volume", "ref": "v", "name": "job-9-vol", "metadata": {"ci-job": "job-9"}, "selected": true},
            {"kind": "snapshot", "volume": "v", "name": "job-9-snap", "selected": true}]}"#,
    )
    .unwrap();
    let (sim, api) = start(SimConfig::default()).await;
    let m = sim.seed(&Scenario::parse(path.to_str().unwrap()).unwrap());
    assert_eq!(m.tag, "job-9");
    assert_eq!((m.selected.len(), m.survivors.len()), (5, 1));
    let (_, nets) = api.get("/network/v2.0/networks?tags=job-9").await;
    let created = nets["networks"][0]["created_at"]
        .as_str()
        .unwrap()
        .parse::<jiff::Timestamp>()
        .unwrap();
    assert!(jiff::Timestamp::now().duration_since(created) > jiff::SignedDuration::from_hours(7));
    assert!(Scenario::parse("/nonexistent.json").is_err());
}
