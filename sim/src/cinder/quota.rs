//! Cinder `GET /os-quota-sets/{project_id}?usage=true`: limits and usage.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Map};

use crate::error::ApiError;
use crate::http::{reply, Caller, St};
use crate::quota::count;
use crate::store::{str_of, Obj};

/// Cinder `GET /os-quota-sets/{project_id}?usage=true` (without `usage`, Cinder sends
/// bare limits; the janitor always asks for usage, so this always answers with it).
pub async fn cinder_quota_set(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, pid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    if !ctx.owns(&pid) {
        return Err(ApiError::nova(
            StatusCode::FORBIDDEN,
            "Policy doesn't allow volume_extension:quotas:show to be performed.",
        ));
    }
    let st = s.lock();
    let vols: Vec<&Obj> = st
        .cinder
        .volumes
        .values()
        .filter(|v| str_of(v, "os-vol-tenant-attr:tenant_id") == pid)
        .collect();
    let gigs: u64 = vols.iter().map(|v| v["size"].as_u64().unwrap_or(0)).sum();
    let snaps = count(
        st.cinder.snapshots.values(),
        "os-extended-snapshot-attributes:project_id",
        &pid,
    );
    let used = [
        ("volumes", vols.len() as u64),
        ("gigabytes", gigs),
        ("snapshots", snaps),
        ("backups", 0),
        ("backup_gigabytes", 0),
        ("groups", 0),
        ("per_volume_gigabytes", 0),
    ];
    let mut set = Map::new();
    set.insert("id".into(), json!(pid));
    for (name, in_use) in used {
        set.insert(
            name.into(),
            json!({"limit": st.quota.get(name), "in_use": in_use, "reserved": 0, "allocated": 0}),
        );
    }
    Ok(reply(StatusCode::OK, json!({ "quota_set": set })))
}
