//! The service catalog a Keystone token carries, as devstack lays it out, pointing at
//! the simulator's own address: one endpoint set per region, the first region's at the
//! root, each further region's under `/regions/<name>` (its own store). Optional
//! services (Barbican, ...) are in it only when enabled.

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
/// endpoints of every region in `regions` (the first is the primary). Keystone is one
/// service shared by every region, as in a real multi-region cloud. The `optional`
/// services (catalog types) that are enabled are listed too.
pub fn catalog(base: &str, project_id: &str, regions: &[String], optional: &[String]) -> Value {
    let default = ["RegionOne".to_owned()];
    let regions = if regions.is_empty() {
        &default[..]
    } else {
        regions
    };
    let primary = services_at(base, project_id, optional);
    let further: Vec<_> = regions
        .iter()
        .map(|region| services_at(&format!("{base}/regions/{region}"), project_id, optional))
        .collect();
    let entries = primary.iter().enumerate().map(|(i, (ty, name, url))| {
        let endpoints: Vec<Value> = regions
            .iter()
            .enumerate()
            .flat_map(|(r, region)| {
                // The first region is at the root; Keystone is shared by every region.
                let url = match (r, *ty) {
                    (0, _) | (_, "identity") => url.clone(),
                    _ => further[r][i].2.clone(),
                };
                ["public", "internal"].map(|iface| {
                    json!({"id": new_hex_id(), "interface": iface, "region": region,
                           "region_id": region, "url": url})
                })
            })
            .collect();
        json!({"id": new_hex_id(), "type": ty, "name": name, "endpoints": endpoints})
    });
    Value::Array(entries.collect())
}

/// Each service's catalog URL under `base`, the enabled `optional` ones last.
fn services_at(
    base: &str,
    project_id: &str,
    optional: &[String],
) -> Vec<(&'static str, &'static str, String)> {
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
    services
}
