//! Neutron v2.0: networks, subnets, ports, routers (interfaces, external gateway),
//! floating IPs, security groups and rules, tags and tag filters, marker/limit
//! pagination, and the conflicts and policy refusals the real Neutron answers with
//! (see `realcloud.md`).

pub mod kind;
mod quota;
pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use serde_json::{json, Value};

pub use kind::NKind;
pub use state::NeutronState;

use self::state::{bad, conflict, policy, touch};
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, protect, reply, Caller, Shared, St};
use crate::state::SimState;
use crate::store::{public, strs_of, Ctx, Params};

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

const EXTENSIONS: [&str; 20] = [
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
];

fn extension(alias: &str) -> Value {
    json!({"alias": alias, "name": alias, "description": alias, "updated": "2020-01-01T00:00:00-00:00", "links": []})
}

fn trim_json(s: &str) -> &str {
    s.strip_suffix(".json").unwrap_or(s)
}

fn kind_of(coll: &str) -> Result<NKind, ApiError> {
    NKind::from_url(trim_json(coll)).ok_or_else(|| {
        ApiError::neutron(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        )
    })
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::OK,
        json!({"versions": [{"id": "v2.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{base}/network/v2.0/")}]}]}),
    )
}

async fn root(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    let resources: Vec<Value> = NKind::ALL
        .iter()
        .map(|k| json!({"name": k.single(), "collection": k.plural(), "links": [{"rel": "self", "href": format!("{base}/network/v2.0/{}", k.url())}]}))
        .collect();
    reply(StatusCode::OK, json!({ "resources": resources }))
}

async fn list(
    State(s): St,
    Extension(ctx): Caller,
    Path(coll): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    if trim_json(&coll) == "extensions" {
        let ext: Vec<Value> = EXTENSIONS.iter().map(|a| extension(a)).collect();
        return Ok(reply(StatusCode::OK, json!({ "extensions": ext })));
    }
    // No VPN/LBaaS provider plugins here (openstacksdk's project cleanup asks).
    if trim_json(&coll) == "service-providers" {
        return Ok(reply(StatusCode::OK, json!({ "service_providers": [] })));
    }
    let k = kind_of(&coll)?;
    let params = Params::parse(q.as_deref());
    let mut st = s.lock();
    if k == NKind::SecurityGroup && !ctx.admin {
        st.neutron.ensure_default_sg(&ctx.project_id);
    }
    let base = st.base_url.clone();
    let listing = st.neutron.list(k, &ctx, &params, &base);
    // Serialized under the lock, from references: no copy of the page.
    Ok((StatusCode::OK, axum::Json(listing)).into_response())
}

async fn create(
    State(s): St,
    Extension(ctx): Caller,
    Path(coll): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let body = parse_body(Style::Neutron, &body)?;
    let obj = body_obj(Style::Neutron, &body, k.single())?;
    let created = s.lock().neutron.create(k, &ctx, obj)?;
    Ok(reply(
        StatusCode::CREATED,
        json!({ k.single(): public(&created) }),
    ))
}

async fn show(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let id = trim_json(&id);
    if trim_json(&coll) == "extensions" {
        return if EXTENSIONS.contains(&id) {
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
        return Ok(reply(StatusCode::OK, quota::neutron_limits(&st)));
    }
    let k = kind_of(&coll)?;
    let obj = st.neutron.find(k, id, &ctx)?;
    let fields = Params::parse(q.as_deref());
    Ok(reply(
        StatusCode::OK,
        json!({ k.single(): project_fields(public(obj), &fields.all("fields")) }),
    ))
}

async fn update(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let body = parse_body(Style::Neutron, &body)?;
    let obj = body_obj(Style::Neutron, &body, k.single())?;
    let updated = s.lock().neutron.update(k, &ctx, trim_json(&id), obj)?;
    Ok(reply(
        StatusCode::OK,
        json!({ k.single(): public(&updated) }),
    ))
}

/// `DELETE /v2.0/{kind}/{id}`, honouring the test hooks (409 N times, stuck).
async fn delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let id = trim_json(&id);
    let mut st = s.lock();
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

async fn sub_get(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, action)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    if coll == "quotas" && action == "details" {
        if !ctx.owns(&id) {
            return Err(policy("get_quota"));
        }
        return Ok(reply(StatusCode::OK, quota::neutron_details(&st, &id)));
    }
    let k = kind_of(&coll)?;
    let obj = st.neutron.find(k, &id, &ctx)?;
    if action != "tags" {
        return Err(ApiError::neutron(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        ));
    }
    Ok(reply(
        StatusCode::OK,
        json!({"tags": obj.get("tags").cloned().unwrap_or(json!([]))}),
    ))
}

async fn sub_put(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, action)): Path<(String, String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let body = parse_body(Style::Neutron, &body)?;
    let mut st = s.lock();
    match (k, trim_json(&action)) {
        (NKind::Router, "add_router_interface") => Ok(reply(
            StatusCode::OK,
            st.neutron.add_router_interface(&ctx, &id, &body)?,
        )),
        (NKind::Router, "remove_router_interface") => Ok(reply(
            StatusCode::OK,
            st.neutron.remove_router_interface(&ctx, &id, &body)?,
        )),
        (_, "tags") => {
            let tags = body
                .get("tags")
                .cloned()
                .filter(Value::is_array)
                .ok_or_else(|| bad("Invalid input: tags must be a list"))?;
            set_tags(&mut st.neutron, k, &ctx, &id, |t| {
                *t = tags.as_array().cloned().unwrap_or_default()
            })?;
            Ok(reply(StatusCode::OK, json!({ "tags": tags })))
        }
        _ => Err(ApiError::neutron(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        )),
    }
}

async fn sub_delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, action)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    if action != "tags" {
        return Err(ApiError::neutron(
            StatusCode::NOT_FOUND,
            "HTTPNotFound",
            "The resource could not be found.",
        ));
    }
    set_tags(&mut s.lock().neutron, k, &ctx, &id, Vec::clear)?;
    Ok(empty(StatusCode::NO_CONTENT))
}

fn set_tags(
    n: &mut NeutronState,
    k: NKind,
    ctx: &Ctx,
    id: &str,
    f: impl FnOnce(&mut Vec<Value>),
) -> Result<(), ApiError> {
    n.find_owned(k, id, ctx, "update")?;
    let obj = n.table_mut(k).get_mut(id).ok_or_else(|| k.not_found(id))?;
    let mut tags = obj
        .get("tags")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    f(&mut tags);
    obj.insert("tags".into(), Value::Array(tags));
    touch(obj);
    Ok(())
}

fn tag_not_found(tag: &str) -> ApiError {
    ApiError::neutron(
        StatusCode::NOT_FOUND,
        "TagNotFound",
        format!("Tag {tag} could not be found."),
    )
}

async fn tag_get(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let st = s.lock();
    let obj = st.neutron.find(k, &id, &ctx)?;
    if strs_of(obj, "tags").contains(&tag) {
        Ok(empty(StatusCode::NO_CONTENT))
    } else {
        Err(tag_not_found(&tag))
    }
}

async fn tag_put(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let t = json!(tag);
    set_tags(&mut s.lock().neutron, k, &ctx, &id, |tags| {
        if !tags.contains(&t) {
            tags.push(t);
        }
    })?;
    Ok(empty(StatusCode::CREATED))
}

async fn tag_delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((coll, id, tag)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let k = kind_of(&coll)?;
    let mut st = s.lock();
    let has = strs_of(st.neutron.find(k, &id, &ctx)?, "tags").contains(&tag);
    if !has {
        return Err(tag_not_found(&tag));
    }
    set_tags(&mut st.neutron, k, &ctx, &id, |tags| {
        tags.retain(|t| t.as_str() != Some(tag.as_str()))
    })?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Neutron's routes under `/network`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/network/v2.0", get(root))
        .route("/network/v2.0/", get(root))
        .route("/network/v2.0/{coll}", get(list).post(create))
        .route(
            "/network/v2.0/{coll}/{id}",
            get(show).put(update).delete(delete),
        )
        .route(
            "/network/v2.0/{coll}/{id}/{action}",
            get(sub_get).put(sub_put).delete(sub_delete),
        )
        .route(
            "/network/v2.0/{coll}/{id}/tags/{tag}",
            get(tag_get).put(tag_put).delete(tag_delete),
        );
    Router::new()
        .route("/network", get(versions))
        .route("/network/", get(versions))
        .merge(protect(api, &shared))
}
