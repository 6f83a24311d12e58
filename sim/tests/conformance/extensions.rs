//! Neutron's trunk and floating IP port forwarding extensions on the simulator: the
//! conflicts real Neutron answers (`PortInUseAsTrunkParent`, `PortInUseAsSubPort`,
//! `TrunkInUse`), `remove_subports`, the 404 types, what goes with what, and the 404 of
//! a cloud that does not load the extension, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{neutron_type, start, Api};
use serde_json::{json, Value};
use stacksweep_sim::{SimConfig, SimHandle};

fn config() -> SimConfig {
    SimConfig {
        server_delete_delay: Duration::from_secs(5),
        ..SimConfig::default()
    }
}

/// Deletes `path` (under `/network/v2.0/`) and expects 204.
async fn deleted(api: &Api, path: &str) {
    let (status, body) = api.delete(&format!("/network/v2.0/{path}")).await;
    assert_eq!(status, 204, "{path}: {body}");
}

/// A port on `net`.
async fn port(api: &Api, net: &str) -> String {
    api.neutron("ports", "port", json!({"network_id": net}))
        .await
}

/// A floating IP on `public`, associated with nothing.
async fn free_fip(api: &Api) -> String {
    let (_, nets) = api.get("/network/v2.0/networks?name=public").await;
    let public = nets["networks"][0]["id"].as_str().unwrap().to_string();
    api.neutron(
        "floatingips",
        "floatingip",
        json!({"floating_network_id": public}),
    )
    .await
}

fn message(body: &Value) -> &str {
    body["NeutronError"]["message"].as_str().unwrap_or("")
}

/// A trunk on `parent` with `sub` as VLAN 101.
async fn trunk(api: &Api, parent: &str, sub: &str) -> String {
    api.neutron(
        "trunks",
        "trunk",
        json!({"name": "t", "port_id": parent,
            "sub_ports": [{"port_id": sub, "segmentation_type": "vlan", "segmentation_id": 101}]}),
    )
    .await
}

async fn gone_server(sim: &SimHandle, id: &str) {
    for _ in 0..30 {
        if !sim.exists("server", id) {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    panic!("server {id} never went away");
}

/// A trunk's parent port and attached sub-port answer 409 `PortInUseAsTrunkParent` and
/// `PortInUseAsSubPort`; the trunk answers 409 `TrunkInUse` while its parent port is
/// bound to a live server. Once the server is gone, `remove_subports` (answered with the
/// bare trunk) frees the sub-port, the trunk deletes (then 404 `TrunkNotFound`) and so
/// do both ports.
#[tokio::test(start_paused = true)]
async fn trunk_conflicts() {
    let (sim, api) = start(config()).await;
    let (net, _) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let parent = api
        .neutron(
            "ports",
            "port",
            json!({"network_id": net, "name": "parent"}),
        )
        .await;
    let sub = api
        .neutron("ports", "port", json!({"network_id": net, "name": "sub"}))
        .await;
    let t = trunk(&api, &parent, &sub).await;
    let (_, p) = api.get(&format!("/network/v2.0/ports/{sub}")).await;
    assert_eq!(p["port"]["device_owner"], "trunk:subport");
    assert_eq!(p["port"]["device_id"], json!(t));

    let (status, body) = api.delete(&format!("/network/v2.0/ports/{parent}")).await;
    assert_eq!(
        (status, neutron_type(&body)),
        (409, "PortInUseAsTrunkParent")
    );
    assert_eq!(
        message(&body),
        format!("Port {parent} is currently a parent port for trunk {t}.")
    );
    let (status, body) = api.delete(&format!("/network/v2.0/ports/{sub}")).await;
    assert_eq!((status, neutron_type(&body)), (409, "PortInUseAsSubPort"));
    assert_eq!(
        message(&body),
        format!("Port {sub} is currently a subport for trunk {t}.")
    );

    let (status, out) = api
        .post(
            "/compute/v2.1/servers",
            json!({"server": {"name": "vm", "flavorRef": "1", "imageRef": "i",
                "networks": [{"port": parent}]}}),
        )
        .await;
    assert_eq!(status, 202, "{out}");
    let server = out["server"]["id"].as_str().unwrap().to_string();
    let (status, body) = api.delete(&format!("/network/v2.0/trunks/{t}")).await;
    assert_eq!((status, neutron_type(&body)), (409, "TrunkInUse"));
    assert_eq!(message(&body), format!("Trunk {t} is currently in use."));

    assert_eq!(
        api.delete(&format!("/compute/v2.1/servers/{server}"))
            .await
            .0,
        204
    );
    gone_server(&sim, &server).await;
    let remove = format!("/network/v2.0/trunks/{t}/remove_subports");
    let (status, body) = api
        .put(&remove, json!({"sub_ports": [{"port_id": sub}]}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["id"], json!(t));
    assert_eq!(body["sub_ports"], json!([]));
    let (status, body) = api
        .put(&remove, json!({"sub_ports": [{"port_id": sub}]}))
        .await;
    assert_eq!((status, neutron_type(&body)), (404, "SubPortNotFound"));
    let (_, p) = api.get(&format!("/network/v2.0/ports/{sub}")).await;
    assert_eq!(p["port"]["device_owner"], "");
    deleted(&api, &format!("trunks/{t}")).await;
    let (status, body) = api.delete(&format!("/network/v2.0/trunks/{t}")).await;
    assert_eq!((status, neutron_type(&body)), (404, "TrunkNotFound"));
    assert_eq!(message(&body), format!("Trunk {t} could not be found."));
    for port in [&parent, &sub] {
        deleted(&api, &format!("ports/{port}")).await;
    }
}

/// A trunk delete frees its sub-ports; trunks list and filter by tag like any Neutron
/// collection.
#[tokio::test]
async fn trunk_delete_frees_sub_ports() {
    let (_sim, api) = start(SimConfig::default()).await;
    let (net, _) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let parent = port(&api, &net).await;
    let sub = port(&api, &net).await;
    let t = trunk(&api, &parent, &sub).await;
    let (status, tagged) = api
        .put(&format!("/network/v2.0/trunks/{t}/tags/ci"), json!({}))
        .await;
    assert_eq!(status, 201, "{tagged}");
    let (_, list) = api.get("/network/v2.0/trunks?tags=ci").await;
    assert_eq!(list["trunks"][0]["sub_ports"][0]["port_id"], json!(sub));
    deleted(&api, &format!("trunks/{t}")).await;
    deleted(&api, &format!("ports/{sub}")).await;
    deleted(&api, &format!("ports/{parent}")).await;
}

/// Port forwardings live under their floating IP: created, listed, shown, deleted (then
/// 404 `PortForwardingNotFound`); they go with their internal port; their floating IP is
/// neither released nor associated while it has one (409 `FipInUseByPortForwarding`, as
/// the real Neutron answered in the conformance case `port-forwarding`).
#[tokio::test]
async fn port_forwardings() {
    let (_sim, api) = start(SimConfig::default()).await;
    let (net, _) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let fip = free_fip(&api).await;
    let job = port(&api, &net).await;
    let kept = port(&api, &net).await;
    let coll = format!("/network/v2.0/floatingips/{fip}/port_forwardings");
    let mut ids = Vec::new();
    for (port, external) in [(&job, 2222), (&kept, 2223)] {
        let (status, out) = api
            .post(
                &coll,
                json!({"port_forwarding": {"protocol": "tcp", "internal_port": 22,
                    "external_port": external, "internal_port_id": port}}),
            )
            .await;
        assert_eq!(status, 201, "{out}");
        assert_eq!(
            out["port_forwarding"]["internal_ip_address"]
                .as_str()
                .unwrap()
                .split('.')
                .count(),
            4
        );
        ids.push(out["port_forwarding"]["id"].as_str().unwrap().to_string());
    }
    let (_, list) = api.get(&coll).await;
    assert_eq!(list["port_forwardings"].as_array().unwrap().len(), 2);
    assert!(list["port_forwardings"][0].get("_fip").is_none());
    // `expose-port-forwarding-in-fip`: the floating IP shows them, as Neutron's
    // `_extend_floatingip_dict` does (these fields only).
    let fip_path = format!("/network/v2.0/floatingips/{fip}");
    let shown = api.get(&fip_path).await.1["floatingip"]["port_forwardings"].clone();
    let mut shown_ids: Vec<&str> = shown
        .as_array()
        .unwrap()
        .iter()
        .map(|pf| pf["id"].as_str().unwrap())
        .collect();
    shown_ids.sort_unstable();
    let mut created: Vec<&str> = ids.iter().map(String::as_str).collect();
    created.sort_unstable();
    assert_eq!(shown_ids, created);
    let mut keys: Vec<&str> = shown[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "external_port",
            "id",
            "internal_ip_address",
            "internal_port",
            "internal_port_id",
            "protocol"
        ]
    );
    let one = format!("{coll}/{}", ids[0]);
    assert_eq!(api.get(&one).await.0, 200);
    assert_eq!(api.delete(&one).await.0, 204);
    let (status, body) = api.delete(&one).await;
    assert_eq!(
        (status, neutron_type(&body)),
        (404, "PortForwardingNotFound")
    );
    assert_eq!(
        message(&body),
        format!("Port Forwarding {} could not be found.", ids[0])
    );
    // The forwarding goes with its internal port.
    deleted(&api, &format!("ports/{kept}")).await;
    let (_, list) = api.get(&coll).await;
    assert_eq!(list["port_forwardings"], json!([]));
    let (_, body) = api.get(&fip_path).await;
    assert_eq!(body["floatingip"]["port_forwardings"], json!([]));
    // Its floating IP is held by it.
    let (status, out) = api
        .post(
            &coll,
            json!({"port_forwarding": {"protocol": "udp", "internal_port": 53,
                "external_port": 53, "internal_port_id": job}}),
        )
        .await;
    assert_eq!(status, 201);
    let last = out["port_forwarding"]["id"].as_str().unwrap().to_string();
    let in_use = format!("Floating IP {fip} in use by Port Forwarding resources.");
    let (status, body) = api
        .put(
            &format!("/network/v2.0/floatingips/{fip}"),
            json!({"floatingip": {"port_id": job}}),
        )
        .await;
    assert_eq!(
        (status, neutron_type(&body), message(&body)),
        (409, "FipInUseByPortForwarding", in_use.as_str())
    );
    let (status, body) = api
        .delete(&format!("/network/v2.0/floatingips/{fip}"))
        .await;
    assert_eq!(
        (status, neutron_type(&body), message(&body)),
        (409, "FipInUseByPortForwarding", in_use.as_str())
    );
    assert_eq!(api.delete(&format!("{coll}/{last}")).await.0, 204);
    deleted(&api, &format!("floatingips/{fip}")).await;
    let (status, body) = api.get(&coll).await;
    assert_eq!((status, neutron_type(&body)), (404, "FloatingIPNotFound"));
}

/// A Neutron without the trunk or port forwarding extension answers 404 on their paths
/// and leaves them out of the extension list.
#[tokio::test]
async fn extensions_can_be_absent() {
    let (sim, api) = start(SimConfig::default()).await;
    let fip = free_fip(&api).await;
    assert_eq!(api.get("/network/v2.0/extensions/trunk").await.0, 200);
    sim.with_state(|st| {
        st.neutron.disabled_extensions = vec!["trunk".into(), "floating-ip-port-forwarding".into()];
    });
    let (status, body) = api.get("/network/v2.0/trunks").await;
    assert_eq!((status, neutron_type(&body)), (404, "HTTPNotFound"));
    let (status, _) = api
        .get(&format!("/network/v2.0/floatingips/{fip}/port_forwardings"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(api.get("/network/v2.0/extensions/trunk").await.0, 404);
    let (_, ext) = api.get("/network/v2.0/extensions").await;
    let aliases: Vec<&str> = ext["extensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["alias"].as_str().unwrap())
        .collect();
    assert!(!aliases.contains(&"trunk") && aliases.contains(&"router"));
}
