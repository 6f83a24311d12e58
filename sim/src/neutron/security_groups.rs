//! Security groups and their rules: each project's `default` group, created on first
//! need, rules with remote groups, and what blocks a group's deletion.

use serde_json::{json, Value};

use super::kind::NKind;
use super::state::{bad, conflict, owner_of, std_attrs, touch, NeutronState};
use crate::error::ApiError;
use crate::store::{str_of, strs_of, Ctx, Obj};

impl NeutronState {
    /// The `default` security group of a project, created on first need as Neutron does.
    pub fn ensure_default_sg(&mut self, project: &str) -> String {
        let existing = self
            .security_groups
            .values()
            .find(|g| str_of(g, "project_id") == project && str_of(g, "name") == "default")
            .map(|g| str_of(g, "id").to_string());
        if let Some(id) = existing {
            return id;
        }
        let ctx = Ctx {
            project_id: project.into(),
            user_id: String::new(),
            admin: false,
        };
        let body = json!({"name": "default", "description": "Default security group"});
        let sg = self.create_security_group(&ctx, body.as_object().cloned().unwrap_or_default());
        let id = str_of(&sg, "id").to_string();
        for ethertype in ["IPv4", "IPv6"] {
            let rule = json!({"security_group_id": id, "direction": "ingress", "ethertype": ethertype, "remote_group_id": id});
            let _ = self.create_rule(&ctx, rule.as_object().cloned().unwrap_or_default());
        }
        id
    }

    /// Creates a security group with its two default egress rules.
    pub fn create_security_group(&mut self, ctx: &Ctx, body: Obj) -> Obj {
        let mut o = std_attrs(&owner_of(ctx, &body), &body);
        o.insert("security_group_rules".into(), json!([]));
        o.insert(
            "stateful".into(),
            body.get("stateful").cloned().unwrap_or(json!(true)),
        );
        o.insert("shared".into(), json!(false));
        let id = self.security_groups.insert(o);
        let owner = Ctx {
            project_id: owner_of(ctx, &body),
            user_id: String::new(),
            admin: ctx.admin,
        };
        for ethertype in ["IPv4", "IPv6"] {
            let rule =
                json!({"security_group_id": id, "direction": "egress", "ethertype": ethertype});
            let _ = self.create_rule(&owner, rule.as_object().cloned().unwrap_or_default());
        }
        self.security_groups.get(&id).cloned().unwrap_or_default()
    }

    /// A security group id from an id or a name the caller sees.
    pub(super) fn resolve_sg(&mut self, id_or_name: &str, ctx: &Ctx) -> Result<String, ApiError> {
        if self.find(NKind::SecurityGroup, id_or_name, ctx).is_ok() {
            return Ok(id_or_name.to_string());
        }
        if id_or_name == "default" {
            return Ok(self.ensure_default_sg(&ctx.project_id));
        }
        self.security_groups
            .values()
            .find(|g| str_of(g, "name") == id_or_name && str_of(g, "project_id") == ctx.project_id)
            .map(|g| str_of(g, "id").to_string())
            .ok_or_else(|| NKind::SecurityGroup.not_found(id_or_name))
    }

    /// Creates a security group rule (duplicates answer 409).
    pub fn create_rule(&mut self, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        let sg_id = str_of(&body, "security_group_id").to_string();
        let sg = self.find_owned(
            NKind::SecurityGroup,
            &sg_id,
            ctx,
            "create_security_group_rule",
        )?;
        let project = str_of(sg, "project_id").to_string();
        let direction = str_of(&body, "direction");
        if direction != "ingress" && direction != "egress" {
            return Err(bad(format!("Invalid input for direction. Reason: '{direction}' is not in ['ingress', 'egress'].")));
        }
        if let Some(remote) = body.get("remote_group_id").and_then(Value::as_str) {
            self.find(NKind::SecurityGroup, remote, ctx)?;
        }
        let mut o = std_attrs(&project, &body);
        o.remove("name");
        o.remove("tags");
        let field = |k: &str| body.get(k).cloned().unwrap_or(Value::Null);
        o.insert("security_group_id".into(), json!(sg_id));
        o.insert("direction".into(), json!(direction));
        o.insert(
            "ethertype".into(),
            json!(body
                .get("ethertype")
                .and_then(Value::as_str)
                .unwrap_or("IPv4")),
        );
        for k in [
            "protocol",
            "port_range_min",
            "port_range_max",
            "remote_ip_prefix",
            "remote_group_id",
        ] {
            o.insert(k.into(), field(k));
        }
        o.insert("remote_address_group_id".into(), Value::Null);
        o.insert("normalized_cidr".into(), field("remote_ip_prefix"));
        o.insert("belongs_to_default_sg".into(), json!(false));
        let same = |r: &Obj| {
            [
                "security_group_id",
                "direction",
                "ethertype",
                "protocol",
                "port_range_min",
                "port_range_max",
                "remote_ip_prefix",
                "remote_group_id",
            ]
            .iter()
            .all(|k| r.get(*k) == o.get(*k))
        };
        // Only the group's own rules can be duplicates (its embedded copy saves a scan).
        let siblings = self
            .security_groups
            .get(&sg_id)
            .and_then(|g| g.get("security_group_rules"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let dup = siblings
            .iter()
            .filter_map(Value::as_object)
            .find(|r| same(r));
        if let Some(dup) = dup {
            return Err(conflict(
                "SecurityGroupRuleExists",
                format!(
                    "Security group rule already exists. Rule id is {}.",
                    str_of(dup, "id")
                ),
            ));
        }
        self.security_group_rules.insert(o.clone());
        if let Some(sg) = self.security_groups.get_mut(&sg_id) {
            if let Some(Value::Array(rules)) = sg.get_mut("security_group_rules") {
                rules.push(Value::Object(o.clone()));
            }
            touch(sg);
        }
        Ok(o)
    }

    pub(super) fn drop_rule(&mut self, rule_id: &str) {
        if let Some(rule) = self.security_group_rules.remove(rule_id) {
            if let Some(sg) = self
                .security_groups
                .get_mut(str_of(&rule, "security_group_id"))
            {
                if let Some(Value::Array(rules)) = sg.get_mut("security_group_rules") {
                    rules.retain(|r| r["id"].as_str() != Some(rule_id));
                }
            }
        }
    }

    /// Deletes a security group with its rules and the rules naming it as remote group;
    /// refused for `default` (unless admin) and while a port uses it.
    pub(super) fn delete_security_group(
        &mut self,
        ctx: &Ctx,
        id: &str,
        obj: &Obj,
    ) -> Result<(), ApiError> {
        if str_of(obj, "name") == "default" && !ctx.admin {
            return Err(conflict(
                "SecurityGroupCannotRemoveDefault",
                "Insufficient rights for removing default security group.",
            ));
        }
        let in_use = self
            .ports
            .by(&super::indexes::PORTS_BY_SECURITY_GROUP, id)
            .into_iter()
            .any(|p| strs_of(p, "security_groups").iter().any(|g| g == id));
        if in_use {
            return Err(conflict(
                "SecurityGroupInUse",
                format!("Security Group {id} in use."),
            ));
        }
        let rules: Vec<String> = self
            .security_group_rules
            .values()
            .filter(|r| str_of(r, "security_group_id") == id || str_of(r, "remote_group_id") == id)
            .map(|r| str_of(r, "id").to_string())
            .collect();
        for r in rules {
            self.drop_rule(&r);
        }
        self.security_groups.remove(id);
        Ok(())
    }
}
