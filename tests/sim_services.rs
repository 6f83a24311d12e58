//! Octavia, Heat, Swift and Glance on the simulator: their refusals (409 while PENDING_*,
//! 400 with children, 409 for a non-empty container, 403 for a protected image), their
//! asynchronous deletes and stuck states, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sim_support;

use std::time::Duration;

use serde_json::json;
use sim_support::start;
use stacksweep_sim::SimConfig;

fn config() -> SimConfig {
    SimConfig {
        other_delete_delay: Duration::from_secs(2),
        ..SimConfig::default()
    }
}

/// Load balancers: 409 while PENDING_*, 400 with children unless cascade, VIP port goes along.
#[tokio::test(start_paused = true)]
async fn load_balancer_lifecycle() {
    let (sim, api) = start(config()).await;
    let (_, sub) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let (status, lb) = api
        .post("/load-balancer/v2/lbaas/loadbalancers", json!({"loadbalancer": {"name": "kube_service_x", "vip_subnet_id": sub, "tags": ["ci"]}}))
        .await;
    assert_eq!(status, 201);
    let id = lb["loadbalancer"]["id"].as_str().unwrap().to_string();
    let vip = lb["loadbalancer"]["vip_port_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(lb["loadbalancer"]["provisioning_status"], "PENDING_CREATE");
    let (status, body) = api
        .delete(&format!("/load-balancer/v2/lbaas/loadbalancers/{id}"))
        .await;
    assert_eq!(status, 409);
    assert!(body["faultstring"]
        .as_str()
        .unwrap()
        .contains("PENDING_CREATE"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, port) = api.get(&format!("/network/v2.0/ports/{vip}")).await;
    assert_eq!(port["port"]["device_owner"], "Octavia");
    let (status, _) = api
        .post(
            "/load-balancer/v2/lbaas/listeners",
            json!({"listener": {"loadbalancer_id": id, "protocol": "TCP", "protocol_port": 80}}),
        )
        .await;
    assert_eq!(status, 201);
    assert_eq!(
        api.delete(&format!("/load-balancer/v2/lbaas/loadbalancers/{id}"))
            .await
            .0,
        409
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        api.delete(&format!("/load-balancer/v2/lbaas/loadbalancers/{id}"))
            .await
            .0,
        400
    );
    let (_, list) = api
        .get("/load-balancer/v2/lbaas/loadbalancers?tags=ci")
        .await;
    assert_eq!(list["loadbalancers"].as_array().unwrap().len(), 1);
    assert_eq!(
        api.delete(&format!(
            "/load-balancer/v2/lbaas/loadbalancers/{id}?cascade=true"
        ))
        .await
        .0,
        204
    );
    let (_, lb) = api
        .get(&format!("/load-balancer/v2/lbaas/loadbalancers/{id}"))
        .await;
    assert_eq!(lb["loadbalancer"]["provisioning_status"], "PENDING_DELETE");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        api.get(&format!("/load-balancer/v2/lbaas/loadbalancers/{id}"))
            .await
            .0,
        404
    );
    assert!(!sim.exists("port", &vip));
}

/// A stuck load balancer ends in provisioning_status ERROR.
#[tokio::test(start_paused = true)]
async fn stuck_load_balancer() {
    let (sim, api) = start(config()).await;
    let (_, sub) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let (_, lb) = api
        .post(
            "/load-balancer/v2/lbaas/loadbalancers",
            json!({"loadbalancer": {"vip_subnet_id": sub}}),
        )
        .await;
    let id = lb["loadbalancer"]["id"].as_str().unwrap().to_string();
    tokio::time::sleep(Duration::from_secs(3)).await;
    sim.make_stuck("load-balancer", &id);
    assert_eq!(
        api.delete(&format!("/load-balancer/v2/lbaas/loadbalancers/{id}"))
            .await
            .0,
        204
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, lb) = api
        .get(&format!("/load-balancer/v2/lbaas/loadbalancers/{id}"))
        .await;
    assert_eq!(lb["loadbalancer"]["provisioning_status"], "ERROR");
}

/// Stacks create their template's resources and take them along when deleted
/// (DELETE_IN_PROGRESS first); a stuck stack ends in DELETE_FAILED.
#[tokio::test(start_paused = true)]
async fn stack_lifecycle() {
    let (sim, api) = start(config()).await;
    let template = json!({"heat_template_version": "2018-08-31", "resources": {
        "net": {"type": "OS::Neutron::Net"},
        "sub": {"type": "OS::Neutron::Subnet", "properties": {"network": {"get_resource": "net"}, "cidr": "10.9.0.0/24"}},
        "vol": {"type": "OS::Cinder::Volume", "properties": {"size": 1}}}});
    let (status, out) = api
        .post(
            "/heat-api/v1/{project}/stacks",
            json!({"stack_name": "ci-stack", "template": template, "tags": "ci,job-1"}),
        )
        .await;
    assert_eq!(status, 201, "{out}");
    let id = out["stack"]["id"].as_str().unwrap().to_string();
    let (_, res) = api
        .get(&format!(
            "/heat-api/v1/{{project}}/stacks/ci-stack/{id}/resources?nested_depth=5"
        ))
        .await;
    let phys: Vec<String> = res["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["physical_resource_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(phys.len(), 3);
    let (_, list) = api.get("/heat-api/v1/{project}/stacks?tags=job-1").await;
    assert_eq!(list["stacks"][0]["stack_name"], "ci-stack");
    assert!(list["stacks"][0]["creation_time"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
    assert_eq!(
        api.delete(&format!("/heat-api/v1/{{project}}/stacks/ci-stack/{id}"))
            .await
            .0,
        204
    );
    let (_, s) = api
        .get(&format!("/heat-api/v1/{{project}}/stacks/ci-stack/{id}"))
        .await;
    assert_eq!(s["stack"]["stack_status"], "DELETE_IN_PROGRESS");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        api.get(&format!("/heat-api/v1/{{project}}/stacks/ci-stack/{id}"))
            .await
            .0,
        404
    );
    assert!(phys.iter().all(|p| !sim.exists("network", p)
        && !sim.exists("subnet", p)
        && !sim.exists("volume", p)));

    let (_, out) = api
        .post(
            "/heat-api/v1/{project}/stacks",
            json!({"stack_name": "stuck", "template": {"resources": {}}}),
        )
        .await;
    let id = out["stack"]["id"].as_str().unwrap().to_string();
    sim.make_stuck("stack", &id);
    api.delete(&format!("/heat-api/v1/{{project}}/stacks/stuck/{id}"))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let (_, s) = api
        .get(&format!("/heat-api/v1/{{project}}/stacks/stuck/{id}"))
        .await;
    assert_eq!(s["stack"]["stack_status"], "DELETE_FAILED");
}

/// A container with objects answers 409; bulk delete and object deletes empty it.
#[tokio::test]
async fn containers_and_objects() {
    let (sim, api) = start(config()).await;
    let acct = "/swift/v1/AUTH_{project}";
    assert_eq!(api.call("PUT", &format!("{acct}/logs"), None).await.0, 201);
    let put = |name: &str| format!("{acct}/logs/{name}");
    for o in ["a.txt", "dir/b.txt", "c.txt"] {
        let url = format!("{}{}", api.base, put(o).replace("{project}", &api.project));
        let resp = api
            .http
            .put(url)
            .header("x-auth-token", &api.token)
            .body("hello")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
    }
    let (status, list) = api.get(&format!("{acct}?format=json")).await;
    assert_eq!(status, 200);
    assert_eq!(list[0]["count"], 3);
    let (status, body) = api.delete(&format!("{acct}/logs")).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(api.delete(&format!("{acct}/logs/dir/b.txt")).await.0, 204);
    assert_eq!(api.delete(&format!("{acct}/logs/dir/b.txt")).await.0, 404);
    let url = format!("{}/swift/v1/AUTH_{}?bulk-delete", api.base, api.project);
    let resp = api
        .http
        .post(url)
        .header("x-auth-token", &api.token)
        .body("/logs/a.txt\n/logs/c.txt\n/logs/missing\n")
        .send()
        .await
        .unwrap();
    let out: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        (
            out["Number Deleted"].as_u64(),
            out["Number Not Found"].as_u64()
        ),
        (Some(2), Some(1))
    );
    assert_eq!(api.delete(&format!("{acct}/logs")).await.0, 204);
    assert!(!sim.exists("container", "logs"));
    assert_eq!(
        api.get("/swift/v1/AUTH_someone-else?format=json").await.0,
        403
    );
}

/// A protected image answers 403 to a delete; unprotected it deletes; tags filter lists.
#[tokio::test]
async fn protected_image() {
    let (_sim, api) = start(config()).await;
    let (status, img) = api
        .post(
            "/image/v2/images",
            json!({"name": "ci-img", "protected": true, "tags": ["ci"]}),
        )
        .await;
    assert_eq!(status, 201);
    let id = img["id"].as_str().unwrap().to_string();
    assert_eq!(api.delete(&format!("/image/v2/images/{id}")).await.0, 403);
    let (_, list) = api.get("/image/v2/images?tag=ci").await;
    assert_eq!(list["images"].as_array().unwrap().len(), 1);
    let patch = json!([{"op": "replace", "path": "/protected", "value": false}]);
    assert_eq!(
        api.call("PATCH", &format!("/image/v2/images/{id}"), Some(patch))
            .await
            .0,
        200
    );
    assert_eq!(api.delete(&format!("/image/v2/images/{id}")).await.0, 204);
    assert_eq!(api.get(&format!("/image/v2/images/{id}")).await.0, 404);
    let (_, all) = api.get("/image/v2/images?limit=1").await;
    assert_eq!(
        all["images"].as_array().unwrap().len(),
        1,
        "the public cirros image"
    );
    assert!(all["next"]
        .as_str()
        .unwrap()
        .starts_with("/v2/images?marker="));
    // The public image belongs to admin: a member's delete is refused.
    let public = all["images"][0]["id"].as_str().unwrap();
    assert_eq!(
        api.delete(&format!("/image/v2/images/{public}")).await.0,
        403
    );
}
