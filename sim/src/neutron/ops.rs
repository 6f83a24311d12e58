//! The model's entry points by kind, as the HTTP handlers call them: create, update the
//! writable fields, delete with the kind's rules, and list a page with Neutron's filters.

use serde_json::{json, Value};

use super::kind::NKind;
use super::state::{touch, NeutronState};
use crate::error::ApiError;
use crate::store::{
    field_matches, next_link, page, str_of, strs_of, Ctx, Listing, Obj, Params, TagFilter,
};

impl NeutronState {
    /// Creates a resource of any kind from a request body.
    pub fn create(&mut self, k: NKind, ctx: &Ctx, body: Obj) -> Result<Obj, ApiError> {
        match k {
            NKind::Network => self.create_network(ctx, body),
            NKind::Subnet => self.create_subnet(ctx, body),
            NKind::Port => self.create_port(ctx, body),
            NKind::Router => self.create_router(ctx, body),
            NKind::FloatingIp => self.create_floatingip(ctx, body),
            NKind::SecurityGroup => Ok(self.create_security_group(ctx, body)),
            NKind::SecurityGroupRule => self.create_rule(ctx, body),
            NKind::Trunk => self.create_trunk(ctx, body),
        }
    }

    /// Updates the writable fields of a resource.
    pub fn update(&mut self, k: NKind, ctx: &Ctx, id: &str, body: Obj) -> Result<Obj, ApiError> {
        self.find_owned(k, id, ctx, "update")?;
        if k == NKind::Router {
            if let Some(gw) = body.get("external_gateway_info") {
                self.set_gateway(ctx, id, gw)?;
            }
        }
        if k == NKind::FloatingIp {
            if let Some(port) = body.get("port_id") {
                match port.as_str() {
                    Some(port_id) => {
                        self.refuse_if_forwarded(id)?;
                        self.associate(ctx, id, port_id)?
                    }
                    None => {
                        if let Some(f) = self.floatingips.get_mut(id) {
                            NeutronState::disassociate(f);
                        }
                    }
                }
            }
        }
        let mut sgs = None;
        if k == NKind::Port {
            if let Some(list) = body.get("security_groups").and_then(Value::as_array) {
                let mut ids = Vec::new();
                for g in list.iter().filter_map(Value::as_str) {
                    ids.push(json!(self.resolve_sg(g, ctx)?));
                }
                sgs = Some(Value::Array(ids));
            }
        }
        let writable = [
            "name",
            "description",
            "admin_state_up",
            "shared",
            "mtu",
            "port_security_enabled",
            "device_id",
            "device_owner",
            "dns_nameservers",
            "enable_dhcp",
            "gateway_ip",
            "allocation_pools",
            "host_routes",
            "routes",
            "stateful",
            "tags",
            "binding:host_id",
            "allowed_address_pairs",
            "fixed_ips",
        ];
        let obj = self
            .table_mut(k)
            .get_mut(id)
            .ok_or_else(|| k.not_found(id))?;
        for key in writable {
            if let Some(v) = body.get(key) {
                obj.insert(key.into(), v.clone());
            }
        }
        if let Some(sgs) = sgs {
            obj.insert("security_groups".into(), sgs);
        }
        if k == NKind::Port && body.contains_key("device_id") {
            let bound = !str_of(obj, "device_id").is_empty();
            obj.insert(
                "status".into(),
                json!(if bound { "ACTIVE" } else { "DOWN" }),
            );
        }
        touch(obj);
        Ok(obj.clone())
    }

    /// Deletes a resource as the real Neutron does, with its conflicts and policy.
    pub fn delete(&mut self, k: NKind, ctx: &Ctx, id: &str) -> Result<(), ApiError> {
        let obj = self.find_owned(k, id, ctx, "delete")?.clone();
        match k {
            NKind::Network => self.delete_network(id, &obj)?,
            NKind::Subnet => self.delete_subnet(id, &obj)?,
            NKind::Port => self.delete_port(ctx, id, &obj)?,
            NKind::Router => self.delete_router(ctx, id)?,
            NKind::FloatingIp => {
                self.refuse_if_forwarded(id)?;
                self.delete_floatingip_internal(id)
            }
            NKind::SecurityGroup => self.delete_security_group(ctx, id, &obj)?,
            NKind::SecurityGroupRule => self.drop_rule(id),
            NKind::Trunk => self.delete_trunk(id, &obj)?,
        }
        Ok(())
    }

    /// One page of a list, with the caller's visibility, filters and `*_links`.
    pub fn list<'a>(&'a self, k: NKind, ctx: &Ctx, params: &'a Params, base: &str) -> Listing<'a> {
        let tags = TagFilter::from_params(params);
        let reserved = [
            "limit",
            "marker",
            "page_reverse",
            "sort_key",
            "sort_dir",
            "fields",
            "tags",
            "tags-any",
            "not-tags",
            "not-tags-any",
            "fixed_ips",
        ];
        let mut filters: Vec<(&str, Vec<&str>)> = Vec::new();
        for (key, _) in &params.0 {
            if !reserved.contains(&key.as_str()) && !filters.iter().any(|(k2, _)| k2 == key) {
                filters.push((key, params.all(key)));
            }
        }
        let fixed: Vec<(String, String)> = params
            .all("fixed_ips")
            .iter()
            .filter_map(|f| {
                f.split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
            })
            .collect();
        let keep = |o: &Obj| {
            self.visible(k, o, ctx)
                && (tags.is_empty() || tags.matches(&strs_of(o, "tags")))
                && filters.iter().all(|(key, wanted)| match o.get(*key) {
                    Some(Value::Array(a)) => wanted
                        .iter()
                        .any(|w| a.iter().any(|v| v.as_str() == Some(w))),
                    Some(v) => wanted.iter().any(|w| field_matches(v, w)),
                    None => true,
                })
                && fixed.iter().all(|(fk, fv)| {
                    o.get("fixed_ips")
                        .and_then(Value::as_array)
                        .is_some_and(|ips| {
                            ips.iter().any(|ip| ip[fk.as_str()].as_str() == Some(fv))
                        })
                })
        };
        let (items, full) = page(self.table(k), params.get("marker"), params.limit(), keep);
        let mut body = Listing {
            key: k.plural(),
            items,
            fields: params.all("fields"),
            extra: Vec::new(),
        };
        if params.limit().is_some() {
            let items = &body.items;
            let mut links = Vec::new();
            if full {
                if let Some(last) = items.last() {
                    links.push(next_link(
                        &format!("{base}/network/v2.0/{}", k.url()),
                        params,
                        str_of(last, "id"),
                    ));
                }
            }
            if let (Some(first), Some(_)) = (items.first(), params.get("marker")) {
                let mut p = params.clone();
                p.0.retain(|(key, _)| key != "page_reverse");
                p.0.push(("page_reverse".into(), "True".into()));
                let mut link = next_link(
                    &format!("{base}/network/v2.0/{}", k.url()),
                    &p,
                    str_of(first, "id"),
                );
                link["rel"] = json!("previous");
                links.push(link);
            }
            body.extra
                .push((format!("{}_links", k.plural()), Value::Array(links)));
        }
        body
    }
}
