//! Ports: addresses and MACs, security groups, the ports Neutron's L3 plugin owns, and
//! what happens to a port when its server goes.

use serde_json::{json, Value};

use super::indexes::{FIPS_BY_PORT, FORWARDINGS_BY_PORT};
use super::kind::NKind;
use super::state::{bad, conflict, owner_of, policy, std_attrs, touch, NeutronState};
use crate::error::ApiError;
use crate::store::{str_of, strs_of, Ctx, Obj};

/// Device owners of ports Neutron's L3 plugin owns; the port API refuses to delete them.
const ROUTER_OWNERS: [&str; 5] = [
    "network:router_interface",
    "network:router_gateway",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
    "network:floatingip",
];

/// Whether a port has an address on this subnet (what the subnet index files it under).
pub(super) fn port_on_subnet(port: &Obj, subnet_id: &str) -> bool {
    super::indexes::PORTS_BY_SUBNET.matches(port, subnet_id)
}

impl NeutronState {
    fn next_mac(&mut self) -> String {
        self.macs += 1;
        let m = self.macs;
        format!(
            "fa:16:3e:{:02x}:{:02x}:{:02x}",
            (m >> 16) & 0xff,
            (m >> 8) & 0xff,
            m & 0xff
        )
    }

    /// Creates a port; IPs come from the network's first subnet unless given.
    pub fn create_port(&mut self, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        let net_id = str_of(&body, "network_id").to_string();
        let net = self.find(NKind::Network, &net_id, ctx)?;
        let net_subnets = strs_of(net, "subnets");
        let project = owner_of(ctx, &body);
        let mut fixed = Vec::new();
        match body.get("fixed_ips").and_then(Value::as_array) {
            Some(wanted) => {
                for f in wanted {
                    let sub = f["subnet_id"]
                        .as_str()
                        .map(String::from)
                        .or_else(|| net_subnets.first().cloned());
                    let sub = sub.ok_or_else(|| bad("No subnet for the fixed IP."))?;
                    if !net_subnets.contains(&sub) {
                        return Err(bad(format!("Invalid input for operation: Failed to create port on network {net_id}, because fixed_ips included invalid subnet {sub}.")));
                    }
                    let ip = match f["ip_address"].as_str() {
                        Some(ip) => ip.to_string(),
                        None => self.alloc_ip(&sub)?,
                    };
                    fixed.push(json!({"subnet_id": sub, "ip_address": ip}));
                }
            }
            None => {
                if let Some(sub) = net_subnets.first() {
                    let ip = self.alloc_ip(sub)?;
                    fixed.push(json!({"subnet_id": sub, "ip_address": ip}));
                }
            }
        }
        let owner = str_of(&body, "device_owner").to_string();
        let sgs = match body.get("security_groups").and_then(Value::as_array) {
            Some(list) => {
                let mut ids = Vec::new();
                for g in list.iter().filter_map(Value::as_str) {
                    let id = self.resolve_sg(g, ctx)?;
                    ids.push(json!(id));
                }
                ids
            }
            None if owner.starts_with("network:") || owner == "Octavia" => Vec::new(),
            None => vec![json!(self.ensure_default_sg(&project))],
        };
        let mut o = std_attrs(&project, &body);
        let device_id = str_of(&body, "device_id").to_string();
        let active = !device_id.is_empty()
            && (owner.starts_with("compute:") || owner.starts_with("network:router"));
        o.insert("network_id".into(), json!(net_id));
        o.insert("mac_address".into(), json!(self.next_mac()));
        o.insert(
            "admin_state_up".into(),
            body.get("admin_state_up").cloned().unwrap_or(json!(true)),
        );
        o.insert(
            "status".into(),
            json!(if active { "ACTIVE" } else { "DOWN" }),
        );
        o.insert("device_id".into(), json!(device_id));
        o.insert("device_owner".into(), json!(owner));
        o.insert("fixed_ips".into(), Value::Array(fixed));
        o.insert("allowed_address_pairs".into(), json!([]));
        o.insert("extra_dhcp_opts".into(), json!([]));
        o.insert("security_groups".into(), Value::Array(sgs));
        o.insert(
            "port_security_enabled".into(),
            body.get("port_security_enabled")
                .cloned()
                .unwrap_or(json!(true)),
        );
        o.insert("binding:vnic_type".into(), json!("normal"));
        o.insert("binding:host_id".into(), json!(""));
        o.insert(
            "binding:vif_type".into(),
            json!(if active { "ovs" } else { "unbound" }),
        );
        o.insert("dns_name".into(), json!(""));
        o.insert("qos_policy_id".into(), Value::Null);
        self.ports.insert(o.clone());
        Ok(o)
    }

    /// Deletes a port; refused for Nova's ports (unless admin) and for the L3 plugin's.
    pub(super) fn delete_port(&mut self, ctx: &Ctx, id: &str, obj: &Obj) -> Result<(), ApiError> {
        let owner = str_of(obj, "device_owner");
        if owner.starts_with("compute:") && !ctx.admin {
            return Err(policy("delete_port"));
        }
        self.check_not_in_trunk(id)?;
        if ROUTER_OWNERS.contains(&owner) {
            return Err(conflict(
                "ServicePortInUse",
                format!("Port {id} cannot be deleted directly via the port API: has device owner {owner}."),
            ));
        }
        self.delete_port_internal(id);
        Ok(())
    }

    /// Removes a port without policy checks; floating IPs on it become unassociated and
    /// its port forwardings go with it.
    pub fn delete_port_internal(&mut self, id: &str) {
        if self.ports.remove(id).is_some() {
            self.drop_forwardings(&FORWARDINGS_BY_PORT, id);
            let on_port: Vec<String> = self
                .floatingips
                .by(&FIPS_BY_PORT, id)
                .into_iter()
                .map(|f| str_of(f, "id").to_string())
                .collect();
            for fip in on_port {
                if let Some(f) = self.floatingips.get_mut(&fip) {
                    NeutronState::disassociate(f);
                }
            }
        }
    }

    /// Leaves a port unbound (its server is gone but the port was passed in).
    pub fn unbind_port(&mut self, id: &str) {
        if let Some(p) = self.ports.get_mut(id) {
            p.insert("device_id".into(), json!(""));
            p.insert("device_owner".into(), json!(""));
            p.insert("status".into(), json!("DOWN"));
            p.insert("binding:host_id".into(), json!(""));
            p.insert("binding:vif_type".into(), json!("unbound"));
            touch(p);
        }
    }
}
