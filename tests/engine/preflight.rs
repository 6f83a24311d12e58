//! Preflight against the simulator over loopback: every kind usable, a failing service
//! reported and turned into exit 2 when the selector needs it (and not when it does not),
//! the admin warning, the JSON document, and a snapshot of the table.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::Bed;
use serde_json::Value;
use stacksweep::engine::preflight::{self, Status};
use stacksweep::resources::Kind;
use stacksweep_sim::FaultConfig;

fn refuse() -> FaultConfig {
    FaultConfig {
        error_rate: 1.0,
        error_status: 403,
        ..FaultConfig::default()
    }
}

/// Against the simulator with its optional services every kind is in the catalog, at a
/// good version, and listable.
#[tokio::test]
async fn every_kind_usable() {
    let b = Bed::builder()
        .scenario("kubespray-aborted:1")
        .services(&["key-manager", "dns", "sharev2"])
        .start()
        .await;
    let p = preflight::run(&b.session, false, |_| true).await;
    assert_eq!(p.kinds.len(), Kind::ALL.len());
    for k in &p.kinds {
        assert_eq!(k.status, Status::Usable, "{}: {:?}", k.kind, k.detail);
    }
    let server = p.kinds.iter().find(|k| k.kind == Kind::Server).unwrap();
    assert_eq!(server.version.ok, Some(true));
    let share = p.kinds.iter().find(|k| k.kind == Kind::Share).unwrap();
    assert_eq!(share.version.ok, Some(true), "{}", p.render_text());
    assert!(p.is_ok() && p.warnings.is_empty(), "{:?}", p.warnings);
    // One `limit=1` listing per kind, no full inventory.
    assert_eq!(
        b.sim.request_count("GET", "/compute/v2.1/servers/detail"),
        1
    );
    b.sim.shutdown().await;
}

/// A service that refuses listing makes its kinds unusable: a problem only when selected.
#[tokio::test]
async fn failing_service_is_reported() {
    let b = Bed::builder().scenario("kubespray-aborted:1").start().await;
    b.sim.set_faults("volume", refuse());
    // Volumes, snapshots and backups: the three block-storage kinds.
    let p = preflight::run(&b.session, true, |_| true).await;
    let volume = p.kinds.iter().find(|k| k.kind == Kind::Volume).unwrap();
    assert_eq!(volume.status, Status::Unusable);
    assert!(volume.detail.as_deref().unwrap().contains("403"));
    assert_eq!(p.problems().len(), 3, "{:?}", p.problems());
    assert!(p.warnings.iter().any(|w| w.contains("TLS")));
    let p = preflight::run(&b.session, false, |k| {
        k.service().as_str() != "block-storage"
    })
    .await;
    assert!(p.is_ok(), "{:?}", p.problems());
    b.sim.shutdown().await;
}

/// An admin token gets the warning about other projects' network resources.
#[tokio::test]
async fn admin_token_warns() {
    let b = Bed::builder().scenario("kubespray-aborted:1").start().await;
    let password = stacksweep_sim::keystone::ADMIN_PASSWORD;
    let yaml = format!(
        "clouds:\n  admin:\n    auth:\n      auth_url: {}\n      username: admin\n      password: {password}\n      project_name: admin\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n",
        b.sim.auth_url()
    );
    let path = b.dir.path().join("admin.yaml");
    std::fs::write(&path, yaml).unwrap();
    let cloud = stacksweep::openstack::CloudConfig::from_clouds_yaml(&path, "admin").unwrap();
    let session = stacksweep::openstack::Session::connect(&cloud, Default::default())
        .await
        .unwrap();
    let p = preflight::run(&session, false, |_| true).await;
    assert!(
        p.warnings.iter().any(|w| w.contains("admin role")),
        "{:?}",
        p.warnings
    );
    b.sim.shutdown().await;
}

/// `stacksweep preflight` prints the table and exits 0 against the simulator.
#[tokio::test(flavor = "multi_thread")]
async fn cli_table_snapshot() {
    let b = Bed::builder().scenario("kubespray-aborted:1").start().await;
    let out = b
        .stacksweep(vec!["preflight".into(), "--cloud".into(), "sim".into()])
        .await;
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    insta::with_settings!({filters => vec![(r"[0-9a-f]{32}", "[project]")]}, {
        insta::assert_snapshot!(text);
    });
    b.sim.shutdown().await;
}

/// With a service failing, `stacksweep preflight --output json` says so and exits 2.
#[tokio::test(flavor = "multi_thread")]
async fn cli_failing_service_exits_2() {
    let b = Bed::builder().scenario("kubespray-aborted:1").start().await;
    b.sim.set_faults("network", refuse());
    let args = ["preflight", "--cloud", "sim", "--output", "json"];
    let out = b
        .stacksweep(args.iter().map(|s| s.to_string()).collect())
        .await;
    assert_eq!(out.status.code(), Some(2));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let target = &json["targets"][0];
    assert_eq!(target["ok"], false);
    let kinds = target["preflight"]["kinds"].as_array().unwrap();
    let port = kinds.iter().find(|k| k["kind"] == "port").unwrap();
    assert_eq!(port["status"], "unusable");
    assert_eq!(port["listing_ok"], false);
    b.sim.shutdown().await;
}

/// Against a catalog with none of the services (wrong interface), every kind is absent
/// and preflight fails: a sweep there would do nothing.
#[tokio::test(flavor = "multi_thread")]
async fn cli_nothing_in_catalog_exits_2() {
    let b = Bed::builder().scenario("kubespray-aborted:1").start().await;
    let yaml = std::fs::read_to_string(b.clouds_yaml()).unwrap();
    std::fs::write(
        b.clouds_yaml(),
        yaml.replace("interface: public", "interface: admin"),
    )
    .unwrap();
    let out = b
        .stacksweep(vec!["preflight".into(), "--cloud".into(), "sim".into()])
        .await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("none of the selected kinds"), "{text}");
    assert_eq!(text.matches(" absent").count(), Kind::ALL.len(), "{text}");
    b.sim.shutdown().await;
}

/// `check-config` runs the preflight per target: a selected kind that cannot be listed
/// is a problem (exit 2); excluding that kind makes the same config pass.
#[tokio::test(flavor = "multi_thread")]
async fn check_config_runs_preflight() {
    let b = Bed::builder().scenario("kubespray-aborted:1").start().await;
    b.sim.set_faults("image", refuse());
    let write = |name: &str, extra: &str| {
        let path = b.dir.path().join(name);
        let text = format!("[[target]]\ncloud = \"sim\"\n\n[select]\ntags = [\"ci\"]\n{extra}");
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let all = write("all.toml", "");
    let out = b
        .stacksweep(vec!["check-config".into(), "-c".into(), all])
        .await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("image: listing failed"), "{text}");
    let some = write("some.toml", "exclude_kinds = [\"image\"]\n");
    let out = b
        .stacksweep(vec!["check-config".into(), "-c".into(), some])
        .await;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("preflight: ok"), "{text}");
    b.sim.shutdown().await;
}
