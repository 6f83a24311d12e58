//! A backup's lifecycle: create (full, or incremental on the volume's latest backup,
//! which then has dependents; through the API `creating` for a while, its volume
//! `backing-up`, as cinder-backup answers), and the delete through `deleting` (or `error_deleting`
//! when stuck), refused with 400 while the backup is not `available`/`error` or has
//! incrementals on top of it. Backups neither block nor are blocked by their volume.

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::common::{bad, find_volume, set_status};
use crate::error::ApiError;
use crate::state::{Job, SimState};
use crate::store::{fmt_micro, new_id, str_of, Ctx, Obj};

/// The refusal for a backup in a state that cannot be deleted.
pub const BACKUP_BUSY: &str = "Invalid backup: Backup status must be available or error";

/// The refusal for a backup with incremental backups on top of it.
pub const INCREMENTALS_EXIST: &str = "Invalid backup: Incremental backups exist for this backup.";

/// The key of the owning project, as Cinder shows it (3.18+).
const OWNER: &str = "os-backup-project-attr:project_id";

pub(super) fn backup_not_found(id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("Backup {id} could not be found."),
    )
}

pub(super) fn find_backup<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.cinder
        .backups
        .get(id)
        .filter(|b| ctx.owns(str_of(b, OWNER)))
        .ok_or_else(|| backup_not_found(id))
}

/// Whether a flag in a request body is set (`true`, `"true"`, `"True"`).
fn flag(body: &Obj, key: &str) -> bool {
    body.get(key)
        .is_some_and(|f| f == &json!(true) || f == "true" || f == "True")
}

/// Creates a backup of a volume (`force` needed when it is in use); an incremental one
/// builds on the volume's latest available backup.
pub fn create_backup(st: &mut SimState, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
    let vid = str_of(&body, "volume_id").to_string();
    let vol = find_volume(st, ctx, &vid)?;
    let status = str_of(vol, "status").to_string();
    if status != "available" && !(flag(&body, "force") && status == "in-use") {
        return Err(bad(format!("Invalid volume: Volume to be backed up must be available or in-use, but the current status is \"{status}\".")));
    }
    let size = vol["size"].clone();
    let incremental = flag(&body, "incremental");
    let parent = if incremental {
        let latest = st
            .cinder
            .backups
            .values()
            .filter(|b| str_of(b, "volume_id") == vid && str_of(b, "status") == "available")
            .max_by_key(|b| {
                (
                    str_of(b, "created_at").to_string(),
                    str_of(b, "id").to_string(),
                )
            })
            .map(|b| str_of(b, "id").to_string());
        Some(latest.ok_or_else(|| {
            bad("Invalid backup: No backups available to do an incremental backup.")
        })?)
    } else {
        None
    };
    let now = fmt_micro(Timestamp::now());
    let b = json!({"id": new_id(), "name": body.get("name").cloned().unwrap_or(Value::Null),
        "description": body.get("description").cloned().unwrap_or(Value::Null),
        "status": "available", "volume_id": vid, "snapshot_id": null, "size": size,
        "object_count": 0, "container": "volumebackups", "availability_zone": "nova",
        "created_at": now, "updated_at": now, "data_timestamp": now, "fail_reason": null,
        "is_incremental": incremental, "has_dependent_backups": false,
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
        OWNER: ctx.project_id, "user_id": ctx.user_id, "_parent": parent});
    let Value::Object(b) = b else {
        return Err(bad("internal"));
    };
    if let Some(p) = parent.and_then(|p| st.cinder.backups.get_mut(&p)) {
        p.insert("has_dependent_backups".into(), json!(true));
    }
    st.cinder.backups.insert(b.clone());
    Ok(b)
}

/// A backup just made through the API: `creating`, its volume `backing-up` (both refuse
/// a delete with 400, and the volume a further backup), until the delay has passed.
pub fn hold_new_backup(st: &mut SimState, backup: &Obj) -> Vec<Job> {
    let delay = st.delays.backup_create;
    if delay.is_zero() {
        return Vec::new();
    }
    let id = str_of(backup, "id").to_string();
    let vid = str_of(backup, "volume_id").to_string();
    let mut previous = None;
    if let Some(v) = st.cinder.volumes.get_mut(&vid) {
        previous = Some(str_of(v, "status").to_string());
        set_status(v, "backing-up");
    }
    if let Some(b) = st.cinder.backups.get_mut(&id) {
        set_status(b, "creating");
    }
    vec![Job::after(delay, move |st| {
        if let Some(b) = st.cinder.backups.get_mut(&id) {
            if str_of(b, "status") == "creating" {
                set_status(b, "available");
            }
        }
        if let (Some(v), Some(previous)) = (st.cinder.volumes.get_mut(&vid), previous) {
            if str_of(v, "status") == "backing-up" {
                set_status(v, &previous);
            }
        }
        Vec::new()
    })]
}

/// Starts a backup delete: `deleting`, then gone (or `error_deleting` when stuck).
pub fn delete_backup(st: &mut SimState, ctx: &Ctx, id: &str) -> Result<Vec<Job>, ApiError> {
    let backup = find_backup(st, ctx, id)?;
    let status = str_of(backup, "status").to_string();
    if st.take_conflict("volume-backup", id) {
        return Err(bad(BACKUP_BUSY));
    }
    if status != "available" && status != "error" {
        return Err(bad(BACKUP_BUSY));
    }
    if st
        .cinder
        .backups
        .values()
        .any(|b| str_of(b, "_parent") == id)
    {
        return Err(bad(INCREMENTALS_EXIST));
    }
    if let Some(b) = st.cinder.backups.get_mut(id) {
        set_status(b, "deleting");
    }
    let id = id.to_string();
    Ok(vec![Job::after(st.delays.volume_delete, move |st| {
        if st.take_stuck("volume-backup", &id) {
            if let Some(b) = st.cinder.backups.get_mut(&id) {
                set_status(b, "error_deleting");
            }
            return Vec::new();
        }
        let parent = st
            .cinder
            .backups
            .remove(&id)
            .map(|b| str_of(&b, "_parent").to_string());
        if let Some(parent) = parent.filter(|p| !p.is_empty()) {
            let left = st
                .cinder
                .backups
                .values()
                .any(|b| str_of(b, "_parent") == parent);
            if let Some(p) = st.cinder.backups.get_mut(&parent) {
                p.insert("has_dependent_backups".into(), json!(left));
            }
        }
        Vec::new()
    })])
}
