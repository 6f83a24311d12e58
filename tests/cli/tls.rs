//! TLS from the command line: `check-config` against a cloud with a self-signed
//! certificate fails (exit 2, the certificate named) without `cacert`, succeeds with it,
//! and with `verify: false` succeeds only while warning that verification is off.
//! (`tests/client_tls.rs` covers the same at the library level.)
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::bin;
use crate::support::fake_cloud::{Answer, FakeCloud};
use serde_json::json;

/// Runs `stacksweep check-config` for `cloud` of the fake's clouds.yaml.
async fn check(fake: &FakeCloud, cloud: &str) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(
        &config,
        format!("[select]\nany_tags = [\"ci\"]\n\n[[target]]\ncloud = \"{cloud}\"\n"),
    )
    .unwrap();
    let out = tokio::process::Command::new(bin())
        .args(["check-config", "-c"])
        .arg(&config)
        .current_dir(dir.path())
        .env_clear()
        .env("HOME", dir.path())
        .env("OS_CLIENT_CONFIG_FILE", fake.clouds_yaml())
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Verification is on by default; `cacert` is honoured; `verify: false` is explicit and
/// warned about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_verification_from_the_cli() {
    // An empty project: every collection `check-config`'s preflight lists is empty.
    let empty = json!({
        "servers": [], "server_groups": [], "keypairs": [], "ports": [], "floatingips": [],
        "routers": [], "subnets": [], "networks": [], "security_groups": [], "volumes": [],
        "snapshots": [], "loadbalancers": [], "images": [], "stacks": [], "trunks": [],
        "port_forwardings": [], "backups": [],
    });
    let fake = FakeCloud::start_tls(move |seen| {
        // Swift's account listing is a bare array.
        if seen.path.starts_with("/swift") {
            Answer::Json(200, json!([]))
        } else {
            Answer::Json(200, empty.clone())
        }
    })
    .await;

    let (code, out, err) = check(&fake, "fake").await;
    assert_eq!(code, Some(2), "{out}{err}");
    assert!(
        format!("{out}{err}").to_lowercase().contains("certificate"),
        "{out}{err}"
    );

    let (code, out, err) = check(&fake, "fake-cacert").await;
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("authenticated"), "{out}");
    assert!(!err.contains("verification is OFF"), "{err}");

    let (code, out, err) = check(&fake, "fake-insecure").await;
    assert_eq!(code, Some(0), "{out}{err}");
    let warning = err
        .lines()
        .find(|l| l.contains("verification is OFF"))
        .unwrap_or_else(|| panic!("no warning: {err}"));
    assert!(warning.contains("WARN"), "{warning}");
}
