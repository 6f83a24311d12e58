//! Neutron's model: every resource in its table, the attributes all of them share, who
//! sees what, and the policy, conflict and bad-request answers the rules give. The rules
//! of each kind are in the files beside this one (`networks.rs`, `ports.rs`, ...).

use std::collections::HashMap;

use axum::http::StatusCode;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::kind::NKind;
use crate::error::ApiError;
use crate::store::{fmt_z, new_id, str_of, strs_of, Ctx, Obj, Table};

pub(super) fn policy(action: &str) -> ApiError {
    ApiError::neutron(
        StatusCode::FORBIDDEN,
        "PolicyNotAuthorized",
        format!("rule:{action} is disallowed by policy"),
    )
}

pub(super) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::neutron(StatusCode::BAD_REQUEST, "HTTPBadRequest", msg)
}

pub(super) fn conflict(ty: &str, msg: impl Into<String>) -> ApiError {
    ApiError::neutron(StatusCode::CONFLICT, ty, msg)
}

/// All of Neutron's resources.
#[derive(Debug, Default)]
pub struct NeutronState {
    /// Networks.
    pub networks: Table,
    /// Subnets.
    pub subnets: Table,
    /// Ports (indexed: see `indexes.rs`).
    pub ports: Table,
    /// Routers.
    pub routers: Table,
    /// Floating IPs.
    pub floatingips: Table,
    /// Security groups.
    pub security_groups: Table,
    /// Security group rules.
    pub security_group_rules: Table,
    /// Trunks.
    pub trunks: Table,
    /// Floating IP port forwardings (`_fip`: the floating IP they belong to).
    pub port_forwardings: Table,
    /// Extensions this Neutron does not load (tests of a cloud without `trunk` or
    /// `floating-ip-port-forwarding`): their paths answer 404.
    pub disabled_extensions: Vec<String>,
    /// The admin-owned external network `public`.
    pub public_network_id: String,
    /// Its subnet `public-subnet`.
    pub public_subnet_id: String,
    /// Next host number to hand out, per subnet.
    pub(super) next_host: HashMap<String, u32>,
    /// MAC addresses handed out so far.
    pub(super) macs: u64,
}

/// Id, project, name, description, tags and timestamps every Neutron resource has.
pub(super) fn std_attrs(project: &str, body: &Obj) -> Obj {
    let now = fmt_z(Timestamp::now());
    let mut o = Obj::new();
    o.insert("id".into(), json!(new_id()));
    o.insert("name".into(), json!(str_of(body, "name")));
    o.insert("description".into(), json!(str_of(body, "description")));
    o.insert("project_id".into(), json!(project));
    o.insert("tenant_id".into(), json!(project));
    o.insert("tags".into(), json!(strs_of(body, "tags")));
    o.insert("created_at".into(), json!(now));
    o.insert("updated_at".into(), json!(now));
    o.insert("revision_number".into(), json!(0));
    o
}

/// Marks a resource changed: newer `updated_at`, higher `revision_number`.
pub(super) fn touch(o: &mut Obj) {
    o.insert("updated_at".into(), json!(fmt_z(Timestamp::now())));
    let rev = o
        .get("revision_number")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    o.insert("revision_number".into(), json!(rev + 1));
}

/// The project a create is for: the caller's, or any one an admin names.
pub(super) fn owner_of(ctx: &Ctx, body: &Obj) -> String {
    let asked = body
        .get("project_id")
        .or_else(|| body.get("tenant_id"))
        .and_then(Value::as_str);
    match asked {
        Some(p) if ctx.admin => p.to_string(),
        _ => ctx.project_id.clone(),
    }
}

impl NeutronState {
    /// Whether the extension `alias` is loaded (not switched off by a test).
    pub fn offers(&self, alias: &str) -> bool {
        !self.disabled_extensions.iter().any(|d| d == alias)
    }

    /// The 404 of a path whose extension is not loaded.
    pub(super) fn check_extension(&self, alias: &str) -> Result<(), ApiError> {
        if self.offers(alias) {
            Ok(())
        } else {
            Err(ApiError::neutron(
                StatusCode::NOT_FOUND,
                "HTTPNotFound",
                "The resource could not be found.",
            ))
        }
    }

    /// The kind's extension is loaded (trunks need `trunk`).
    pub(super) fn check_kind(&self, k: NKind) -> Result<(), ApiError> {
        match k {
            NKind::Trunk => self.check_extension(super::trunks::TRUNK),
            _ => Ok(()),
        }
    }

    /// The table of a kind.
    pub fn table(&self, k: NKind) -> &Table {
        match k {
            NKind::Network => &self.networks,
            NKind::Subnet => &self.subnets,
            NKind::Port => &self.ports,
            NKind::Router => &self.routers,
            NKind::FloatingIp => &self.floatingips,
            NKind::SecurityGroup => &self.security_groups,
            NKind::SecurityGroupRule => &self.security_group_rules,
            NKind::Trunk => &self.trunks,
        }
    }

    pub(super) fn table_mut(&mut self, k: NKind) -> &mut Table {
        match k {
            NKind::Network => &mut self.networks,
            NKind::Subnet => &mut self.subnets,
            NKind::Port => &mut self.ports,
            NKind::Router => &mut self.routers,
            NKind::FloatingIp => &mut self.floatingips,
            NKind::SecurityGroup => &mut self.security_groups,
            NKind::SecurityGroupRule => &mut self.security_group_rules,
            NKind::Trunk => &mut self.trunks,
        }
    }

    pub(super) fn net_is_public(&self, net_id: &str) -> bool {
        self.networks.get(net_id).is_some_and(|n| {
            n.get("shared") == Some(&json!(true)) || n.get("router:external") == Some(&json!(true))
        })
    }

    /// Whether the caller can see this resource (own project, shared or external nets,
    /// groups shared with every project by RBAC).
    pub(super) fn visible(&self, k: NKind, obj: &Obj, ctx: &Ctx) -> bool {
        if ctx.owns(str_of(obj, "project_id")) {
            return true;
        }
        match k {
            NKind::Network => self.net_is_public(str_of(obj, "id")),
            NKind::Subnet => self.net_is_public(str_of(obj, "network_id")),
            NKind::SecurityGroup => obj.get("shared") == Some(&json!(true)),
            _ => false,
        }
    }

    /// A resource the caller can see, or the kind's 404.
    pub(super) fn find(&self, k: NKind, id: &str, ctx: &Ctx) -> Result<&Obj, ApiError> {
        self.table(k)
            .get(id)
            .filter(|o| self.visible(k, o, ctx))
            .ok_or_else(|| k.not_found(id))
    }

    /// A resource the caller owns: 404 if unseen, 403 if seen but someone else's.
    pub(super) fn find_owned(
        &self,
        k: NKind,
        id: &str,
        ctx: &Ctx,
        action: &str,
    ) -> Result<&Obj, ApiError> {
        let obj = self.find(k, id, ctx)?;
        if !ctx.owns(str_of(obj, "project_id")) {
            return Err(policy(&format!("{action}_{}", k.single())));
        }
        Ok(obj)
    }
}
