//! The service catalog a Keystone token carries, as devstack lays it out, pointing at
//! the simulator's own address. Optional services (Barbican, ...) are in it only when
//! enabled.

use serde_json::{json, Value};

use crate::store::new_hex_id;

/// The optional services the simulator serves, as devstack registers them: catalog
/// type, name and path under the base URL.
pub const OPTIONAL_SERVICES: &[(&str, &str, &str)] = &[
    ("key-manager", "barbican", "/key-manager"),
    ("dns", "designate", "/dns"),
    ("sharev2", "manilav2", "/share/v2/{project_id}"),
];

/// The service catalog, as devstack lays it out, on the simulator's address, with the
/// `optional` services (catalog types) that are enabled.
pub fn catalog(base: &str, project_id: &str, optional: &[String]) -> Value {
    let mut services = vec![
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
    for (ty, name, path) in OPTIONAL_SERVICES {
        if optional.iter().any(|o| o == ty) {
            let path = path.replace("{project_id}", project_id);
            services.push((ty, name, format!("{base}{path}")));
        }
    }
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
