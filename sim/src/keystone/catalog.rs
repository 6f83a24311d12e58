//! The service catalog a Keystone token carries, as devstack lays it out, pointing at
//! the simulator's own address.

use serde_json::{json, Value};

use crate::store::new_hex_id;

/// The service catalog, as devstack lays it out, on the simulator's address.
pub fn catalog(base: &str, project_id: &str) -> Value {
    let services = [
        ("identity", "keystone", format!("{base}/identity")),
        ("compute", "nova", format!("{base}/compute/v2.1")),
        ("network", "neutron", format!("{base}/network")),
        (
            "block-storage",
            "cinder",
            format!("{base}/volume/v3/{project_id}"),
        ),
        (
            "volumev3",
            "cinderv3",
            format!("{base}/volume/v3/{project_id}"),
        ),
        ("load-balancer", "octavia", format!("{base}/load-balancer")),
        ("image", "glance", format!("{base}/image")),
        (
            "orchestration",
            "heat",
            format!("{base}/heat-api/v1/{project_id}"),
        ),
        (
            "object-store",
            "swift",
            format!("{base}/swift/v1/AUTH_{project_id}"),
        ),
    ];
    Value::Array(
        services
            .iter()
            .map(|(ty, name, url)| {
                let endpoints: Vec<Value> = ["public", "internal"]
                    .iter()
                    .map(|iface| {
                        json!({"id": new_hex_id(), "interface": iface, "region": "RegionOne",
                               "region_id": "RegionOne", "url": url})
                    })
                    .collect();
                json!({"id": new_hex_id(), "type": ty, "name": name, "endpoints": endpoints})
            })
            .collect(),
    )
}
