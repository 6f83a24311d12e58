//! Neutron ports. A port needs its network, subnets and security groups; its device
//! (`device_owner` + `device_id`) holds it: a server or load balancer deletes it, a
//! router interface is removed by `remove_router_interface`, DHCP ports go with their
//! network. An address of its `allowed_address_pairs` held by another port (a VIP)
//! keeps that port: freeing the address would break this one.

use serde_json::Value;

use super::{
    neutron_common, Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation, Resource,
};
use crate::openstack::Service;

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::Port,
    name: "port",
    service: Service::Network,
    api: Api {
        list_path: "/ports",
        collection: "ports",
        item_prefix: "/ports/",
        item_key: Some("port"),
    },
    parse,
    tags: true,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[
        Kind::Server,
        Kind::FloatingIp,
        Kind::Router,
        Kind::LoadBalancer,
        Kind::Trunk,
        Kind::PortForwarding,
        Kind::Stack,
    ],
    rank: 40,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: None,
    hooks: Hooks::NONE,
};

/// Whether `device_owner` marks a router interface port.
pub(super) fn is_router_interface(device_owner: &str) -> bool {
    device_owner.starts_with("network:router_interface")
        || device_owner == "network:ha_router_replicated_interface"
}

pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::Port, v)?;
    let mut r = neutron_common(Kind::Port, &o)?;
    let network = o.required("network_id")?;
    let owner = o.string("device_owner")?;
    let device = o.string("device_id")?;
    r.metadata.insert("device_owner".into(), owner.clone());
    if owner == "network:dhcp" || owner == "network:distributed" {
        // Neutron removes these itself when the network goes.
        r.refs.push(Reference::new(
            Relation::OwnedBy,
            Kind::Network,
            network,
            "network",
        ));
        return Ok(r);
    }
    r.refs.push(Reference::new(
        Relation::Needs,
        Kind::Network,
        network,
        "network",
    ));
    for pair in o.objs("allowed_address_pairs")? {
        if let Some(address) = pair.str("ip_address")? {
            let address = address.strip_suffix("/32").unwrap_or(&address).to_string();
            r.refs.push(Reference::new(
                Relation::Guards,
                Kind::Port,
                address,
                super::ALLOWED_ADDRESS_PAIR,
            ));
        }
    }
    for ip in o.objs("fixed_ips")? {
        if let Some(address) = ip.str("ip_address")? {
            r.addresses.push(address);
        }
        if let Some(subnet) = ip.str("subnet_id")? {
            r.refs.push(Reference::new(
                Relation::Needs,
                Kind::Subnet,
                subnet,
                "subnet",
            ));
        }
    }
    for group in o.strings("security_groups")? {
        r.refs.push(Reference::new(
            Relation::Needs,
            Kind::SecurityGroup,
            group,
            "security group",
        ));
    }
    if device.is_empty() {
        return Ok(r);
    }
    let device_ref = if owner.starts_with("compute:") {
        Reference::new(Relation::OwnedBy, Kind::Server, device, super::BOUND_SERVER)
    } else if is_router_interface(&owner) {
        Reference::new(Relation::OwnedBy, Kind::Router, device, "router interface")
    } else if owner == "network:router_gateway" {
        Reference::new(Relation::OwnedBy, Kind::Router, device, "router gateway")
    } else if owner == "network:floatingip" {
        Reference::new(Relation::OwnedBy, Kind::FloatingIp, device, "floating IP")
    } else if owner == "trunk:subport" {
        // Neutron refuses to delete an attached sub-port (409 `PortInUseAsSubPort`).
        Reference::new(Relation::HeldBy, Kind::Trunk, device, "trunk")
    } else if owner == "Octavia" || owner == "neutron:LOADBALANCERV2" {
        let lb = device.strip_prefix("lb-").unwrap_or(&device).to_string();
        Reference::new(Relation::OwnedBy, Kind::LoadBalancer, lb, "load balancer")
    } else {
        // A device we do not model (bare metal, another service): it holds the port.
        Reference {
            relation: Relation::HeldBy,
            kind: None,
            id: device,
            role: "device",
        }
    };
    r.refs.push(device_ref);
    Ok(r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn port(owner: &str, device: &str) -> Resource {
        parse(&json!({"id": "p1", "network_id": "n1", "project_id": "p",
            "fixed_ips": [{"subnet_id": "s1", "ip_address": "10.0.0.5"}],
            "security_groups": ["g1"], "device_owner": owner, "device_id": device,
            "tags": [], "created_at": "2026-11-22T06:11:02Z"}))
        .unwrap()
    }

    fn rel(r: &Resource, role: &str) -> Vec<(Relation, Option<Kind>, String)> {
        r.refs
            .iter()
            .filter(|x| x.role == role)
            .map(|x| (x.relation, x.kind, x.id.clone()))
            .collect()
    }

    /// A server's port needs its network, subnet and group and is owned by the server.
    #[test]
    fn compute_port_references() {
        let r = port("compute:nova", "srv");
        assert_eq!(
            rel(&r, "network"),
            vec![(Relation::Needs, Some(Kind::Network), "n1".into())]
        );
        assert_eq!(rel(&r, "subnet").len(), 1);
        assert_eq!(rel(&r, "security group").len(), 1);
        assert_eq!(
            rel(&r, "server"),
            vec![(Relation::OwnedBy, Some(Kind::Server), "srv".into())]
        );
    }

    /// Router interface, load balancer and unknown devices are told apart; DHCP ports
    /// only go with their network.
    #[test]
    fn device_owners() {
        assert_eq!(
            rel(&port("network:router_interface", "r1"), "router interface").len(),
            1
        );
        let lb = port("Octavia", "lb-abc");
        assert_eq!(rel(&lb, "load balancer")[0].2, "abc");
        let other = port("baremetal:none", "t1");
        assert_eq!(
            rel(&other, "device"),
            vec![(Relation::HeldBy, None, "t1".into())]
        );
        assert_eq!(
            rel(&port("trunk:subport", "t1"), "trunk"),
            vec![(Relation::HeldBy, Some(Kind::Trunk), "t1".into())]
        );
        let dhcp = port("network:dhcp", "dhcp-x");
        assert_eq!(dhcp.refs.len(), 1);
        assert_eq!(dhcp.refs[0].relation, Relation::OwnedBy);
        assert!(port("", "")
            .refs
            .iter()
            .all(|x| x.relation == Relation::Needs));
    }

    /// A port whose `fixed_ips` is not a list is an error, not an unattached port.
    #[test]
    fn garbage_is_an_error() {
        assert!(parse(&json!({"id": "p", "network_id": "n", "fixed_ips": "10.0.0.1"})).is_err());
        assert!(parse(&json!({"id": "p"})).is_err());
    }
}
