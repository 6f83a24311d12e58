//! Glance's model: the images, and how one is recorded.

use jiff::Timestamp;
use serde_json::{json, Value};

use crate::store::{fmt_z, new_id, Ctx, Obj, Table};

/// Glance's resources.
#[derive(Debug, Default)]
pub struct GlanceState {
    /// Images.
    pub images: Table,
    /// The public `cirros` image every simulator starts with.
    pub default_image: String,
}

impl GlanceState {
    /// Creates an image record (`queued`; `active` when `active` is true, as after upload).
    pub fn create_image(&mut self, ctx: &Ctx, body: &Obj, active: bool) -> Obj {
        let id = body
            .get("id")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(new_id);
        let now = fmt_z(Timestamp::now());
        let img = json!({
            "id": id, "name": body.get("name").cloned().unwrap_or(Value::Null),
            "status": if active { "active" } else { "queued" },
            "visibility": body.get("visibility").cloned().unwrap_or(json!("shared")),
            "protected": body.get("protected").cloned().unwrap_or(json!(false)),
            "os_hidden": false, "owner": ctx.project_id, "tags": body.get("tags").cloned().unwrap_or(json!([])),
            "disk_format": body.get("disk_format").cloned().unwrap_or(json!("qcow2")),
            "container_format": body.get("container_format").cloned().unwrap_or(json!("bare")),
            "min_disk": body.get("min_disk").cloned().unwrap_or(json!(0)),
            "min_ram": body.get("min_ram").cloned().unwrap_or(json!(0)),
            "size": if active { json!(21430272) } else { Value::Null }, "virtual_size": null,
            "checksum": null, "os_hash_algo": null, "os_hash_value": null,
            "created_at": now, "updated_at": now,
            "self": format!("/v2/images/{id}"), "file": format!("/v2/images/{id}/file"), "schema": "/v2/schemas/image",
        });
        let img = match img {
            Value::Object(o) => o,
            _ => Obj::new(),
        };
        self.images.insert(img.clone());
        img
    }
}
