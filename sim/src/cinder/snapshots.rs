//! A snapshot's lifecycle: create (`force` needed when its volume is in use), and the
//! delete through `deleting` (or `error_deleting` when stuck).

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::common::{bad, find_snapshot, find_volume, set_status};
use crate::error::ApiError;
use crate::state::{Job, SimState};
use crate::store::{fmt_micro, new_id, str_of, Ctx, Obj};

/// The refusal for a snapshot in a state that cannot be deleted.
pub const SNAPSHOT_BUSY: &str = "Invalid snapshot: Volume Snapshot status must be available or error and must not be part of a group.";

/// Creates a snapshot of a volume (`force` needed when it is in use).
pub fn create_snapshot(st: &mut SimState, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
    let vid = str_of(&body, "volume_id").to_string();
    let vol = find_volume(st, ctx, &vid)?;
    let status = str_of(vol, "status").to_string();
    let force = body
        .get("force")
        .is_some_and(|f| f == &json!(true) || f == "true" || f == "True");
    if status != "available" && !(force && status == "in-use") {
        return Err(bad(format!("Invalid volume: Volume {vid} status must be available, but current status is: {status}.")));
    }
    let now = fmt_micro(Timestamp::now());
    let s = json!({"id": new_id(), "name": body.get("name").cloned().unwrap_or(Value::Null), "status": "available",
        "size": vol["size"], "volume_id": vid, "created_at": now, "updated_at": now,
        "description": body.get("description").cloned().unwrap_or(Value::Null),
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
        "os-extended-snapshot-attributes:project_id": ctx.project_id,
        "os-extended-snapshot-attributes:progress": "100%", "user_id": ctx.user_id,
        "group_snapshot_id": null, "consumes_quota": true});
    let Value::Object(s) = s else {
        return Err(bad("internal"));
    };
    st.cinder.snapshots.insert(s.clone());
    Ok(s)
}

/// Starts a snapshot delete: `deleting`, then gone (or `error_deleting` when stuck).
pub fn delete_snapshot(st: &mut SimState, ctx: &Ctx, id: &str) -> Result<Vec<Job>, ApiError> {
    let snap = find_snapshot(st, ctx, id)?;
    let status = str_of(snap, "status").to_string();
    if st.take_conflict("snapshot", id) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Snapshot {id} is busy (injected)."),
        ));
    }
    if status != "available" && status != "error" {
        return Err(bad(SNAPSHOT_BUSY));
    }
    if let Some(s) = st.cinder.snapshots.get_mut(id) {
        set_status(s, "deleting");
    }
    let id = id.to_string();
    Ok(vec![Job::after(st.delays.volume_delete, move |st| {
        if st.take_stuck("snapshot", &id) {
            if let Some(s) = st.cinder.snapshots.get_mut(&id) {
                set_status(s, "error_deleting");
            }
        } else {
            st.cinder.snapshots.remove(&id);
        }
        Vec::new()
    })])
}
