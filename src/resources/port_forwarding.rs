//! Neutron floating IP port forwardings (`/floatingips/{fip}/port_forwardings`, the
//! `floating-ip-port-forwarding` extension). A forwarding has no tags, name, project
//! or creation time: it **follows its floating IP**, selected exactly when the floating
//! IP is (and the kind filters allow it). It is then deleted before its floating IP, and
//! before its internal port when that port goes too. A forwarding is attached to its
//! internal port: one to a port we keep is left alone (skipped, "attached to port P"),
//! and its floating IP stays with it (Neutron refuses to release a floating IP that has
//! forwardings: 409 `FipInUseByPortForwarding`, seen on the real bed). One to a port that only goes with its server waits until the port
//! is gone (Neutron deletes a port's forwardings with it). A forwarding of a kept
//! floating IP keeps its internal port. Listed per floating IP; a cloud without the
//! extension answers 404 on `/extensions/floating-ip-port-forwarding`: absent.

use futures::StreamExt;
use serde_json::Value;

use super::{
    api_error, segment, Api, Hooks, Kind, KindSpec, Obj, ParseError, Reference, Relation,
    Resource, ResourceError,
};
use crate::openstack::{Service, Session};

/// The role of a forwarding's reference to its floating IP.
const FLOATING_IP: &str = "floating IP";

pub(super) static SPEC: KindSpec = KindSpec {
    kind: Kind::PortForwarding,
    name: "port-forwarding",
    service: Service::Network,
    api: Api {
        list_path: "/floatingips",
        collection: "port_forwardings",
        item_prefix: "/floatingips/",
        item_key: Some("port_forwarding"),
    },
    parse,
    tags: false,
    metadata: false,
    deletes_asynchronously: false,
    blockers: &[Kind::FloatingIp, Kind::Stack],
    rank: 25,
    stuck: &[],
    stuck_after_delete: &[],
    wrong_state_statuses: &[],
    named_by_description: false,
    follows: Some(FLOATING_IP),
    hooks: Hooks {
        list: Some(|session| Box::pin(list(session))),
        item_path: Some(path),
        after_read: Some(keep_floating_ip),
        ..Hooks::NONE
    },
};

/// One forwarding as the API sends it. Its floating IP is not in the item: [`list`]
/// adds it as `floatingip_id`.
pub(super) fn parse(v: &Value) -> Result<Resource, ParseError> {
    let o = Obj::new(Kind::PortForwarding, v)?;
    let mut r = Resource::new(Kind::PortForwarding, o.required("id")?);
    r.description = o.string("description")?;
    let protocol = o.string("protocol")?;
    let external = match o.raw("external_port") {
        Some(Value::Number(n)) => n.to_string(),
        _ => o.string("external_port_range")?,
    };
    r.name = format!("{protocol}/{external}");
    if let Some(fip) = o.str("floatingip_id")? {
        r.refs.push(Reference::new(
            Relation::Needs,
            Kind::FloatingIp,
            fip,
            FLOATING_IP,
        ));
    }
    let port = o.required("internal_port_id")?;
    r.refs.push(Reference::new(
        Relation::AttachedTo,
        Kind::Port,
        port,
        "internal port",
    ));
    Ok(r)
}

/// The floating IP a forwarding belongs to.
fn floating_ip(r: &Resource) -> &str {
    r.refs
        .iter()
        .find(|x| x.role == FLOATING_IP)
        .map_or("", |x| x.id.as_str())
}

/// `/floatingips/{fip}/port_forwardings/{id}`.
fn path(r: &Resource) -> String {
    format!(
        "/floatingips/{}/port_forwardings/{}",
        segment(floating_ip(r)),
        segment(&r.id)
    )
}

/// Keeps the floating IP, which a show of the forwarding does not repeat.
fn keep_floating_ip(known: &Resource, mut fresh: Resource) -> Option<Resource> {
    let fip = known.refs.iter().filter(|x| x.role == FLOATING_IP);
    fresh.refs.extend(fip.cloned());
    Some(fresh)
}

/// The id of a floating IP whose forwardings must be listed: every one, unless its body
/// says it has none. Neutron's `expose-port-forwarding-in-fip` (loaded with the
/// forwarding plugin) shows a floating IP's forwardings in its own body, but without
/// their descriptions or port ranges, so only a floating IP showing an empty list is
/// left out; one without the field (a Neutron older than the extension) is listed.
/// CI floating IPs rarely forward ports: this spares a request per floating IP.
fn may_have_forwardings(v: Value) -> Option<String> {
    let none = v
        .get("port_forwardings")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty);
    if none {
        return None;
    }
    v.get("id").and_then(Value::as_str).map(str::to_owned)
}

/// How many floating IPs' forwardings are listed at once (at most: the session's pacing
/// of Neutron decides how many are in flight).
const FIPS_AT_ONCE: usize = 64;

/// Asks whether the extension is there, then lists the forwardings of every floating
/// IP of the project.
async fn list(session: &Session) -> Result<Vec<Resource>, ResourceError> {
    let kind = Kind::PortForwarding;
    session
        .get(Service::Network, "/extensions/floating-ip-port-forwarding")
        .await
        .map_err(api_error(kind))?;
    let fips = session
        .list_map(Service::Network, "/floatingips", "floatingips", may_have_forwardings)
        .await
        .map_err(api_error(kind))?;
    // One list per floating IP that may have forwardings, many at once (the session
    // paces Neutron): one after the other they made the listing as long as the floating
    // IPs times the latency.
    let per_fip = fips.into_iter().flatten().map(|fip| async move {
        let path = format!("/floatingips/{}/port_forwardings", segment(&fip));
        session
            .list_map(Service::Network, &path, "port_forwardings", |mut v| {
                if let Value::Object(o) = &mut v {
                    o.insert("floatingip_id".into(), Value::String(fip.clone()));
                }
                parse(&v)
            })
            .await
    });
    let mut lists = futures::stream::iter(per_fip).buffered(FIPS_AT_ONCE);
    let mut out = Vec::new();
    while let Some(items) = lists.next().await {
        match items {
            Ok(items) => {
                for item in items {
                    out.push(item?);
                }
            }
            // The floating IP went between the two listings: nothing of it is left.
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(api_error(kind)(e)),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A forwarding needs its floating IP, is attached to its internal port, is named
    /// by protocol and external port, and its path goes through the floating IP.
    #[test]
    fn parses_a_forwarding() {
        let r = parse(&json!({"id": "pf1", "protocol": "tcp", "external_port": 2222,
            "internal_port": 22, "internal_ip_address": "10.0.0.5",
            "internal_port_id": "p1", "description": "", "floatingip_id": "f1"}))
        .unwrap();
        assert_eq!(r.name, "tcp/2222");
        assert_eq!(path(&r), "/floatingips/f1/port_forwardings/pf1");
        assert_eq!(r.refs[0].relation, Relation::Needs);
        assert_eq!(r.refs[1].relation, Relation::AttachedTo);
        let fresh = parse(&json!({"id": "pf1", "internal_port_id": "p1"})).unwrap();
        assert_eq!(floating_ip(&keep_floating_ip(&r, fresh).unwrap()), "f1");
        assert!(parse(&json!({"id": "pf2"})).is_err());
    }

    /// A floating IP whose body shows no forwardings is not asked for them; one that
    /// shows some, or says nothing (an older Neutron), is.
    #[test]
    fn only_floating_ips_that_may_forward_are_asked() {
        let none = json!({"id": "f1", "port_forwardings": []});
        let some = json!({"id": "f2", "port_forwardings": [{"id": "pf1"}]});
        let silent = json!({"id": "f3"});
        let null = json!({"id": "f4", "port_forwardings": null});
        assert_eq!(may_have_forwardings(none), None);
        assert_eq!(may_have_forwardings(some).as_deref(), Some("f2"));
        assert_eq!(may_have_forwardings(silent).as_deref(), Some("f3"));
        assert_eq!(may_have_forwardings(null).as_deref(), Some("f4"));
    }
}
