//! Listing volumes, snapshots and backups: Cinder's filters (`name`, `status`, `metadata` as JSON
//! or a Python dict literal), summary or detail, marker/limit pages.

use axum::extract::{RawQuery, State};
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::common::{bad, MAX_LIMIT};
use crate::error::ApiError;
use crate::http::{reply, Caller, St};
use crate::state::SimState;
use crate::store::{next_link, page, public, str_of, Ctx, Obj, Params};

/// A `metadata` filter: JSON, or the Python dict literal `openstack` sends (Cinder
/// evaluates it as a literal).
fn parse_metadata_filter(v: &str) -> Result<serde_json::Map<String, Value>, ApiError> {
    serde_json::from_str(v)
        .or_else(|_| serde_json::from_str(&v.replace('\'', "\"")))
        .map_err(|_| {
            bad(format!(
                "Invalid input received: Invalid filter metadata={v}"
            ))
        })
}

/// Whether a resource passes Cinder's list filters (`name`, `status`, `metadata`, ...).
fn matches(o: &Obj, p: &Params) -> Result<bool, ApiError> {
    for (k, v) in &p.0 {
        let ok = match k.as_str() {
            "limit" | "marker" | "sort" | "sort_key" | "sort_dir" | "all_tenants"
            | "with_count" | "offset" | "project_id" => true,
            "metadata" => {
                let want = parse_metadata_filter(v)?;
                let have = o.get("metadata");
                want.iter()
                    .all(|(mk, mv)| have.and_then(|m| m.get(mk)) == Some(mv))
            }
            "name" | "status" | "bootable" | "volume_id" | "availability_zone" => {
                o.get(k).is_some_and(|x| crate::store::field_matches(x, v))
            }
            _ => true,
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn list(
    st: &SimState,
    ctx: &Ctx,
    p: &Params,
    key: &'static str,
    detail: bool,
) -> Result<Value, ApiError> {
    let snapshots = key == "snapshots";
    let (table, owner) = match key {
        "snapshots" => (
            &st.cinder.snapshots,
            "os-extended-snapshot-attributes:project_id",
        ),
        "backups" => (&st.cinder.backups, "os-backup-project-attr:project_id"),
        _ => (&st.cinder.volumes, "os-vol-tenant-attr:tenant_id"),
    };
    for m in p.all("metadata") {
        parse_metadata_filter(m)?;
    }
    let all = ctx.admin && p.flag("all_tenants");
    let limit = p.limit().unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let (items, full) = page(table, p.get("marker"), Some(limit), |o| {
        (all || str_of(o, owner) == ctx.project_id) && matches(o, p).unwrap_or(false)
    });
    let out: Vec<Value> = items
        .iter()
        .map(|o| {
            if detail {
                public(o)
            } else if snapshots {
                summary_snapshot(o)
            } else {
                json!({"id": o["id"], "name": o["name"], "links": o["links"]})
            }
        })
        .collect();
    let mut body = json!({ key: out });
    if full {
        if let Some(last) = items.last() {
            let path = if detail {
                format!("{key}/detail")
            } else {
                key.to_string()
            };
            let href = format!("{}/volume/v3/{}/{path}", st.base_url, ctx.project_id);
            body[format!("{key}_links")] = json!([next_link(&href, p, str_of(last, "id"))]);
        }
    }
    Ok(body)
}

fn summary_snapshot(o: &Obj) -> Value {
    let mut v = public(o);
    if let Value::Object(m) = &mut v {
        m.remove("os-extended-snapshot-attributes:project_id");
        m.remove("os-extended-snapshot-attributes:progress");
    }
    v
}

/// `GET /{volumes,snapshots,backups}[/detail]`, told apart by the path.
pub(super) async fn list_h(
    State(s): St,
    Extension(ctx): Caller,
    uri: Uri,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let path = uri.path().trim_end_matches('/');
    let key = if path.contains("/snapshots") {
        "snapshots"
    } else if path.contains("/backups") {
        "backups"
    } else {
        "volumes"
    };
    let detail = path.ends_with("/detail");
    Ok(reply(
        StatusCode::OK,
        list(&s.lock(), &ctx, &p, key, detail)?,
    ))
}
