//! Scoped tokens reused across sessions through a [`TokenCache`], against the simulator
//! on paused tokio time (its tokens expire on the same clock): one Keystone request per
//! scope while the token has life left, a renewal near expiry, a 401 renewed once for
//! every session sharing the token, and a rotated secret never served the old token.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use stacksweep::openstack::{CloudConfig, Service, Session, SessionOptions, TokenCache};
use stacksweep_sim::{Sim, SimConfig, SimHandle};

/// Keystone token requests the simulator answered.
fn token_posts(sim: &SimHandle) -> usize {
    sim.request_count("POST", "/identity/v3/auth/tokens")
}

fn cached(cache: &TokenCache) -> SessionOptions {
    SessionOptions {
        tokens: Some(cache.clone()),
        ..SessionOptions::default()
    }
}

async fn start() -> (SimHandle, tempfile::TempDir, CloudConfig) {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("clouds.yaml");
    sim.write_clouds_yaml(&path).unwrap();
    let cloud = CloudConfig::from_clouds_yaml(&path, "sim").unwrap();
    (sim, dir, cloud)
}

/// Sessions of one scope share one token until it has less than 10 minutes (of its hour)
/// left; then the next session asks Keystone again, once.
#[tokio::test(start_paused = true)]
async fn one_token_per_scope_until_near_expiry() {
    let (sim, _dir, cloud) = start().await;
    let cache = TokenCache::new();
    for _ in 0..3 {
        let session = Session::connect(&cloud, cached(&cache)).await.unwrap();
        session
            .list(Service::Network, "/networks", "networks")
            .await
            .unwrap();
    }
    assert_eq!(token_posts(&sim), 1);
    tokio::time::sleep(Duration::from_secs(49 * 60)).await;
    Session::connect(&cloud, cached(&cache)).await.unwrap();
    assert_eq!(
        token_posts(&sim),
        1,
        "49 minutes into an hour's token: reused"
    );
    tokio::time::sleep(Duration::from_secs(2 * 60)).await;
    let session = Session::connect(&cloud, cached(&cache)).await.unwrap();
    session
        .list(Service::Network, "/networks", "networks")
        .await
        .unwrap();
    Session::connect(&cloud, cached(&cache)).await.unwrap();
    assert_eq!(
        token_posts(&sim),
        2,
        "51 minutes in: renewed once, then reused"
    );
    // Without a cache, every session asks.
    Session::connect(&cloud, SessionOptions::default())
        .await
        .unwrap();
    assert_eq!(token_posts(&sim), 3);
    sim.shutdown().await;
}

/// A shared token Keystone stops accepting (401) is renewed by the first session that
/// meets the 401; the others take its new token instead of asking again.
#[tokio::test(start_paused = true)]
async fn a_401_on_a_shared_token_renews_once() {
    let (sim, _dir, cloud) = start().await;
    let cache = TokenCache::new();
    let a = Session::connect(&cloud, cached(&cache)).await.unwrap();
    let b = Session::connect(&cloud, cached(&cache)).await.unwrap();
    assert_eq!(token_posts(&sim), 1);
    sim.expire_tokens();
    a.list(Service::Network, "/networks", "networks")
        .await
        .unwrap();
    b.list(Service::Network, "/networks", "networks")
        .await
        .unwrap();
    assert_eq!(token_posts(&sim), 2);
    // A new session starts on the renewed token.
    let c = Session::connect(&cloud, cached(&cache)).await.unwrap();
    c.list(Service::Network, "/networks", "networks")
        .await
        .unwrap();
    assert_eq!(token_posts(&sim), 2);
    sim.shutdown().await;
}

/// A credential whose secret changed (rotated, or wrong) is never served the token of
/// the old secret: it authenticates, and a wrong one fails.
#[tokio::test(start_paused = true)]
async fn a_changed_secret_is_not_served_the_cached_token() {
    let (sim, dir, cloud) = start().await;
    let cache = TokenCache::new();
    Session::connect(&cloud, cached(&cache)).await.unwrap();
    assert_eq!(token_posts(&sim), 1);
    let path = dir.path().join("clouds.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let password = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("password: "))
        .unwrap()
        .to_owned();
    std::fs::write(&path, text.replace(&password, "rotated-away")).unwrap();
    let wrong = CloudConfig::from_clouds_yaml(&path, "sim").unwrap();
    let err = Session::connect(&wrong, cached(&cache)).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    assert_eq!(token_posts(&sim), 2);
    assert!(cache.is_empty(), "the old secret's token was dropped");
    assert!(!format!("{cache:?}").contains(&password));
    sim.shutdown().await;
}
