//! Manila's model: share networks, shares and share snapshots.

use jiff::Timestamp;
use serde_json::{json, Value};

use crate::store::{fmt_micro, new_id, str_of, Ctx, Obj, Table};

/// Manila's resources.
#[derive(Debug, Default)]
pub struct ManilaState {
    /// Share networks.
    pub share_networks: Table,
    /// Shares.
    pub shares: Table,
    /// Share snapshots.
    pub snapshots: Table,
}

fn object(v: Value) -> Obj {
    match v {
        Value::Object(o) => o,
        _ => Obj::new(),
    }
}

impl ManilaState {
    /// Creates a share network of `ctx`'s project.
    pub fn create_share_network(&mut self, ctx: &Ctx, body: &Obj) -> Obj {
        let n = object(json!({
            "id": new_id(), "project_id": ctx.project_id,
            "name": body.get("name").cloned().unwrap_or(Value::Null),
            "description": body.get("description").cloned().unwrap_or(Value::Null),
            "neutron_net_id": body.get("neutron_net_id").cloned().unwrap_or(Value::Null),
            "neutron_subnet_id": body.get("neutron_subnet_id").cloned().unwrap_or(Value::Null),
            "created_at": fmt_micro(Timestamp::now()), "updated_at": null,
        }));
        self.share_networks.insert(n.clone());
        n
    }

    /// Creates an available share of `ctx`'s project.
    pub fn create_share(&mut self, ctx: &Ctx, body: &Obj) -> Obj {
        let s = object(json!({
            "id": new_id(), "project_id": ctx.project_id,
            "name": body.get("name").cloned().unwrap_or(Value::Null),
            "description": body.get("description").cloned().unwrap_or(Value::Null),
            "status": "available", "size": body.get("size").cloned().unwrap_or(json!(1)),
            "share_proto": body.get("share_proto").cloned().unwrap_or(json!("NFS")),
            "share_network_id": body.get("share_network_id").cloned().unwrap_or(Value::Null),
            "snapshot_id": null, "is_public": false,
            "share_type_name": body.get("share_type").cloned().unwrap_or(json!("default")),
            "metadata": body.get("metadata").cloned().unwrap_or(json!({})),
            "availability_zone": "nova", "has_replicas": false, "task_state": null,
            "created_at": fmt_micro(Timestamp::now()),
        }));
        self.shares.insert(s.clone());
        s
    }

    /// Creates an available snapshot of share `share`.
    pub fn create_snapshot(&mut self, ctx: &Ctx, share: &str, name: &str) -> Obj {
        let size = self
            .shares
            .get(share)
            .and_then(|s| s.get("size").cloned())
            .unwrap_or(json!(1));
        let s = object(json!({
            "id": new_id(), "share_id": share, "project_id": ctx.project_id,
            "user_id": ctx.user_id, "name": name, "description": null,
            "status": "available", "size": size, "share_size": size, "share_proto": "NFS",
            "created_at": fmt_micro(Timestamp::now()),
        }));
        self.snapshots.insert(s.clone());
        s
    }

    /// Snapshots of `share`.
    pub fn snapshots_of(&self, share: &str) -> usize {
        self.snapshots
            .values()
            .filter(|s| str_of(s, "share_id") == share)
            .count()
    }

    /// Shares on share network `net`.
    pub fn shares_on(&self, net: &str) -> usize {
        self.shares
            .values()
            .filter(|s| str_of(s, "share_network_id") == net)
            .count()
    }
}
