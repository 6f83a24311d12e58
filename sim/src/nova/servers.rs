//! A server's lifecycle over the whole state: boot (ports on networks or given ports,
//! boot volumes, keypair, group, tags), and the asynchronous delete that removes the ports
//! Nova created and frees the volumes only after the server is gone.

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::common::{bad, find_server, not_found, server_not_found};
use crate::error::{ApiError, Style};
use crate::state::{Job, SimState};
use crate::store::{fmt_micro, fmt_z, new_id, str_of, strs_of, Ctx, Obj};

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
