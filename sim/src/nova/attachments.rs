//! What is plugged into a server: volume attachments (attach, detach, list) and its
//! interfaces.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::common::{bad, find_server, not_found};
use crate::error::{ApiError, Style};
use crate::http::{empty, parse_body, reply, Caller, St};
use crate::state::Job;
use crate::store::{str_of, strs_of};

fn attachment_view(server_id: &str, vol: &Value, device: &str) -> Value {
    let vid = vol["id"].as_str().unwrap_or("");
    json!({"id": vid, "serverId": server_id, "volumeId": vid, "device": device,
        "tag": null, "delete_on_termination": vol["delete_on_termination"]})
}

pub(super) async fn list_attachments(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    let list: Vec<Value> = server["_volumes"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .map(|v| {
            let vid = v["id"].as_str().unwrap_or("");
            let device = st
                .cinder
                .volumes
                .get(vid)
                .map(|vol| {
                    vol["attachments"][0]["device"]
                        .as_str()
                        .unwrap_or("")
                        .to_string()
                })
                .unwrap_or_default();
            attachment_view(&id, v, &device)
        })
        .collect();
    Ok(reply(StatusCode::OK, json!({ "volumeAttachments": list })))
}

pub(super) async fn attach_volume(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let vid = body["volumeAttachment"]["volumeId"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let mut st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    let n = server["_volumes"].as_array().map_or(0, Vec::len);
    let vol = st
        .cinder
        .volumes
        .get(&vid)
        .filter(|v| ctx.owns(str_of(v, "os-vol-tenant-attr:tenant_id")))
        .ok_or_else(|| not_found("Volume", &vid))?;
    if str_of(vol, "status") != "available" {
        return Err(bad(format!(
            "Invalid volume: volume '{vid}' status must be 'available'. Currently in '{}'",
            str_of(vol, "status")
        )));
    }
    let device = format!("/dev/vd{}", (b'a' + n as u8) as char);
    crate::cinder::attach(&mut st, &vid, &id, &device);
    let entry = json!({"id": vid, "delete_on_termination": false});
    if let Some(Value::Array(v)) = st
        .nova
        .servers
        .get_mut(&id)
        .and_then(|s| s.get_mut("_volumes"))
    {
        v.push(entry.clone());
    }
    Ok(reply(
        StatusCode::OK,
        json!({"volumeAttachment": attachment_view(&id, &entry, &device)}),
    ))
}

pub(super) async fn detach_volume(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, vid)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    let attached = server["_volumes"]
        .as_array()
        .is_some_and(|v| v.iter().any(|x| x["id"] == json!(vid)));
    if !attached {
        return Err(ApiError::nova(
            StatusCode::NOT_FOUND,
            format!("volume_id not found: {vid}"),
        ));
    }
    if let Some(Value::Array(v)) = st
        .nova
        .servers
        .get_mut(&id)
        .and_then(|s| s.get_mut("_volumes"))
    {
        v.retain(|x| x["id"] != json!(vid));
    }
    if let Some(vol) = st.cinder.volumes.get_mut(&vid) {
        vol.insert("status".into(), json!("detaching"));
    }
    let delay = st.delays.volume_detach;
    drop(st);
    s.run_jobs(vec![Job::after(delay, move |st| {
        crate::cinder::detach(st, &vid, &id);
        Vec::new()
    })]);
    Ok(empty(StatusCode::ACCEPTED))
}

pub(super) async fn list_interfaces(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    let list: Vec<Value> = strs_of(server, "_ports")
        .iter()
        .filter_map(|p| st.neutron.ports.get(p))
        .map(|p| json!({"port_id": p["id"], "net_id": p["network_id"], "port_state": p["status"], "mac_addr": p["mac_address"], "fixed_ips": p["fixed_ips"]}))
        .collect();
    Ok(reply(
        StatusCode::OK,
        json!({ "interfaceAttachments": list }),
    ))
}
