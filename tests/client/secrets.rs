//! No secret ever leaves the client: every tracing line at TRACE (ours and the HTTP
//! stack's), every error message and every `Debug` output of a session's life is grepped
//! for the password, the application-credential secret and every token issued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::support::fake_cloud::{options, Answer, Capture, FakeCloud, APPCRED_SECRET, PASSWORD};
use serde_json::json;
use stacksweep::openstack::{CloudConfig, CloudsSource, Service, Session};
use tracing_subscriber::util::SubscriberInitExt;

/// A traced session life (auth, re-auth, retries, errors, failed auth) leaks no secret.
#[tokio::test(start_paused = true)]
async fn no_secret_in_logs_errors_or_debug() {
    let capture = Capture::default();
    capture.subscriber().try_init().unwrap();

    let rate_limited = AtomicUsize::new(0);
    let cloud = FakeCloud::start(move |seen| match seen.path.rsplit('/').next().unwrap() {
        "rate" if rate_limited.fetch_add(1, Ordering::SeqCst) == 0 => {
            Answer::Text(429, vec![("retry-after", "2".into())], "slow".into())
        }
        "conflict" => Answer::Json(
            409,
            json!({"NeutronError": {"type": "PortInUse", "message": "in use", "detail": ""}}),
        ),
        "html" => Answer::Text(200, vec![], "<html>login</html>".into()),
        _ => Answer::Json(200, json!({"port": {"id": "p1"}})),
    })
    .await;

    let mut outputs: Vec<String> = Vec::new();
    let password_cloud = cloud.cloud("fake");
    let session = Session::connect(&password_cloud, options()).await.unwrap();
    session.get(Service::Network, "/ports/p1").await.unwrap();
    cloud.revoke_all();
    session.get(Service::Network, "/ports/rate").await.unwrap();
    for path in ["/ports/conflict", "/ports/html"] {
        let err = session.get(Service::Network, path).await.unwrap_err();
        outputs.push(format!("{err} {err:?}"));
    }

    let appcred_cloud = cloud.cloud("fake-appcred");
    let appcred = Session::connect(&appcred_cloud, options()).await.unwrap();
    appcred.get(Service::Compute, "/servers/x").await.unwrap();

    let bad = cloud.cloud("fake-badpass");
    let err = Session::connect(&bad, options()).await.unwrap_err();
    outputs.push(format!("{err} {err:?}"));

    let env: HashMap<String, String> = [
        ("OS_AUTH_URL", "http://k"),
        ("OS_USERNAME", "u"),
        ("OS_PASSWORD", PASSWORD),
        ("OS_PROJECT_NAME", "p"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let source = CloudsSource::new(env, vec![]);
    let env_cloud = CloudConfig::resolve_from(None, &source).unwrap();
    outputs.extend([
        format!("{session:?}"),
        format!("{appcred:?}"),
        format!("{password_cloud:?}"),
        format!("{appcred_cloud:?}"),
        format!("{bad:?}"),
        format!("{env_cloud:?}"),
        format!("{source:?}"),
        format!("{:?}", options()),
    ]);

    let logs = capture.text();
    assert!(logs.contains("openstack_request"), "spans are captured");
    assert!(logs.contains("re-authenticated"), "the re-auth is traced");
    assert!(logs.contains("retrying"), "the 429 retry is traced");
    let tokens = cloud.issued();
    assert_eq!(tokens.len(), 3, "password, re-auth, application credential");
    let mut secrets = vec![PASSWORD.to_owned(), APPCRED_SECRET.to_owned()];
    secrets.extend(tokens);
    for secret in &secrets {
        assert!(!logs.contains(secret.as_str()), "a secret is in the logs");
        for output in &outputs {
            assert!(
                !output.contains(secret.as_str()),
                "a secret is in: {output}"
            );
        }
    }
}
