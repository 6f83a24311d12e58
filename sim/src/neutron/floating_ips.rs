//! Floating IPs: allocated on `public`, associated with a port reachable through a
//! router, and released.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::kind::NKind;
use super::ports::port_on_subnet;
use super::state::{bad, owner_of, std_attrs, touch, NeutronState};
use crate::error::ApiError;
use crate::store::{str_of, Ctx, Obj};

impl NeutronState {
    /// Creates a floating IP on an external network, associated if a port is given.
    pub fn create_floatingip(&mut self, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        let net_id = str_of(&body, "floating_network_id").to_string();
        let external = self
            .networks
            .get(&net_id)
            .is_some_and(|n| n.get("router:external") == Some(&json!(true)));
        if !external {
            return Err(bad(format!(
                "Bad floatingip request: Network {net_id} is not a valid external network."
            )));
        }
        let mut o = std_attrs(&owner_of(ctx, &body), &body);
        o.remove("name");
        let admin = Ctx {
            project_id: String::new(),
            user_id: String::new(),
            admin: true,
        };
        let port_body = json!({"network_id": net_id, "device_owner": "network:floatingip", "device_id": o["id"], "project_id": ""});
        let port = self.create_port(&admin, port_body.as_object().cloned().unwrap_or_default())?;
        let ip = port["fixed_ips"][0]["ip_address"].clone();
        o.insert("floating_ip_address".into(), ip);
        o.insert("floating_network_id".into(), json!(net_id));
        o.insert("router_id".into(), Value::Null);
        o.insert("port_id".into(), Value::Null);
        o.insert("fixed_ip_address".into(), Value::Null);
        o.insert("status".into(), json!("DOWN"));
        o.insert("port_details".into(), Value::Null);
        o.insert("port_forwardings".into(), json!([]));
        o.insert("qos_policy_id".into(), Value::Null);
        o.insert("_port".into(), json!(str_of(&port, "id")));
        let id = self.floatingips.insert(o);
        if let Some(port_id) = body.get("port_id").and_then(Value::as_str) {
            if let Err(e) = self.associate(ctx, &id, port_id) {
                self.delete_floatingip_internal(&id);
                return Err(e);
            }
        }
        self.floatingips
            .get(&id)
            .cloned()
            .ok_or_else(|| NKind::FloatingIp.not_found(&id))
    }

    pub(super) fn associate(
        &mut self,
        ctx: &Ctx,
        fip_id: &str,
        port_id: &str,
    ) -> Result<(), ApiError> {
        let port = self.find(NKind::Port, port_id, ctx)?;
        let fip = self
            .floatingips
            .get(fip_id)
            .ok_or_else(|| NKind::FloatingIp.not_found(fip_id))?;
        let ext_net = str_of(fip, "floating_network_id").to_string();
        let fixed = port["fixed_ips"][0].clone();
        let sub = fixed["subnet_id"].as_str().unwrap_or("").to_string();
        let router = self
            .routers
            .values()
            .filter(|r| r["external_gateway_info"]["network_id"].as_str() == Some(&ext_net))
            .find(|r| {
                self.interface_ports(str_of(r, "id"))
                    .iter()
                    .any(|p| port_on_subnet(p, &sub))
            })
            .map(|r| str_of(r, "id").to_string());
        let router = router.ok_or_else(|| {
            ApiError::neutron(
                StatusCode::NOT_FOUND,
                "ExternalGatewayForFloatingIPNotFound",
                format!("External network {ext_net} is not reachable from subnet {sub}.  Therefore, cannot associate Port {port_id} with a Floating IP."),
            )
        })?;
        if let Some(f) = self.floatingips.get_mut(fip_id) {
            f.insert("port_id".into(), json!(port_id));
            f.insert("fixed_ip_address".into(), fixed["ip_address"].clone());
            f.insert("router_id".into(), json!(router));
            f.insert("status".into(), json!("ACTIVE"));
            touch(f);
        }
        Ok(())
    }

    pub(super) fn disassociate(f: &mut Obj) {
        f.insert("port_id".into(), Value::Null);
        f.insert("fixed_ip_address".into(), Value::Null);
        f.insert("router_id".into(), Value::Null);
        f.insert("status".into(), json!("DOWN"));
        touch(f);
    }

    /// Releases a floating IP; its port forwardings go with it.
    pub(super) fn delete_floatingip_internal(&mut self, id: &str) {
        if let Some(f) = self.floatingips.remove(id) {
            self.drop_forwardings(&super::indexes::FORWARDINGS_BY_FIP, id);
            self.ports.remove(str_of(&f, "_port"));
        }
    }
}
