//! Nova `GET /limits`: the quota limits and the caller's project's usage.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::json;

use crate::http::{reply, Caller, St};
use crate::quota::count;
use crate::store::{str_of, Obj};

/// Nova `GET /limits`: absolute limits and the caller's project's usage.
pub async fn nova_limits(State(s): St, Extension(ctx): Caller) -> Response {
    let st = s.lock();
    let q = &st.quota;
    let pid = ctx.project_id.as_str();
    let mine: Vec<&Obj> = st
        .nova
        .servers
        .values()
        .filter(|x| str_of(x, "tenant_id") == pid)
        .collect();
    let flavor_sum = |k: &str| -> u64 {
        mine.iter()
            .map(|x| x["flavor"][k].as_u64().unwrap_or(0))
            .sum()
    };
    let groups = count(st.nova.server_groups.values(), "project_id", pid);
    reply(
        StatusCode::OK,
        json!({"limits": {"rate": [], "absolute": {
            "maxTotalInstances": q.get("instances"), "totalInstancesUsed": mine.len(),
            "maxTotalCores": q.get("cores"), "totalCoresUsed": flavor_sum("vcpus"),
            "maxTotalRAMSize": q.get("ram"), "totalRAMUsed": flavor_sum("ram"),
            "maxTotalKeypairs": q.get("key_pairs"),
            "maxServerGroups": q.get("server_groups"), "totalServerGroupsUsed": groups,
            "maxServerGroupMembers": q.get("server_group_members"),
            "maxServerMeta": 128, "maxImageMeta": 128, "maxPersonality": 5, "maxPersonalitySize": 10240,
            "maxSecurityGroups": -1, "maxSecurityGroupRules": -1, "maxTotalFloatingIps": -1,
            "totalFloatingIpsUsed": 0, "totalSecurityGroupsUsed": 0}}}),
    )
}
