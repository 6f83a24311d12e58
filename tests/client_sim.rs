//! The client against the built-in simulator: both of its clouds authenticate, every
//! service's collection lists through its catalog endpoint with pagination, and faults
//! (5xx, 429, dropped connections, expired tokens) are absorbed by the request path.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::json;
use stacksweep::openstack::{CloudConfig, RetryPolicy, Service, Session, SessionOptions};
use stacksweep_sim::{FaultConfig, Manifest, Scenario, Sim, SimConfig, SimHandle};

/// Options with pages of 3, so every list takes several pages.
fn options() -> SessionOptions {
    SessionOptions {
        retry: RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            deadline: Duration::from_secs(60),
        },
        requests_per_second: None,
        page_size: 3,
        ..SessionOptions::default()
    }
}

/// Number of ports created in the `ci` project.
const PORTS: usize = 7;

/// A simulator seeded with `scenario` (and what it seeded), with its `clouds.yaml` in a
/// temporary directory.
async fn start_sim(scenario: Option<Scenario>) -> (SimHandle, tempfile::TempDir, Manifest) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let manifest = scenario.map(|s| sim.seed(&s)).unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    sim.write_clouds_yaml(&dir.path().join("clouds.yaml"))
        .unwrap();
    (sim, dir, manifest)
}

/// A simulator with a network and [`PORTS`] ports, created through the API.
async fn seeded_sim() -> (SimHandle, tempfile::TempDir) {
    let (sim, dir, _) = start_sim(None).await;
    let session = connect(&dir, "sim").await;
    let network = session
        .post(
            Service::Network,
            "/networks",
            &json!({"network": {"name": "ci-net"}}),
        )
        .await
        .unwrap();
    let network_id = network["network"]["id"].as_str().unwrap();
    for i in 0..PORTS {
        let port = json!({"port": {"network_id": network_id, "name": format!("ci-port-{i}")}});
        session
            .post(Service::Network, "/ports", &port)
            .await
            .unwrap();
    }
    (sim, dir)
}

async fn connect(dir: &tempfile::TempDir, cloud: &str) -> Session {
    let config = CloudConfig::from_clouds_yaml(&dir.path().join("clouds.yaml"), cloud).unwrap();
    Session::connect(&config, options()).await.unwrap()
}

fn ids(items: &[serde_json::Value]) -> BTreeSet<String> {
    items
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Both simulator clouds (password and application credential) authenticate to the `ci`
/// project and list all its ports, page by page.
#[tokio::test]
async fn both_clouds_list_ports() {
    let (sim, dir) = seeded_sim().await;
    let sim_ports: BTreeSet<String> = sim.ids("port").into_iter().collect();
    for cloud in ["sim", "sim-appcred"] {
        let session = connect(&dir, cloud).await;
        assert_eq!(session.project_id(), sim.project_id());
        let before = sim.request_count("GET", "/network/v2.0/ports");
        let ports = session
            .list(Service::Network, "/ports", "ports")
            .await
            .unwrap();
        assert_eq!(ports.len(), PORTS);
        let listed = ids(&ports);
        assert_eq!(listed.len(), PORTS, "no port listed twice");
        assert_eq!(listed, sim_ports);
        let pages = sim.request_count("GET", "/network/v2.0/ports") - before;
        assert_eq!(pages, PORTS.div_ceil(3), "one request per page of 3");
    }
    sim.shutdown().await;
}

/// Every collection of every service resolves through the catalog and decodes.
#[tokio::test]
async fn every_service_lists() {
    let (sim, dir) = seeded_sim().await;
    let session = connect(&dir, "sim").await;
    let lists = [
        (Service::Compute, "/servers/detail", "servers"),
        (Service::Compute, "/os-keypairs", "keypairs"),
        (Service::Compute, "/os-server-groups", "server_groups"),
        (Service::Network, "/networks", "networks"),
        (Service::Network, "/security-groups", "security_groups"),
        (Service::Network, "/floatingips", "floatingips"),
        (Service::BlockStorage, "/volumes/detail", "volumes"),
        (Service::BlockStorage, "/snapshots/detail", "snapshots"),
        (Service::Image, "/images", "images"),
        (
            Service::LoadBalancer,
            "/lbaas/loadbalancers",
            "loadbalancers",
        ),
        (Service::Orchestration, "/stacks", "stacks"),
        (Service::ObjectStore, "?format=json", ""),
    ];
    for (service, path, collection) in lists {
        let result = session.list(service, path, collection).await;
        assert!(result.is_ok(), "{service} {path}: {result:?}");
    }
    let networks = session
        .list(Service::Network, "/networks", "networks")
        .await
        .unwrap();
    assert!(networks.iter().any(|n| n["name"] == "ci-net"));
    sim.shutdown().await;
}

/// Injected 5xx, 429 and dropped connections, and an expired token, are absorbed.
#[tokio::test]
async fn faults_and_expired_tokens_are_absorbed() {
    let (sim, dir) = seeded_sim().await;
    let session = connect(&dir, "sim").await;
    let clean = session
        .list(Service::Network, "/ports", "ports")
        .await
        .unwrap();
    sim.set_faults(
        "network",
        FaultConfig {
            fail_next: 2,
            throttle_next: 1,
            retry_after_secs: 1,
            drop_next: 1,
            ..FaultConfig::default()
        },
    );
    sim.expire_tokens();
    let ports = session
        .list(Service::Network, "/ports", "ports")
        .await
        .unwrap();
    assert_eq!(ids(&ports), ids(&clean));
    sim.shutdown().await;
}

/// Every resource a seeded kubespray-aborted scenario left is listed by the client, in
/// its kind's collection (pages of 3, several services).
#[tokio::test]
async fn kubespray_scenario_is_listed() {
    let (sim, dir, manifest) = start_sim(Some(Scenario::KubesprayAborted { nodes: 3 })).await;
    let session = connect(&dir, "sim").await;
    let collections = [
        ("server", Service::Compute, "/servers/detail", "servers"),
        ("keypair", Service::Compute, "/os-keypairs", "keypairs"),
        ("port", Service::Network, "/ports", "ports"),
        ("network", Service::Network, "/networks", "networks"),
        ("subnet", Service::Network, "/subnets", "subnets"),
        ("router", Service::Network, "/routers", "routers"),
        (
            "security-group",
            Service::Network,
            "/security-groups",
            "security_groups",
        ),
        (
            "volume",
            Service::BlockStorage,
            "/volumes/detail",
            "volumes",
        ),
        (
            "snapshot",
            Service::BlockStorage,
            "/snapshots/detail",
            "snapshots",
        ),
    ];
    let mut checked = 0;
    for (kind, service, path, collection) in collections {
        let items = session.list(service, path, collection).await.unwrap();
        // Keypairs come wrapped and are known by name.
        let listed: BTreeSet<String> = items
            .iter()
            .map(|i| {
                let i = i.get("keypair").unwrap_or(i);
                i.get("id")
                    .or_else(|| i.get("name"))
                    .and_then(|v| v.as_str())
                    .unwrap()
                    .to_owned()
            })
            .collect();
        for (k, id) in manifest.selected.iter().chain(&manifest.survivors) {
            if k == kind && sim.exists(kind, id) {
                assert!(listed.contains(id), "{kind} {id} not listed by {path}");
                checked += 1;
            }
        }
    }
    assert!(
        checked > 10,
        "the scenario was checked ({checked} resources)"
    );
    sim.shutdown().await;
}

/// The capo-cluster scenario's load balancers, stacks and Swift containers are listed
/// through Octavia's, Heat's and Swift's endpoints (pages of 3).
#[tokio::test]
async fn capo_scenario_octavia_heat_swift() {
    let (sim, dir, _) = start_sim(Some(Scenario::CapoCluster { workers: 4 })).await;
    let session = connect(&dir, "sim").await;
    let lbs = session
        .list(
            Service::LoadBalancer,
            "/lbaas/loadbalancers",
            "loadbalancers",
        )
        .await
        .unwrap();
    let stacks = session
        .list(Service::Orchestration, "/stacks", "stacks")
        .await
        .unwrap();
    let containers = session
        .list(Service::ObjectStore, "?format=json", "")
        .await
        .unwrap();
    for (kind, listed) in [("load-balancer", ids(&lbs)), ("stack", ids(&stacks))] {
        let seeded: BTreeSet<String> = sim.ids(kind).into_iter().collect();
        assert!(!seeded.is_empty(), "the scenario has {kind}s");
        assert_eq!(listed, seeded, "{kind}");
    }
    let names: BTreeSet<String> = containers
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    let seeded: BTreeSet<String> = sim.ids("container").into_iter().collect();
    assert!(!seeded.is_empty(), "the scenario has containers");
    assert_eq!(names, seeded);
    sim.shutdown().await;
}
