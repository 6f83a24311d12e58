//! Neutron's model: every resource, and the rules the real Neutron enforces on them
//! (visibility, policy refusals, conflicts).

use std::collections::HashMap;

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::kind::NKind;
use crate::error::ApiError;
use crate::store::{
    field_matches, fmt_z, new_id, next_link, page, str_of, strs_of, Ctx, Listing, Obj, Params,
    Table, TagFilter,
};

/// Device owners of ports Neutron's L3 plugin owns; the port API refuses to delete them.
const ROUTER_OWNERS: [&str; 5] = [
    "network:router_interface",
    "network:router_gateway",
    "network:router_interface_distributed",
    "network:ha_router_replicated_interface",
    "network:floatingip",
];
pub(super) fn policy(action: &str) -> ApiError {
    ApiError::neutron(
        StatusCode::FORBIDDEN,
        "PolicyNotAuthorized",
        format!("rule:{action} is disallowed by policy"),
    )
}

pub(super) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::neutron(StatusCode::BAD_REQUEST, "HTTPBadRequest", msg)
}

pub(super) fn conflict(ty: &str, msg: impl Into<String>) -> ApiError {
    ApiError::neutron(StatusCode::CONFLICT, ty, msg)
}

/// All of Neutron's resources.
#[derive(Debug, Default)]
pub struct NeutronState {
    /// Networks.
    pub networks: Table,
    /// Subnets.
    pub subnets: Table,
    /// Ports.
    pub ports: Table,
    /// Routers.
    pub routers: Table,
    /// Floating IPs.
    pub floatingips: Table,
    /// Security groups.
    pub security_groups: Table,
    /// Security group rules.
    pub security_group_rules: Table,
    /// The admin-owned external network `public`.
    pub public_network_id: String,
    /// Its subnet `public-subnet`.
    pub public_subnet_id: String,
    /// Next host number to hand out, per subnet.
    next_host: HashMap<String, u32>,
    macs: u64,
}

/// Id, project, name, description, tags and timestamps every Neutron resource has.
fn std_attrs(project: &str, body: &Obj) -> Obj {
    let now = fmt_z(Timestamp::now());
    let mut o = Obj::new();
    o.insert("id".into(), json!(new_id()));
    o.insert("name".into(), json!(str_of(body, "name")));
    o.insert("description".into(), json!(str_of(body, "description")));
    o.insert("project_id".into(), json!(project));
    o.insert("tenant_id".into(), json!(project));
    o.insert("tags".into(), json!(strs_of(body, "tags")));
    o.insert("created_at".into(), json!(now));
    o.insert("updated_at".into(), json!(now));
    o.insert("revision_number".into(), json!(0));
    o
}

/// Marks a resource changed: newer `updated_at`, higher `revision_number`.
pub(super) fn touch(o: &mut Obj) {
    o.insert("updated_at".into(), json!(fmt_z(Timestamp::now())));
    let rev = o
        .get("revision_number")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    o.insert("revision_number".into(), json!(rev + 1));
}

/// The project a create is for: the caller's, or any one an admin names.
fn owner_of(ctx: &Ctx, body: &Obj) -> String {
    let asked = body
        .get("project_id")
        .or_else(|| body.get("tenant_id"))
        .and_then(Value::as_str);
    match asked {
        Some(p) if ctx.admin => p.to_string(),
        _ => ctx.project_id.clone(),
    }
}

fn parse_v4(cidr: &str) -> Option<(u32, u32)> {
    let (addr, len) = cidr.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    (len <= 32).then_some((u32::from(ip), len))
}

fn host_addr(cidr: &str, host: u32) -> Option<String> {
    if let Some((base, len)) = parse_v4(cidr) {
        let size = if len == 32 { 1 } else { 1u64 << (32 - len) };
        if u64::from(host) + 1 >= size {
            return None;
        }
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        return Some(std::net::Ipv4Addr::from((base & mask) + host).to_string());
    }
    let (addr, _) = cidr.split_once('/')?;
    Some(format!(
        "{}{host:x}",
        addr.trim_end_matches(':').to_string() + "::"
    ))
}

impl NeutronState {
    /// Neutron with the admin-owned external network `public` and its subnet.
    pub(crate) fn new(admin_project: &str) -> NeutronState {
        let mut n = NeutronState::default();
        let admin = Ctx {
            project_id: admin_project.into(),
            user_id: String::new(),
            admin: true,
        };
        let net =
            json!({"name": "public", "router:external": true, "description": "external network"});
        if let Ok(net) = n.create_network(&admin, net.as_object().cloned().unwrap_or_default()) {
            let net_id = str_of(&net, "id").to_string();
            let sub = json!({"name": "public-subnet", "network_id": net_id, "cidr": "172.24.0.0/16", "ip_version": 4});
            if let Ok(sub) = n.create_subnet(&admin, sub.as_object().cloned().unwrap_or_default()) {
                n.public_subnet_id = str_of(&sub, "id").to_string();
                // Addresses start at 172.24.4.2 as devstack's do; the /16 leaves room for
                // the thousands of floating IPs and gateways of large scale scenarios.
                n.next_host.insert(n.public_subnet_id.clone(), 4 * 256 + 2);
            }
            n.public_network_id = net_id;
        }
        n
    }

    /// The table of a kind.
    pub fn table(&self, k: NKind) -> &Table {
        match k {
            NKind::Network => &self.networks,
            NKind::Subnet => &self.subnets,
            NKind::Port => &self.ports,
            NKind::Router => &self.routers,
            NKind::FloatingIp => &self.floatingips,
            NKind::SecurityGroup => &self.security_groups,
            NKind::SecurityGroupRule => &self.security_group_rules,
        }
    }

    pub(super) fn table_mut(&mut self, k: NKind) -> &mut Table {
        match k {
            NKind::Network => &mut self.networks,
            NKind::Subnet => &mut self.subnets,
            NKind::Port => &mut self.ports,
            NKind::Router => &mut self.routers,
            NKind::FloatingIp => &mut self.floatingips,
            NKind::SecurityGroup => &mut self.security_groups,
            NKind::SecurityGroupRule => &mut self.security_group_rules,
        }
    }

    fn net_is_public(&self, net_id: &str) -> bool {
        self.networks.get(net_id).is_some_and(|n| {
            n.get("shared") == Some(&json!(true)) || n.get("router:external") == Some(&json!(true))
        })
    }

    /// Whether the caller can see this resource (own project, shared or external nets).
    fn visible(&self, k: NKind, obj: &Obj, ctx: &Ctx) -> bool {
        if ctx.owns(str_of(obj, "project_id")) {
            return true;
        }
        match k {
            NKind::Network => self.net_is_public(str_of(obj, "id")),
            NKind::Subnet => self.net_is_public(str_of(obj, "network_id")),
            _ => false,
        }
    }

    /// A resource the caller can see, or the kind's 404.
    pub(super) fn find(&self, k: NKind, id: &str, ctx: &Ctx) -> Result<&Obj, ApiError> {
        self.table(k)
            .get(id)
            .filter(|o| self.visible(k, o, ctx))
            .ok_or_else(|| k.not_found(id))
    }

    /// A resource the caller owns: 404 if unseen, 403 if seen but someone else's.
    pub(super) fn find_owned(
        &self,
        k: NKind,
        id: &str,
        ctx: &Ctx,
        action: &str,
    ) -> Result<&Obj, ApiError> {
        let obj = self.find(k, id, ctx)?;
        if !ctx.owns(str_of(obj, "project_id")) {
            return Err(policy(&format!("{action}_{}", k.single())));
        }
        Ok(obj)
    }

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

    fn alloc_ip(&mut self, subnet_id: &str) -> Result<String, ApiError> {
        let cidr = self
            .subnets
            .get(subnet_id)
            .map(|s| str_of(s, "cidr").to_string())
            .ok_or_else(|| NKind::Subnet.not_found(subnet_id))?;
        let next = self.next_host.entry(subnet_id.to_string()).or_insert(2);
        let ip = host_addr(&cidr, *next).ok_or_else(|| {
            conflict(
                "IpAddressGenerationFailure",
                format!("No more IP addresses available on network {subnet_id}."),
            )
        })?;
        *next += 1;
        Ok(ip)
    }

    /// The `default` security group of a project, created on first need as Neutron does.
    pub fn ensure_default_sg(&mut self, project: &str) -> String {
        let existing = self
            .security_groups
            .values()
            .find(|g| str_of(g, "project_id") == project && str_of(g, "name") == "default")
            .map(|g| str_of(g, "id").to_string());
        if let Some(id) = existing {
            return id;
        }
        let ctx = Ctx {
            project_id: project.into(),
            user_id: String::new(),
            admin: false,
        };
        let body = json!({"name": "default", "description": "Default security group"});
        let sg = self.create_security_group(&ctx, body.as_object().cloned().unwrap_or_default());
        let id = str_of(&sg, "id").to_string();
        for ethertype in ["IPv4", "IPv6"] {
            let rule = json!({"security_group_id": id, "direction": "ingress", "ethertype": ethertype, "remote_group_id": id});
            let _ = self.create_rule(&ctx, rule.as_object().cloned().unwrap_or_default());
        }
        id
    }

    /// Creates a network.
    pub fn create_network(&mut self, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        let external = body.get("router:external") == Some(&json!(true));
        if (external || body.contains_key("provider:network_type")) && !ctx.admin {
            return Err(policy("create_network:router:external"));
        }
        let mut o = std_attrs(&owner_of(ctx, &body), &body);
        o.insert("status".into(), json!("ACTIVE"));
        o.insert("subnets".into(), json!([]));
        o.insert(
            "admin_state_up".into(),
            body.get("admin_state_up").cloned().unwrap_or(json!(true)),
        );
        o.insert(
            "shared".into(),
            body.get("shared").cloned().unwrap_or(json!(false)),
        );
        o.insert("router:external".into(), json!(external));
        o.insert(
            "mtu".into(),
            body.get("mtu").cloned().unwrap_or(json!(1442)),
        );
        o.insert(
            "port_security_enabled".into(),
            body.get("port_security_enabled")
                .cloned()
                .unwrap_or(json!(true)),
        );
        o.insert("availability_zone_hints".into(), json!([]));
        o.insert("availability_zones".into(), json!(["nova"]));
        o.insert("ipv4_address_scope".into(), Value::Null);
        o.insert("ipv6_address_scope".into(), Value::Null);
        o.insert("l2_adjacency".into(), json!(true));
        o.insert("is_default".into(), json!(false));
        o.insert("qos_policy_id".into(), Value::Null);
        self.networks.insert(o.clone());
        Ok(o)
    }

    /// Creates a subnet on a network the caller owns.
    pub fn create_subnet(&mut self, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        let net_id = str_of(&body, "network_id").to_string();
        if net_id.is_empty() {
            return Err(bad(
                "Invalid input for network_id. Reason: 'None' is not a valid UUID.",
            ));
        }
        self.find_owned(NKind::Network, &net_id, ctx, "create")?;
        let cidr = str_of(&body, "cidr").to_string();
        let v6 = cidr.contains(':');
        if cidr.is_empty() || (!v6 && parse_v4(&cidr).is_none()) {
            return Err(bad(format!(
                "Invalid input for cidr. Reason: '{cidr}' is not a valid IP subnet."
            )));
        }
        let mut o = std_attrs(&owner_of(ctx, &body), &body);
        let gateway = match body.get("gateway_ip") {
            Some(Value::Null) => Value::Null,
            Some(Value::String(g)) => json!(g),
            _ => host_addr(&cidr, 1)
                .map(Value::String)
                .unwrap_or(Value::Null),
        };
        let (first, last) = match parse_v4(&cidr) {
            Some((_, len)) if len < 31 => (
                host_addr(&cidr, 2).unwrap_or_default(),
                host_addr(&cidr, (1u32 << (32 - len)) - 2).unwrap_or_default(),
            ),
            _ => (String::new(), String::new()),
        };
        o.insert("network_id".into(), json!(net_id));
        o.insert("cidr".into(), json!(cidr));
        o.insert("ip_version".into(), json!(if v6 { 6 } else { 4 }));
        o.insert("gateway_ip".into(), gateway);
        o.insert(
            "enable_dhcp".into(),
            body.get("enable_dhcp").cloned().unwrap_or(json!(true)),
        );
        o.insert(
            "allocation_pools".into(),
            body.get("allocation_pools")
                .cloned()
                .unwrap_or(json!([{"start": first, "end": last}])),
        );
        o.insert(
            "dns_nameservers".into(),
            body.get("dns_nameservers").cloned().unwrap_or(json!([])),
        );
        o.insert(
            "host_routes".into(),
            body.get("host_routes").cloned().unwrap_or(json!([])),
        );
        o.insert("service_types".into(), json!([]));
        o.insert("subnetpool_id".into(), Value::Null);
        o.insert("ipv6_ra_mode".into(), Value::Null);
        o.insert("ipv6_address_mode".into(), Value::Null);
        let id = self.subnets.insert(o.clone());
        if let Some(net) = self.networks.get_mut(&net_id) {
            if let Some(Value::Array(subs)) = net.get_mut("subnets") {
                subs.push(json!(id));
            }
            touch(net);
        }
        Ok(o)
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

    /// A security group id from an id or a name the caller sees.
    fn resolve_sg(&mut self, id_or_name: &str, ctx: &Ctx) -> Result<String, ApiError> {
        if self.find(NKind::SecurityGroup, id_or_name, ctx).is_ok() {
            return Ok(id_or_name.to_string());
        }
        if id_or_name == "default" {
            return Ok(self.ensure_default_sg(&ctx.project_id));
        }
        self.security_groups
            .values()
            .find(|g| str_of(g, "name") == id_or_name && str_of(g, "project_id") == ctx.project_id)
            .map(|g| str_of(g, "id").to_string())
            .ok_or_else(|| NKind::SecurityGroup.not_found(id_or_name))
    }

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
    fn set_gateway(&mut self, ctx: &Ctx, router_id: &str, gw: &Value) -> Result<(), ApiError> {
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
    fn interface_ports(&self, router_id: &str) -> Vec<&Obj> {
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
        for sub in &subnets {
            let used = self.floatingips.values().any(|f| {
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

    fn associate(&mut self, ctx: &Ctx, fip_id: &str, port_id: &str) -> Result<(), ApiError> {
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

    fn disassociate(f: &mut Obj) {
        f.insert("port_id".into(), Value::Null);
        f.insert("fixed_ip_address".into(), Value::Null);
        f.insert("router_id".into(), Value::Null);
        f.insert("status".into(), json!("DOWN"));
        touch(f);
    }

    fn delete_floatingip_internal(&mut self, id: &str) {
        if let Some(f) = self.floatingips.remove(id) {
            self.ports.remove(str_of(&f, "_port"));
        }
    }

    /// Creates a security group with its two default egress rules.
    pub fn create_security_group(&mut self, ctx: &Ctx, body: Obj) -> Obj {
        let mut o = std_attrs(&owner_of(ctx, &body), &body);
        o.insert("security_group_rules".into(), json!([]));
        o.insert(
            "stateful".into(),
            body.get("stateful").cloned().unwrap_or(json!(true)),
        );
        o.insert("shared".into(), json!(false));
        let id = self.security_groups.insert(o);
        let owner = Ctx {
            project_id: owner_of(ctx, &body),
            user_id: String::new(),
            admin: ctx.admin,
        };
        for ethertype in ["IPv4", "IPv6"] {
            let rule =
                json!({"security_group_id": id, "direction": "egress", "ethertype": ethertype});
            let _ = self.create_rule(&owner, rule.as_object().cloned().unwrap_or_default());
        }
        self.security_groups.get(&id).cloned().unwrap_or_default()
    }

    /// Creates a security group rule (duplicates answer 409).
    pub fn create_rule(&mut self, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        let sg_id = str_of(&body, "security_group_id").to_string();
        let sg = self.find_owned(
            NKind::SecurityGroup,
            &sg_id,
            ctx,
            "create_security_group_rule",
        )?;
        let project = str_of(sg, "project_id").to_string();
        let direction = str_of(&body, "direction");
        if direction != "ingress" && direction != "egress" {
            return Err(bad(format!("Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress'].")));
        }
        if let Some(remote) = body.get("remote_group_id").and_then(Value::as_str) {
            self.find(NKind::SecurityGroup, remote, ctx)?;
        }
        let mut o = std_attrs(&project, &body);
        o.remove("name");
        o.remove("tags");
        let field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
        o.insert("security_group_id".into(), json!(sg_id));
        o.insert("direction".into(), json!(direction));
        o.insert(
            "ethertype".into(),
            json!(body
                .get("ethertype")
                .and_then(Value::as_str)
                .unwrap_or("IPv4")),
        );
        for k in [
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
        ] {
            o.insert(k.into(), field(k));
        }
        o.insert("remote_address_group_id".into(), Value::Null);
        o.insert("normalized_cidr".into(), field("remote_ip_prefix"));
        o.insert("belongs_to_default_sg".into(), json!(false));
        let same = |r: &Obj| {
            [
                "security_group_id",
                "direction",
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
                "remote_group_id",
            ]
            .iter()
            .all(|k| r.get(*k) == o.get(*k))
        };
        // Only the group's own rules can be duplicates (its embedded copy saves a scan).
        let siblings = self
            .security_groups
            .get(&sg_id)
            .and_then(|g| g.get("security_group_rules"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let dup = siblings
            .iter()
            .filter_map(Value::as_object)
            .find(|r| same(r));
        if let Some(dup) = dup {
            return Err(conflict(
                "SecurityGroupRuleExists",
                format!(
                    "Security group rule already exists. Rule id is {}.",
                    str_of(dup, "id")
                ),
            ));
        }
        self.security_group_rules.insert(o.clone());
        if let Some(sg) = self.security_groups.get_mut(&sg_id) {
            if let Some(Value::Array(rules)) = sg.get_mut("security_group_rules") {
                rules.push(Value::Object(o.clone()));
            }
            touch(sg);
        }
        Ok(o)
    }

    fn drop_rule(&mut self, rule_id: &str) {
        if let Some(rule) = self.security_group_rules.remove(rule_id) {
            if let Some(sg) = self
                .security_groups
                .get_mut(str_of(&rule, "security_group_id"))
            {
                if let Some(Value::Array(rules)) = sg.get_mut("security_group_rules") {
                    rules.retain(|r| r["id"].as_str() != Some(rule_id));
                }
            }
        }
    }

    /// Creates a resource of any kind from a request body.
    pub fn create(&mut self, k: NKind, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        match k {
            NKind::Network => self.create_network(ctx, body),
            NKind::Subnet => self.create_subnet(ctx, body),
            NKind::Port => self.create_port(ctx, body),
            NKind::Router => self.create_router(ctx, body),
            NKind::FloatingIp => self.create_floatingip(ctx, body),
            NKind::SecurityGroup => Ok(self.create_security_group(ctx, body)),
            NKind::SecurityGroupRule => self.create_rule(ctx, body),
        }
    }

    /// Updates the writable fields of a resource.
    pub fn update(&mut self, k: NKind, ctx: &Ctx, id: &str, body: Obj) -> Result<Obj, ApiError> {
        self.find_owned(k, id, ctx, "update")?;
        if k == NKind::Router {
            if let Some(gw) = body.get("external_gateway_info") {
                self.set_gateway(ctx, id, gw)?;
            }
        }
        if k == NKind::FloatingIp {
            if let Some(port) = body.get("port_id") {
                match port.as_str() {
                    Some(port_id) => self.associate(ctx, id, port_id)?,
                    None => {
                        if let Some(f) = self.floatingips.get_mut(id) {
                            NeutronState::disassociate(f);
                        }
                    }
                }
            }
        }
        let mut sgs = None;
        if k == NKind::Port {
            if let Some(list) = body.get("security_groups").and_then(Value::as_array) {
                let mut ids = Vec::new();
                for g in list.iter().filter_map(Value::as_str) {
                    ids.push(json!(self.resolve_sg(g, ctx)?));
                }
                sgs = Some(Value::Array(ids));
            }
        }
        let writable = [
            "name",
            "description",
            "admin_state_up",
            "shared",
            "mtu",
            "port_security_enabled",
            "device_id",
            "device_owner",
            "dns_nameservers",
            "enable_dhcp",
            "gateway_ip",
            "allocation_pools",
            "host_routes",
            "routes",
            "stateful",
            "tags",
            "binding:host_id",
            "allowed_address_pairs",
            "fixed_ips",
        ];
        let obj = self
            .table_mut(k)
            .get_mut(id)
            .ok_or_else(|| k.not_found(id))?;
        for key in writable {
            if let Some(v) = body.get(key) {
                obj.insert(key.into(), v.clone());
            }
        }
        if let Some(sgs) = sgs {
            obj.insert("security_groups".into(), sgs);
        }
        if k == NKind::Port && body.contains_key("device_id") {
            let bound = !str_of(obj, "device_id").is_empty();
            obj.insert(
                "status".into(),
                json!(if bound { "ACTIVE" } else { "DOWN" }),
            );
        }
        touch(obj);
        Ok(obj.clone())
    }

    /// Deletes a resource as the real Neutron does, with its conflicts and policy.
    pub fn delete(&mut self, k: NKind, ctx: &Ctx, id: &str) -> Result<(), ApiError> {
        let obj = self.find_owned(k, id, ctx, "delete")?.clone();
        match k {
            NKind::Network => {
                let users: Vec<String> = self
                    .ports
                    .values()
                    .filter(|p| {
                        str_of(p, "network_id") == id && str_of(p, "device_owner") != "network:dhcp"
                    })
                    .map(|p| str_of(p, "id").to_string())
                    .collect();
                if !users.is_empty() {
                    return Err(conflict(
                        "NetworkInUse",
                        format!("Unable to complete operation on network {id}. There are one or more ports still in use on the network, id for these ports is: {}.", users.join(",")),
                    ));
                }
                for sub in strs_of(&obj, "subnets") {
                    self.subnets.remove(&sub);
                    self.next_host.remove(&sub);
                }
                self.networks.remove(id);
            }
            NKind::Subnet => {
                let used = self
                    .ports
                    .values()
                    .any(|p| port_on_subnet(p, id) && str_of(p, "device_owner") != "network:dhcp");
                if used {
                    return Err(conflict(
                        "SubnetInUse",
                        format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
                    ));
                }
                self.subnets.remove(id);
                self.next_host.remove(id);
                if let Some(net) = self.networks.get_mut(str_of(&obj, "network_id")) {
                    if let Some(Value::Array(subs)) = net.get_mut("subnets") {
                        subs.retain(|s| s.as_str() != Some(id));
                    }
                    touch(net);
                }
            }
            NKind::Port => {
                let owner = str_of(&obj, "device_owner");
                if owner.starts_with("compute:") && !ctx.admin {
                    return Err(policy("delete_port"));
                }
                if ROUTER_OWNERS.contains(&owner) {
                    return Err(conflict(
                        "ServicePortInUse",
                        format!("Port {id} cannot be deleted directly via the port API: has device owner {owner}."),
                    ));
                }
                self.delete_port_internal(id);
            }
            NKind::Router => {
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
            }
            NKind::FloatingIp => self.delete_floatingip_internal(id),
            NKind::SecurityGroup => {
                if str_of(&obj, "name") == "default" && !ctx.admin {
                    return Err(conflict(
                        "SecurityGroupCannotRemoveDefault",
                        "Insufficient rights for removing default security group.",
                    ));
                }
                let in_use = self
                    .ports
                    .values()
                    .any(|p| strs_of(p, "security_groups").iter().any(|g| g == id));
                if in_use {
                    return Err(conflict(
                        "SecurityGroupInUse",
                        format!("Security Group {id} in use."),
                    ));
                }
                let rules: Vec<String> = self
                    .security_group_rules
                    .values()
                    .filter(|r| {
                        str_of(r, "security_group_id") == id || str_of(r, "remote_group_id") == id
                    })
                    .map(|r| str_of(r, "id").to_string())
                    .collect();
                for r in rules {
                    self.drop_rule(&r);
                }
                self.security_groups.remove(id);
            }
            NKind::SecurityGroupRule => self.drop_rule(id),
        }
        Ok(())
    }

    /// Removes a port without policy checks; floating IPs on it become unassociated.
    pub fn delete_port_internal(&mut self, id: &str) {
        if self.ports.remove(id).is_some() {
            for f in self.floatingips.values_mut() {
                if str_of(f, "port_id") == id {
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

    /// One page of a list, with the caller's visibility, filters and `*_links`.
    pub fn list<'a>(&'a self, k: NKind, ctx: &Ctx, params: &'a Params, base: &str) -> Listing<'a> {
        let tags = TagFilter::from_params(params);
        let reserved = [
            "limit",
            "marker",
            "page_reverse",
            "sort_key",
            "sort_dir",
            "fields",
            "tags",
            "tags-any",
            "not-tags",
            "not-tags-any",
            "fixed_ips",
        ];
        let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
        for (key, _) in &params.0 {
            if !reserved.contains(&key.as_str()) && !filters.iter().any(|(k2, _)| k2 == key) {
                filters.push((key, params.all(key)));
            }
        }
        let fixed: Vec<(String, String)> = params
            .all("fixed_ips")
            .iter()
            .filter_map(|f| {
                f.split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect();
        let keep = |o: &Obj| {
            self.visible(k, o, ctx)
                && (tags.is_empty() || tags.matches(&strs_of(o, "tags")))
                && filters.iter().all(|(key, wanted)| match o.get(*key) {
                    Some(Value::Array(a)) => wanted
                        .iter()
                        .any(|w| a.iter().any(|v| v.as_str() == Some(w))),
                    Some(v) => wanted.iter().any(|w| field_matches(v, w)),
                    None => true,
                })
                && fixed.iter().all(|(fk, fv)| {
                    o.get("fixed_ips")
                        .and_then(Value::as_array)
                        .is_some_and(|ips| {
                            ips.iter().any(|ip| ip[fk.as_str()].as_str() == Some(fv))
                        })
                })
        };
        let (items, full) = page(self.table(k), params.get("marker"), params.limit(), keep);
        let mut body = Listing {
            key: k.plural(),
            items,
            fields: params.all("fields"),
            extra: Vec::new(),
        };
        if params.limit().is_some() {
            let items = &body.items;
            let mut links = Vec::new();
            if full {
                if let Some(last) = items.last() {
                    links.push(next_link(
                        &format!("{base}/network/v2.0/{}", k.url()),
                        params,
                        str_of(last, "id"),
                    ));
                }
            }
            if let (Some(first), Some(_)) = (items.first(), params.get("marker")) {
                let mut p = params.clone();
                p.0.retain(|(key, _)| key != "page_reverse");
                p.0.push(("page_reverse".into(), "True".into()));
                let mut link = next_link(
                    &format!("{base}/network/v2.0/{}", k.url()),
                    &p,
                    str_of(first, "id"),
                );
                link["rel"] = json!("previous");
                links.push(link);
            }
            body.extra
                .push((format!("{}_links", k.plural()), Value::Array(links)));
        }
        body
    }
}

fn port_on_subnet(port: &Obj, subnet_id: &str) -> bool {
    port["fixed_ips"].as_array().is_some_and(|ips| {
        ips.iter()
            .any(|ip| ip["subnet_id"].as_str() == Some(subnet_id))
    })
}
