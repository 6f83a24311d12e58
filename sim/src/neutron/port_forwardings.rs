//! Floating IP port forwardings (`/floatingips/{id}/port_forwardings`, the
//! `floating-ip-port-forwarding` extension): list, create, show, delete. A forwarding
//! goes with its internal port; its floating IP can be neither released nor associated
//! with a port while it has one (409 `FipInUseByPortForwarding`). Creation does not check that
//! the internal port's subnet is routed to the floating IP's network.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::indexes::FORWARDINGS_BY_FIP;
use super::kind::NKind;
use super::state::{bad, NeutronState};
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, reply, Caller, St};
use crate::index::IndexDef;
use crate::store::{new_id, public, str_of, Ctx, Obj};

/// The extension's alias.
pub(super) const PORT_FORWARDING: &str = "floating-ip-port-forwarding";

fn not_found(id: &str) -> ApiError {
    ApiError::neutron(
        StatusCode::NOT_FOUND,
        "PortForwardingNotFound",
        format!("Port Forwarding {id} could not be found."),
    )
}

impl NeutronState {
    /// Removes the forwardings filed under `key` by `by` (their floating IP or internal
    /// port went).
    pub(super) fn drop_forwardings(&mut self, by: &IndexDef, key: &str) {
        let dropped: Vec<(String, String)> = self
            .port_forwardings
            .by(by, key)
            .into_iter()
            .map(|pf| (str_of(pf, "id").to_string(), str_of(pf, "_fip").to_string()))
            .collect();
        for (id, fip) in dropped {
            self.port_forwardings.remove(&id);
            self.show_forwardings_on_fip(&fip);
        }
    }

    /// Neutron's `expose-port-forwarding-in-fip`: a floating IP's own body lists its
    /// forwardings, with these fields only (no description, no ranges). Called after
    /// every change of a floating IP's forwardings.
    pub(super) fn show_forwardings_on_fip(&mut self, fip: &str) {
        let shown: Vec<Value> = self
            .port_forwardings
            .by(&FORWARDINGS_BY_FIP, fip)
            .into_iter()
            .filter(|pf| str_of(pf, "_fip") == fip)
            .map(|pf| {
                json!({"id": pf["id"], "internal_ip_address": pf["internal_ip_address"],
                    "protocol": pf["protocol"], "internal_port": pf["internal_port"],
                    "external_port": pf["external_port"],
                    "internal_port_id": pf["internal_port_id"]})
            })
            .collect();
        if let Some(o) = self.floatingips.get_mut(fip) {
            o.insert("port_forwardings".into(), Value::Array(shown));
        }
    }

    /// Neutron refuses to release a floating IP that has port forwardings, or to
    /// associate it with a port (409 `FipInUseByPortForwarding`, seen on the real bed).
    pub(super) fn refuse_if_forwarded(&self, fip: &str) -> Result<(), ApiError> {
        if self
            .port_forwardings
            .by(&FORWARDINGS_BY_FIP, fip)
            .into_iter()
            .any(|pf| str_of(pf, "_fip") == fip)
        {
            return Err(super::state::conflict(
                "FipInUseByPortForwarding",
                format!("Floating IP {fip} in use by Port Forwarding resources."),
            ));
        }
        Ok(())
    }

    /// The floating IP the caller sees, once the extension is known to be loaded.
    fn forwarding_fip(&self, ctx: &Ctx, fip: &str) -> Result<(), ApiError> {
        self.check_extension(PORT_FORWARDING)?;
        self.find(NKind::FloatingIp, fip, ctx).map(drop)
    }

    /// Creates a forwarding on a floating IP to a port of the caller's.
    pub fn create_port_forwarding(
        &mut self,
        ctx: &Ctx,
        fip: &str,
        body: &Obj,
    ) -> Result<Obj, ApiError> {
        self.forwarding_fip(ctx, fip)?;
        let port_id = str_of(body, "internal_port_id").to_string();
        let port = self.find(NKind::Port, &port_id, ctx)?;
        let ip = match body.get("internal_ip_address").and_then(Value::as_str) {
            Some(ip) => ip.to_string(),
            None => port["fixed_ips"][0]["ip_address"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        };
        let external = body.get("external_port").cloned().unwrap_or(Value::Null);
        let taken = self.port_forwardings.values().any(|pf| {
            str_of(pf, "_fip") == fip
                && pf["external_port"] == external
                && pf["protocol"] == body["protocol"]
        });
        if taken {
            return Err(bad(format!(
                "Bad port_forwarding request: A duplicate port forwarding entry with same attributes already exists, conflicting values are {{'floatingip_id': '{fip}', 'external_port': {external}}}."
            )));
        }
        let pf = json!({"id": new_id(), "external_port": external,
            "internal_port": body.get("internal_port").cloned().unwrap_or(Value::Null),
            "internal_ip_address": ip, "protocol": body.get("protocol").cloned().unwrap_or(json!("tcp")),
            "internal_port_id": port_id,
            "description": body.get("description").cloned().unwrap_or(json!("")),
            "_fip": fip});
        let Value::Object(pf) = pf else {
            return Err(bad("internal"));
        };
        self.port_forwardings.insert(pf.clone());
        self.show_forwardings_on_fip(fip);
        Ok(pf)
    }

    fn find_forwarding(&self, ctx: &Ctx, fip: &str, id: &str) -> Result<&Obj, ApiError> {
        self.forwarding_fip(ctx, fip)?;
        self.port_forwardings
            .get(id)
            .filter(|pf| str_of(pf, "_fip") == fip)
            .ok_or_else(|| not_found(id))
    }
}

pub(super) async fn list(
    State(s): St,
    Extension(ctx): Caller,
    Path(fip): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    st.neutron.forwarding_fip(&ctx, &fip)?;
    let items: Vec<Value> = st
        .neutron
        .port_forwardings
        .by(&FORWARDINGS_BY_FIP, &fip)
        .into_iter()
        .filter(|pf| str_of(pf, "_fip") == fip)
        .map(public)
        .collect();
    Ok(reply(StatusCode::OK, json!({ "port_forwardings": items })))
}

pub(super) async fn create(
    State(s): St,
    Extension(ctx): Caller,
    Path(fip): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Neutron, &body)?;
    let obj = body_obj(Style::Neutron, &body, "port_forwarding")?;
    let pf = s.lock().neutron.create_port_forwarding(&ctx, &fip, &obj)?;
    Ok(reply(
        StatusCode::CREATED,
        json!({ "port_forwarding": public(&pf) }),
    ))
}

pub(super) async fn show(
    State(s): St,
    Extension(ctx): Caller,
    Path((fip, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let pf = st.neutron.find_forwarding(&ctx, &fip, &id)?;
    Ok(reply(
        StatusCode::OK,
        json!({ "port_forwarding": public(pf) }),
    ))
}

pub(super) async fn delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((fip, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    st.neutron.find_forwarding(&ctx, &fip, &id)?;
    if st.take_conflict("port-forwarding", &id) {
        return Err(super::state::conflict(
            "Conflict",
            format!("port_forwarding {id} is in use (injected)."),
        ));
    }
    st.neutron.port_forwardings.remove(&id);
    st.neutron.show_forwardings_on_fip(&fip);
    Ok(empty(StatusCode::NO_CONTENT))
}
