//! Keypairs, owned by a user and keyed by name: a generated public key when none is
//! given.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use jiff::Timestamp;
use serde_json::{json, Value};

use super::common::{bad, microversion};
use crate::error::{ApiError, Style};
use crate::http::{body_obj, empty, parse_body, reply, Caller, St};
use crate::state::SimState;
use crate::store::{fmt_micro, new_id, next_link, page, str_of, Ctx, Obj, Params};

/// Creates a keypair for the caller (a generated public key when none is given).
pub fn create_keypair(st: &mut SimState, ctx: &Ctx, body: &Obj) -> Result<Obj, ApiError> {
    let name = str_of(body, "name").to_string();
    if name.is_empty() {
        return Err(bad(
            "Invalid input for field/attribute keypair. Value: name is a required property",
        ));
    }
    if st.nova.keypairs.contains(&name) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Key pair '{name}' already exists."),
        ));
    }
    let generated = !body.contains_key("public_key");
    let public_key = body
        .get("public_key")
        .and_then(Value::as_str)
        .map(String::from)
        .unwrap_or_else(|| {
            format!(
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{} Generated-by-Nova",
                &new_id()[..20]
            )
        });
    let fp = new_id().replace('-', "");
    let fingerprint: Vec<String> = (0..16).map(|i| fp[i * 2..i * 2 + 2].to_string()).collect();
    let now = Timestamp::now();
    let mut kp = json!({"id": name, "name": name, "public_key": public_key, "fingerprint": fingerprint.join(":"),
        "type": body.get("type").cloned().unwrap_or(json!("ssh")), "user_id": ctx.user_id,
        "created_at": fmt_micro(now), "updated_at": null, "deleted": false, "deleted_at": null,
        "_project": ctx.project_id});
    if generated {
        kp["_private"] = json!(
            "-----BEGIN OPENSSH PRIVATE KEY-----\nsimulated\n-----END OPENSSH PRIVATE KEY-----\n"
        );
    }
    let Value::Object(kp) = kp else {
        return Err(bad("internal"));
    };
    st.nova.keypairs.insert(kp.clone());
    Ok(kp)
}

fn keypair_view(kp: &Obj, full: bool) -> Value {
    let mut v = json!({"name": kp["name"], "public_key": kp["public_key"], "fingerprint": kp["fingerprint"], "type": kp["type"]});
    if full {
        for k in [
            "user_id",
            "created_at",
            "updated_at",
            "deleted",
            "deleted_at",
        ] {
            v[k] = kp[k].clone();
        }
        v["id"] = json!(1);
    }
    v
}

fn find_keypair<'a>(st: &'a SimState, ctx: &Ctx, name: &str) -> Result<&'a Obj, ApiError> {
    st.nova
        .keypairs
        .get(name)
        .filter(|k| ctx.admin || str_of(k, "user_id") == ctx.user_id)
        .ok_or_else(|| {
            ApiError::nova(
                StatusCode::NOT_FOUND,
                format!("Keypair {name} not found for user {}", ctx.user_id),
            )
        })
}

pub(super) async fn list_keypairs(
    State(s): St,
    Extension(ctx): Caller,
    RawQuery(q): RawQuery,
) -> Response {
    let p = Params::parse(q.as_deref());
    let st = s.lock();
    let (items, full) = page(&st.nova.keypairs, p.get("marker"), p.limit(), |k| {
        str_of(k, "user_id") == ctx.user_id
    });
    let out: Vec<Value> = items
        .iter()
        .map(|k| json!({"keypair": keypair_view(k, false)}))
        .collect();
    let mut body = json!({ "keypairs": out });
    if full {
        if let Some(last) = items.last() {
            body["keypairs_links"] = json!([next_link(
                &format!("{}/compute/v2.1/os-keypairs", st.base_url),
                &p,
                str_of(last, "name")
            )]);
        }
    }
    reply(StatusCode::OK, body)
}

pub(super) async fn post_keypair(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_body(Style::Nova, &body)?;
    let obj = body_obj(Style::Nova, &body, "keypair")?;
    let kp = create_keypair(&mut s.lock(), &ctx, &obj)?;
    let mut view = keypair_view(&kp, false);
    view["user_id"] = kp["user_id"].clone();
    if let Some(private) = kp.get("_private") {
        view["private_key"] = private.clone();
    }
    let status = if microversion(&headers) >= (2, 2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(reply(status, json!({ "keypair": view })))
}

pub(super) async fn get_keypair(
    State(s): St,
    Extension(ctx): Caller,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let st = s.lock();
    let kp = find_keypair(&st, &ctx, &name)?;
    Ok(reply(
        StatusCode::OK,
        json!({"keypair": keypair_view(kp, true)}),
    ))
}

pub(super) async fn delete_keypair(
    State(s): St,
    Extension(ctx): Caller,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Response, ApiError> {
    let mut st = s.lock();
    find_keypair(&st, &ctx, &name)?;
    if st.take_conflict("keypair", &name) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Key pair '{name}' is in use (injected)."),
        ));
    }
    st.nova.keypairs.remove(&name);
    let status = if microversion(&headers) >= (2, 2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    };
    Ok(empty(status))
}
