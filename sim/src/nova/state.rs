//! Nova's model: servers, server groups, keypairs and the flavors every simulator
//! starts with.

use serde_json::{json, Value};

use crate::store::Table;

/// Nova's resources.
#[derive(Debug, Default)]
pub struct NovaState {
    /// Servers (including ones in `deleting`).
    pub servers: Table,
    /// Server groups.
    pub server_groups: Table,
    /// Keypairs, keyed by name.
    pub keypairs: Table,
    /// Flavors.
    pub flavors: Table,
}

impl NovaState {
    pub(crate) fn new() -> NovaState {
        let mut n = NovaState::default();
        for (id, name, ram, vcpus, disk) in [
            ("1", "m1.tiny", 512, 1, 1),
            ("2", "m1.small", 2048, 1, 20),
            ("3", "m1.medium", 4096, 2, 40),
            ("4", "m1.large", 8192, 4, 80),
            ("42", "m1.nano", 128, 1, 1),
        ] {
            let f = json!({"id": id, "name": name, "ram": ram, "vcpus": vcpus, "disk": disk,
                "OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": false, "swap": 0,
                "rxtx_factor": 1.0, "os-flavor-access:is_public": true, "description": null, "extra_specs": {}});
            if let Value::Object(o) = f {
                n.flavors.insert(o);
            }
        }
        n
    }
}
