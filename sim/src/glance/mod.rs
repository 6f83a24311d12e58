//! Glance v2: images with visibility, owner, tags and `protected` (a protected image
//! answers 403 to delete), JSON-patch updates, and Glance's `next` pagination.

pub mod state;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use axum::{Extension, Router};
use jiff::Timestamp;
use serde_json::{json, Value};

pub use state::GlanceState;

use crate::error::{ApiError, Style};
use crate::http::{empty, parse_body, protect, reply, Caller, Shared, St};
use crate::state::SimState;
use crate::store::{fmt_z, page, public, str_of, strs_of, Ctx, Obj, Params};

fn err(status: StatusCode, msg: impl Into<String>) -> ApiError {
    ApiError::new(Style::Text, status, "", msg)
}

fn not_found(id: &str) -> ApiError {
    err(
        StatusCode::NOT_FOUND,
        format!("No image found with ID {id}"),
    )
}

fn visible(img: &Obj, ctx: &Ctx) -> bool {
    ctx.owns(str_of(img, "owner")) || matches!(str_of(img, "visibility"), "public" | "community")
}

fn find<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.glance
        .images
        .get(id)
        .filter(|i| visible(i, ctx))
        .ok_or_else(|| not_found(id))
}

async fn list(
    State(s): St,
    Extension(ctx): Caller,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let tags = p.all("tag");
    let limit = p.limit().unwrap_or(25).min(1000);
    let (items, full) = page(&st.glance.images, p.get("marker"), Some(limit), |i| {
        visible(i, &ctx)
            && ["name", "status", "visibility", "owner", "disk_format"]
                .iter()
                .all(|k| {
                    p.get(k)
                        .is_none_or(|v| i.get(*k).and_then(Value::as_str) == Some(v))
                })
            && tags
                .iter()
                .all(|t| strs_of(i, "tags").iter().any(|x| x == t))
    });
    let out: Vec<Value> = items.iter().map(|i| public(i)).collect();
    let mut body = json!({"images": out, "first": "/v2/images", "schema": "/v2/schemas/images"});
    if full {
        if let Some(last) = items.last() {
            body["next"] = json!(format!(
                "/v2/images?marker={}&limit={limit}",
                str_of(last, "id")
            ));
        }
    }
    Ok(reply(StatusCode::OK, body))
}

async fn create(State(s): St, Extension(ctx): Caller, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_body(Style::Text, &body)?;
    let obj = body.as_object().cloned().unwrap_or_default();
    if obj.get("visibility").and_then(Value::as_str) == Some("public") && !ctx.admin {
        return Err(err(
            StatusCode::FORBIDDEN,
            "You are not authorized to complete publicize_image action.",
        ));
    }
    let img = s.lock().glance.create_image(&ctx, &obj, false);
    Ok(reply(StatusCode::CREATED, public(&img)))
}

async fn show(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    Ok(reply(StatusCode::OK, public(find(&st, &ctx, &id)?)))
}

fn owned<'a>(
    st: &'a mut SimState,
    ctx: &Ctx,
    id: &str,
    action: &str,
) -> Result<&'a mut Obj, ApiError> {
    let owner = str_of(find(st, ctx, id)?, "owner").to_string();
    if !ctx.owns(&owner) {
        return Err(err(
            StatusCode::FORBIDDEN,
            format!("You are not permitted to {action} this image."),
        ));
    }
    st.glance.images.get_mut(id).ok_or_else(|| not_found(id))
}

/// `PATCH` with a JSON-patch list (`replace`/`add`/`remove` of top-level fields).
async fn patch(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let ops = parse_body(Style::Text, &body)?;
    let mut st = s.lock();
    let img = owned(&mut st, &ctx, &id, "modify")?;
    for op in ops.as_array().cloned().unwrap_or_default() {
        let path = op["path"]
            .as_str()
            .unwrap_or("")
            .trim_start_matches('/')
            .to_string();
        if path.is_empty() || path.contains('/') {
            return Err(err(
                StatusCode::BAD_REQUEST,
                format!("Invalid JSON pointer for this resource: '/{path}'"),
            ));
        }
        match op["op"].as_str() {
            Some("replace") | Some("add") => {
                img.insert(path, op["value"].clone());
            }
            Some("remove") => {
                img.remove(&path);
            }
            _ => {
                return Err(err(
                    StatusCode::BAD_REQUEST,
                    "Unable to find `op` in JSON Schema change.",
                ))
            }
        }
    }
    img.insert("updated_at".into(), json!(fmt_z(Timestamp::now())));
    Ok(reply(StatusCode::OK, public(img)))
}

async fn delete(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    let img = owned(&mut st, &ctx, &id, "delete")?;
    if img.get("protected") == Some(&json!(true)) {
        return Err(err(
            StatusCode::FORBIDDEN,
            format!("Image {id} is protected and cannot be deleted."),
        ));
    }
    if st.take_conflict("image", &id) {
        return Err(err(
            StatusCode::CONFLICT,
            format!("Image {id} could not be deleted because it is in use (injected)."),
        ));
    }
    st.glance.images.remove(&id);
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn upload(
    State(s): St,
    Extension(ctx): Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    let img = owned(&mut st, &ctx, &id, "upload to")?;
    img.insert("status".into(), json!("active"));
    img.insert("size".into(), json!(21430272));
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn add_tag(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    let img = owned(&mut st, &ctx, &id, "modify")?;
    let mut tags = strs_of(img, "tags");
    if !tags.contains(&tag) {
        tags.push(tag);
    }
    img.insert("tags".into(), json!(tags));
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn delete_tag(
    State(s): St,
    Extension(ctx): Caller,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    let img = owned(&mut st, &ctx, &id, "modify")?;
    let tags = strs_of(img, "tags");
    if !tags.contains(&tag) {
        return Err(err(StatusCode::NOT_FOUND, format!("Tag {tag} not found")));
    }
    img.insert(
        "tags".into(),
        json!(tags.into_iter().filter(|t| *t != tag).collect::<Vec<_>>()),
    );
    Ok(empty(StatusCode::NO_CONTENT))
}

async fn versions(State(s): St) -> Response {
    let base = s.lock().base_url.clone();
    let v: Vec<Value> = ["v2.16", "v2.15", "v2.9", "v2.0"]
        .iter()
        .enumerate()
        .map(|(i, id)| {
            json!({"id": id, "status": if i == 0 { "CURRENT" } else { "SUPPORTED" },
            "links": [{"rel": "self", "href": format!("{base}/image/v2/")}]})
        })
        .collect();
    reply(StatusCode::MULTIPLE_CHOICES, json!({ "versions": v }))
}

async fn schema() -> Response {
    reply(
        StatusCode::OK,
        json!({"name": "image", "properties": {}, "additionalProperties": {"type": "string"}}),
    )
}

/// Glance's routes under `/image`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let api = Router::new()
        .route("/image/v2/images", get(list).post(create))
        .route(
            "/image/v2/images/{id}",
            get(show).patch(patch).delete(delete),
        )
        .route("/image/v2/images/{id}/file", put(upload))
        .route(
            "/image/v2/images/{id}/tags/{tag}",
            put(add_tag).delete(delete_tag),
        );
    Router::new()
        .route("/image", get(versions))
        .route("/image/", get(versions))
        .route("/image/versions", get(versions))
        .route("/image/v2/schemas/image", get(schema))
        .merge(protect(api, &shared))
}
