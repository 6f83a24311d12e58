//! Nova 2.1 with microversions: servers (tags from 2.26, boot from volume, pre-created
//! ports, asynchronous delete that removes the ports Nova created and frees the volumes
//! only after the server is gone), volume attachments, keypairs, server groups, flavors,
//! limits.

mod limits;
pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use jiff::Timestamp;
use serde_json::{json, Value};

pub use state::NovaState;

use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, protect, reply, Caller, Shared, St};
use crate::state::{Job, SimState};
use crate::store::{
    fmt_micro, fmt_z, new_id, next_link, page, public, str_of, strs_of, Ctx, Obj, Params, TagFilter,
};

/// Highest compute microversion the simulator claims.
pub const MAX_MICROVERSION: (u32, u32) = (2, 96);
/// Most items in one list page when no `limit` is given (Nova's `max_limit`).
const MAX_LIMIT: usize = 1000;

/// A compute microversion from the request headers (2.1 when none; `latest` is the max).
pub fn microversion(headers: &HeaderMap) -> (u32, u32) {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let raw = header("openstack-api-version")
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .find_map(|p| p.strip_prefix("compute ").map(str::trim))
        })
        .or_else(|| header("x-openstack-nova-api-version"));
    match raw {
        Some("latest") => MAX_MICROVERSION,
        Some(v) => v
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .unwrap_or((2, 1)),
        None => (2, 1),
    }
}

fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("{what} {id} could not be found."),
    )
}

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::nova(StatusCode::BAD_REQUEST, msg)
}

fn server_not_found(id: &str) -> ApiError {
    not_found("Instance", id)
}

/// The server the caller can see, or 404.
fn find_server<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.nova
        .servers
        .get(id)
        .filter(|s| ctx.owns(str_of(s, "tenant_id")))
        .ok_or_else(|| server_not_found(id))
}

/// Creates a server as `POST /servers` does: ports on the requested networks (or the
/// given ports), boot volumes from `block_device_mapping_v2`, keypair, group, tags.
pub fn create_server(st: &mut SimState, ctx: &Ctx, body: &Obj) -> Result<Obj, ApiError> {
    let name = str_of(body, "name").to_string();
    if name.is_empty() {
        return Err(bad(
            "Invalid input for field/attribute server. Value: name is a required property",
        ));
    }
    let flavor_ref = body
        .get("flavorRef")
        .map(|v| v.as_str().map(String::from).unwrap_or(v.to_string()));
    let flavor_ref = flavor_ref.unwrap_or_default();
    let flavor = st
        .nova
        .flavors
        .values()
        .find(|f| {
            str_of(f, "id") == flavor_ref || flavor_ref.ends_with(&format!("/{}", str_of(f, "id")))
        })
        .cloned()
        .ok_or_else(|| bad(format!("Flavor {flavor_ref} could not be found.")))?;
    let key_name = body
        .get("key_name")
        .and_then(Value::as_str)
        .map(String::from);
    if let Some(k) = &key_name {
        let ok = st
            .nova
            .keypairs
            .get(k)
            .is_some_and(|kp| str_of(kp, "user_id") == ctx.user_id);
        if !ok {
            return Err(bad("Invalid key_name provided."));
        }
    }
    let bdms: Vec<Value> = body
        .get("block_device_mapping_v2")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let image = str_of(body, "imageRef").to_string();
    if image.is_empty() && bdms.is_empty() {
        return Err(bad("Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid."));
    }
    let group = body
        .get("os:scheduler_hints")
        .and_then(|h| h.get("group"))
        .and_then(Value::as_str)
        .map(String::from);
    if let Some(g) = &group {
        if !st.nova.server_groups.contains(g) {
            return Err(bad(format!(
                "Invalid input for field/attribute group. Value: {g}."
            )));
        }
    }
    // Volumes must be usable before anything is created.
    for bdm in &bdms {
        if bdm["source_type"] == "volume" {
            let vid = bdm["uuid"].as_str().unwrap_or("");
            let vol = st
                .cinder
                .volumes
                .get(vid)
                .filter(|v| ctx.owns(str_of(v, "os-vol-tenant-attr:tenant_id")))
                .ok_or_else(|| {
                    bad(format!(
                        "Block Device Mapping is Invalid: failed to get volume {vid}."
                    ))
                })?;
            if str_of(vol, "status") != "available" {
                return Err(bad(format!(
                    "Invalid volume: volume '{vid}' status must be 'available'. Currently in '{}'",
                    str_of(vol, "status")
                )));
            }
        }
    }
    let id = new_id();
    let sg_names: Vec<String> = body
        .get("security_groups")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|g| g["name"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_else(|| vec!["default".to_string()]);
    let requested = body.get("networks").cloned().unwrap_or(json!("auto"));
    let mut created_ports = Vec::new();
    let mut ports = Vec::new();
    let fail = |st: &mut SimState, created: &[String], e: ApiError| {
        for p in created {
            st.neutron.delete_port_internal(p);
        }
        e.restyle(Style::Nova)
    };
    let wanted: Vec<Value> = match &requested {
        Value::Array(a) => a.clone(),
        Value::String(s) if s == "none" => Vec::new(),
        _ => {
            let nets: Vec<String> = st
                .neutron
                .networks
                .values()
                .filter(|n| str_of(n, "project_id") == ctx.project_id)
                .map(|n| str_of(n, "id").to_string())
                .collect();
            if nets.len() > 1 {
                return Err(ApiError::nova(
                    StatusCode::CONFLICT,
                    "Multiple possible networks found, use a Network ID to be more specific.",
                ));
            }
            nets.into_iter().map(|n| json!({ "uuid": n })).collect()
        }
    };
    for net in &wanted {
        if let Some(port_id) = net["port"].as_str() {
            let port = st
                .neutron
                .ports
                .get(port_id)
                .filter(|p| ctx.owns(str_of(p, "project_id")));
            let Some(port) = port else {
                return Err(fail(st, &created_ports, not_found("Port", port_id)));
            };
            if !str_of(port, "device_id").is_empty() {
                return Err(fail(
                    st,
                    &created_ports,
                    ApiError::nova(
                        StatusCode::CONFLICT,
                        format!("Port {port_id} is still in use."),
                    ),
                ));
            }
            if let Some(p) = st.neutron.ports.get_mut(port_id) {
                p.insert("device_id".into(), json!(id));
                p.insert("device_owner".into(), json!("compute:nova"));
                p.insert("status".into(), json!("ACTIVE"));
                p.insert("binding:host_id".into(), json!("sim-compute"));
                p.insert("binding:vif_type".into(), json!("ovs"));
            }
            ports.push(port_id.to_string());
        } else if let Some(net_id) = net["uuid"].as_str() {
            let mut pb = json!({"network_id": net_id, "device_id": id, "device_owner": "compute:nova",
                "security_groups": sg_names, "binding:host_id": "sim-compute"});
            if let Some(ip) = net["fixed_ip"].as_str() {
                pb["fixed_ips"] = json!([{ "ip_address": ip }]);
            }
            let port = match st
                .neutron
                .create_port(ctx, pb.as_object().cloned().unwrap_or_default())
            {
                Ok(p) => p,
                Err(e) => return Err(fail(st, &created_ports, e)),
            };
            let pid = str_of(&port, "id").to_string();
            if let Some(p) = st.neutron.ports.get_mut(&pid) {
                p.insert("binding:host_id".into(), json!("sim-compute"));
            }
            created_ports.push(pid.clone());
            ports.push(pid);
        }
    }
    let mut volumes = Vec::new();
    for bdm in &bdms {
        let dot = bdm["delete_on_termination"].as_bool().unwrap_or(false);
        let vid = match bdm["source_type"].as_str() {
            Some("volume") => bdm["uuid"].as_str().unwrap_or("").to_string(),
            Some("image") if bdm["destination_type"] == "volume" => {
                let size = bdm["volume_size"].as_u64().unwrap_or(1);
                let vb = json!({"size": size, "name": "", "imageRef": bdm["uuid"]});
                let v = crate::cinder::create_volume(
                    st,
                    ctx,
                    vb.as_object().cloned().unwrap_or_default(),
                )?;
                str_of(&v, "id").to_string()
            }
            _ => continue,
        };
        let device = format!("/dev/vd{}", (b'a' + volumes.len() as u8) as char);
        crate::cinder::attach(st, &vid, &id, &device);
        volumes.push(json!({"id": vid, "delete_on_termination": dot}));
    }
    if let Some(g) = &group {
        if let Some(Value::Array(m)) = st
            .nova
            .server_groups
            .get_mut(g)
            .and_then(|g| g.get_mut("members"))
        {
            m.push(json!(id));
        }
    }
    let now = fmt_z(Timestamp::now());
    let base = st.base_url.clone();
    let image_val = if image.is_empty() {
        json!("")
    } else {
        json!({"id": image, "links": [{"rel": "bookmark", "href": format!("{base}/compute/images/{image}")}]})
    };
    let server = json!({
        "id": id, "name": name, "status": "ACTIVE", "tenant_id": ctx.project_id, "user_id": ctx.user_id,
        "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
        "hostId": "a1b2c3", "image": image_val,
        "flavor": {"vcpus": flavor["vcpus"], "ram": flavor["ram"], "disk": flavor["disk"], "ephemeral": 0, "swap": 0,
                   "original_name": flavor["name"], "extra_specs": {}, "id": flavor["id"]},
        "created": now, "updated": now, "accessIPv4": "", "accessIPv6": "",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/servers/{id}")}, {"rel": "bookmark", "href": format!("{base}/compute/servers/{id}")}],
        "OS-DCF:diskConfig": "MANUAL", "progress": 0, "OS-EXT-AZ:availability_zone": "nova", "config_drive": "",
        "key_name": key_name, "OS-SRV-USG:launched_at": fmt_micro(Timestamp::now()), "OS-SRV-USG:terminated_at": null,
        "security_groups": sg_names.iter().map(|n| json!({"name": n})).collect::<Vec<_>>(),
        "OS-EXT-STS:task_state": null, "OS-EXT-STS:vm_state": "active", "OS-EXT-STS:power_state": 1,
        "locked": false, "locked_reason": null, "description": body.get("description").cloned().unwrap_or(Value::Null),
        "tags": body.get("tags").cloned().unwrap_or(json!([])), "trusted_image_certificates": null,
        "server_groups": group.iter().collect::<Vec<_>>(), "host_status": "UP",
        "_ports": ports, "_created_ports": created_ports, "_volumes": volumes,
    });
    let Value::Object(server) = server else {
        return Err(bad("internal"));
    };
    st.nova.servers.insert(server.clone());
    Ok(server)
}

/// Starts deleting a server: `deleting` now, gone after the configured delay.
pub fn delete_server(st: &mut SimState, ctx: &Ctx, id: &str) -> Result<Vec<Job>, ApiError> {
    find_server(st, ctx, id)?;
    if st.take_conflict("server", id) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Cannot 'delete' instance {id} while it is in task_state powering-off"),
        ));
    }
    let Some(server) = st.nova.servers.get_mut(id) else {
        return Err(server_not_found(id));
    };
    if server["OS-EXT-STS:task_state"] == "deleting" {
        return Ok(Vec::new());
    }
    server.insert("OS-EXT-STS:task_state".into(), json!("deleting"));
    server.insert("updated".into(), json!(fmt_z(Timestamp::now())));
    let id = id.to_string();
    Ok(vec![Job::after(st.delays.server_delete, move |st| {
        finish_server_delete(st, &id)
    })])
}

/// The end of a server delete: the server goes (or, if stuck, ends in `ERROR`), then
/// its ports, then its volumes are freed after the detach delay.
pub fn finish_server_delete(st: &mut SimState, id: &str) -> Vec<Job> {
    if st.take_stuck("server", id) {
        if let Some(s) = st.nova.servers.get_mut(id) {
            s.insert("status".into(), json!("ERROR"));
            s.insert("OS-EXT-STS:vm_state".into(), json!("error"));
            s.insert("OS-EXT-STS:task_state".into(), Value::Null);
            s.insert("fault".into(), json!({"code": 500, "message": "Failed to delete instance (injected)", "created": fmt_z(Timestamp::now())}));
        }
        return Vec::new();
    }
    let Some(server) = st.nova.servers.remove(id) else {
        return Vec::new();
    };
    let created = strs_of(&server, "_created_ports");
    for p in strs_of(&server, "_ports") {
        if created.contains(&p) {
            st.neutron.delete_port_internal(&p);
        } else {
            st.neutron.unbind_port(&p);
        }
    }
    for g in st.nova.server_groups.values_mut() {
        if let Some(Value::Array(m)) = g.get_mut("members") {
            m.retain(|x| x.as_str() != Some(id));
        }
    }
    let volumes: Vec<(String, bool)> = server["_volumes"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| {
                    (
                        v["id"].as_str().unwrap_or("").to_string(),
                        v["delete_on_termination"].as_bool().unwrap_or(false),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    if volumes.is_empty() {
        return Vec::new();
    }
    let server_id = id.to_string();
    vec![Job::after(st.delays.volume_detach, move |st| {
        for (vid, dot) in volumes {
            crate::cinder::detach(st, &vid, &server_id);
            if dot {
                st.cinder.remove_volume(&vid);
            }
        }
        Vec::new()
    })]
}

/// A server as the API shows it at microversion `mv` (addresses and volumes computed).
fn render(st: &SimState, s: &Obj, mv: (u32, u32)) -> Value {
    let mut out = public(s);
    let mut addresses = serde_json::Map::new();
    for pid in strs_of(s, "_ports") {
        let Some(port) = st.neutron.ports.get(&pid) else {
            continue;
        };
        let net = st.neutron.networks.get(str_of(port, "network_id"));
        let net_name = net
            .map(|n| str_of(n, "name").to_string())
            .unwrap_or_default();
        let entry = addresses.entry(net_name).or_insert_with(|| json!([]));
        for ip in port["fixed_ips"].as_array().cloned().unwrap_or_default() {
            let addr = ip["ip_address"].as_str().unwrap_or("").to_string();
            if let Value::Array(list) = entry {
                list.push(
                    json!({"version": if addr.contains(':') { 6 } else { 4 }, "addr": addr,
                    "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": port["mac_address"]}),
                );
            }
        }
    }
    out["addresses"] = Value::Object(addresses);
    out["os-extended-volumes:volumes_attached"] = s.get("_volumes").cloned().unwrap_or(json!([]));
    if let Value::Object(o) = &mut out {
        if mv < (2, 26) {
            o.remove("tags");
        }
        if mv < (2, 19) {
            o.remove("description");
        }
        if mv < (2, 47) {
            o.insert(
                "flavor".into(),
                json!({"id": s["flavor"]["id"], "links": []}),
            );
        }
        if mv < (2, 71) {
            o.remove("server_groups");
        }
    }
    out
}

/// Whether a server passes the list filters.
fn server_matches(
    s: &Obj,
    p: &Params,
    tags: &TagFilter,
    name_re: Option<&regex::Regex>,
    since: Option<Timestamp>,
) -> bool {
    tags.matches(&strs_of(s, "tags"))
        && name_re.is_none_or(|re| re.is_match(str_of(s, "name")))
        && p.get("status")
            .is_none_or(|st| str_of(s, "status").eq_ignore_ascii_case(st))
        && since.is_none_or(|t| {
            str_of(s, "updated")
                .parse::<Timestamp>()
                .is_ok_and(|u| u >= t)
        })
}

async fn list_servers(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
    detail: bool,
) -> Result<Response, ApiError> {
    let mv = microversion(&headers);
    let p = Params::parse(q.as_deref());
    let tags = TagFilter::from_params(&p);
    let name_re = match p.get("name") {
        Some(n) => {
            Some(regex::Regex::new(n).map_err(|_| bad(format!("Invalid regex for name: {n}")))?)
        }
        None => None,
    };
    let since = match p.get("changes-since") {
        Some(t) => Some(parse_time(t).ok_or_else(|| {
            bad(format!(
                "Invalid input for field/attribute changes-since. Value: {t}"
            ))
        })?),
        None => None,
    };
    let all = ctx.admin && p.flag("all_tenants");
    let st = s.lock();
    if let Some(m) = p.get("marker") {
        if !st.nova.servers.contains(m) {
            return Err(bad(format!("marker [{m}] not found")));
        }
    }
    let limit = p.limit().unwrap_or(MAX_LIMIT).min(MAX_LIMIT);
    let (items, full) = page(&st.nova.servers, p.get("marker"), Some(limit), |o| {
        (all || ctx.owns(str_of(o, "tenant_id"))
            && (ctx.project_id == str_of(o, "tenant_id") || !ctx.admin))
            && server_matches(o, &p, &tags, name_re.as_ref(), since)
    });
    let out: Vec<Value> = items
        .iter()
        .map(|o| {
            if detail {
                render(&st, o, mv)
            } else {
                json!({"id": o["id"], "name": o["name"], "links": o["links"]})
            }
        })
        .collect();
    let mut body = json!({ "servers": out });
    if full {
        if let Some(last) = items.last() {
            let path = if detail { "servers/detail" } else { "servers" };
            body["servers_links"] = json!([next_link(
                &format!("{}/compute/v2.1/{path}", st.base_url),
                &p,
                str_of(last, "id")
            )]);
        }
    }
    Ok(reply(StatusCode::OK, body))
}

/// Parses an ISO 8601 time with or without a zone (no zone: UTC).
pub fn parse_time(t: &str) -> Option<Timestamp> {
    t.parse::<Timestamp>()
        .ok()
        .or_else(|| format!("{t}Z").parse().ok())
        .or_else(|| {
            t.parse::<jiff::civil::DateTime>()
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp())
        })
}

async fn servers(
    st: St,
    ctx: Caller,
    headers: HeaderMap,
    q: RawQuery,
) -> Result<Response, ApiError> {
    list_servers(st, ctx, headers, q, false).await
}

async fn servers_detail(
    st: St,
    ctx: Caller,
    headers: HeaderMap,
    q: RawQuery,
) -> Result<Response, ApiError> {
    list_servers(st, ctx, headers, q, true).await
}

async fn post_server(
    State(s): St,
    Extension(ctx): Caller,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "server")?;
    let mut st = s.lock();
    let server = create_server(&mut st, &ctx, &obj)?;
    let out = json!({"server": {"id": server["id"], "links": server["links"], "OS-DCF:diskConfig": "MANUAL",
        "security_groups": server["security_groups"], "adminPass": "simulated-password"}});
    Ok(reply(StatusCode::ACCEPTED, out))
}

async fn get_server(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    Ok(reply(
        StatusCode::OK,
        json!({"server": render(&st, server, microversion(&headers))}),
    ))
}

async fn put_server(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "server")?;
    let mut st = s.lock();
    find_server(&st, &ctx, &id)?;
    if let Some(server) = st.nova.servers.get_mut(&id) {
        for k in ["name", "description"] {
            if let Some(v) = obj.get(k) {
                server.insert(k.into(), v.clone());
            }
        }
        server.insert("updated".into(), json!(fmt_z(Timestamp::now())));
    }
    let server = find_server(&st, &ctx, &id)?;
    Ok(reply(
        StatusCode::OK,
        json!({"server": render(&st, server, microversion(&headers))}),
    ))
}

async fn delete_server_h(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jobs = delete_server(&mut s.lock(), &ctx, &id)?;
    s.run_jobs(jobs);
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn server_action(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let mut st = s.lock();
    find_server(&st, &ctx, &id)?;
    let action = body
        .as_object()
        .and_then(|o| o.keys().next().cloned())
        .unwrap_or_default();
    let state = match action.as_str() {
        "forceDelete" => {
            let jobs = delete_server(&mut st, &ctx, &id)?;
            drop(st);
            s.run_jobs(jobs);
            return Ok(empty(StatusCode::ACCEPTED));
        }
        "os-stop" => ("SHUTOFF", "stopped", 4),
        "os-start" | "reboot" => ("ACTIVE", "active", 1),
        "pause" => ("PAUSED", "paused", 3),
        "unpause" | "resume" => ("ACTIVE", "active", 1),
        "suspend" => ("SUSPENDED", "suspended", 4),
        other => return Err(bad(format!("There is no such action: {other}"))),
    };
    if let Some(server) = st.nova.servers.get_mut(&id) {
        server.insert("status".into(), json!(state.0));
        server.insert("OS-EXT-STS:vm_state".into(), json!(state.1));
        server.insert("OS-EXT-STS:power_state".into(), json!(state.2));
    }
    Ok(empty(StatusCode::ACCEPTED))
}

fn edit_tags(
    st: &mut SimState,
    ctx: &Ctx,
    id: &str,
    f: impl FnOnce(&mut Vec<Value>) -> Result<(), ApiError>,
) -> Result<Vec<Value>, ApiError> {
    find_server(st, ctx, id)?;
    let server = st
        .nova
        .servers
        .get_mut(id)
        .ok_or_else(|| server_not_found(id))?;
    let mut tags = server
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    f(&mut tags)?;
    server.insert("tags".into(), Value::Array(tags.clone()));
    server.insert("updated".into(), json!(fmt_z(Timestamp::now())));
    Ok(tags)
}

async fn get_tags(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    Ok(reply(StatusCode::OK, json!({"tags": server["tags"]})))
}

async fn put_tags(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let new = body["tags"]
        .as_array()
        .cloned()
        .ok_or_else(|| bad("'tags' is a required property"))?;
    let tags = edit_tags(&mut s.lock(), &ctx, &id, |t| {
        *t = new;
        Ok(())
    })?;
    Ok(reply(StatusCode::OK, json!({ "tags": tags })))
}

async fn delete_tags(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    edit_tags(&mut s.lock(), &ctx, &id, |t| {
        t.clear();
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn get_tag(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let server = find_server(&st, &ctx, &id)?;
    if strs_of(server, "tags").contains(&tag) {
        Ok(empty(StatusCode::NO_CONTENT))
    } else {
        Err(not_found("Tag", &tag))
    }
}

async fn put_tag(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    edit_tags(&mut s.lock(), &ctx, &id, |t| {
        if !t.contains(&json!(tag)) {
            t.push(json!(tag));
        }
        Ok(())
    })?;
    Ok(empty(StatusCode::CREATED))
}

async fn delete_tag(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    edit_tags(&mut s.lock(), &ctx, &id, |t| {
        let before = t.len();
        t.retain(|x| x.as_str() != Some(tag.as_str()));
        if t.len() == before {
            return Err(not_found("Tag", &tag));
        }
        Ok(())
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn attachment_view(server_id: &str, vol: &Value, device: &str) -> Value {
    let vid = vol["id"].as_str().unwrap_or("");
    json!({"id": vid, "serverId": server_id, "volumeId": vid, "device": device,
        "tag": null, "delete_on_termination": vol["delete_on_termination"]})
}

async fn list_attachments(
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

async fn attach_volume(
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

async fn detach_volume(
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

async fn list_interfaces(
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

fn flavor_view(f: &Obj, base: &str, detail: bool) -> Value {
    let id = str_of(f, "id");
    let links = json!([{"rel": "self", "href": format!("{base}/compute/v2.1/flavors/{id}")}]);
    if detail {
        let mut v = public(f);
        v["links"] = links;
        v
    } else {
        json!({"id": id, "name": f["name"], "links": links, "description": null})
    }
}

async fn list_flavors(State(s): St, RawQuery(q): RawQuery, detail: bool) -> Response {
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let (items, _) = page(&st.nova.flavors, p.get("marker"), p.limit(), |_| true);
    let out: Vec<Value> = items
        .iter()
        .map(|f| flavor_view(f, &st.base_url, detail))
        .collect();
    reply(StatusCode::OK, json!({ "flavors": out }))
}

async fn flavors(st: St, q: RawQuery) -> Response {
    list_flavors(st, q, false).await
}

async fn flavors_detail(st: St, q: RawQuery) -> Response {
    list_flavors(st, q, true).await
}

async fn get_flavor(State(s): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let st = s.lock();
    let f = st
        .nova
        .flavors
        .get(&id)
        .ok_or_else(|| not_found("Flavor", &id))?;
    Ok(reply(
        StatusCode::OK,
        json!({"flavor": flavor_view(f, &st.base_url, true)}),
    ))
}

/// Creates a keypair for the caller (a generated public key when none is given).
pub fn create_keypair(st: &mut SimState, ctx: &Ctx, body: &Obj) -> Result<Obj, ApiError> {
    let name = str_of(body, "name").to_string();
    if name.is_empty() {
        return Err(bad(
            "Invalid input for field/attribute keypair. Value: name is a required property",
        ));
    }
    if st.nova.keypairs.contains(&name) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Key pair '{name}' already exists."),
        ));
    }
    let generated = !body.contains_key("public_key");
    let public_key = body
        .get("public_key")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| {
            format!(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{} Generated-by-Nova",
                &new_id()[..20]
            )
        });
    let fp = new_id().replace('-', "");
    let fingerprint: Vec<String> = (0..16).map(|i| fp[i * 2..i * 2 + 2].to_string()).collect();
    let now = Timestamp::now();
    let mut kp = json!({"id": name, "name": name, "public_key": public_key, "fingerprint": fingerprint.join(":"),
        "type": body.get("type").cloned().unwrap_or(json!("ssh")), "user_id": ctx.user_id,
        "created_at": fmt_micro(now), "updated_at": null, "deleted": false, "deleted_at": null,
        "_project": ctx.project_id});
    if generated {
        kp["_private"] = json!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nsimulated\n-----END OPENSSH PRIVATE KEY-----\n"
        );
    }
    let Value::Object(kp) = kp else {
        return Err(bad("internal"));
    };
    st.nova.keypairs.insert(kp.clone());
    Ok(kp)
}

fn keypair_view(kp: &Obj, full: bool) -> Value {
    let mut v = json!({"name": kp["name"], "public_key": kp["public_key"], "fingerprint": kp["fingerprint"], "type": kp["type"]});
    if full {
        for k in [
            "user_id",
            "created_at",
            "updated_at",
            "deleted",
            "deleted_at",
        ] {
            v[k] = kp[k].clone();
        }
        v["id"] = json!(1);
    }
    v
}

fn find_keypair<'a>(st: &'a SimState, ctx: &Ctx, name: &str) -> Result<&'a Obj, ApiError> {
    st.nova
        .keypairs
        .get(name)
        .filter(|k| ctx.admin || str_of(k, "user_id") == ctx.user_id)
        .ok_or_else(|| {
            ApiError::nova(
                StatusCode::NOT_FOUND,
                format!("Keypair {name} not found for user {}", ctx.user_id),
            )
        })
}

async fn list_keypairs(State(s): St, Extension(ctx): Caller, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let (items, full) = page(&st.nova.keypairs, p.get("marker"), p.limit(), |k| {
        str_of(k, "user_id") == ctx.user_id
    });
    let out: Vec<Value> = items
        .iter()
        .map(|k| json!({"keypair": keypair_view(k, false)}))
        .collect();
    let mut body = json!({ "keypairs": out });
    if full {
        if let Some(last) = items.last() {
            body["keypairs_links"] = json!([next_link(
                &format!("{}/compute/v2.1/os-keypairs", st.base_url),
                &p,
                str_of(last, "name")
            )]);
        }
    }
    reply(StatusCode::OK, body)
}

async fn post_keypair(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "keypair")?;
    let kp = create_keypair(&mut s.lock(), &ctx, &obj)?;
    let mut view = keypair_view(&kp, false);
    view["user_id"] = kp["user_id"].clone();
    if let Some(private) = kp.get("_private") {
        view["private_key"] = private.clone();
    }
    let status = if microversion(&headers) >= (2, 2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply(status, json!({ "keypair": view })))
}

async fn get_keypair(
    State(s): St,
    Extension(ctx): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let kp = find_keypair(&st, &ctx, &name)?;
    Ok(reply(
        StatusCode::OK,
        json!({"keypair": keypair_view(kp, true)}),
    ))
}

async fn delete_keypair(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    find_keypair(&st, &ctx, &name)?;
    if st.take_conflict("keypair", &name) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Key pair '{name}' is in use (injected)."),
        ));
    }
    st.nova.keypairs.remove(&name);
    let status = if microversion(&headers) >= (2, 2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    };
    Ok(empty(status))
}

/// Creates a server group (`policies` before 2.64, `policy` from it).
pub fn create_server_group(st: &mut SimState, ctx: &Ctx, body: &Obj) -> Result<Obj, ApiError> {
    let name = str_of(body, "name").to_string();
    let policy = body
        .get("policy")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| body.get("policies").and_then(|p| p[0].as_str()).map(String::from))
        .ok_or_else(|| bad("Invalid input for field/attribute server_group. Value: policy is a required property"))?;
    let g = json!({"id": new_id(), "name": name, "policy": policy, "policies": [policy], "rules": {},
        "members": [], "metadata": {}, "project_id": ctx.project_id, "user_id": ctx.user_id});
    let Value::Object(g) = g else {
        return Err(bad("internal"));
    };
    st.nova.server_groups.insert(g.clone());
    Ok(g)
}

fn group_view(g: &Obj, mv: (u32, u32)) -> Value {
    let mut v = public(g);
    if let Value::Object(o) = &mut v {
        if mv >= (2, 64) {
            o.remove("policies");
            o.remove("metadata");
        } else {
            o.remove("policy");
            o.remove("rules");
        }
    }
    v
}

fn find_group<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.nova
        .server_groups
        .get(id)
        .filter(|g| ctx.owns(str_of(g, "project_id")))
        .ok_or_else(|| {
            ApiError::nova(
                StatusCode::NOT_FOUND,
                format!("Instance group {id} could not be found."),
            )
        })
}

async fn list_groups(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let p = Params::parse(q.as_deref());
    let mv = microversion(&headers);
    let st = s.lock();
    let (items, _) = page(&st.nova.server_groups, None, None, |g| {
        str_of(g, "project_id") == ctx.project_id || (ctx.admin && p.flag("all_projects"))
    });
    let offset: usize = p.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let limit = p.limit().unwrap_or(MAX_LIMIT);
    let out: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| group_view(g, mv))
        .collect();
    reply(StatusCode::OK, json!({ "server_groups": out }))
}

async fn post_group(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "server_group")?;
    let g = create_server_group(&mut s.lock(), &ctx, &obj)?;
    Ok(reply(
        StatusCode::OK,
        json!({"server_group": group_view(&g, microversion(&headers))}),
    ))
}

async fn get_group(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let g = find_group(&st, &ctx, &id)?;
    Ok(reply(
        StatusCode::OK,
        json!({"server_group": group_view(g, microversion(&headers))}),
    ))
}

async fn delete_group(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    find_group(&st, &ctx, &id)?;
    if st.take_conflict("server-group", &id) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Server group {id} is in use (injected)."),
        ));
    }
    st.nova.server_groups.remove(&id);
    Ok(empty(StatusCode::NO_CONTENT))
}

fn v21(base: &str) -> Value {
    json!({"id": "v2.1", "status": "CURRENT", "version": format!("{}.{}", MAX_MICROVERSION.0, MAX_MICROVERSION.1),
        "min_version": "2.1", "updated": "2013-07-23T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2.1/")}],
        "media-types": [{"base": "application/json", "type": "application/vnd.openstack.compute+json;version=2.1"}]})
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    let v2 = json!({"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "", "updated": "2011-01-21T11:33:21Z",
        "links": [{"rel": "self", "href": format!("{base}/compute/v2/")}]});
    reply(StatusCode::OK, json!({"versions": [v2, v21(&base)]}))
}

async fn version(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(StatusCode::OK, json!({ "version": v21(&base) }))
}

/// Echoes the negotiated microversion in the response headers, as Nova does.
async fn version_headers(req: Request, next: Next) -> Response {
    let (a, b) = microversion(req.headers());
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {a}.{b}")) {
        h.insert("openstack-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("{a}.{b}")) {
        h.insert("x-openstack-nova-api-version", v);
    }
    resp
}

/// Nova's routes under `/compute`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/servers", get(servers).post(post_server))
        .route("/servers/detail", get(servers_detail))
        .route(
            "/servers/{id}",
            get(get_server).put(put_server).delete(delete_server_h),
        )
        .route("/servers/{id}/action", post(server_action))
        .route(
            "/servers/{id}/tags",
            get(get_tags).put(put_tags).delete(delete_tags),
        )
        .route(
            "/servers/{id}/tags/{tag}",
            get(get_tag).put(put_tag).delete(delete_tag),
        )
        .route(
            "/servers/{id}/os-volume_attachments",
            get(list_attachments).post(attach_volume),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{vid}",
            axum::routing::delete(detach_volume),
        )
        .route("/servers/{id}/os-interface", get(list_interfaces))
        .route("/flavors", get(flavors))
        .route("/flavors/detail", get(flavors_detail))
        .route("/flavors/{id}", get(get_flavor))
        .route("/os-keypairs", get(list_keypairs).post(post_keypair))
        .route(
            "/os-keypairs/{name}",
            get(get_keypair).delete(delete_keypair),
        )
        .route("/os-server-groups", get(list_groups).post(post_group))
        .route(
            "/os-server-groups/{id}",
            get(get_group).delete(delete_group),
        )
        .route("/limits", get(limits::nova_limits));
    Router::new()
        .route("/compute", get(versions))
        .route("/compute/", get(versions))
        .route("/compute/v2.1", get(version))
        .route("/compute/v2.1/", get(version))
        .nest(
            "/compute/v2.1",
            protect(api, &shared).layer(middleware::from_fn(version_headers)),
        )
}
