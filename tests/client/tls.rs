//! TLS: verification on by default, `cacert` honoured, `insecure` explicit and warned about.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::support::fake_cloud;
use crate::support::fake_cloud::{options, Answer, Capture, FakeCloud};
use serde_json::json;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use stacksweep::openstack::{
    ApiError, CloudConfig, RequestObserver, RetryReason, Service, Session, UnreachableCause,
};

fn ok(_: &fake_cloud::Seen) -> Answer {
    Answer::Json(200, json!({"ok": true}))
}

/// Counts retries.
#[derive(Default)]
struct Retries(AtomicUsize);

impl RequestObserver for Retries {
    fn on_response(&self, _: Service, _: &'static str, _: Option<u16>, _: Duration) {}
    fn on_retry(&self, _: Service, _: RetryReason) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A server whose CA we were not given is refused at once (verification is on by
/// default, and a refused certificate is not retried).
#[tokio::test]
async fn unknown_ca_is_refused() {
    let cloud = FakeCloud::start_tls(ok).await;
    let retries = Arc::new(Retries::default());
    let mut opts = options();
    opts.observer = Some(retries.clone());
    let err = Session::connect(&cloud.cloud("fake"), opts)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ApiError::Unreachable {
                cause: UnreachableCause::Tls,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert_eq!(retries.0.load(Ordering::SeqCst), 0);
}

/// With `cacert`, the same server is trusted, and no warning is logged.
#[tokio::test]
async fn cacert_is_honoured() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let cloud = FakeCloud::start_tls(ok).await;
    let session = Session::connect(&cloud.cloud("fake-cacert"), options())
        .await
        .unwrap();
    session.get(Service::Network, "/ports").await.unwrap();
    assert!(!capture.text().contains("verification is OFF"));
}

/// `verify: false` connects without checking, and says so at WARN.
#[tokio::test]
async fn insecure_is_explicit_and_warned() {
    let capture = Capture::default();
    let _guard = tracing::subscriber::set_default(capture.subscriber());
    let cloud = FakeCloud::start_tls(ok).await;
    let config = cloud.cloud("fake-insecure");
    assert!(config.insecure());
    let session = Session::connect(&config, options()).await.unwrap();
    session.get(Service::Network, "/ports").await.unwrap();
    let text = capture.text();
    let line = text
        .lines()
        .find(|l| l.contains("verification is OFF"))
        .expect(&text);
    assert!(line.contains("WARN"), "{line}");
}

/// A missing or empty CA file is a setup error naming the file.
#[tokio::test]
async fn bad_cacert_is_a_setup_error() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let yaml = dir.path().join("clouds.yaml");
    std::fs::write(
        &yaml,
        format!(
            "clouds:\n  missing:\n    cacert: /nonexistent/ca.pem\n    auth: {{auth_url: 'https://127.0.0.1:1', username: u, password: p, project_name: x}}\n  junk:\n    cacert: {}\n    auth: {{auth_url: 'https://127.0.0.1:1', username: u, password: p, project_name: x}}\n",
            junk.display()
        ),
    )
    .unwrap();
    let err = Session::connect(
        &CloudConfig::from_clouds_yaml(&yaml, "missing").unwrap(),
        options(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ApiError::Setup(_)), "{err:?}");
    assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    let err = Session::connect(
        &CloudConfig::from_clouds_yaml(&yaml, "junk").unwrap(),
        options(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("no PEM certificate"), "{err}");
}
