//! Barbican's model: secrets and containers, each stored under its bare ID (which the
//! API never shows on its own: it shows the `secret_ref`/`container_ref` URL).

use jiff::Timestamp;
use serde_json::{json, Value};

use crate::store::{fmt_micro, new_id, str_of, Ctx, Obj, Table};

/// Barbican's resources.
#[derive(Debug, Default)]
pub struct BarbicanState {
    /// Secrets (metadata only: the simulator keeps no payloads).
    pub secrets: Table,
    /// Containers of secrets.
    pub containers: Table,
}

/// A secret or container as the API shows it: without our `id` and `_` keys.
pub fn render(obj: &Obj) -> Value {
    Value::Object(
        obj.iter()
            .filter(|(k, _)| !k.starts_with('_') && k.as_str() != "id")
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

impl BarbicanState {
    /// Stores a secret of `ctx`'s project; `base` is Barbican's `/v1` URL.
    pub fn create_secret(&mut self, ctx: &Ctx, base: &str, body: &Obj) -> Obj {
        let id = new_id();
        let now = fmt_micro(Timestamp::now());
        let secret = json!({
            "id": id, "_project_id": ctx.project_id,
            "secret_ref": format!("{base}/secrets/{id}"),
            "name": body.get("name").cloned().unwrap_or(Value::Null),
            "status": "ACTIVE", "secret_type": body.get("secret_type").cloned().unwrap_or(json!("opaque")),
            "algorithm": body.get("algorithm").cloned().unwrap_or(Value::Null),
            "bit_length": body.get("bit_length").cloned().unwrap_or(Value::Null),
            "mode": body.get("mode").cloned().unwrap_or(Value::Null),
            "expiration": body.get("expiration").cloned().unwrap_or(Value::Null),
            "content_types": {"default": "application/octet-stream"},
            "creator_id": ctx.user_id, "created": now, "updated": now,
        });
        let Value::Object(secret) = secret else {
            return Obj::new();
        };
        self.secrets.insert(secret.clone());
        secret
    }

    /// Stores a container of `ctx`'s project; its `secret_refs` are taken as given.
    pub fn create_container(&mut self, ctx: &Ctx, base: &str, body: &Obj) -> Obj {
        let id = new_id();
        let now = fmt_micro(Timestamp::now());
        let container = json!({
            "id": id, "_project_id": ctx.project_id,
            "container_ref": format!("{base}/containers/{id}"),
            "name": body.get("name").cloned().unwrap_or(Value::Null),
            "type": body.get("type").cloned().unwrap_or(json!("generic")),
            "status": "ACTIVE", "consumers": [],
            "secret_refs": body.get("secret_refs").cloned().unwrap_or(json!([])),
            "creator_id": ctx.user_id, "created": now, "updated": now,
        });
        let Value::Object(container) = container else {
            return Obj::new();
        };
        self.containers.insert(container.clone());
        container
    }

    /// Drops a deleted secret from every container's `secret_refs`: Barbican shows a
    /// container without the secrets deleted under it (measured on the real test bed).
    pub fn forget_secret(&mut self, id: &str) {
        for container in self.containers.values_mut() {
            if let Some(Value::Array(refs)) = container.get_mut("secret_refs") {
                refs.retain(|r| {
                    r.get("secret_ref")
                        .and_then(Value::as_str)
                        .is_none_or(|url| url.rsplit('/').next() != Some(id))
                });
            }
        }
    }

    /// The table of `collection` (`secrets`, `containers`).
    pub fn table(&self, collection: &str) -> Option<&Table> {
        match collection {
            "secrets" => Some(&self.secrets),
            "containers" => Some(&self.containers),
            _ => None,
        }
    }

    /// The table of `collection`, to change it.
    pub fn table_mut(&mut self, collection: &str) -> Option<&mut Table> {
        match collection {
            "secrets" => Some(&mut self.secrets),
            "containers" => Some(&mut self.containers),
            _ => None,
        }
    }
}

/// Whether `obj` belongs to the caller's project.
pub fn visible(ctx: &Ctx, obj: &Obj) -> bool {
    ctx.owns(str_of(obj, "_project_id"))
}
