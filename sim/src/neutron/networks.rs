//! Networks and subnets: the public network every simulator starts with, address
//! allocation, and what blocks their deletion.

use serde_json::{json, Value};

use super::indexes::{PORTS_BY_NETWORK, PORTS_BY_SUBNET};
use super::kind::NKind;
use super::state::{bad, conflict, owner_of, policy, std_attrs, touch, NeutronState};
use crate::error::ApiError;
use crate::store::{str_of, strs_of, Ctx, Obj};

/// Whether the IPv4 `address` is inside `cidr`.
pub(super) fn in_cidr(address: &str, cidr: &str) -> bool {
    let (Some((base, len)), Ok(ip)) = (parse_v4(cidr), address.parse::<std::net::Ipv4Addr>())
    else {
        return false;
    };
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    u32::from(ip) & mask == base & mask
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
        let mut n = NeutronState {
            ports: super::indexes::ports_table(),
            floatingips: super::indexes::floatingips_table(),
            port_forwardings: super::indexes::port_forwardings_table(),
            ..NeutronState::default()
        };
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

    pub(super) fn alloc_ip(&mut self, subnet_id: &str) -> Result<String, ApiError> {
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

    /// Deletes a network with its subnets; refused while ports other than DHCP's are on it.
    pub(super) fn delete_network(&mut self, id: &str, obj: &Obj) -> Result<(), ApiError> {
        let users: Vec<String> = self
            .ports
            .by(&PORTS_BY_NETWORK, id)
            .into_iter()
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
        for sub in strs_of(obj, "subnets") {
            self.subnets.remove(&sub);
            self.next_host.remove(&sub);
        }
        self.networks.remove(id);
        Ok(())
    }

    /// Deletes a subnet; refused while a port other than DHCP's has an address on it.
    pub(super) fn delete_subnet(&mut self, id: &str, obj: &Obj) -> Result<(), ApiError> {
        let used = self
            .ports
            .by(&PORTS_BY_SUBNET, id)
            .into_iter()
            .any(|p| str_of(p, "device_owner") != "network:dhcp");
        if used {
            return Err(conflict(
                "SubnetInUse",
                format!("Unable to complete operation on subnet {id}: One or more ports have an IP allocation from this subnet."),
            ));
        }
        self.subnets.remove(id);
        self.next_host.remove(id);
        if let Some(net) = self.networks.get_mut(str_of(obj, "network_id")) {
            if let Some(Value::Array(subs)) = net.get_mut("subnets") {
                subs.retain(|s| s.as_str() != Some(id));
            }
            touch(net);
        }
        Ok(())
    }
}
