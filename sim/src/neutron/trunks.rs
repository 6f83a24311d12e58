//! Trunks (the `trunk` extension): a parent port and VLAN sub-ports. The sub-ports are
//! marked `trunk:subport` with the trunk as device; deleting a trunk whose parent port
//! is bound to a live server is refused (409 `TrunkInUse`), so are deletes of a parent
//! port (409 `PortInUseAsTrunkParent`) or an attached sub-port (409
//! `PortInUseAsSubPort`). `PUT /trunks/{id}/remove_subports` frees sub-ports.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::kind::NKind;
use super::state::{bad, conflict, owner_of, std_attrs, touch, NeutronState};
use crate::error::ApiError;
use crate::store::{str_of, Ctx, Obj};

/// The extension's alias.
pub(super) const TRUNK: &str = "trunk";

/// `{"port_id": ...}` entries of a `sub_ports` list.
fn sub_port_ids(body: &Value) -> Result<Vec<(String, Value)>, ApiError> {
    let list = match body.get("sub_ports") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err(bad("Invalid input for sub_ports. Reason: not a list.")),
    };
    list.iter()
        .map(|s| match s.get("port_id").and_then(Value::as_str) {
            Some(p) => Ok((p.to_string(), s.clone())),
            None => Err(bad(
                "Invalid input for sub_ports. Reason: port_id is missing.",
            )),
        })
        .collect()
}

impl NeutronState {
    /// The trunk a port is the parent of, or a sub-port of.
    fn trunk_of(&self, port_id: &str) -> Option<(String, bool)> {
        self.trunks.values().find_map(|t| {
            let id = str_of(t, "id").to_string();
            if str_of(t, "port_id") == port_id {
                return Some((id, true));
            }
            let sub = t["sub_ports"]
                .as_array()
                .is_some_and(|l| l.iter().any(|s| s["port_id"] == port_id));
            sub.then_some((id, false))
        })
    }

    /// Refuses to delete a port a trunk uses, as Neutron's trunk plugin does.
    pub(super) fn check_not_in_trunk(&self, port_id: &str) -> Result<(), ApiError> {
        match self.trunk_of(port_id) {
            Some((trunk, true)) => Err(conflict(
                "PortInUseAsTrunkParent",
                format!("Port {port_id} is currently a parent port for trunk {trunk}."),
            )),
            Some((trunk, false)) => Err(conflict(
                "PortInUseAsSubPort",
                format!("Port {port_id} is currently a subport for trunk {trunk}."),
            )),
            None => Ok(()),
        }
    }

    /// Creates a trunk on a parent port, with sub-ports if given.
    pub fn create_trunk(&mut self, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        let parent = str_of(&body, "port_id").to_string();
        let parent_port = self.find(NKind::Port, &parent, ctx)?;
        let bound = !str_of(parent_port, "device_id").is_empty();
        let subs = sub_port_ids(&Value::Object(body.clone()))?;
        for port in std::iter::once(&parent).chain(subs.iter().map(|(p, _)| p)) {
            self.find(NKind::Port, port, ctx)?;
            if self.trunk_of(port).is_some() {
                return Err(conflict(
                    "TrunkPortInUse",
                    format!("Port {port} is in use by another trunk."),
                ));
            }
        }
        let mut o = std_attrs(&owner_of(ctx, &body), &body);
        let id = str_of(&o, "id").to_string();
        o.insert("port_id".into(), json!(parent));
        o.insert(
            "admin_state_up".into(),
            body.get("admin_state_up").cloned().unwrap_or(json!(true)),
        );
        o.insert(
            "status".into(),
            json!(if bound { "ACTIVE" } else { "DOWN" }),
        );
        o.insert(
            "sub_ports".into(),
            Value::Array(subs.iter().map(|(_, s)| s.clone()).collect()),
        );
        for (port, _) in &subs {
            self.set_subport(port, &id);
        }
        self.trunks.insert(o.clone());
        Ok(o)
    }

    /// Marks a port as a sub-port of `trunk` (or frees it with an empty trunk).
    fn set_subport(&mut self, port: &str, trunk: &str) {
        if let Some(p) = self.ports.get_mut(port) {
            let owner = if trunk.is_empty() {
                ""
            } else {
                "trunk:subport"
            };
            p.insert("device_owner".into(), json!(owner));
            p.insert("device_id".into(), json!(trunk));
            touch(p);
        }
    }

    /// Deletes a trunk: refused while its parent port is bound to a server; frees the
    /// sub-ports.
    pub(super) fn delete_trunk(&mut self, id: &str, obj: &Obj) -> Result<(), ApiError> {
        let parent = self.ports.get(str_of(obj, "port_id"));
        let in_use = parent.is_some_and(|p| {
            str_of(p, "device_owner").starts_with("compute:") && !str_of(p, "device_id").is_empty()
        });
        if in_use {
            return Err(conflict(
                "TrunkInUse",
                format!("Trunk {id} is currently in use."),
            ));
        }
        let subs = sub_port_ids(&Value::Object(obj.clone()))?;
        for (port, _) in subs {
            self.set_subport(&port, "");
        }
        self.trunks.remove(id);
        Ok(())
    }

    /// `PUT /trunks/{id}/remove_subports`: the trunk as the answer (not wrapped).
    pub fn remove_subports(
        &mut self,
        ctx: &Ctx,
        id: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        self.find_owned(NKind::Trunk, id, ctx, "remove_subports")?;
        let wanted = sub_port_ids(body)?;
        let trunk = self
            .trunks
            .get(id)
            .ok_or_else(|| NKind::Trunk.not_found(id))?;
        let current = trunk["sub_ports"].as_array().cloned().unwrap_or_default();
        for (port, _) in &wanted {
            if !current.iter().any(|s| s["port_id"] == port.as_str()) {
                return Err(ApiError::neutron(
                    StatusCode::NOT_FOUND,
                    "SubPortNotFound",
                    format!("SubPort {port} could not be found for trunk {id}."),
                ));
            }
        }
        for (port, _) in &wanted {
            self.set_subport(port, "");
        }
        let trunk = self
            .trunks
            .get_mut(id)
            .ok_or_else(|| NKind::Trunk.not_found(id))?;
        let kept: Vec<Value> = current
            .into_iter()
            .filter(|s| !wanted.iter().any(|(p, _)| s["port_id"] == p.as_str()))
            .collect();
        trunk.insert("sub_ports".into(), Value::Array(kept));
        touch(trunk);
        Ok(crate::store::public(trunk))
    }
}
