//! The sweep end to end against the simulator over loopback, through the real client:
//! the aborted Kubespray job swept clean in one run with every survivor intact, a second
//! run doing nothing, conflicts retried and counted, faults survived, stuck resources
//! reported. Uses real (short) time: the simulator's asynchronous deletes run on timers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{fast_sim_config, fast_sweep_options, selector, sweep, Bed};
use regex::Regex;
use stacksweep::engine::inventory::Inventory;
use stacksweep::engine::report::{Outcome, Report};
use stacksweep::engine::select::Selection;
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::engine::{self, Job, SweepHooks, SweepOptions};
use stacksweep::resources::Kind;
use stacksweep_sim::scenarios::{Seeder, ServerSpec};
use stacksweep_sim::{FaultConfig, SimConfig};
use tokio_util::sync::CancellationToken;

/// The shared bed, with the client retrying transient failures for up to 20 s (the
/// fault tests inject high error rates).
async fn bed(config: SimConfig, scenario: &str) -> Bed {
    Bed::builder()
        .sim(config)
        .scenario(scenario)
        .retry_deadline(Duration::from_secs(20))
        .start()
        .await
}

/// The ID of the job's `kind` resource named `<tag>-<suffix>`.
async fn id_of(bed: &Bed, kind: Kind, suffix: &str) -> String {
    let name = format!("{}-{suffix}", bed.manifest.tag);
    let inventory = engine::list(&bed.session, &selector(&bed.manifest))
        .await
        .unwrap();
    let found = inventory
        .resources()
        .iter()
        .find(|r| r.kind == kind && r.name == name);
    found
        .unwrap_or_else(|| panic!("no {kind} named {name}"))
        .id
        .clone()
}

/// The aborted Kubespray job is swept clean in one run, every survivor intact, and a
/// second run finds nothing to do.
#[tokio::test]
async fn kubespray_aborted_swept_clean_then_nothing_to_do() {
    swept_clean_then_nothing_to_do("kubespray-aborted").await;
}

/// The same for a Cluster API cluster (servers with cinder-csi volumes attached).
#[tokio::test]
async fn capo_cluster_swept_clean_then_nothing_to_do() {
    swept_clean_then_nothing_to_do("capo-cluster").await;
}

async fn swept_clean_then_nothing_to_do(scenario: &str) {
    let bed = bed(fast_sim_config(), scenario).await;
    bed.assert_swept_clean_then_idle().await;
    bed.sim.shutdown().await;
}

/// A selected server booted on a port passed in by someone else, with a selected
/// floating IP on that port: the server goes, the port outlives it, and the floating IP
/// stays associated with the kept port, reported skipped with the port named. (The plan
/// cannot tell such a port from one Nova made, so the floating IP waits for the port to
/// go; a floating IP on the job's own Nova-made port still goes once that port is gone.)
#[tokio::test]
async fn floating_ip_on_a_port_outliving_its_server_is_never_detached() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let tag = bed.manifest.tag.clone();
    let project = bed.sim.project_id();
    let (server, port, fip) = bed.sim.with_state(|st| {
        let mut s = Seeder::new(st, &project);
        let net = s.network("shared-net", &[]).unwrap();
        let subnet = s
            .subnet(&net, "shared-subnet", "10.77.0.0/24", &[])
            .unwrap();
        let router = s.router("shared-router", &[], true).unwrap();
        s.router_interface(&router, &subnet).unwrap();
        let port = s.port(&net, "byo-port", &[], &[]).unwrap();
        let spec = ServerSpec {
            ports: vec![port.clone()],
            ..ServerSpec::default()
        };
        let server = s
            .server(&format!("{tag}-extra-vm"), &[&tag], &spec)
            .unwrap();
        let fip = s.floating_ip("extra", &[&tag], Some(&port)).unwrap();
        for (kind, id) in [("server", &server), ("port", &port), ("floating-ip", &fip)] {
            s.age(kind, id, 7);
        }
        (server, port, fip)
    });

    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    let outcome = |id: &str| report.resources.iter().find(|r| r.id == id).unwrap();
    assert_eq!(outcome(&server).outcome, Outcome::Deleted);
    assert!(!bed.sim.exists("server", &server));
    assert!(bed.sim.exists("port", &port), "the passed-in port went");
    assert!(
        bed.sim.exists("floating-ip", &fip),
        "{}",
        report.render_text()
    );
    let still_on = bed
        .sim
        .with_state(|st| st.neutron.floatingips.get(&fip).cloned());
    assert_eq!(still_on.unwrap()["port_id"].as_str(), Some(port.as_str()));
    let o = outcome(&fip);
    assert_eq!(o.outcome, Outcome::Skipped);
    assert!(o.reason.contains(&port), "{}", o.reason);
    // Everything of the job itself went, its floating IP included.
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
    bed.sim.shutdown().await;
}

/// The security-group race: the group is still in use when its turn comes (Neutron
/// answers 409 `SecurityGroupInUse`); the sweep retries until it goes, and counts it.
#[tokio::test]
async fn security_group_in_use_is_retried_and_counted() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let group = id_of(&bed, Kind::SecurityGroup, "k8s-node").await;
    bed.sim.conflict_for("security-group", &group, 3);
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(report.is_clean(), "{}", report.render_text());
    assert!(!bed.sim.exists("security-group", &group));
    assert!(report.kinds[&Kind::SecurityGroup].conflict_retries >= 3);
    bed.assert_survivors();
    bed.sim.shutdown().await;
}

/// A volume that ends in `error_deleting` is reported as stuck, not retried forever;
/// everything else goes.
#[tokio::test]
async fn stuck_volume_is_reported_as_stuck() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let volume = id_of(&bed, Kind::Volume, "etcd-backup").await;
    bed.sim.make_stuck("volume", &volume);
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(!report.is_clean());
    let outcome = report.resources.iter().find(|r| r.id == volume).unwrap();
    assert_eq!(outcome.outcome, Outcome::Stuck, "{}", outcome.reason);
    assert!(
        outcome.reason.contains("error_deleting"),
        "{}",
        outcome.reason
    );
    assert_eq!(report.kinds[&Kind::Volume].stuck, 1);
    assert_eq!(bed.left(), vec![("volume".to_string(), volume)]);
    bed.assert_survivors();
    bed.sim.shutdown().await;
}

/// Sweeps until nothing selected is left (at most three runs, as a cron would), with
/// survivors intact after each; returns the runs' reports.
async fn converge(bed: &Bed) -> Vec<Report> {
    let mut reports = Vec::new();
    for _ in 0..3 {
        let report = bed
            .sweep(&selector(&bed.manifest), &fast_sweep_options())
            .await;
        bed.assert_survivors();
        let done = bed.left().is_empty();
        reports.push(report);
        if done {
            return reports;
        }
    }
    let last = reports.last().unwrap();
    panic!(
        "still left after 3 sweeps: {:?}\n{}",
        bed.left(),
        last.render_text()
    );
}

/// Every service answering 20% of requests with 503: the sweep still converges and
/// never touches a survivor.
#[tokio::test]
async fn converges_under_server_errors() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    bed.sim.set_faults(
        "*",
        FaultConfig {
            error_rate: 0.2,
            ..FaultConfig::default()
        },
    );
    converge(&bed).await;
    bed.sim.shutdown().await;
}

/// Throttling with `Retry-After` and dropped connections: the sweep still converges.
#[tokio::test]
async fn converges_under_throttling_and_dropped_connections() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let faults = FaultConfig {
        throttle_rate: 0.1,
        retry_after_secs: 0,
        throttle_next: 3,
        drop_rate: 0.1,
        ..FaultConfig::default()
    };
    bed.sim.set_faults("*", faults);
    converge(&bed).await;
    bed.sim.shutdown().await;
}

/// The token expiring mid-sweep (once the first delete went out, with deletes and polls
/// in flight): the session re-authenticates and the sweep converges in one run.
#[tokio::test]
async fn survives_token_expiry_mid_sweep() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let expire = async {
        while bed.sim.request_count("DELETE", "/") == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bed.sim.expire_tokens();
    };
    let options = fast_sweep_options();
    let selector = selector(&bed.manifest);
    let (report, ()) = tokio::join!(bed.sweep(&selector, &options), expire);
    assert!(report.is_clean(), "{}", report.render_text());
    let refused = bed
        .sim
        .request_log()
        .iter()
        .filter(|r| r.status == Some(401))
        .count();
    assert!(refused > 0, "no request met an expired token");
    assert!(bed.left().is_empty());
    bed.assert_survivors();
    bed.sim.shutdown().await;
}

/// Replaces what changes from run to run (IDs, the random tag, the project, ages) with
/// placeholders of the same length, so snapshots are stable and tables stay aligned.
fn stable(text: &str, tag: &str) -> String {
    let text = text.replace(tag, "ci-JOBTAG00");
    let uuid = Regex::new("[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}").unwrap();
    let text = uuid.replace_all(&text, "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx");
    let project = Regex::new("[0-9a-f]{32}").unwrap();
    let text = project.replace_all(&text, "[project]");
    let age = Regex::new(r"age \d+[dhms]( \d+[dhms])?").unwrap();
    age.replace_all(&text, "age [age]").into_owned()
}

/// The dry-run plan of the aborted Kubespray job: what goes in which order, derived from
/// references (servers, then ports, the floating IP once its server's port is gone,
/// router interface and gateway, router, subnet, network, groups; snapshots before
/// volumes).
#[tokio::test]
async fn snapshot_dry_run_plan() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let report = bed
        .sweep(
            &selector(&bed.manifest),
            &SweepOptions {
                dry_run: true,
                ..fast_sweep_options()
            },
        )
        .await;
    assert!(
        bed.left().len() == bed.manifest.selected.len(),
        "a dry run deleted something"
    );
    insta::assert_snapshot!(
        "kubespray_dry_run_plan",
        stable(&report.plan.render_text(), &bed.manifest.tag)
    );
    bed.sim.shutdown().await;
}

/// The JSON report of sweeping the aborted Kubespray job (times, retry and request
/// counts and pacing limits, which vary, blanked).
#[tokio::test]
async fn snapshot_json_report() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(report.is_clean());
    let mut json = serde_json::to_value(&report).unwrap();
    json["started_at"] = "[time]".into();
    json["duration_seconds"] = "[duration]".into();
    for counts in json["kinds"].as_object_mut().unwrap().values_mut() {
        counts["conflict_retries"] = "[retries]".into();
    }
    json["api"]["requests"] = "[n]".into();
    for api in json["api"]["services"]
        .as_object_mut()
        .unwrap()
        .values_mut()
    {
        api["requests"] = "[n]".into();
        api["concurrency_limit"] = "[limit]".into();
        api["lowest_concurrency_limit"] = "[limit]".into();
    }
    for r in json["resources"].as_array_mut().unwrap() {
        if !r["created_at"].is_null() {
            r["created_at"] = "[time]".into();
        }
    }
    let text = serde_json::to_string_pretty(&json).unwrap();
    insta::assert_snapshot!("kubespray_json_report", stable(&text, &bed.manifest.tag));
    bed.sim.shutdown().await;
}

/// About 600 resources in 50 chains, every other one ours: one run deletes exactly
/// ours, concurrently, and leaves the rest.
#[tokio::test]
async fn scale_scenario_swept_clean() {
    let bed = bed(fast_sim_config(), "scale:600").await;
    let marks = Marks {
        any_tags: vec![bed.manifest.tag.clone()],
        metadata: vec![("ci-job".into(), bed.manifest.tag.clone())],
        ..Marks::default()
    };
    let selector = Selector::new(marks, Filters::default()).unwrap();
    let report = sweep(
        &bed.session,
        &selector,
        &fast_sweep_options(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(report.is_clean(), "{}", report.render_text());
    assert_eq!(report.totals().deleted, bed.manifest.selected.len());
    assert!(bed.left().is_empty());
    bed.assert_survivors();
    bed.sim.shutdown().await;
}

/// A port list with a field of the wrong type is an error for ports, never a panic:
/// nothing a port could hold in use (networks, subnets, groups, routers, floating IPs)
/// is deleted on the strength of that misread, and the report says why.
#[tokio::test]
async fn garbage_port_list_blocks_what_ports_could_hold() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let project = bed.sim.project_id();
    bed.sim.with_state(|st| {
        // One of the project's own ports (the simulator also holds admin-owned ones).
        let mut ours = st
            .neutron
            .ports
            .values_mut()
            .filter(|p| p["project_id"] == project.as_str());
        let port = ours.next().unwrap();
        port.insert("fixed_ips".into(), serde_json::json!("10.0.0.1"));
    });
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(!report.is_clean(), "{}", report.render_text());
    assert!(
        report.errors[&Kind::Port].contains("fixed_ips"),
        "{:?}",
        report.errors
    );
    for r in report.resources.iter().filter(|r| r.selected) {
        let held = [
            Kind::Network,
            Kind::Subnet,
            Kind::SecurityGroup,
            Kind::Router,
            Kind::FloatingIp,
        ];
        if held.contains(&r.kind) {
            assert_eq!(r.outcome, Outcome::Skipped, "{} {}", r.kind, r.id);
            assert!(r.reason.contains("listing ports failed"), "{}", r.reason);
            assert!(bed.sim.exists(r.kind.as_str(), &r.id));
        }
    }
    bed.assert_survivors();
    bed.sim.shutdown().await;
}

/// Sweeps killed at several points (the future dropped mid-flight, as SIGKILL would
/// leave the cloud): nothing unselected is touched, and the next full sweep converges.
#[tokio::test]
async fn interrupted_sweeps_converge() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let options = fast_sweep_options();
    for ms in [15, 40, 80, 140] {
        let cut = tokio::time::timeout(
            Duration::from_millis(ms),
            bed.sweep(&selector(&bed.manifest), &options),
        )
        .await;
        drop(cut);
        bed.assert_survivors();
    }
    let report = bed.sweep(&selector(&bed.manifest), &options).await;
    assert!(report.is_clean(), "{}", report.render_text());
    assert!(bed.left().is_empty());
    bed.assert_survivors();
    bed.sim.shutdown().await;
}

/// A cancelled sweep starts nothing new, lets what is in flight finish, and reports the
/// rest as not attempted; the next sweep finishes the job.
#[tokio::test]
async fn cancelled_sweep_reports_the_rest_and_resumes() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let cancel = CancellationToken::new();
    let trigger = async {
        while bed.sim.request_count("DELETE", "/") == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        cancel.cancel();
    };
    let selector = selector(&bed.manifest);
    let options = fast_sweep_options();
    let sweep = sweep(&bed.session, &selector, &options, cancel.clone());
    let (report, ()) = tokio::join!(sweep, trigger);
    let report = report.unwrap();
    assert!(!report.is_clean());
    let not_attempted = report
        .resources
        .iter()
        .filter(|r| r.outcome == Outcome::NotAttempted);
    assert!(not_attempted.count() > 0, "{}", report.render_text());
    bed.assert_survivors();
    let report = bed.sweep(&selector, &options).await;
    assert!(report.is_clean(), "{}", report.render_text());
    assert!(bed.left().is_empty());
    bed.sim.shutdown().await;
}

/// A resource demoted between selection and planning (the daemon's grace period) is
/// kept with the given reason, and what it holds in use is skipped naming it.
#[tokio::test]
async fn demoted_resources_are_kept() {
    let bed = bed(fast_sim_config(), "kubespray-aborted").await;
    let port = id_of(&bed, Kind::Port, "node-1-port").await;
    let selector = selector(&bed.manifest);
    /// Demotes one port after selection, as the daemon's grace period does.
    struct Hold(String);
    impl SweepHooks for Hold {
        fn selected(&mut self, _: &Inventory, selection: &mut Selection) {
            selection.demote(Kind::Port, &self.0, "kept: first seen 5m ago (grace 1h)");
        }
    }
    let job = Job::new(bed.session.clone(), selector, fast_sweep_options());
    let report = engine::run_with(
        &job,
        CancellationToken::new(),
        jiff::Timestamp::now(),
        &mut Hold(port.clone()),
    )
    .await
    .unwrap()
    .report;
    let outcome = report.resources.iter().find(|r| r.id == port).unwrap();
    assert_eq!(outcome.outcome, Outcome::Kept);
    assert_eq!(outcome.reason, "kept: first seen 5m ago (grace 1h)");
    assert!(bed.sim.exists("port", &port));
    let network = report
        .resources
        .iter()
        .find(|r| r.kind == Kind::Network && r.selected)
        .unwrap();
    assert_eq!(network.outcome, Outcome::Skipped);
    assert!(network.reason.contains(&port), "{}", network.reason);
    bed.assert_survivors();
    bed.sim.shutdown().await;
}

/// Volumes that Cinder still shows attached to servers already gone (a sweep right after
/// the servers went) are deleted once Cinder catches up, not skipped as in use.
#[tokio::test]
async fn stale_attachments_do_not_block_volumes() {
    let config = SimConfig {
        volume_detach_delay: Duration::from_millis(400),
        ..fast_sim_config()
    };
    let bed = bed(config, "kubespray-aborted").await;
    let servers_only = Selector::new(
        selector(&bed.manifest).marks().clone(),
        Filters {
            include_kinds: vec![Kind::Server],
            ..selector(&bed.manifest).filters().clone()
        },
    )
    .unwrap();
    let first = sweep(
        &bed.session,
        &servers_only,
        &fast_sweep_options(),
        CancellationToken::new(),
    )
    .await
    .unwrap();
    assert_eq!(
        first.kinds[&Kind::Server].deleted,
        3,
        "{}",
        first.render_text()
    );
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(report.is_clean(), "{}", report.render_text());
    // Cinder said 400 while the attachments lingered: the path under test was taken.
    assert!(report.kinds[&Kind::Volume].conflict_retries > 0);
    assert!(bed.left().is_empty());
    bed.assert_survivors();
    bed.sim.shutdown().await;
}
