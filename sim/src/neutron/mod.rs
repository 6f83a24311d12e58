//! Neutron v2.0: networks, subnets, ports, routers (interfaces, external gateway),
//! floating IPs and their port forwardings, trunks and their sub-ports (both
//! extensions can be switched off), security groups and rules, tags and tag filters, marker/limit
//! pagination, and the conflicts and policy refusals the real Neutron answers with
//! (see `realcloud.md`).

mod actions;
mod api;
mod floating_ips;
pub mod indexes;
pub mod kind;
mod networks;
mod ops;
mod port_forwardings;
mod ports;
mod quota;
mod routers;
mod security_groups;
pub mod state;
mod trunks;

use std::sync::Arc;

use axum::routing::get;
use axum::Router;

pub use kind::NKind;
pub use state::NeutronState;

use crate::http::{protect, Shared};

/// Neutron's routes under `/network`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let v2 = Router::new()
        .route("/network/v2.0", get(api::root))
        .route("/network/v2.0/", get(api::root))
        .route("/network/v2.0/{coll}", get(api::list).post(api::create))
        .route(
            "/network/v2.0/{coll}/{id}",
            get(api::show).put(api::update).delete(api::delete),
        )
        .route(
            "/network/v2.0/{coll}/{id}/{action}",
            get(actions::sub_get)
                .put(actions::sub_put)
                .delete(actions::sub_delete),
        )
        .route(
            "/network/v2.0/floatingips/{id}/port_forwardings",
            get(port_forwardings::list).post(port_forwardings::create),
        )
        .route(
            "/network/v2.0/floatingips/{id}/port_forwardings/{pf}",
            get(port_forwardings::show).delete(port_forwardings::delete),
        )
        .route(
            "/network/v2.0/{coll}/{id}/tags/{tag}",
            get(actions::tag_get)
                .put(actions::tag_put)
                .delete(actions::tag_delete),
        );
    Router::new()
        .route("/network", get(api::versions))
        .route("/network/", get(api::versions))
        .merge(protect(v2, &shared))
}
