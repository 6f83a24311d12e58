//! Routers: the external gateway on `public`, interfaces on subnets or ports, and what
//! blocks a router's deletion.

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::kind::NKind;
use super::ports::port_on_subnet;
use super::state::{bad, conflict, owner_of, std_attrs, touch, NeutronState};
use crate::error::ApiError;
use crate::store::{str_of, strs_of, Ctx, Obj};

impl NeutronState {
    /// Creates a router, with an external gateway if asked.
    pub fn create_router(&mut self, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        let mut o = std_attrs(&owner_of(ctx, &body), &body);
        o.insert("status".into(), json!("ACTIVE"));
        o.insert(
            "admin_state_up".into(),
            body.get("admin_state_up").cloned().unwrap_or(json!(true)),
        );
        o.insert("external_gateway_info".into(), Value::Null);
        o.insert("routes".into(), json!([]));
        o.insert("distributed".into(), json!(false));
        o.insert("ha".into(), json!(false));
        o.insert("availability_zone_hints".into(), json!([]));
        o.insert("availability_zones".into(), json!(["nova"]));
        o.insert("flavor_id".into(), Value::Null);
        let id = self.routers.insert(o);
        if let Some(gw) = body.get("external_gateway_info").filter(|g| !g.is_null()) {
            if let Err(e) = self.set_gateway(ctx, &id, gw) {
                self.routers.remove(&id);
                return Err(e);
            }
        }
        self.routers
            .get(&id)
            .cloned()
            .ok_or_else(|| NKind::Router.not_found(&id))
    }

    /// Sets (or with no `network_id`, clears) a router's external gateway.
    pub(super) fn set_gateway(
        &mut self,
        ctx: &Ctx,
        router_id: &str,
        gw: &Value,
    ) -> Result<(), ApiError> {
        let router = self
            .find_owned(NKind::Router, router_id, ctx, "update")?
            .clone();
        let net_id = gw
            .get("network_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let current = router
            .get("external_gateway_info")
            .cloned()
            .unwrap_or(Value::Null);
        let current_net = current
            .get("network_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        if !current_net.is_empty() && current_net != net_id {
            let used = self
                .floatingips
                .values()
                .any(|f| str_of(f, "router_id") == router_id);
            if used {
                return Err(conflict(
                    "RouterExternalGatewayInUseByFloatingIp",
                    format!("Gateway cannot be updated for router {router_id}, since a gateway to external network {current_net} is required by one or more floating IPs."),
                ));
            }
        }
        if current_net == net_id {
            return Ok(());
        }
        if let Some(old) = router.get("_gw_port").and_then(Value::as_str) {
            self.ports.remove(old);
        }
        let mut info = Value::Null;
        let mut gw_port = Value::Null;
        if !net_id.is_empty() {
            let external = self
                .networks
                .get(&net_id)
                .is_some_and(|n| n.get("router:external") == Some(&json!(true)));
            if !external {
                return Err(bad(format!(
                    "Bad router request: Network {net_id} is not an external network."
                )));
            }
            let body = json!({"network_id": net_id, "device_owner": "network:router_gateway", "device_id": router_id, "project_id": ""});
            let admin = Ctx {
                project_id: String::new(),
                user_id: String::new(),
                admin: true,
            };
            let port = self.create_port(&admin, body.as_object().cloned().unwrap_or_default())?;
            info = json!({"network_id": net_id, "enable_snat": true, "external_fixed_ips": port["fixed_ips"]});
            gw_port = json!(str_of(&port, "id"));
        }
        if let Some(r) = self.routers.get_mut(router_id) {
            r.insert("external_gateway_info".into(), info);
            r.insert("_gw_port".into(), gw_port);
            touch(r);
        }
        Ok(())
    }

    /// The router's interface ports, from its private `_interfaces` list (kept by
    /// add/remove_router_interface, so no scan of every port), checked against the ports.
    pub(super) fn interface_ports(&self, router_id: &str) -> Vec<&Obj> {
        let listed = self
            .routers
            .get(router_id)
            .map(|r| strs_of(r, "_interfaces"))
            .unwrap_or_default();
        listed
            .iter()
            .filter_map(|id| self.ports.get(id))
            .filter(|p| {
                str_of(p, "device_id") == router_id
                    && str_of(p, "device_owner").starts_with("network:router_interface")
            })
            .collect()
    }

    /// Records (`add`) or forgets an interface port in the router's `_interfaces`.
    fn note_interface(&mut self, router_id: &str, port_id: &str, add: bool) {
        if let Some(r) = self.routers.get_mut(router_id) {
            let mut list = strs_of(r, "_interfaces");
            list.retain(|p| p != port_id);
            if add {
                list.push(port_id.to_string());
            }
            r.insert("_interfaces".into(), json!(list));
            touch(r);
        }
    }

    /// `PUT /routers/{id}/add_router_interface` with a `subnet_id` or a `port_id`.
    pub fn add_router_interface(
        &mut self,
        ctx: &Ctx,
        router_id: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let router = self.find_owned(NKind::Router, router_id, ctx, "add_router_interface")?;
        let project = str_of(router, "project_id").to_string();
        let port_id = if let Some(sub_id) = body.get("subnet_id").and_then(Value::as_str) {
            let sub = self.find(NKind::Subnet, sub_id, ctx)?;
            let gateway = sub
                .get("gateway_ip")
                .and_then(Value::as_str)
                .map(String::from);
            let net_id = str_of(sub, "network_id").to_string();
            let gateway = gateway.ok_or_else(|| {
                bad("Bad router request: Subnet for router interface must have a gateway IP.")
            })?;
            let dup = self
                .interface_ports(router_id)
                .iter()
                .any(|p| port_on_subnet(p, sub_id));
            if dup {
                return Err(bad(format!(
                    "Bad router request: Router already has a port on subnet {sub_id}."
                )));
            }
            let body = json!({"network_id": net_id, "fixed_ips": [{"subnet_id": sub_id, "ip_address": gateway}],
                "device_owner": "network:router_interface", "device_id": router_id, "project_id": project});
            let admin = Ctx {
                project_id: project.clone(),
                user_id: String::new(),
                admin: true,
            };
            let port = self.create_port(&admin, body.as_object().cloned().unwrap_or_default())?;
            str_of(&port, "id").to_string()
        } else if let Some(port_id) = body.get("port_id").and_then(Value::as_str) {
            let port = self.find(NKind::Port, port_id, ctx)?;
            if !str_of(port, "device_id").is_empty() {
                return Err(conflict(
                    "PortInUse",
                    format!("Unable to complete operation on port {port_id} for network {}. Port already has an attached device {}.", str_of(port, "network_id"), str_of(port, "device_id")),
                ));
            }
            let p = self
                .ports
                .get_mut(port_id)
                .ok_or_else(|| NKind::Port.not_found(port_id))?;
            p.insert("device_owner".into(), json!("network:router_interface"));
            p.insert("device_id".into(), json!(router_id));
            p.insert("security_groups".into(), json!([]));
            p.insert("status".into(), json!("ACTIVE"));
            touch(p);
            port_id.to_string()
        } else {
            return Err(bad(
                "Bad router request: Either subnet_id or port_id must be specified.",
            ));
        };
        self.note_interface(router_id, &port_id, true);
        Ok(self.interface_info(router_id, &port_id, &project))
    }

    fn interface_info(&self, router_id: &str, port_id: &str, project: &str) -> Value {
        let port = self.ports.get(port_id).cloned().unwrap_or_default();
        let subnets: Vec<Value> = port["fixed_ips"]
            .as_array()
            .map(|f| f.iter().map(|x| x["subnet_id"].clone()).collect())
            .unwrap_or_default();
        json!({"id": router_id, "tenant_id": project, "project_id": project, "port_id": port_id,
            "network_id": str_of(&port, "network_id"), "subnet_id": subnets.first().cloned().unwrap_or(Value::Null),
            "subnet_ids": subnets, "tags": []})
    }

    /// `PUT /routers/{id}/remove_router_interface`.
    pub fn remove_router_interface(
        &mut self,
        ctx: &Ctx,
        router_id: &str,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let router = self.find_owned(NKind::Router, router_id, ctx, "remove_router_interface")?;
        let project = str_of(router, "project_id").to_string();
        let ports = self.interface_ports(router_id);
        let port = if let Some(sub_id) = body.get("subnet_id").and_then(Value::as_str) {
            ports
                .into_iter()
                .find(|p| port_on_subnet(p, sub_id))
                .ok_or_else(|| {
                    ApiError::neutron(
                        StatusCode::NOT_FOUND,
                        "RouterInterfaceNotFoundForSubnet",
                        format!("Router {router_id} has no interface on subnet {sub_id}"),
                    )
                })?
        } else if let Some(port_id) = body.get("port_id").and_then(Value::as_str) {
            ports
                .into_iter()
                .find(|p| str_of(p, "id") == port_id)
                .ok_or_else(|| {
                    ApiError::neutron(
                        StatusCode::NOT_FOUND,
                        "RouterInterfaceNotFound",
                        format!("Router {router_id} does not have an interface with id {port_id}"),
                    )
                })?
        } else {
            return Err(bad(
                "Bad router request: Either subnet_id or port_id must be specified.",
            ));
        };
        let port_id = str_of(port, "id").to_string();
        let subnets: Vec<String> = port["fixed_ips"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|x| x["subnet_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let routes: Vec<String> = self
            .routers
            .get(router_id)
            .and_then(|r| r["routes"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|r| r["nexthop"].as_str().map(String::from))
            .collect();
        for sub in &subnets {
            let cidr = self.subnets.get(sub).map(|s| str_of(s, "cidr").to_string());
            let routed =
                cidr.is_some_and(|c| routes.iter().any(|h| super::networks::in_cidr(h, &c)));
            if routed {
                return Err(conflict(
                    "RouterInterfaceInUseByRoute",
                    format!("Router interface for subnet {sub} on router {router_id} cannot be deleted, as it is required by one or more routes."),
                ));
            }
            let used = self
                .floatingips
                .by(&super::indexes::FIPS_BY_ROUTER, router_id)
                .into_iter()
                .any(|f| {
                    str_of(f, "router_id") == router_id
                        && self
                            .ports
                            .get(str_of(f, "port_id"))
                            .is_some_and(|p| port_on_subnet(p, sub))
                });
            if used {
                return Err(conflict(
                    "RouterInterfaceInUseByFloatingIP",
                    format!("Router interface for subnet {sub} on router {router_id} cannot be deleted, as it is required by one or more floating IPs."),
                ));
            }
        }
        let info = self.interface_info(router_id, &port_id, &project);
        self.ports.remove(&port_id);
        self.note_interface(router_id, &port_id, false);
        Ok(info)
    }

    /// Deletes a router and its gateway; refused while interfaces are attached.
    pub(super) fn delete_router(&mut self, ctx: &Ctx, id: &str) -> Result<(), ApiError> {
        let ports: Vec<String> = self
            .interface_ports(id)
            .iter()
            .map(|p| str_of(p, "id").to_string())
            .collect();
        if !ports.is_empty() {
            return Err(conflict(
                "RouterInUse",
                format!("Router {id} has ports still attached: {}", ports.join(", ")),
            ));
        }
        self.set_gateway(ctx, id, &json!({}))?;
        self.routers.remove(id);
        Ok(())
    }
}
