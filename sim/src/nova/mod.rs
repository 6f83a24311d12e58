//! Nova 2.1 with microversions: servers (tags from 2.26, boot from volume, pre-created
//! ports, asynchronous delete that removes the ports Nova created and frees the volumes
//! only after the server is gone), volume attachments, keypairs, server groups, flavors,
//! limits.

mod attachments;
mod common;
mod flavors;
mod keypairs;
mod limits;
mod server_groups;
mod servers;
mod servers_api;
pub mod state;
mod tags;
mod versions;

use std::sync::Arc;

use axum::middleware;
use axum::routing::{get, post};
use axum::Router;

pub use common::{microversion, parse_time, MAX_MICROVERSION};
pub use keypairs::create_keypair;
pub use server_groups::create_server_group;
pub use servers::{create_server, delete_server, finish_server_delete};
pub use state::NovaState;

use crate::http::{protect, Shared};

/// Nova's routes under `/compute`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let v21 = Router::new()
        .route(
            "/servers",
            get(servers_api::servers).post(servers_api::post_server),
        )
        .route("/servers/detail", get(servers_api::servers_detail))
        .route(
            "/servers/{id}",
            get(servers_api::get_server)
                .put(servers_api::put_server)
                .delete(servers_api::delete_server_h),
        )
        .route("/servers/{id}/action", post(servers_api::server_action))
        .route(
            "/servers/{id}/tags",
            get(tags::get_tags)
                .put(tags::put_tags)
                .delete(tags::delete_tags),
        )
        .route(
            "/servers/{id}/tags/{tag}",
            get(tags::get_tag)
                .put(tags::put_tag)
                .delete(tags::delete_tag),
        )
        .route(
            "/servers/{id}/os-volume_attachments",
            get(attachments::list_attachments).post(attachments::attach_volume),
        )
        .route(
            "/servers/{id}/os-volume_attachments/{vid}",
            axum::routing::delete(attachments::detach_volume),
        )
        .route(
            "/servers/{id}/os-interface",
            get(attachments::list_interfaces),
        )
        .route("/flavors", get(flavors::flavors))
        .route("/flavors/detail", get(flavors::flavors_detail))
        .route("/flavors/{id}", get(flavors::get_flavor))
        .route(
            "/os-keypairs",
            get(keypairs::list_keypairs).post(keypairs::post_keypair),
        )
        .route(
            "/os-keypairs/{name}",
            get(keypairs::get_keypair).delete(keypairs::delete_keypair),
        )
        .route(
            "/os-server-groups",
            get(server_groups::list_groups).post(server_groups::post_group),
        )
        .route(
            "/os-server-groups/{id}",
            get(server_groups::get_group).delete(server_groups::delete_group),
        )
        .route("/limits", get(limits::nova_limits));
    Router::new()
        .route("/compute", get(versions::versions))
        .route("/compute/", get(versions::versions))
        .route("/compute/v2.1", get(versions::version))
        .route("/compute/v2.1/", get(versions::version))
        .nest(
            "/compute/v2.1",
            protect(v21, &shared).layer(middleware::from_fn(versions::version_headers)),
        )
}
