//! Several projects and regions on the simulator: the catalog lists every region's
//! endpoints (each region its own store, under its own URL prefix), `/v3/auth/projects`
//! lists the projects a user may scope to, and a token scoped to one project never sees
//! another's resources, in any region.

use serde_json::Value;
use stacksweep_sim::{Scenario, SimConfig};

use super::support::{login, start};

fn two_regions() -> SimConfig {
    SimConfig {
        regions: vec!["RegionOne".into(), "RegionTwo".into()],
        ..SimConfig::default()
    }
}

/// Names of the networks a token sees under `prefix` (`""` or `/regions/RegionTwo`).
async fn network_names(api: &super::support::Api, prefix: &str) -> Vec<String> {
    let (status, body) = api.get(&format!("{prefix}/network/v2.0/networks")).await;
    assert_eq!(status, 200, "{body}");
    body["networks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["project_id"].as_str() == Some(api.project.as_str()))
        .map(|n| n["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Every region's services are in the catalog with their `region_id`, on distinct URL
/// prefixes; Keystone is shared.
#[tokio::test]
async fn catalog_lists_every_region() {
    let (_sim, api) = start(two_regions()).await;
    let (status, body) = api.get("/identity/v3/auth/catalog").await;
    assert_eq!(status, 200);
    let compute = body["catalog"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["type"] == "compute")
        .unwrap();
    let public: Vec<(&str, &str)> = compute["endpoints"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["interface"] == "public")
        .map(|e| (e["region_id"].as_str().unwrap(), e["url"].as_str().unwrap()))
        .collect();
    assert_eq!(public.len(), 2, "{public:?}");
    assert_eq!(public[0].0, "RegionOne");
    assert!(public[0].1.ends_with("/compute/v2.1"), "{public:?}");
    assert_eq!(public[1].0, "RegionTwo");
    assert!(
        public[1].1.ends_with("/regions/RegionTwo/compute/v2.1"),
        "{public:?}"
    );
}

/// `/v3/auth/projects` lists the projects the user has a role on, as Keystone does.
#[tokio::test]
async fn auth_projects_lists_the_users_projects() {
    let (sim, api) = start(two_regions()).await;
    sim.seed(&Scenario::MultiProject);
    let (status, body) = api.get("/identity/v3/auth/projects").await;
    assert_eq!(status, 200);
    let mut names: Vec<&str> = body["projects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["ci", "ci-1", "ci-2", "cx-1"]);
    let first = &body["projects"][0];
    for key in ["id", "domain_id", "enabled", "links"] {
        assert!(first.get(key).is_some(), "{key} missing in {first}");
    }
    assert!(body["links"]["self"].is_string());
}

/// A token scoped to `ci-1` sees `ci-1`'s job in both regions and nothing of the
/// look-alike `cx-1`; `cx-1`'s resources answer 404 to it, delete included.
#[tokio::test]
async fn scoped_token_sees_only_its_project_in_every_region() {
    let (sim, _) = start(two_regions()).await;
    let manifest = sim.seed(&Scenario::MultiProject);
    let ci1 = login(&sim, "ci-user", "ci-password", "ci-1").await;
    let cx1 = login(&sim, "ci-user", "ci-password", "cx-1").await;
    for prefix in ["", "/regions/RegionTwo"] {
        let seen = network_names(&ci1, prefix).await;
        assert!(seen.contains(&format!("{}-net", manifest.tag)), "{seen:?}");
        let (_, all) = ci1.get(&format!("{prefix}/network/v2.0/networks")).await;
        assert!(all["networks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|n| n["project_id"] != Value::String(cx1.project.clone())));
        let (_, theirs) = cx1.get(&format!("{prefix}/network/v2.0/networks")).await;
        let theirs: Vec<String> = theirs["networks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["project_id"] == Value::String(cx1.project.clone()))
            .map(|n| n["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(theirs.len(), 2, "cx-1's own networks in {prefix:?}");
        for id in &theirs {
            let (status, _) = ci1
                .delete(&format!("{prefix}/network/v2.0/networks/{id}"))
                .await;
            assert_eq!(status, 404);
            assert!(sim.exists("network", id));
        }
        let (status, servers) = ci1.get(&format!("{prefix}/compute/v2.1/servers")).await;
        assert_eq!(status, 200);
        assert_eq!(servers["servers"].as_array().unwrap().len(), 1, "{servers}");
    }
    // Each region is its own store: the same job twice, with different ids.
    let in_two = sim
        .with_region_state("RegionTwo", |st| st.ids("network").len())
        .unwrap();
    let in_one = sim.with_state(|st| st.ids("network").len());
    assert_eq!(in_one, in_two);
    assert_eq!(
        manifest
            .selected
            .iter()
            .filter(|(k, _)| k == "server")
            .count(),
        4
    );
    assert_eq!(
        manifest
            .survivors
            .iter()
            .filter(|(k, _)| k == "server")
            .count(),
        2
    );
}

/// `seed_projects` seeds one job under one tag into every named project of every region;
/// each project's token sees its own share, and the user may scope to each.
#[tokio::test]
async fn seed_projects_spans_projects_and_regions() {
    let (sim, api) = start(two_regions()).await;
    let names: Vec<String> = (0..3).map(|i| format!("fleet-{i}")).collect();
    let manifest = sim.seed_projects(&names, &Scenario::Scale { resources: 25 });
    // Two chains of 13 (one selected, one kept) per project and region.
    assert_eq!(manifest.selected.len(), 3 * 2 * 13);
    assert_eq!(manifest.survivors.len(), 3 * 2 * 13);
    let (_, body) = api.get("/identity/v3/auth/projects").await;
    let listed = body["projects"].as_array().unwrap();
    for name in &names {
        assert!(listed.iter().any(|p| p["name"] == name.as_str()), "{name}");
    }
    let fleet1 = login(&sim, "ci-user", "ci-password", "fleet-1").await;
    for prefix in ["", "/regions/RegionTwo"] {
        let seen = network_names(&fleet1, prefix).await;
        assert!(
            seen.contains(&format!("{}-net-0", manifest.tag)),
            "{seen:?}"
        );
        assert_eq!(seen.len(), 2, "{seen:?}");
    }
}
