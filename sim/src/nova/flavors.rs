//! Flavors, read-only: list, detail, show.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::common::not_found;
use crate::error::ApiError;
use crate::http::{reply, St};
use crate::store::{page, public, str_of, Obj, Params};

fn flavor_view(f: &Obj, base: &str, detail: bool) -> Value {
    let id = str_of(f, "id");
    let links = json!([{"rel": "self", "href": format!("{base}/compute/v2.1/flavors/{id}")}]);
    if detail {
        let mut v = public(f);
        v["links"] = links;
        v
    } else {
        json!({"id": id, "name": f["name"], "links": links, "description": null})
    }
}

async fn list_flavors(State(s): St, RawQuery(q): RawQuery, detail: bool) -> Response {
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let (items, _) = page(&st.nova.flavors, p.get("marker"), p.limit(), |_| true);
    let out: Vec<Value> = items
        .iter()
        .map(|f| flavor_view(f, &st.base_url, detail))
        .collect();
    reply(StatusCode::OK, json!({ "flavors": out }))
}

pub(super) async fn flavors(st: St, q: RawQuery) -> Response {
    list_flavors(st, q, false).await
}

pub(super) async fn flavors_detail(st: St, q: RawQuery) -> Response {
    list_flavors(st, q, true).await
}

pub(super) async fn get_flavor(State(s): St, Path(id): Path<String>) -> Result<Response, ApiError> {
    let st = s.lock();
    let f = st
        .nova
        .flavors
        .get(&id)
        .ok_or_else(|| not_found("Flavor", &id))?;
    Ok(reply(
        StatusCode::OK,
        json!({"flavor": flavor_view(f, &st.base_url, true)}),
    ))
}
