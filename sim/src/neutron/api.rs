//! Neutron's collection and resource handlers: version and resource discovery, the
//! extension list, and list, create, show, update and delete of any kind (with the test
//! hooks that make a delete conflict or fail).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};

use super::kind::NKind;
use super::state::conflict;
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, reply, Caller, St};
use crate::state::SimState;
use crate::store::{public, Params};

fn project_fields(v: Value, fields: &[&str]) -> Value {
    if fields.is_empty() {
        return v;
    }
    match v {
        Value::Object(o) => Value::Object(
            o.into_iter()
                .filter(|(k, _)| fields.contains(&k.as_str()))
                .collect(),
        ),
        other => other,
    }
}

const EXTENSIONS: &[&str] = &[
    "agent",
    "allowed-address-pairs",
    "binding",
    "external-net",
    "ext-gw-mode",
    "extraroute",
    "quotas",
    "quota_details",
    "router",
    "security-group",
    "standard-attr-description",
    "standard-attr-revisions",
    "standard-attr-tag",
    "standard-attr-timestamp",
    "subnet_allocation",
    "tag-ext",
    "port-security",
    "project-id",
    "network-ip-availability",
    "stateful-security-group",
    super::trunks::TRUNK,
    "trunk-details",
    super::port_forwardings::PORT_FORWARDING,
    "expose-port-forwarding-in-fip",
];

/// The extensions loaded: all but those a test switched off.
fn loaded(st: &SimState) -> Vec<&'static str> {
    EXTENSIONS
        .iter()
        .copied()
        .filter(|a| st.neutron.offers(a))
        .collect()
}

fn extension(alias: &str) -> Value {
    json!({"alias": alias, "name": alias, "description": alias, "updated": "2020-01-01T00:00:00-00:00", "links": []})
}

pub(super) fn trim_json(s: &str) -> &str {
    s.strip_suffix(".json").unwrap_or(s)
}

pub(super) fn kind_of(coll: &str) -> Result<NKind, ApiError> {
    NKind::from_url(trim_json(coll)).ok_or_else(|| {
        ApiError::neutron(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        )
    })
}

pub(super) async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::OK,
        json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{base}/network/v2.0/")}]}]}),
    )
}

pub(super) async fn root(State(s): St) -> Response {
    let st = s.lock();
    let base = st.base_url.clone();
    let resources: Vec<Value> = NKind::ALL
        .iter()
        .filter(|k| st.neutron.check_kind(**k).is_ok())
        .map(|k| json!({"name": k.single(), "collection": k.plural(), "links": [{"rel": "self", "href": format!("{base}/network/v2.0/{}", k.url())}]}))
        .collect();
    reply(StatusCode::OK, json!({ "resources": resources }))
}

pub(super) async fn list(
    State(s): St,
    Extension(ctx): Caller,
    Path(coll): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if trim_json(&coll) == "extensions" {
        let ext: Vec<Value> = loaded(&s.lock()).iter().map(|a| extension(a)).collect();
        return Ok(reply(StatusCode::OK, json!({ "extensions": ext })));
    }
    // No VPN/LBaaS provider plugins here (openstacksdk's project cleanup asks).
    if trim_json(&coll) == "service-providers" {
        return Ok(reply(StatusCode::OK, json!({ "service_providers": [] })));
    }
    let k = kind_of(&coll)?;
    let params = Params::parse(q.as_deref());
    let mut st = s.lock();
    st.neutron.check_kind(k)?;
    if k == NKind::SecurityGroup && !ctx.admin {
        st.neutron.ensure_default_sg(&ctx.project_id);
    }
    let base = st.base_url.clone();
    let listing = st.neutron.list(k, &ctx, &params, &base);
    // Serialized under the lock, from references: no copy of the page.
    Ok((StatusCode::OK, axum::Json(listing)).into_response())
}

pub(super) async fn create(
    State(s): St,
    Extension(ctx): Caller,
    Path(coll): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let body = parse_body(Style::Neutron, &body)?;
    let obj = body_obj(Style::Neutron, &body, k.single())?;
    let mut st = s.lock();
    st.neutron.check_kind(k)?;
    let created = st.neutron.create(k, &ctx, obj)?;
    Ok(reply(
        StatusCode::CREATED,
        json!({ k.single(): public(&created) }),
    ))
}

pub(super) async fn show(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let id = trim_json(&id);
    if trim_json(&coll) == "extensions" {
        return if loaded(&s.lock()).contains(&id) {
            Ok(reply(StatusCode::OK, json!({ "extension": extension(id) })))
        } else {
            Err(ApiError::neutron(
                StatusCode::NOT_FOUND,
                "HTTPNotFound",
                format!("Extension with alias {id} does not exist"),
            ))
        };
    }
    let st = s.lock();
    if trim_json(&coll) == "quotas" {
        return Ok(reply(StatusCode::OK, super::quota::neutron_limits(&st)));
    }
    let k = kind_of(&coll)?;
    st.neutron.check_kind(k)?;
    let obj = st.neutron.find(k, id, &ctx)?;
    let fields = Params::parse(q.as_deref());
    Ok(reply(
        StatusCode::OK,
        json!({ k.single(): project_fields(public(obj), &fields.all("fields")) }),
    ))
}

pub(super) async fn update(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let body = parse_body(Style::Neutron, &body)?;
    let obj = body_obj(Style::Neutron, &body, k.single())?;
    let mut st = s.lock();
    st.neutron.check_kind(k)?;
    let updated = st.neutron.update(k, &ctx, trim_json(&id), obj)?;
    Ok(reply(
        StatusCode::OK,
        json!({ k.single(): public(&updated) }),
    ))
}

/// `DELETE /v2.0/{kind}/{id}`, honouring the test hooks (409 N times, stuck).
pub(super) async fn delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let id = trim_json(&id);
    let mut st = s.lock();
    st.neutron.check_kind(k)?;
    st.neutron.find(k, id, &ctx)?;
    hooks(&mut st, k, id)?;
    st.neutron.delete(k, &ctx, id)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// The injected 409 and "stuck" answers of a delete (a stuck Neutron resource answers 500).
fn hooks(st: &mut SimState, k: NKind, id: &str) -> Result<(), ApiError> {
    if st.take_conflict(k.word(), id) {
        let ty = match k {
            NKind::Network => "NetworkInUse",
            NKind::Subnet => "SubnetInUse",
            NKind::Router => "RouterInUse",
            NKind::SecurityGroup => "SecurityGroupInUse",
            NKind::Port => "PortInUse",
            NKind::Trunk => "TrunkInUse",
            _ => "Conflict",
        };
        return Err(conflict(
            ty,
            format!("{} {id} is in use (injected).", k.single()),
        ));
    }
    if st.stuck.contains(&(k.word().to_string(), id.to_string())) {
        return Err(ApiError::neutron(
            StatusCode::INTERNAL_SERVER_ERROR,
            "HTTPInternalServerError",
            "Request Failed: internal server error while processing your request.",
        ));
    }
    Ok(())
}
