//! A volume's lifecycle over the whole state: create, attach to and detach from a server,
//! and the delete with real Cinder's refusals, `deleting`, then gone (or `error_deleting`
//! when stuck), `cascade` taking its snapshots along.

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::common::{bad, find_volume, set_status, snapshot_not_found};
use crate::error::ApiError;
use crate::state::{Job, SimState};
use crate::store::{fmt_micro, new_id, str_of, Ctx, Obj};

/// The refusal real Cinder answers for a volume attached, with snapshots, or in use.
pub const VOLUME_IN_USE: &str = "Invalid volume: Volume status must be available or error or error_restoring or error_extending or error_managing and must not be migrating, attached, belong to a group, have snapshots, awaiting a transfer, or be disassociated from snapshots after volume transfer.";

/// Volume states from which a delete is accepted.
const DELETABLE: [&str; 5] = [
    "available",
    "error",
    "error_restoring",
    "error_extending",
    "error_managing",
];

/// Creates a volume (`available` at once).
pub fn create_volume(st: &mut SimState, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
    let snapshot_id = body
        .get("snapshot_id")
        .and_then(Value::as_str)
        .map(String::from);
    let mut size = body.get("size").and_then(Value::as_u64);
    if let Some(sid) = &snapshot_id {
        let snap = st
            .cinder
            .snapshots
            .get(sid)
            .ok_or_else(|| snapshot_not_found(sid))?;
        size = size.or(snap.get("size").and_then(Value::as_u64));
    }
    let size = size.ok_or_else(|| bad("Invalid input received: \"size\" is required."))?;
    let id = new_id();
    let now = fmt_micro(Timestamp::now());
    let image = body
        .get("imageRef")
        .and_then(Value::as_str)
        .map(String::from);
    let base = st.base_url.clone();
    let v = json!({
        "id": id, "name": body.get("name").cloned().unwrap_or(Value::Null), "status": "available", "size": size,
        "availability_zone": body.get("availability_zone").cloned().unwrap_or(json!("nova")),
        "created_at": now, "updated_at": now, "attachments": [],
        "description": body.get("description").cloned().unwrap_or(Value::Null),
        "volume_type": body.get("volume_type").cloned().unwrap_or(json!("lvmdriver-1")),
        "snapshot_id": snapshot_id, "source_volid": body.get("source_volid").cloned().unwrap_or(Value::Null),
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
        "links": [{"rel": "self", "href": format!("{base}/volume/v3/{}/volumes/{id}", ctx.project_id)}],
        "user_id": ctx.user_id, "bootable": if image.is_some() { "true" } else { "false" }, "encrypted": false,
        "replication_status": null, "consistencygroup_id": null, "multiattach": false, "group_id": null,
        "os-vol-tenant-attr:tenant_id": ctx.project_id, "os-vol-mig-status-attr:migstat": null,
        "os-vol-mig-status-attr:name_id": null, "shared_targets": false, "service_uuid": null,
        "cluster_name": null, "provider_id": null, "consumes_quota": true,
    });
    let Value::Object(mut v) = v else {
        return Err(bad("internal"));
    };
    if let Some(img) = image {
        v.insert("volume_image_metadata".into(), json!({"image_id": img}));
    }
    st.cinder.volumes.insert(v.clone());
    Ok(v)
}

/// Marks a volume attached to a server (`in-use`).
pub fn attach(st: &mut SimState, volume_id: &str, server_id: &str, device: &str) {
    if let Some(v) = st.cinder.volumes.get_mut(volume_id) {
        let att = json!({"id": volume_id, "attachment_id": new_id(), "volume_id": volume_id, "server_id": server_id,
            "host_name": "sim-compute", "device": device, "attached_at": fmt_micro(Timestamp::now())});
        if let Some(Value::Array(a)) = v.get_mut("attachments") {
            a.push(att);
        }
        set_status(v, "in-use");
    }
}

/// Removes a server's attachment from a volume; `available` when none remain.
pub fn detach(st: &mut SimState, volume_id: &str, server_id: &str) {
    if let Some(v) = st.cinder.volumes.get_mut(volume_id) {
        if let Some(Value::Array(a)) = v.get_mut("attachments") {
            a.retain(|x| x["server_id"].as_str() != Some(server_id));
        }
        let attached = v["attachments"].as_array().is_some_and(|a| !a.is_empty());
        set_status(v, if attached { "in-use" } else { "available" });
    }
}

/// Starts a volume delete: refusals as real Cinder, then `deleting`, then gone (or
/// `error_deleting` when stuck). `cascade` takes its snapshots along.
pub fn delete_volume(
    st: &mut SimState,
    ctx: &Ctx,
    id: &str,
    cascade: bool,
) -> Result<Vec<Job>, ApiError> {
    let vol = find_volume(st, ctx, id)?;
    let status = str_of(vol, "status").to_string();
    let attached = vol["attachments"].as_array().is_some_and(|a| !a.is_empty());
    let snaps = st.cinder.snapshots_of(id);
    if st.take_conflict("volume", id) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Volume {id} is busy (injected)."),
        ));
    }
    if !DELETABLE.contains(&status.as_str()) || attached || (!snaps.is_empty() && !cascade) {
        return Err(bad(VOLUME_IN_USE));
    }
    for s in &snaps {
        let ss = st
            .cinder
            .snapshots
            .get(s)
            .map(|x| str_of(x, "status").to_string())
            .unwrap_or_default();
        if ss != "available" && ss != "error" {
            return Err(bad(format!(
                "Invalid volume: Snapshot {s} is in status {ss}."
            )));
        }
    }
    for s in &snaps {
        if let Some(x) = st.cinder.snapshots.get_mut(s) {
            set_status(x, "deleting");
        }
    }
    if let Some(v) = st.cinder.volumes.get_mut(id) {
        set_status(v, "deleting");
    }
    let id = id.to_string();
    Ok(vec![Job::after(st.delays.volume_delete, move |st| {
        if st.take_stuck("volume", &id) {
            if let Some(v) = st.cinder.volumes.get_mut(&id) {
                set_status(v, "error_deleting");
            }
            for s in st.cinder.snapshots_of(&id) {
                if let Some(x) = st.cinder.snapshots.get_mut(&s) {
                    set_status(x, "error_deleting");
                }
            }
        } else {
            st.cinder.remove_volume(&id);
        }
        Vec::new()
    })])
}
