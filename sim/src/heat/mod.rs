//! Heat v1: stacks whose templates create real simulated resources (networks, subnets,
//! ports, security groups, volumes, servers), `DELETE_IN_PROGRESS` then gone (or
//! `DELETE_FAILED` when stuck), the stack's resource list, tag filters.

pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::{Extension, Router};
use jiff::Timestamp;
use serde_json::{json, Value};

pub use state::HeatState;

use crate::error::{ApiError, Style};
use crate::http::{empty, parse_body, protect, reply, Caller, Shared, St};
use crate::neutron::kind::NKind;
use crate::state::{Job, SimState};
use crate::store::{fmt_z, new_id, next_link, page, public, str_of, Ctx, Obj, Params};

fn err(status: StatusCode, kind: &str, msg: impl Into<String>) -> ApiError {
    ApiError::new(Style::Heat, status, kind, msg)
}

fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        "EntityNotFound",
        format!("The Stack ({id}) could not be found."),
    )
}

fn tags_of(o: &Obj) -> Vec<String> {
    match o.get("tags") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => s
            .split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// A stack the caller sees, by id or name.
fn find<'a>(st: &'a SimState, ctx: &Ctx, name_or_id: &str) -> Result<&'a Obj, ApiError> {
    st.heat
        .stacks
        .get(name_or_id)
        .or_else(|| {
            st.heat
                .stacks
                .values()
                .find(|s| str_of(s, "stack_name") == name_or_id)
        })
        .filter(|s| ctx.owns(str_of(s, "project")))
        .ok_or_else(|| not_found(name_or_id))
}

/// The template's resources, from a JSON object or a YAML/JSON string.
fn template_resources(t: &Value) -> Vec<(String, Value)> {
    let parsed = match t {
        Value::String(s) => serde_saphyr::from_str::<Value>(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    parsed
        .get("resources")
        .and_then(Value::as_object)
        .map(|r| r.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// `{get_resource: X}` → X's physical id.
fn resolve(v: &Value, made: &[(String, String, String, String)]) -> String {
    match v.get("get_resource").and_then(Value::as_str) {
        Some(name) => made
            .iter()
            .find(|m| m.0 == name)
            .map(|m| m.3.clone())
            .unwrap_or_default(),
        None => v.as_str().unwrap_or("").to_string(),
    }
}

/// Creates the physical resources of a template; returns (logical name, type, kind, id).
fn build(
    st: &mut SimState,
    ctx: &Ctx,
    stack: &str,
    template: &Value,
) -> Result<Vec<(String, String, String, String)>, ApiError> {
    let mut made: Vec<(String, String, String, String)> = Vec::new();
    for (name, res) in template_resources(template) {
        let ty = res["type"].as_str().unwrap_or("").to_string();
        let props = res.get("properties").cloned().unwrap_or(json!({}));
        let pname = props
            .get("name")
            .and_then(Value::as_str)
            .map(String::from)
            .unwrap_or_else(|| format!("{stack}-{name}-{}", &new_id()[..8]));
        let obj = |v: Value| v.as_object().cloned().unwrap_or_default();
        let (kind, id) = match ty.as_str() {
            "OS::Neutron::Net" => (
                "network",
                st.neutron
                    .create_network(ctx, obj(json!({ "name": pname })))?,
            ),
            "OS::Neutron::Subnet" => {
                let net = resolve(&props["network"], &made);
                let body = json!({"name": pname, "network_id": net, "cidr": props["cidr"], "ip_version": 4});
                ("subnet", st.neutron.create_subnet(ctx, obj(body))?)
            }
            "OS::Neutron::Port" => {
                let net = resolve(&props["network"], &made);
                (
                    "port",
                    st.neutron
                        .create_port(ctx, obj(json!({"name": pname, "network_id": net})))?,
                )
            }
            "OS::Neutron::SecurityGroup" => (
                "security-group",
                st.neutron
                    .create_security_group(ctx, obj(json!({ "name": pname }))),
            ),
            "OS::Neutron::Router" => (
                "router",
                st.neutron
                    .create_router(ctx, obj(json!({ "name": pname })))?,
            ),
            "OS::Cinder::Volume" => {
                let body =
                    json!({"name": pname, "size": props.get("size").cloned().unwrap_or(json!(1))});
                ("volume", crate::cinder::create_volume(st, ctx, obj(body))?)
            }
            "OS::Nova::Server" => {
                let nets: Vec<Value> = props["networks"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .iter()
                    .map(|n| match n.get("port") {
                        Some(p) => json!({ "port": resolve(p, &made) }),
                        None => json!({ "uuid": resolve(&n["network"], &made) }),
                    })
                    .collect();
                let body = json!({"name": pname, "flavorRef": "1", "imageRef": st.glance.default_image, "networks": if nets.is_empty() { json!("none") } else { json!(nets) }});
                ("server", crate::nova::create_server(st, ctx, &obj(body))?)
            }
            _ => continue,
        };
        made.push((name, ty, kind.to_string(), str_of(&id, "id").to_string()));
    }
    Ok(made)
}

/// Removes a stack's physical resources, dependents first.
fn tear_down(st: &mut SimState, resources: &[Value]) {
    let admin = Ctx {
        project_id: String::new(),
        user_id: String::new(),
        admin: true,
    };
    let of = |k: &str| -> Vec<String> {
        resources
            .iter()
            .filter(|r| r["_kind"] == k)
            .filter_map(|r| r["physical_resource_id"].as_str().map(String::from))
            .collect()
    };
    for id in of("server") {
        if st.nova.servers.remove(&id).is_some() {
            let ports: Vec<String> = st
                .neutron
                .ports
                .by(&crate::neutron::indexes::PORTS_BY_DEVICE, &id)
                .into_iter()
                .filter(|p| str_of(p, "device_id") == id)
                .map(|p| str_of(p, "id").to_string())
                .collect();
            for p in ports {
                st.neutron.delete_port_internal(&p);
            }
        }
    }
    for (kind, nk) in [
        ("port", NKind::Port),
        ("router", NKind::Router),
        ("subnet", NKind::Subnet),
        ("network", NKind::Network),
        ("security-group", NKind::SecurityGroup),
    ] {
        for id in of(kind) {
            let _ = st.neutron.delete(nk, &admin, &id);
        }
    }
    for id in of("volume") {
        st.cinder.remove_volume(&id);
    }
}

fn view(s: &Obj, base: &str) -> Value {
    let mut v = public(s);
    let (name, id) = (str_of(s, "stack_name"), str_of(s, "id"));
    v["links"] = json!([{"rel": "self", "href": format!("{base}/heat-api/v1/{}/stacks/{name}/{id}", str_of(s, "project"))}]);
    v
}

async fn list(State(s): St, Extension(ctx): Caller, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let (all, any, not_all, not_any) = (
        p.list("tags"),
        p.list("tags_any"),
        p.list("not_tags"),
        p.list("not_tags_any"),
    );
    let st = s.lock();
    let (items, full) = page(&st.heat.stacks, p.get("marker"), p.limit(), |x| {
        let tags = tags_of(x);
        let has = |t: &String| tags.contains(t);
        ctx.owns(str_of(x, "project"))
            && (all.is_empty() || all.iter().all(has))
            && (any.is_empty() || any.iter().any(has))
            && (not_all.is_empty() || !not_all.iter().all(has))
            && (not_any.is_empty() || !not_any.iter().any(has))
            && p.get("stack_name")
                .or(p.get("name"))
                .is_none_or(|n| str_of(x, "stack_name") == n)
            && p.get("status")
                .is_none_or(|n| str_of(x, "stack_status").ends_with(n))
    });
    let out: Vec<Value> = items.iter().map(|x| view(x, &st.base_url)).collect();
    let mut body = json!({ "stacks": out });
    if full {
        if let Some(last) = items.last() {
            body["links"] = json!([next_link(
                &format!("{}/heat-api/v1/{}/stacks", st.base_url, ctx.project_id),
                &p,
                str_of(last, "id")
            )]);
        }
    }
    reply(StatusCode::OK, body)
}

/// Creates a stack (`CREATE_COMPLETE` at once) and the resources of its template.
pub fn create_stack(st: &mut SimState, ctx: &Ctx, body: &Value) -> Result<Obj, ApiError> {
    let name = body["stack_name"].as_str().unwrap_or("").to_string();
    if name.is_empty() {
        return Err(err(
            StatusCode::BAD_REQUEST,
            "HTTPBadRequest",
            "The Parameter (stack_name) was not provided.",
        ));
    }
    if st
        .heat
        .stacks
        .values()
        .any(|s| str_of(s, "stack_name") == name && str_of(s, "project") == ctx.project_id)
    {
        return Err(err(
            StatusCode::CONFLICT,
            "StackExists",
            format!("The Stack ({name}) already exists."),
        ));
    }
    let made = build(st, ctx, &name, &body["template"])?;
    let tags: Vec<String> = match &body["tags"] {
        Value::String(s) => s
            .split(',')
            .filter(|t| !t.is_empty())
            .map(String::from)
            .collect(),
        Value::Array(a) => a
            .iter()
            .filter_map(|t| t.as_str().map(String::from))
            .collect(),
        _ => Vec::new(),
    };
    let id = new_id();
    let resources: Vec<Value> = made
        .iter()
        .map(|(logical, ty, kind, phys)| json!({"resource_name": logical, "logical_resource_id": logical, "resource_type": ty,
            "physical_resource_id": phys, "resource_status": "CREATE_COMPLETE", "resource_status_reason": "state changed",
            "_kind": kind, "parent_resource": null, "required_by": [], "links": []}))
        .collect();
    let stack = json!({"id": id, "stack_name": name, "stack_status": "CREATE_COMPLETE", "stack_status_reason": "Stack CREATE completed successfully",
        "creation_time": fmt_z(Timestamp::now()), "updated_time": null, "deletion_time": null,
        "description": body["template"].get("description").cloned().unwrap_or(json!("")),
        "tags": if tags.is_empty() { Value::Null } else { json!(tags) }, "project": ctx.project_id, "stack_owner": null,
        "stack_user_project_id": ctx.project_id, "parent": null, "_resources": resources});
    let Value::Object(stack) = stack else {
        return Err(err(StatusCode::INTERNAL_SERVER_ERROR, "Error", "internal"));
    };
    st.heat.stacks.insert(stack.clone());
    Ok(stack)
}

async fn create(State(s): St, Extension(ctx): Caller, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(Style::Heat, &body)?;
    let mut st = s.lock();
    let stack = create_stack(&mut st, &ctx, &body)?;
    let v = view(&stack, &st.base_url);
    Ok(reply(
        StatusCode::CREATED,
        json!({"stack": {"id": v["id"], "links": v["links"]}}),
    ))
}

async fn show(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(
        StatusCode::OK,
        json!({"stack": view(find(&st, &ctx, &name)?, &st.base_url)}),
    ))
}

async fn show_full(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, _, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(
        StatusCode::OK,
        json!({"stack": view(find(&st, &ctx, &id)?, &st.base_url)}),
    ))
}

async fn resources(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, _, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let stack = find(&st, &ctx, &id)?;
    let list: Vec<Value> = stack["_resources"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|mut r| {
            if let Value::Object(o) = &mut r {
                o.remove("_kind");
            }
            r
        })
        .collect();
    Ok(reply(StatusCode::OK, json!({ "resources": list })))
}

/// Starts a stack delete: `DELETE_IN_PROGRESS`, then gone with its resources (or
/// `DELETE_FAILED` when stuck).
pub fn delete_stack(st: &mut SimState, ctx: &Ctx, id: &str) -> Result<Vec<Job>, ApiError> {
    let stack = find(st, ctx, id)?;
    let id = str_of(stack, "id").to_string();
    if str_of(stack, "stack_status") == "DELETE_IN_PROGRESS" {
        return Ok(Vec::new());
    }
    if st.take_conflict("stack", &id) {
        return Err(err(
            StatusCode::CONFLICT,
            "ActionInProgress",
            format!("Stack {id} already has an action (UPDATE) in progress."),
        ));
    }
    if let Some(s) = st.heat.stacks.get_mut(&id) {
        s.insert("stack_status".into(), json!("DELETE_IN_PROGRESS"));
        s.insert("stack_status_reason".into(), json!("Stack DELETE started"));
    }
    Ok(vec![Job::after(st.delays.other_delete, move |st| {
        if st.take_stuck("stack", &id) {
            if let Some(s) = st.heat.stacks.get_mut(&id) {
                s.insert("stack_status".into(), json!("DELETE_FAILED"));
                s.insert(
                    "stack_status_reason".into(),
                    json!("Resource DELETE failed: Conflict: resource still in use (injected)"),
                );
            }
            return Vec::new();
        }
        if let Some(s) = st.heat.stacks.remove(&id) {
            let res = s
                .get("_resources")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            tear_down(st, &res);
        }
        Vec::new()
    })])
}

async fn delete(
    State(s): St,
    Extension(ctx): Caller,
    Path((_, _, id)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    let jobs = delete_stack(&mut s.lock(), &ctx, &id)?;
    s.run_jobs(jobs);
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::MULTIPLE_CHOICES,
        json!({"versions": [{"id": "v1.0", "status": "CURRENT", "links": [{"rel": "self", "href": format!("{base}/heat-api/v1/")}]}]}),
    )
}

/// Heat's routes under `/heat-api`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/heat-api/v1/{pid}/stacks", get(list).post(create))
        .route("/heat-api/v1/{pid}/stacks/{name}", get(show))
        .route(
            "/heat-api/v1/{pid}/stacks/{name}/{id}",
            get(show_full).delete(delete),
        )
        .route(
            "/heat-api/v1/{pid}/stacks/{name}/{id}/resources",
            get(resources),
        );
    Router::new()
        .route("/heat-api", get(versions))
        .route("/heat-api/", get(versions))
        .merge(protect(api, &shared))
}
