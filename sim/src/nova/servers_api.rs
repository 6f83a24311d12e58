//! Nova's `/servers` handlers: the server as each microversion shows it, list filters
//! and pages, create, show, rename, delete and actions.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::common::{bad, find_server, microversion, parse_time, MAX_LIMIT};
use super::servers::{create_server, delete_server};
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, reply, Caller, St};
use crate::state::SimState;
use crate::store::{fmt_z, next_link, page, public, str_of, strs_of, Obj, Params, TagFilter};

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
    // `delete_on_termination` is shown from microversion 2.3; before, only the ID.
    let volumes: Vec<Value> = s
        .get("_volumes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|v| match mv >= (2, 3) {
            true => json!({"id": v["id"], "delete_on_termination": v["delete_on_termination"]}),
            false => json!({"id": v["id"]}),
        })
        .collect();
    out["os-extended-volumes:volumes_attached"] = Value::Array(volumes);
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

pub(super) async fn servers(
    st: St,
    ctx: Caller,
    headers: HeaderMap,
    q: RawQuery,
) -> Result<Response, ApiError> {
    list_servers(st, ctx, headers, q, false).await
}

pub(super) async fn servers_detail(
    st: St,
    ctx: Caller,
    headers: HeaderMap,
    q: RawQuery,
) -> Result<Response, ApiError> {
    list_servers(st, ctx, headers, q, true).await
}

pub(super) async fn post_server(
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

pub(super) async fn get_server(
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

pub(super) async fn put_server(
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

pub(super) async fn delete_server_h(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let jobs = delete_server(&mut s.lock(), &ctx, &id)?;
    s.run_jobs(jobs);
    Ok(empty(StatusCode::NO_CONTENT))
}

pub(super) async fn server_action(
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
