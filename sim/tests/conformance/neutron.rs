//! Neutron on the simulator: every conflict and refusal of `realcloud.md`, the deletes
//! that are not conflicts, 404 types, pagination and tag filters, over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::{neutron_type, start, Api};
use serde_json::{json, Value};
use stacksweep_sim::SimConfig;

/// A router with an interface on `sub` and a gateway on `public`, a port on `net` with a
/// floating IP; returns (router, port, floating ip).
async fn routed_fip(api: &Api, net: &str, sub: &str) -> (String, String, String) {
    let (_, nets) = api.get("/network/v2.0/networks?name=public").await;
    let public = nets["networks"][0]["id"].as_str().unwrap().to_string();
    let router = api
        .neutron(
            "routers",
            "router",
            json!({"name": "r", "external_gateway_info": {"network_id": public}}),
        )
        .await;
    let (status, _) = api
        .put(
            &format!("/network/v2.0/routers/{router}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(status, 200);
    let port = api
        .neutron("ports", "port", json!({"network_id": net}))
        .await;
    let fip = api
        .neutron(
            "floatingips",
            "floatingip",
            json!({"floating_network_id": public, "port_id": port}),
        )
        .await;
    (router, port, fip)
}

/// A security group used by a port answers 409 SecurityGroupInUse until the port is gone.
#[tokio::test]
async fn security_group_in_use() {
    let (_sim, api) = start(SimConfig::default()).await;
    let (net, _) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let sg = api
        .neutron("security-groups", "security_group", json!({"name": "sg"}))
        .await;
    let port = api
        .neutron(
            "ports",
            "port",
            json!({"network_id": net, "security_groups": [sg]}),
        )
        .await;
    let (status, body) = api
        .delete(&format!("/network/v2.0/security-groups/{sg}"))
        .await;
    assert_eq!((status, neutron_type(&body)), (409, "SecurityGroupInUse"));
    assert_eq!(
        body["NeutronError"]["message"],
        format!("Security Group {sg} in use.")
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/ports/{port}")).await.0,
        204
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/security-groups/{sg}"))
            .await
            .0,
        204
    );
}

/// Groups referenced by other groups' remote_group_id rules delete fine; the rules go.
#[tokio::test]
async fn remote_group_reference_is_not_a_conflict() {
    let (sim, api) = start(SimConfig::default()).await;
    let a = api
        .neutron("security-groups", "security_group", json!({"name": "a"}))
        .await;
    let b = api
        .neutron("security-groups", "security_group", json!({"name": "b"}))
        .await;
    let rule = api
        .neutron(
            "security-group-rules",
            "security_group_rule",
            json!({"security_group_id": b, "direction": "ingress", "remote_group_id": a}),
        )
        .await;
    assert_eq!(
        api.delete(&format!("/network/v2.0/security-groups/{a}"))
            .await
            .0,
        204
    );
    assert!(!sim.exists("security-group-rule", &rule));
    let (_, body) = api.get(&format!("/network/v2.0/security-groups/{b}")).await;
    assert_eq!(
        body["security_group"]["security_group_rules"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// A duplicate rule answers 409 SecurityGroupRuleExists; the default group refuses deletion.
#[tokio::test]
async fn rule_exists_and_default_group() {
    let (_sim, api) = start(SimConfig::default()).await;
    let sg = api
        .neutron("security-groups", "security_group", json!({"name": "a"}))
        .await;
    let rule = json!({"security_group_rule": {"security_group_id": sg, "direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}});
    assert_eq!(
        api.post("/network/v2.0/security-group-rules", rule.clone())
            .await
            .0,
        201
    );
    let (status, body) = api.post("/network/v2.0/security-group-rules", rule).await;
    assert_eq!(
        (status, neutron_type(&body)),
        (409, "SecurityGroupRuleExists")
    );
    let (_, groups) = api.get("/network/v2.0/security-groups?name=default").await;
    let default = groups["security_groups"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = api
        .delete(&format!("/network/v2.0/security-groups/{default}"))
        .await;
    assert_eq!(
        (status, neutron_type(&body)),
        (409, "SecurityGroupCannotRemoveDefault")
    );
}

/// Subnets with a router interface or any allocation answer 409 SubnetInUse.
#[tokio::test]
async fn subnet_in_use() {
    let (_sim, api) = start(SimConfig::default()).await;
    let (_, sub) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let router = api.neutron("routers", "router", json!({"name": "r"})).await;
    api.put(
        &format!("/network/v2.0/routers/{router}/add_router_interface"),
        json!({"subnet_id": sub}),
    )
    .await;
    let (status, body) = api.delete(&format!("/network/v2.0/subnets/{sub}")).await;
    assert_eq!((status, neutron_type(&body)), (409, "SubnetInUse"));
    assert_eq!(
        body["NeutronError"]["message"],
        format!("Unable to complete operation on subnet {sub}: One or more ports have an IP allocation from this subnet.")
    );
    let (status, _) = api
        .put(
            &format!("/network/v2.0/routers/{router}/remove_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        api.delete(&format!("/network/v2.0/subnets/{sub}")).await.0,
        204
    );

    let (net2, sub2) = api.net_with_subnet("m", "10.2.0.0/24").await;
    let port = api
        .neutron("ports", "port", json!({"network_id": net2}))
        .await;
    assert_eq!(
        api.delete(&format!("/network/v2.0/subnets/{sub2}")).await.0,
        409
    );
    api.delete(&format!("/network/v2.0/ports/{port}")).await;
    assert_eq!(
        api.delete(&format!("/network/v2.0/subnets/{sub2}")).await.0,
        204
    );
}

/// A network with ports (router interfaces count) answers 409 NetworkInUse naming them.
#[tokio::test]
async fn network_in_use() {
    let (sim, api) = start(SimConfig::default()).await;
    let (net, sub) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let router = api.neutron("routers", "router", json!({"name": "r"})).await;
    let (_, iface) = api
        .put(
            &format!("/network/v2.0/routers/{router}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    let port = iface["port_id"].as_str().unwrap();
    let (status, body) = api.delete(&format!("/network/v2.0/networks/{net}")).await;
    assert_eq!((status, neutron_type(&body)), (409, "NetworkInUse"));
    assert_eq!(
        body["NeutronError"]["message"],
        format!("Unable to complete operation on network {net}. There are one or more ports still in use on the network, id for these ports is: {port}.")
    );
    api.put(
        &format!("/network/v2.0/routers/{router}/remove_router_interface"),
        json!({"port_id": port}),
    )
    .await;
    assert_eq!(
        api.delete(&format!("/network/v2.0/networks/{net}")).await.0,
        204
    );
    assert!(!sim.exists("subnet", &sub), "subnets go with their network");
}

/// Router with interfaces: 409 RouterInUse; its interface port via the port API: 409 ServicePortInUse.
#[tokio::test]
async fn router_in_use_and_service_port() {
    let (_sim, api) = start(SimConfig::default()).await;
    let (_, sub) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let router = api.neutron("routers", "router", json!({"name": "r"})).await;
    let (_, iface) = api
        .put(
            &format!("/network/v2.0/routers/{router}/add_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    let port = iface["port_id"].as_str().unwrap();
    let (status, body) = api.delete(&format!("/network/v2.0/routers/{router}")).await;
    assert_eq!((status, neutron_type(&body)), (409, "RouterInUse"));
    assert_eq!(
        body["NeutronError"]["message"],
        format!("Router {router} has ports still attached: {port}")
    );
    let (status, body) = api.delete(&format!("/network/v2.0/ports/{port}")).await;
    assert_eq!((status, neutron_type(&body)), (409, "ServicePortInUse"));
    assert_eq!(
        body["NeutronError"]["message"],
        format!("Port {port} cannot be deleted directly via the port API: has device owner network:router_interface.")
    );
    let (_, ports) = api
        .get(&format!(
            "/network/v2.0/ports?device_id={router}&device_owner=network:router_interface"
        ))
        .await;
    assert_eq!(ports["ports"].as_array().unwrap().len(), 1);
}

/// An extra route through a subnet blocks removing that subnet's interface (409
/// `RouterInterfaceInUseByRoute`); once the routes are cleared, the interface goes.
#[tokio::test]
async fn route_blocks_its_interface() {
    let (_sim, api) = start(SimConfig::default()).await;
    let (_, sub) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let router = api.neutron("routers", "router", json!({"name": "r"})).await;
    let path = format!("/network/v2.0/routers/{router}");
    api.put(
        &format!("{path}/add_router_interface"),
        json!({"subnet_id": sub}),
    )
    .await;
    let routes = json!([{"destination": "192.168.9.0/24", "nexthop": "10.1.0.77"}]);
    let (status, body) = api.put(&path, json!({"router": {"routes": routes}})).await;
    assert_eq!((status, &body["router"]["routes"]), (200, &routes));
    let remove = format!("{path}/remove_router_interface");
    let (status, body) = api.put(&remove, json!({"subnet_id": sub})).await;
    assert_eq!(
        (status, neutron_type(&body)),
        (409, "RouterInterfaceInUseByRoute")
    );
    api.put(&path, json!({"router": {"routes": []}})).await;
    assert_eq!(api.put(&remove, json!({"subnet_id": sub})).await.0, 200);
}

/// Floating IPs block removing the interface and clearing the gateway behind them.
#[tokio::test]
async fn floating_ip_blocks_interface_and_gateway() {
    let (_sim, api) = start(SimConfig::default()).await;
    let (net, sub) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let (router, port, fip) = routed_fip(&api, &net, &sub).await;
    let (_, f) = api.get(&format!("/network/v2.0/floatingips/{fip}")).await;
    assert_eq!(f["floatingip"]["router_id"], json!(router));
    assert_eq!(f["floatingip"]["status"], "ACTIVE");
    let (status, body) = api
        .put(
            &format!("/network/v2.0/routers/{router}/remove_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(
        (status, neutron_type(&body)),
        (409, "RouterInterfaceInUseByFloatingIP")
    );
    let (status, body) = api
        .put(
            &format!("/network/v2.0/routers/{router}"),
            json!({"router": {"external_gateway_info": {}}}),
        )
        .await;
    assert_eq!(
        (status, neutron_type(&body)),
        (409, "RouterExternalGatewayInUseByFloatingIp")
    );
    // Not a conflict: the port goes and the floating IP becomes unassociated.
    assert_eq!(
        api.delete(&format!("/network/v2.0/ports/{port}")).await.0,
        204
    );
    let (_, f) = api.get(&format!("/network/v2.0/floatingips/{fip}")).await;
    assert_eq!(f["floatingip"]["port_id"], Value::Null);
    assert_eq!(f["floatingip"]["status"], "DOWN");
    let (status, _) = api
        .put(
            &format!("/network/v2.0/routers/{router}/remove_router_interface"),
            json!({"subnet_id": sub}),
        )
        .await;
    assert_eq!(status, 200);
    // A router with only a gateway deletes fine.
    assert_eq!(
        api.delete(&format!("/network/v2.0/routers/{router}"))
            .await
            .0,
        204
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/floatingips/{fip}"))
            .await
            .0,
        204
    );
}

/// A member's delete of the external network or of a server's port answers 403.
#[tokio::test]
async fn member_policy_refusals() {
    let (sim, api) = start(SimConfig::default()).await;
    let (_, nets) = api.get("/network/v2.0/networks?router:external=true").await;
    let public = nets["networks"][0]["id"].as_str().unwrap().to_string();
    assert_eq!(nets["networks"][0]["name"], "public");
    let (status, body) = api
        .delete(&format!("/network/v2.0/networks/{public}"))
        .await;
    assert_eq!((status, neutron_type(&body)), (403, "PolicyNotAuthorized"));
    let (_, subs) = api
        .get(&format!("/network/v2.0/subnets?network_id={public}"))
        .await;
    assert_eq!(
        subs["subnets"].as_array().unwrap().len(),
        1,
        "the public subnet is visible"
    );
    let (net, _) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let port = api
        .neutron(
            "ports",
            "port",
            json!({"network_id": net, "device_owner": "compute:nova", "device_id": "x"}),
        )
        .await;
    let (status, body) = api.delete(&format!("/network/v2.0/ports/{port}")).await;
    assert_eq!((status, neutron_type(&body)), (403, "PolicyNotAuthorized"));
    assert_eq!(
        body["NeutronError"]["message"],
        "rule:delete_port is disallowed by policy"
    );
    assert!(sim.exists("port", &port));
}

/// Deletes and reads of missing resources answer 404 with `<Kind>NotFound`.
#[tokio::test]
async fn not_found_types() {
    let (_sim, api) = start(SimConfig::default()).await;
    let id = "3d1c0bd6-0000-4000-8000-000000000000";
    for (coll, ty) in [
        ("networks", "NetworkNotFound"),
        ("subnets", "SubnetNotFound"),
        ("ports", "PortNotFound"),
        ("routers", "RouterNotFound"),
        ("floatingips", "FloatingIPNotFound"),
        ("security-groups", "SecurityGroupNotFound"),
        ("security-group-rules", "SecurityGroupRuleNotFound"),
    ] {
        let (status, body) = api.delete(&format!("/network/v2.0/{coll}/{id}")).await;
        assert_eq!((status, neutron_type(&body)), (404, ty), "{coll}");
        assert_eq!(api.get(&format!("/network/v2.0/{coll}/{id}")).await.0, 404);
    }
}

/// A member of a second project, `other`.
async fn other_member(sim: &stacksweep_sim::SimHandle) -> Api {
    sim.with_state(|st| {
        let p = st.keystone.add_project("other");
        let u = st.keystone.add_user("other-user", "pw");
        st.keystone.assign(&u, &p, "member");
    });
    crate::support::login(sim, "other-user", "pw", "other").await
}

/// Another project's resources are invisible (404) to a member.
#[tokio::test]
async fn other_projects_are_invisible() {
    let (sim, api) = start(SimConfig::default()).await;
    let other = other_member(&sim).await;
    let net = other
        .neutron("networks", "network", json!({"name": "theirs"}))
        .await;
    assert_eq!(
        api.get(&format!("/network/v2.0/networks/{net}")).await.0,
        404
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/networks/{net}")).await.0,
        404
    );
    let (_, nets) = api.get("/network/v2.0/networks").await;
    assert!(nets["networks"]
        .as_array()
        .unwrap()
        .iter()
        .all(|n| n["id"] != json!(net)));
}

/// A security group another project shares with every project (RBAC
/// `access_as_shared`, shown as `shared: true`) is listed to a member, with its owner.
#[tokio::test]
async fn shared_groups_of_other_projects_are_listed() {
    let (sim, api) = start(SimConfig::default()).await;
    let other = other_member(&sim).await;
    let hidden = other
        .neutron(
            "security-groups",
            "security_group",
            json!({"name": "theirs"}),
        )
        .await;
    let shared = other
        .neutron(
            "security-groups",
            "security_group",
            json!({"name": "common"}),
        )
        .await;
    sim.with_state(|st| {
        let g = st.neutron.security_groups.get_mut(&shared).unwrap();
        g.insert("shared".into(), json!(true));
    });
    let (_, groups) = api.get("/network/v2.0/security-groups").await;
    let listed: Vec<&Value> = groups["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let found = listed.iter().find(|g| g["id"] == json!(shared)).unwrap();
    assert_eq!(found["project_id"], json!(other.project));
    assert!(listed.iter().all(|g| g["id"] != json!(hidden)));
}

/// Marker/limit pages with `ports_links` cover every port exactly once.
#[tokio::test]
async fn pagination_follows_next_links() {
    let (_sim, api) = start(SimConfig::default()).await;
    let (net, _) = api.net_with_subnet("n", "10.1.0.0/24").await;
    let mut created = Vec::new();
    for _ in 0..25 {
        created.push(
            api.neutron("ports", "port", json!({"network_id": net}))
                .await,
        );
    }
    let mut seen = Vec::new();
    let mut path = format!("/network/v2.0/ports?network_id={net}&limit=10");
    let mut pages = 0;
    loop {
        pages += 1;
        let (status, body) = api.get(&path).await;
        assert_eq!(status, 200);
        for p in body["ports"].as_array().unwrap() {
            seen.push(p["id"].as_str().unwrap().to_string());
        }
        let next = body["ports_links"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["rel"] == "next")
            .map(|l| l["href"].as_str().unwrap().to_string());
        match next {
            Some(href) => path = href.replace(&api.base, ""),
            None => break,
        }
        assert!(pages < 10);
    }
    seen.sort();
    created.sort();
    assert_eq!(seen, created);
}

/// `tags`, `tags-any`, `not-tags`, `not-tags-any` filter lists; tag PUT/DELETE change tags.
#[tokio::test]
async fn tag_filters_and_tag_calls() {
    let (_sim, api) = start(SimConfig::default()).await;
    let a = api
        .neutron(
            "networks",
            "network",
            json!({"name": "a", "tags": ["ci", "job-1"]}),
        )
        .await;
    let b = api
        .neutron("networks", "network", json!({"name": "b"}))
        .await;
    api.put(
        &format!("/network/v2.0/networks/{b}/tags"),
        json!({"tags": ["ci", "keep"]}),
    )
    .await;
    let c = api
        .neutron("networks", "network", json!({"name": "c"}))
        .await;
    assert_eq!(
        api.put(&format!("/network/v2.0/networks/{c}/tags/job-2"), json!({}))
            .await
            .0,
        201
    );
    let names = |body: Value| -> Vec<String> {
        let mut v: Vec<String> = body["networks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["name"].as_str().unwrap().to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names(api.get("/network/v2.0/networks?tags=ci").await.1),
        ["a", "b"]
    );
    assert_eq!(
        names(api.get("/network/v2.0/networks?tags=ci,job-1").await.1),
        ["a"]
    );
    assert_eq!(
        names(
            api.get("/network/v2.0/networks?tags-any=job-1,job-2")
                .await
                .1
        ),
        ["a", "c"]
    );
    assert_eq!(
        names(
            api.get("/network/v2.0/networks?tags=ci&not-tags=keep")
                .await
                .1
        ),
        ["a"]
    );
    assert_eq!(
        names(
            api.get("/network/v2.0/networks?tags-any=ci,job-2&not-tags-any=keep,job-2")
                .await
                .1
        ),
        ["a"]
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/networks/{a}/tags/ci"))
            .await
            .0,
        204
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/networks/{a}/tags/ci"))
            .await
            .0,
        404
    );
    assert_eq!(
        api.delete(&format!("/network/v2.0/networks/{b}/tags"))
            .await
            .0,
        204
    );
    assert_eq!(
        names(api.get("/network/v2.0/networks?tags=ci").await.1),
        Vec::<String>::new()
    );
    let (_, net) = api.get(&format!("/network/v2.0/networks/{a}")).await;
    assert_eq!(net["network"]["tags"], json!(["job-1"]));
    assert!(net["network"]["created_at"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}
