//! Octavia v2: load balancers with `provisioning_status` (`PENDING_*` answers 409 to a
//! delete), listeners and pools as children (a delete without `cascade=true` answers 400),
//! a VIP port in Neutron created and removed with the load balancer, tags.

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

pub use state::OctaviaState;

use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, protect, reply, Caller, Shared, St};
use crate::state::{Job, SimState};
use crate::store::{
    field_matches, fmt_plain, new_id, next_link, page, public, str_of, strs_of, Ctx, Obj, Params,
    TagFilter,
};

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Style::Octavia, status, "", msg)
}

fn lb_not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("Load Balancer {id} not found."),
    )
}

fn find<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.octavia
        .loadbalancers
        .get(id)
        .filter(|l| ctx.owns(str_of(l, "project_id")))
        .ok_or_else(|| lb_not_found(id))
}

fn set_status(st: &mut SimState, id: &str, status: &str) {
    if let Some(lb) = st.octavia.loadbalancers.get_mut(id) {
        lb.insert("provisioning_status".into(), json!(status));
        let online = status == "ACTIVE";
        lb.insert(
            "operating_status".into(),
            json!(if online { "ONLINE" } else { "OFFLINE" }),
        );
        lb.insert("updated_at".into(), json!(fmt_plain(Timestamp::now())));
    }
}

/// Creates a load balancer in `PENDING_CREATE` with its VIP port; `ACTIVE` after the delay.
pub fn create_lb(st: &mut SimState, ctx: &Ctx, body: &Obj) -> Result<(Obj, Vec<Job>), ApiError> {
    let subnet_id = str_of(body, "vip_subnet_id").to_string();
    let network_id = match st.neutron.subnets.get(&subnet_id) {
        Some(s) => str_of(s, "network_id").to_string(),
        None if body.contains_key("vip_network_id") => str_of(body, "vip_network_id").to_string(),
        None => return Err(err(StatusCode::BAD_REQUEST, "Validation failure: VIP must contain one of: vip_port_id, vip_network_id, vip_subnet_id.")),
    };
    let id = new_id();
    let mut port_body = json!({"network_id": network_id, "name": format!("octavia-lb-{id}"), "device_owner": "Octavia",
        "device_id": format!("lb-{id}")});
    if !subnet_id.is_empty() {
        port_body["fixed_ips"] = json!([{ "subnet_id": subnet_id }]);
    }
    let port = st
        .neutron
        .create_port(ctx, port_body.as_object().cloned().unwrap_or_default())
        .map_err(|e| err(StatusCode::BAD_REQUEST, e.message))?;
    let now = fmt_plain(Timestamp::now());
    let fixed = port
        .get("fixed_ips")
        .and_then(|f| f.get(0))
        .cloned()
        .unwrap_or(Value::Null);
    let lb = json!({
        "id": id, "name": body.get("name").cloned().unwrap_or(json!("")),
        "description": body.get("description").cloned().unwrap_or(json!("")),
        "provisioning_status": "PENDING_CREATE", "operating_status": "OFFLINE", "admin_state_up": true,
        "project_id": ctx.project_id, "tenant_id": ctx.project_id, "created_at": now, "updated_at": null,
        "vip_address": fixed.get("ip_address").cloned().unwrap_or(Value::Null), "vip_port_id": port.get("id").cloned().unwrap_or(Value::Null),
        "vip_subnet_id": fixed.get("subnet_id").cloned().unwrap_or(Value::Null), "vip_network_id": network_id,
        "vip_qos_policy_id": null, "listeners": [], "pools": [], "provider": body.get("provider").cloned().unwrap_or(json!("amphora")),
        "flavor_id": null, "availability_zone": null, "tags": body.get("tags").cloned().unwrap_or(json!([])),
        "additional_vips": [], "vip_vnic_type": "normal",
    });
    let Value::Object(lb) = lb else {
        return Err(err(StatusCode::INTERNAL_SERVER_ERROR, "internal"));
    };
    st.octavia.loadbalancers.insert(lb.clone());
    let lb_id = id.clone();
    let job = Job::after(st.delays.other_delete, move |st| {
        if st
            .octavia
            .loadbalancers
            .get(&lb_id)
            .is_some_and(|l| str_of(l, "provisioning_status") == "PENDING_CREATE")
        {
            set_status(st, &lb_id, "ACTIVE");
        }
        Vec::new()
    });
    Ok((lb, vec![job]))
}

/// Starts a load balancer delete (409 while `PENDING_*`, 400 with children unless cascade).
pub fn delete_lb(
    st: &mut SimState,
    ctx: &Ctx,
    id: &str,
    cascade: bool,
) -> Result<Vec<Job>, ApiError> {
    let lb = find(st, ctx, id)?;
    let status = str_of(lb, "provisioning_status").to_string();
    let children = !lb["listeners"].as_array().is_none_or(Vec::is_empty)
        || !lb["pools"].as_array().is_none_or(Vec::is_empty);
    if status.starts_with("PENDING_") {
        return Err(err(
            StatusCode::CONFLICT,
            format!("Invalid state {status} of loadbalancer resource {id}"),
        ));
    }
    if st.take_conflict("load-balancer", id) {
        return Err(err(
            StatusCode::CONFLICT,
            format!("Invalid state PENDING_UPDATE of loadbalancer resource {id}"),
        ));
    }
    if children && !cascade {
        return Err(err(
            StatusCode::BAD_REQUEST,
            format!("Cannot delete Load Balancer {id} - it has children"),
        ));
    }
    set_status(st, id, "PENDING_DELETE");
    let id = id.to_string();
    Ok(vec![Job::after(st.delays.other_delete, move |st| {
        if st.take_stuck("load-balancer", &id) {
            set_status(st, &id, "ERROR");
            return Vec::new();
        }
        if let Some(lb) = st.octavia.loadbalancers.remove(&id) {
            st.neutron.delete_port_internal(str_of(&lb, "vip_port_id"));
            for table in [&mut st.octavia.listeners, &mut st.octavia.pools] {
                let ids: Vec<String> = table
                    .values()
                    .filter(|c| str_of(c, "loadbalancer_id") == id)
                    .map(|c| str_of(c, "id").to_string())
                    .collect();
                for c in ids {
                    table.remove(&c);
                }
            }
        }
        Vec::new()
    })])
}

async fn list(State(s): St, Extension(ctx): Caller, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.as_deref());
    let tags = TagFilter::from_params(&p);
    let st = s.lock();
    let (items, full) = page(&st.octavia.loadbalancers, p.get("marker"), p.limit(), |l| {
        ctx.owns(str_of(l, "project_id"))
            && tags.matches(&strs_of(l, "tags"))
            && [
                "name",
                "provisioning_status",
                "operating_status",
                "vip_subnet_id",
                "vip_port_id",
                "project_id",
            ]
            .iter()
            .all(|k| {
                p.get(k)
                    .is_none_or(|v| l.get(*k).is_some_and(|x| field_matches(x, v)))
            })
    });
    let out: Vec<Value> = items.iter().map(|l| public(l)).collect();
    let mut links = Vec::new();
    if full {
        if let Some(last) = items.last() {
            links.push(next_link(
                &format!("{}/load-balancer/v2/lbaas/loadbalancers", st.base_url),
                &p,
                str_of(last, "id"),
            ));
        }
    }
    reply(
        StatusCode::OK,
        json!({"loadbalancers": out, "loadbalancers_links": links}),
    )
}

async fn create(State(s): St, Extension(ctx): Caller, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(Style::Octavia, &body)?;
    let obj = body_obj(Style::Octavia, &body, "loadbalancer")?;
    let (lb, jobs) = create_lb(&mut s.lock(), &ctx, &obj)?;
    s.run_jobs(jobs);
    Ok(reply(
        StatusCode::CREATED,
        json!({"loadbalancer": public(&lb)}),
    ))
}

async fn show(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(
        StatusCode::OK,
        json!({"loadbalancer": public(find(&st, &ctx, &id)?)}),
    ))
}

async fn update(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Octavia, &body)?;
    let obj = body_obj(Style::Octavia, &body, "loadbalancer")?;
    let mut st = s.lock();
    find(&st, &ctx, &id)?;
    let lb = st
        .octavia
        .loadbalancers
        .get_mut(&id)
        .ok_or_else(|| lb_not_found(&id))?;
    for k in ["name", "description", "tags", "admin_state_up"] {
        if let Some(v) = obj.get(k) {
            lb.insert(k.into(), v.clone());
        }
    }
    Ok(reply(StatusCode::OK, json!({"loadbalancer": public(lb)})))
}

async fn delete(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let cascade = Params::parse(q.as_deref()).flag("cascade");
    let jobs = delete_lb(&mut s.lock(), &ctx, &id, cascade)?;
    s.run_jobs(jobs);
    Ok(empty(StatusCode::NO_CONTENT))
}

/// Listeners and pools: created under a load balancer, which is `PENDING_UPDATE` meanwhile.
async fn create_child(
    State(s): St,
    Extension(ctx): Caller,
    Path(coll): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let key = child_key(&coll)?;
    let body = parse_body(Style::Octavia, &body)?;
    let obj = body_obj(Style::Octavia, &body, key)?;
    let mut st = s.lock();
    let lb_id = str_of(&obj, "loadbalancer_id").to_string();
    let status = str_of(find(&st, &ctx, &lb_id)?, "provisioning_status").to_string();
    if status != "ACTIVE" {
        return Err(err(
            StatusCode::CONFLICT,
            format!("Load Balancer {lb_id} is immutable and cannot be updated."),
        ));
    }
    let mut child = obj.clone();
    let id = new_id();
    child.insert("id".into(), json!(id));
    child.insert("project_id".into(), json!(ctx.project_id));
    child.insert("provisioning_status".into(), json!("ACTIVE"));
    child.insert("loadbalancers".into(), json!([{ "id": lb_id }]));
    if coll == "listeners" {
        st.octavia.listeners.insert(child.clone());
    } else {
        st.octavia.pools.insert(child.clone());
    }
    if let Some(Value::Array(list)) = st
        .octavia
        .loadbalancers
        .get_mut(&lb_id)
        .and_then(|l| l.get_mut(&coll))
    {
        list.push(json!({ "id": id }));
    }
    set_status(&mut st, &lb_id, "PENDING_UPDATE");
    let delay = st.delays.other_delete;
    drop(st);
    s.run_jobs(vec![Job::after(delay, move |st| {
        set_status(st, &lb_id, "ACTIVE");
        Vec::new()
    })]);
    Ok(reply(StatusCode::CREATED, json!({ key: child })))
}

fn child_key(coll: &str) -> Result<&'static str, ApiError> {
    match coll {
        "listeners" => Ok("listener"),
        "pools" => Ok("pool"),
        _ => Err(err(
            StatusCode::NOT_FOUND,
            "The resource could not be found.",
        )),
    }
}

async fn list_children(
    State(s): St,
    Extension(ctx): Caller,
    Path(coll): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    child_key(&coll)?;
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let table = if coll == "listeners" {
        &st.octavia.listeners
    } else {
        &st.octavia.pools
    };
    let (items, full) = page(table, p.get("marker"), p.limit(), |c| {
        ctx.owns(str_of(c, "project_id"))
            && p.get("loadbalancer_id")
                .is_none_or(|lb| str_of(c, "loadbalancer_id") == lb)
    });
    let out: Vec<Value> = items.iter().map(|c| public(c)).collect();
    let mut links = Vec::new();
    if let Some(last) = items.last().filter(|_| full) {
        links.push(next_link(
            &format!("{}/load-balancer/v2/lbaas/{coll}", st.base_url),
            &p,
            str_of(last, "id"),
        ));
    }
    Ok(reply(
        StatusCode::OK,
        json!({ coll.clone(): out, format!("{coll}_links"): links }),
    ))
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    reply(
        StatusCode::OK,
        json!({"versions": [{"id": "v2.0", "status": "SUPPORTED", "updated": "2016-12-11T00:00:00Z",
            "links": [{"rel": "self", "href": format!("{base}/load-balancer/v2.0")}]},
            {"id": "v2.27", "status": "CURRENT", "updated": "2023-05-05T00:00:00Z",
            "links": [{"rel": "self", "href": format!("{base}/load-balancer/v2")}]}]}),
    )
}

/// Octavia `GET /v2/lbaas/quotas/{project_id}`: limits only (Octavia reports no usage).
pub async fn octavia_quota(
    State(s): St,
    Extension(ctx): Caller,
    Path(pid): Path<String>,
) -> Result<Response, ApiError> {
    if !ctx.owns(&pid) {
        return Err(ApiError::new(
            Style::Octavia,
            StatusCode::FORBIDDEN,
            "",
            "Policy does not allow this request to be performed.",
        ));
    }
    let st = s.lock();
    let q = &st.quota;
    Ok(reply(
        StatusCode::OK,
        json!({"quota": {"load_balancer": q.get("load_balancer"), "listener": q.get("listener"),
            "pool": q.get("pool"), "member": q.get("member"), "health_monitor": q.get("health_monitor"),
            "l7policy": q.get("l7policy"), "l7rule": q.get("l7rule")}}),
    ))
}

/// Octavia's routes under `/load-balancer` (`v2` and `v2.0`).
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let mut r = Router::new()
        .route("/load-balancer", get(versions))
        .route("/load-balancer/", get(versions));
    for v in ["v2", "v2.0"] {
        let api = Router::new()
            .route(
                &format!("/load-balancer/{v}/lbaas/loadbalancers"),
                get(list).post(create),
            )
            .route(
                &format!("/load-balancer/{v}/lbaas/loadbalancers/{{id}}"),
                get(show).put(update).delete(delete),
            )
            .route(
                &format!("/load-balancer/{v}/lbaas/quotas/{{pid}}"),
                get(octavia_quota),
            )
            .route(
                &format!("/load-balancer/{v}/lbaas/{{coll}}"),
                get(list_children).post(create_child),
            );
        r = r.merge(protect(api, &shared));
    }
    r
}
