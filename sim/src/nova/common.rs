//! What every Nova handler shares: microversions, the page size, error answers, finding
//! a server, and parsing the times filters give.

use axum::http::{HeaderMap, StatusCode};
use jiff::Timestamp;

use crate::error::ApiError;
use crate::state::SimState;
use crate::store::{str_of, Ctx, Obj};

/// Highest compute microversion the simulator claims.
pub const MAX_MICROVERSION: (u32, u32) = (2, 96);

/// Most items in one list page when no `limit` is given (Nova's `max_limit`).
pub(super) const MAX_LIMIT: usize = 1000;

/// A compute microversion from the request headers (2.1 when none; `latest` is the max).
pub fn microversion(headers: &HeaderMap) -> (u32, u32) {
    let header = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    let raw = header("openstack-api-version")
        .and_then(|v| {
            v.split(',')
                .map(str::trim)
                .find_map(|p| p.strip_prefix("compute ").map(str::trim))
        })
        .or_else(|| header("x-openstack-nova-api-version"));
    match raw {
        Some("latest") => MAX_MICROVERSION,
        Some(v) => v
            .split_once('.')
            .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
            .unwrap_or((2, 1)),
        None => (2, 1),
    }
}

pub(super) fn not_found(what: &str, id: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("{what} {id} could not be found."),
    )
}

pub(super) fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::nova(StatusCode::BAD_REQUEST, msg)
}

pub(super) fn server_not_found(id: &str) -> ApiError {
    not_found("Instance", id)
}

/// The server the caller can see, or 404.
pub(super) fn find_server<'a>(st: &'a SimState, ctx: &Ctx, id: &str) -> Result<&'a Obj, ApiError> {
    st.nova
        .servers
        .get(id)
        .filter(|s| ctx.owns(str_of(s, "tenant_id")))
        .ok_or_else(|| server_not_found(id))
}

/// Parses an ISO 8601 time with or without a zone (no zone: UTC).
pub fn parse_time(t: &str) -> Option<Timestamp> {
    t.parse::<Timestamp>()
        .ok()
        .or_else(|| format!("{t}Z").parse().ok())
        .or_else(|| {
            t.parse::<jiff::civil::DateTime>()
                .ok()
                .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
                .map(|z| z.timestamp())
        })
}
