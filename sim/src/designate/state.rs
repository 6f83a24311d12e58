//! Designate's model: zones and their recordsets (each zone created with the SOA and NS
//! recordsets Designate manages).

use jiff::Timestamp;
use serde_json::{json, Value};

use crate::store::{fmt_micro, new_id, str_of, Ctx, Obj, Table};

/// Designate's resources.
#[derive(Debug, Default)]
pub struct DesignateState {
    /// Zones.
    pub zones: Table,
    /// Recordsets of every zone (`zone_id` says which).
    pub recordsets: Table,
}

fn object(v: Value) -> Obj {
    match v {
        Value::Object(o) => o,
        _ => Obj::new(),
    }
}

impl DesignateState {
    /// Creates a zone of `ctx`'s project with its SOA and NS recordsets, in `status`
    /// (`PENDING` for one made through the API, `ACTIVE` when seeded).
    pub fn create_zone(&mut self, ctx: &Ctx, base: &str, body: &Obj, status: &str) -> Obj {
        let id = new_id();
        let now = fmt_micro(Timestamp::now());
        let name = str_of(body, "name").to_string();
        let action = if status == "ACTIVE" { "NONE" } else { "CREATE" };
        let zone = object(json!({
            "id": id, "pool_id": "794ccc2c-d751-44fe-b57f-8894c9f5c842",
            "project_id": ctx.project_id, "name": name,
            "email": body.get("email").cloned().unwrap_or(json!("hostmaster@example.org")),
            "ttl": body.get("ttl").cloned().unwrap_or(json!(3600)),
            "serial": 1_700_000_000, "status": status, "action": action,
            "description": body.get("description").cloned().unwrap_or(Value::Null),
            "masters": [], "type": "PRIMARY", "transferred_at": null, "version": 1,
            "created_at": now, "updated_at": null, "attributes": {}, "shared": false,
            "links": {"self": format!("{base}/zones/{id}")},
        }));
        self.zones.insert(zone.clone());
        let soa =
            "ns1.example.org. hostmaster.example.org. 1700000000 3584 600 86400 3600".to_string();
        self.add_recordset(ctx, base, &zone, &name, "SOA", vec![soa], status);
        self.add_recordset(
            ctx,
            base,
            &zone,
            &name,
            "NS",
            vec!["ns1.example.org.".into()],
            status,
        );
        zone
    }

    /// Adds a recordset to `zone`.
    #[allow(clippy::too_many_arguments)]
    pub fn add_recordset(
        &mut self,
        ctx: &Ctx,
        base: &str,
        zone: &Obj,
        name: &str,
        kind: &str,
        records: Vec<String>,
        status: &str,
    ) -> Obj {
        let id = new_id();
        let zone_id = str_of(zone, "id");
        let action = if status == "ACTIVE" { "NONE" } else { "CREATE" };
        let rs = object(json!({
            "id": id, "zone_id": zone_id, "zone_name": str_of(zone, "name"),
            "project_id": ctx.project_id, "name": name, "type": kind, "records": records,
            "ttl": null, "status": status, "action": action, "description": null,
            "version": 1, "created_at": fmt_micro(Timestamp::now()), "updated_at": null,
            "links": {"self": format!("{base}/zones/{zone_id}/recordsets/{id}")},
        }));
        self.recordsets.insert(rs.clone());
        rs
    }

    /// Whether Designate manages `rs` (the zone's SOA, its apex NS).
    pub fn is_managed(rs: &Obj) -> bool {
        let kind = str_of(rs, "type");
        kind == "SOA" || (kind == "NS" && str_of(rs, "name") == str_of(rs, "zone_name"))
    }

    /// Removes a zone and every recordset in it.
    pub fn remove_zone(&mut self, id: &str) {
        self.zones.remove(id);
        let records: Vec<String> = self
            .recordsets
            .values()
            .filter(|r| str_of(r, "zone_id") == id)
            .map(|r| str_of(r, "id").to_string())
            .collect();
        for r in records {
            self.recordsets.remove(&r);
        }
    }
}
