//! What every Cinder handler shares: the page size, error answers, finding a volume or
//! snapshot the caller sees, setting a status, and the writable fields of an update.

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::json;

use crate::error::ApiError;
use crate::state::SimState;
use crate::store::{fmt_micro, str_of, Ctx, Obj};

/// Most items in one page when no `limit` is given (`osapi_max_limit`).
pub(super) const MAX_LIMIT: usize = 1000;

pub(super) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::nova(StatusCode::BAD_REQUEST, msg)
}

pub(super) fn volume_not_found(id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("Volume {id} could not be found."),
    )
}

pub(super) fn snapshot_not_found(id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("Snapshot {id} could not be found."),
    )
}

pub(super) fn set_status(o: &mut Obj, status: &str) {
    o.insert("status".into(), json!(status));
    o.insert("updated_at".into(), json!(fmt_micro(Timestamp::now())));
}

pub(super) fn find_volume<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.cinder
        .volumes
        .get(id)
        .filter(|v| ctx.owns(str_of(v, "os-vol-tenant-attr:tenant_id")))
        .ok_or_else(|| volume_not_found(id))
}

pub(super) fn find_snapshot<'a>(
    st: &'a SimState,
    ctx: &Ctx,
    id: &str,
) -> Result<&'a Obj, ApiError> {
    st.cinder
        .snapshots
        .get(id)
        .filter(|v| ctx.owns(str_of(v, "os-extended-snapshot-attributes:project_id")))
        .ok_or_else(|| snapshot_not_found(id))
}

pub(super) fn update_fields(o: &mut Obj, body: &Obj) {
    for k in ["name", "description", "metadata"] {
        if let Some(v) = body.get(k) {
            o.insert(k.into(), v.clone());
        }
    }
    o.insert("updated_at".into(), json!(fmt_micro(Timestamp::now())));
}
