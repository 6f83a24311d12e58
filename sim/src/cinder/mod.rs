//! Cinder v3: volumes, snapshots and backups (incremental chains) with metadata (and
//! the `?metadata=` filter),
//! asynchronous deletes through `deleting`, `error_deleting` when stuck, `cascade=true`,
//! and the 400 `badRequest` refusals real Cinder answers for volumes in use.

mod backups;
mod backups_api;
mod common;
mod listing;
mod metadata;
mod quota;
mod snapshots;
mod snapshots_api;
pub mod state;
mod versions;
mod volumes;
mod volumes_api;

use std::sync::Arc;

use axum::middleware;
use axum::routing::{delete, get, post};
use axum::Router;

pub use backups::{create_backup, delete_backup, BACKUP_BUSY, INCREMENTALS_EXIST};
pub use snapshots::{create_snapshot, delete_snapshot, SNAPSHOT_BUSY};
pub use state::CinderState;
pub use volumes::{attach, create_volume, delete_volume, detach, VOLUME_IN_USE};

use crate::http::{protect, Shared};

/// Cinder's routes under `/volume`.
pub fn router(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    let v3 = Router::new()
        .route(
            "/volume/v3/{pid}/volumes",
            get(listing::list_h).post(volumes_api::post_volume),
        )
        .route("/volume/v3/{pid}/volumes/detail", get(listing::list_h))
        .route(
            "/volume/v3/{pid}/volumes/{id}",
            get(volumes_api::get_volume)
                .put(volumes_api::put_volume)
                .delete(volumes_api::delete_volume_h),
        )
        .route(
            "/volume/v3/{pid}/volumes/{id}/action",
            post(volumes_api::volume_action),
        )
        .route(
            "/volume/v3/{pid}/volumes/{id}/metadata",
            get(metadata::get_metadata)
                .post(metadata::post_metadata)
                .put(metadata::put_metadata),
        )
        .route(
            "/volume/v3/{pid}/volumes/{id}/metadata/{key}",
            delete(metadata::delete_metadata_key),
        )
        .route(
            "/volume/v3/{pid}/snapshots",
            get(listing::list_h).post(snapshots_api::post_snapshot),
        )
        .route("/volume/v3/{pid}/snapshots/detail", get(listing::list_h))
        .route(
            "/volume/v3/{pid}/snapshots/{id}",
            get(snapshots_api::get_snapshot)
                .put(snapshots_api::put_snapshot)
                .delete(snapshots_api::delete_snapshot_h),
        )
        .route("/volume/v3/{pid}/types", get(versions::types))
        .route(
            "/volume/v3/{pid}/backups",
            get(listing::list_h).post(backups_api::post_backup),
        )
        .route("/volume/v3/{pid}/backups/detail", get(listing::list_h))
        .route(
            "/volume/v3/{pid}/backups/{id}",
            get(backups_api::get_backup).delete(backups_api::delete_backup_h),
        )
        .route(
            "/volume/v3/{pid}/os-quota-sets/{id}",
            get(quota::cinder_quota_set),
        )
        .layer(middleware::from_fn(versions::version_headers));
    Router::new()
        .route("/volume", get(versions::versions))
        .route("/volume/", get(versions::versions))
        .route("/volume/v3", get(versions::version))
        .route("/volume/v3/", get(versions::version))
        .merge(protect(v3, &shared))
}
