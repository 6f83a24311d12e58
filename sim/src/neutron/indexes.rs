//! The secondary indexes Neutron's rules ask (ports by network, subnet, device and
//! security group; floating IPs by port and by router; port forwardings by port and by floating IP),
//! so a delete's in-use checks look at the resources involved, not at every port.

use crate::index::IndexDef;
use crate::store::{str_of, strs_of, Obj, Table};

/// The one key `str_of` reads (`""` when absent, as the scans it replaces compared).
fn one(obj: &Obj, key: &str) -> Vec<String> {
    vec![str_of(obj, key).to_string()]
}

/// Ports by `network_id`.
pub static PORTS_BY_NETWORK: IndexDef = IndexDef {
    name: "ports by network",
    keys_of: |p| one(p, "network_id"),
};

/// Ports by the subnets of their `fixed_ips` (`ports::port_on_subnet` asks it of one port).
pub static PORTS_BY_SUBNET: IndexDef = IndexDef {
    name: "ports by subnet",
    keys_of: |p| {
        p["fixed_ips"]
            .as_array()
            .map(|ips| {
                ips.iter()
                    .filter_map(|ip| ip["subnet_id"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    },
};

/// Ports by `device_id`.
pub static PORTS_BY_DEVICE: IndexDef = IndexDef {
    name: "ports by device",
    keys_of: |p| one(p, "device_id"),
};

/// Ports by their `security_groups`.
pub static PORTS_BY_SECURITY_GROUP: IndexDef = IndexDef {
    name: "ports by security group",
    keys_of: |p| strs_of(p, "security_groups"),
};

/// Floating IPs by `port_id`.
pub static FIPS_BY_PORT: IndexDef = IndexDef {
    name: "floating IPs by port",
    keys_of: |f| one(f, "port_id"),
};

/// Floating IPs by `router_id`.
pub static FIPS_BY_ROUTER: IndexDef = IndexDef {
    name: "floating IPs by router",
    keys_of: |f| one(f, "router_id"),
};

/// Port forwardings by `internal_port_id`.
pub static FORWARDINGS_BY_PORT: IndexDef = IndexDef {
    name: "port forwardings by port",
    keys_of: |pf| one(pf, "internal_port_id"),
};

/// Port forwardings by their floating IP (`_fip`).
pub static FORWARDINGS_BY_FIP: IndexDef = IndexDef {
    name: "port forwardings by floating IP",
    keys_of: |pf| one(pf, "_fip"),
};

/// The ports table with its indexes.
pub fn ports_table() -> Table {
    Table::indexed(&[
        &PORTS_BY_NETWORK,
        &PORTS_BY_SUBNET,
        &PORTS_BY_DEVICE,
        &PORTS_BY_SECURITY_GROUP,
    ])
}

/// The floating IPs table with its indexes.
pub fn floatingips_table() -> Table {
    Table::indexed(&[&FIPS_BY_PORT, &FIPS_BY_ROUTER])
}

/// The port forwardings table with its indexes.
pub fn port_forwardings_table() -> Table {
    Table::indexed(&[&FORWARDINGS_BY_PORT, &FORWARDINGS_BY_FIP])
}
