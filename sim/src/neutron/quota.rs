//! Neutron `GET /v2.0/quotas/{project_id}` and its `/details`: limits, and usage per
//! resource.

use serde_json::{json, Map, Value};

use crate::quota::count;
use crate::state::SimState;

/// The Neutron quota names, in the order Neutron lists them.
const NEUTRON: &[&str] = &[
    "network",
    "subnet",
    "port",
    "router",
    "floatingip",
    "security_group",
    "security_group_rule",
];

/// Neutron `GET /v2.0/quotas/{project_id}` (limits only).
pub fn neutron_limits(st: &SimState) -> Value {
    let quota: Map<String, Value> = NEUTRON
        .iter()
        .map(|n| ((*n).to_string(), json!(st.quota.get(n))))
        .collect();
    json!({ "quota": quota })
}

/// Neutron `GET /v2.0/quotas/{project_id}/details`: limit, used, reserved per resource.
pub fn neutron_details(st: &SimState, project: &str) -> Value {
    let n = &st.neutron;
    let quota: Map<String, Value> = NEUTRON
        .iter()
        .map(|name| {
            let table = match *name {
                "network" => &n.networks,
                "subnet" => &n.subnets,
                "port" => &n.ports,
                "router" => &n.routers,
                "floatingip" => &n.floatingips,
                "security_group" => &n.security_groups,
                _ => &n.security_group_rules,
            };
            let used = count(table.values(), "project_id", project);
            let body = json!({"limit": st.quota.get(name), "used": used, "reserved": 0});
            ((*name).to_string(), body)
        })
        .collect();
    json!({ "quota": quota })
}
