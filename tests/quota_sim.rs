//! Quota accounting against the simulator over loopback: the simulator's quota endpoints
//! follow its state, a sweep's freed quota matches what it deleted (computed from the
//! scenario's manifest), usage after a sweep matches the simulator's state, unlimited
//! quotas read as such, and a refused quota call is reported as unavailable. Uses real
//! (short) time: the simulator's asynchronous deletes run on timers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

mod sim_bed;

use serde_json::Value;
use sim_bed::{bed, selector, stacksweep};
use stacksweep::engine::quota::{self, QuotaReport, QuotaResource as Q};
use stacksweep::engine::{self, Job, SweepOptions};
use stacksweep_sim::{FaultConfig, Manifest, SimState};
use tokio_util::sync::CancellationToken;

fn options() -> SweepOptions {
    SweepOptions {
        deadline: Duration::from_secs(60),
        retry_base: Duration::from_millis(10),
        retry_cap: Duration::from_millis(100),
        poll_base: Duration::from_millis(20),
        poll_cap: Duration::from_millis(100),
        ..SweepOptions::default()
    }
}

/// Ids the manifest says the sweep deletes, of one kind.
fn selected<'a>(m: &'a Manifest, kind: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    m.selected
        .iter()
        .filter(move |(k, _)| k == kind)
        .map(|(_, id)| id.as_str())
}

/// Sum of a number field of the selected resources of one kind, read from the sim.
fn sum(st: &SimState, m: &Manifest, kind: &str, field: &[&str]) -> u64 {
    selected(m, kind)
        .map(|id| {
            let obj = st.table(kind).unwrap().get(id).unwrap();
            let mut v = obj.get(field[0]).unwrap();
            for f in &field[1..] {
                v = &v[*f];
            }
            v.as_u64().unwrap()
        })
        .sum()
}

/// Count of `kind` owned by `project` in the sim (`key` is the owner field).
fn owned(st: &SimState, kind: &str, key: &str, project: &str) -> u64 {
    st.table(kind)
        .unwrap()
        .values()
        .filter(|o| o[key].as_str() == Some(project))
        .count() as u64
}

/// What a kubespray sweep frees equals what the manifest says it deletes, and usage
/// after it equals the simulator's own count of what is left.
#[tokio::test]
async fn freed_matches_manifest_and_after_matches_sim() {
    let b = bed("kubespray-aborted:3").await;
    let m = &b.manifest;
    let count = |kind: &str| selected(m, kind).count() as u64;
    let (cores, ram, gigs) = b.sim.with_state(|st| {
        (
            sum(st, m, "server", &["flavor", "vcpus"]),
            sum(st, m, "server", &["flavor", "ram"]),
            sum(st, m, "volume", &["size"]),
        )
    });
    let before = quota::read(&b.session).await;
    assert!(before.unavailable.is_empty(), "{:?}", before.unavailable);
    let report = async {
        engine::run(
            &Job::new(
                b.session.clone(),
                (selector(m)).clone(),
                (options()).clone(),
            ),
            CancellationToken::new(),
        )
        .await
        .map(|s| s.report)
    }
    .await
    .unwrap();
    assert!(report.is_clean(), "{}", report.render_text());
    let after = quota::read(&b.session).await;
    let q = QuotaReport::new(before, Some(after.clone()));

    assert!(count("server") > 0 && count("floating-ip") > 0 && count("volume") > 0);
    let expect = [
        (Q::Instances, count("server")),
        (Q::Cores, cores),
        (Q::RamMib, ram),
        (Q::FloatingIps, count("floating-ip")),
        (Q::Routers, count("router")),
        (Q::Networks, count("network")),
        (Q::Subnets, count("subnet")),
        (Q::SecurityGroups, count("security-group")),
        (Q::Volumes, count("volume")),
        (Q::VolumeGigabytes, gigs),
        (Q::Snapshots, count("snapshot")),
        (Q::ServerGroups, count("server-group")),
    ];
    for (r, n) in expect {
        assert_eq!(q.freed.get(&r).copied().unwrap_or(0), n, "freed {r}");
    }
    assert!(q
        .freed_text()
        .contains(&format!("{} instances", count("server"))));

    let pid = b.session.project_id().to_owned();
    let left = b.sim.with_state(|st| {
        [
            (Q::Instances, owned(st, "server", "tenant_id", &pid)),
            (Q::Ports, owned(st, "port", "project_id", &pid)),
            (Q::FloatingIps, owned(st, "floating-ip", "project_id", &pid)),
            (Q::Networks, owned(st, "network", "project_id", &pid)),
            (
                Q::SecurityGroupRules,
                owned(st, "security-group-rule", "project_id", &pid),
            ),
            (
                Q::Volumes,
                owned(st, "volume", "os-vol-tenant-attr:tenant_id", &pid),
            ),
        ]
    });
    for (r, n) in left {
        assert_eq!(after.usage[&r].used, n, "after {r}");
    }
    b.sim.shutdown().await;
}

/// Limits set to -1 read as unlimited; limits set to a number read as that number.
#[tokio::test]
async fn limits_follow_the_sim_and_unlimited_is_none() {
    let b = bed("kubespray-aborted:1").await;
    b.sim.set_quota("cores", -1);
    b.sim.set_quota("floatingip", 7);
    b.sim.set_quota("gigabytes", -1);
    let snap = quota::read(&b.session).await;
    assert_eq!(snap.usage[&Q::Cores].limit, None);
    assert_eq!(snap.usage[&Q::FloatingIps].limit, Some(7));
    assert_eq!(snap.usage[&Q::VolumeGigabytes].limit, None);
    assert_eq!(snap.usage[&Q::Instances].limit, Some(100));
    assert_eq!(snap.usage[&Q::LoadBalancers].limit, None);
    b.sim.shutdown().await;
}

/// A service answering 403 to its quota call is unavailable; the others still report.
#[tokio::test]
async fn refused_quota_is_unavailable_not_fatal() {
    let b = bed("kubespray-aborted:1").await;
    b.sim.set_faults(
        "volume",
        FaultConfig {
            error_rate: 1.0,
            error_status: 403,
            ..FaultConfig::default()
        },
    );
    let snap = quota::read(&b.session).await;
    assert!(
        snap.unavailable["block-storage"].contains("403"),
        "{:?}",
        snap.unavailable
    );
    assert!(!snap.usage.contains_key(&Q::Volumes));
    assert!(snap.usage.contains_key(&Q::Instances));
    b.sim.shutdown().await;
}

/// `stacksweep sweep --output json` carries quota before, after and freed per target.
#[tokio::test(flavor = "multi_thread")]
async fn sweep_json_carries_quota() {
    let b = bed("kubespray-aborted:2").await;
    let servers = selected(&b.manifest, "server").count() as u64;
    let tag = b.manifest.tag.clone();
    let args = [
        "sweep".to_owned(),
        "--cloud".into(),
        "sim".into(),
        "--any-tag".into(),
        tag.clone(),
        "--metadata".into(),
        format!("ci-job={tag}"),
        "--name-regex".into(),
        format!("^{tag}-"),
        "--output".into(),
        "json".into(),
    ];
    let out = stacksweep(&b, args.to_vec()).await;
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let quota = &json["targets"][0]["quota"];
    assert_eq!(quota["freed"]["instances"], servers, "{quota}");
    assert!(quota["before"]["usage"]["cores"]["limit"].is_u64());
    let used = |when: &str| quota[when]["usage"]["instances"]["used"].as_u64().unwrap();
    assert_eq!(used("after"), used("before") - servers);
    b.sim.shutdown().await;
}
