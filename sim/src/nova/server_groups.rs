//! Server groups (`policies` before microversion 2.64, `policy` from it).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use serde_json::{json, Value};

use super::common::{bad, microversion, MAX_LIMIT};
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, reply, Caller, St};
use crate::state::SimState;
use crate::store::{new_id, page, public, str_of, Ctx, Obj, Params};

/// Creates a server group (`policies` before 2.64, `policy` from it).
pub fn create_server_group(st: &mut SimState, ctx: &Ctx, body: &Obj) -> Result<Obj, ApiError> {
    let name = str_of(body, "name").to_string();
    let policy = body
        .get("policy")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| body.get("policies").and_then(|p| p[0].as_str()).map(String::from))
        .ok_or_else(|| bad("Invalid input for field/attribute server_group. Value: policy is a required property"))?;
    let g = json!({"id": new_id(), "name": name, "policy": policy, "policies": [policy], "rules": {},
        "members": [], "metadata": {}, "project_id": ctx.project_id, "user_id": ctx.user_id});
    let Value::Object(g) = g else {
        return Err(bad("internal"));
    };
    st.nova.server_groups.insert(g.clone());
    Ok(g)
}

fn group_view(g: &Obj, mv: (u32, u32)) -> Value {
    let mut v = public(g);
    if let Value::Object(o) = &mut v {
        if mv >= (2, 64) {
            o.remove("policies");
            o.remove("metadata");
        } else {
            o.remove("policy");
            o.remove("rules");
        }
    }
    v
}

fn find_group<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.nova
        .server_groups
        .get(id)
        .filter(|g| ctx.owns(str_of(g, "project_id")))
        .ok_or_else(|| {
            ApiError::nova(
                StatusCode::NOT_FOUND,
                format!("Instance group {id} could not be found."),
            )
        })
}

pub(super) async fn list_groups(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    let p = Params::parse(q.as_deref());
    let mv = microversion(&headers);
    let st = s.lock();
    let (items, _) = page(&st.nova.server_groups, None, None, |g| {
        str_of(g, "project_id") == ctx.project_id || (ctx.admin && p.flag("all_projects"))
    });
    let offset: usize = p.get("offset").and_then(|o| o.parse().ok()).unwrap_or(0);
    let limit = p.limit().unwrap_or(MAX_LIMIT);
    let out: Vec<Value> = items
        .iter()
        .skip(offset)
        .take(limit)
        .map(|g| group_view(g, mv))
        .collect();
    reply(StatusCode::OK, json!({ "server_groups": out }))
}

pub(super) async fn post_group(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "server_group")?;
    let g = create_server_group(&mut s.lock(), &ctx, &obj)?;
    Ok(reply(
        StatusCode::OK,
        json!({"server_group": group_view(&g, microversion(&headers))}),
    ))
}

pub(super) async fn get_group(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let g = find_group(&st, &ctx, &id)?;
    Ok(reply(
        StatusCode::OK,
        json!({"server_group": group_view(g, microversion(&headers))}),
    ))
}

pub(super) async fn delete_group(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    find_group(&st, &ctx, &id)?;
    if st.take_conflict("server-group", &id) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Server group {id} is in use (injected)."),
        ));
    }
    st.nova.server_groups.remove(&id);
    Ok(empty(StatusCode::NO_CONTENT))
}
