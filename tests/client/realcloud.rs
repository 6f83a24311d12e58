//! The client against a real OpenStack (the loopback test bed of
//! `tests/realcloud/up.sh`), read-only: auth, catalog and every list the janitor makes.
//! Runs only when `STACKSWEEP_REALCLOUD_CLOUDS` names its `clouds.yaml`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use stacksweep::openstack::{CloudConfig, Service, Session, SessionOptions};

/// Authenticates as the `ci` member and lists every collection the real services have.
#[tokio::test]
async fn real_cloud_lists() {
    let Some(path) = std::env::var_os("STACKSWEEP_REALCLOUD_CLOUDS").map(PathBuf::from) else {
        return;
    };
    let cloud = CloudConfig::from_clouds_yaml(&path, "ci").unwrap();
    let options = SessionOptions {
        page_size: 2,
        ..SessionOptions::default()
    };
    let session = Session::connect(&cloud, options).await.unwrap();
    assert!(!session.project_id().is_empty());
    assert!(
        session.roles().iter().any(|r| r == "member"),
        "{:?}",
        session.roles()
    );
    let lists = [
        (Service::Compute, "/servers/detail", "servers"),
        (Service::Compute, "/os-keypairs", "keypairs"),
        (Service::Compute, "/os-server-groups", "server_groups"),
        (Service::Network, "/ports", "ports"),
        (Service::Network, "/networks", "networks"),
        (Service::Network, "/subnets", "subnets"),
        (Service::Network, "/routers", "routers"),
        (Service::Network, "/security-groups", "security_groups"),
        (Service::Network, "/floatingips", "floatingips"),
        (Service::BlockStorage, "/volumes/detail", "volumes"),
        (Service::BlockStorage, "/snapshots/detail", "snapshots"),
        (Service::Image, "/images", "images"),
    ];
    for (service, path, collection) in lists {
        assert!(session.has_service(service), "{service} in the catalog");
        let items = session.list(service, path, collection).await;
        assert!(items.is_ok(), "{service} {path}: {items:?}");
        // Pages of 2 must neither repeat nor skip: every item once.
        let items = items.unwrap();
        let keys: std::collections::BTreeSet<String> = items
            .iter()
            .map(|i| {
                let i = i.get("keypair").unwrap_or(i);
                i.get("id").or_else(|| i.get("name")).unwrap().to_string()
            })
            .collect();
        assert_eq!(
            keys.len(),
            items.len(),
            "{service} {path}: an item came twice"
        );
    }
    let err = session
        .get(
            Service::Network,
            "/ports/00000000-0000-0000-0000-000000000000",
        )
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.error_type(), Some("PortNotFound"));
    let err = session
        .get(
            Service::Compute,
            "/servers/00000000-0000-0000-0000-000000000000",
        )
        .await
        .unwrap_err();
    assert_eq!(
        (err.status(), err.error_type()),
        (Some(404), Some("itemNotFound"))
    );
}
