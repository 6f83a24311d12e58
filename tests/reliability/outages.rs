//! Outages as the real bed had them (issue #17 part 1): a sweep of a leaked job while
//! Nova's database is gone for a few requests and Neutron is down for a few more may end
//! unclean, but rides the outages out with retries it counts per service and reason, a
//! second sweep finishes the job, and nothing unselected changes. With RabbitMQ gone
//! for a whole sweep, deletes never finish: the sweep leaves the job, the next finishes it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use crate::support::{all_resources, fast_sweep_options, selector, Bed};
use serde_json::Value;
use stacksweep_sim::{Outage, SimHandle};

/// Requests each faulted service fails.
const OUTAGE_REQUESTS: u32 = 4;

type Key = (String, String);

/// Every unselected resource as the simulator holds it, but the ports a selected
/// resource owns (a server's, a router's interfaces, a floating IP's): the cloud removes
/// them with their owner.
fn unselected(sim: &SimHandle, selected: &BTreeSet<Key>) -> BTreeMap<Key, Value> {
    let owners: BTreeSet<&str> = selected.iter().map(|(_, id)| id.as_str()).collect();
    let keys: Vec<Key> = all_resources(sim)
        .into_iter()
        .filter(|k| !selected.contains(k))
        .collect();
    sim.with_state(|st| {
        keys.into_iter()
            .filter_map(|(kind, id)| {
                let obj = st.table(&kind)?.get(&id)?.clone();
                let device = obj.get("device_id").and_then(Value::as_str).unwrap_or("");
                let owned = kind == "port" && owners.contains(device);
                (!owned).then_some(((kind, id), Value::Object(obj)))
            })
            .collect()
    })
}

/// What differs between two readings: `kind id` gone, or `kind id: field` changed.
fn changes(before: &BTreeMap<Key, Value>, after: &BTreeMap<Key, Value>) -> Vec<String> {
    let mut out = Vec::new();
    for ((kind, id), old) in before {
        let Some(new) = after.get(&(kind.clone(), id.clone())) else {
            out.push(format!("{kind} {id} gone"));
            continue;
        };
        let (Some(old), Some(new)) = (old.as_object(), new.as_object()) else {
            continue;
        };
        for (field, value) in old {
            if new.get(field) != Some(value) {
                out.push(format!(
                    "{kind} {id}: {field} {value} -> {:?}",
                    new.get(field)
                ));
            }
        }
    }
    out
}

/// Nova without its database and Neutron down, each for a few requests, during a sweep:
/// both are retried and counted (`server_error`, `transport`), a second sweep leaves
/// nothing selected, and every unselected resource is as it was.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_rides_out_database_and_service_outages() {
    let bed = Bed::builder().scenario("kubespray-aborted").start().await;
    let selected: BTreeSet<Key> = bed.manifest.selected.iter().cloned().collect();
    let before = unselected(&bed.sim, &selected);
    assert!(!before.is_empty() && !selected.is_empty());
    bed.sim
        .set_outage("compute", Some(Outage::Database), Some(OUTAGE_REQUESTS));
    bed.sim
        .set_outage("network", Some(Outage::Down), Some(OUTAGE_REQUESTS));

    let first = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    let log = bed.sim.request_log();
    let compute_500 = log
        .iter()
        .filter(|r| r.service == "compute" && r.status == Some(500))
        .count();
    let network_dropped = log
        .iter()
        .filter(|r| r.service == "network" && r.status.is_none())
        .count();
    assert_eq!(
        (compute_500, network_dropped),
        (OUTAGE_REQUESTS as usize, OUTAGE_REQUESTS as usize),
        "each outage lasted its requests"
    );
    let retried = |service: &str| {
        first
            .api
            .services
            .get(service)
            .unwrap_or_else(|| panic!("no {service} in {}", first.render_text()))
            .retried
    };
    assert!(
        retried("compute").server_error > 0,
        "{}",
        first.api.render_line()
    );
    assert!(
        retried("network").transport > 0,
        "{}",
        first.api.render_line()
    );

    let second = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(second.is_clean(), "{}", second.render_text());
    assert_eq!(bed.left(), Vec::<Key>::new(), "{}", second.render_text());
    let after = unselected(&bed.sim, &selected);
    assert_eq!(changes(&before, &after), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// RabbitMQ gone for a whole sweep: the APIs answer, the servers' deletes never finish,
/// so the sweep ends unclean with every server left behind and a reason given, and
/// nothing unselected changes; once the bus is back, the next sweep finishes the job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bus_leaves_the_job_for_the_next_sweep() {
    let bed = Bed::builder().scenario("kubespray-aborted").start().await;
    let selected: BTreeSet<Key> = bed.manifest.selected.iter().cloned().collect();
    let before = unselected(&bed.sim, &selected);
    let servers: Vec<&Key> = selected.iter().filter(|(k, _)| k == "server").collect();
    assert!(!servers.is_empty());
    bed.sim.stall_async(true);
    // A server whose delete never finishes is waited on until the sweep's deadline.
    let mut options = fast_sweep_options();
    options.deadline = Duration::from_secs(3);

    let first = bed.sweep(&selector(&bed.manifest), &options).await;
    assert!(!first.is_clean(), "{}", first.render_text());
    for (kind, id) in &servers {
        assert!(bed.sim.exists(kind, id), "{kind} {id} went while stalled");
        let outcome = first
            .resources
            .iter()
            .find(|r| r.kind.as_str() == kind && &r.id == id)
            .unwrap();
        assert!(
            outcome.outcome.left_behind() && !outcome.reason.trim().is_empty(),
            "{kind} {id}: {:?} {:?}",
            outcome.outcome,
            outcome.reason
        );
    }
    assert_eq!(
        changes(&before, &unselected(&bed.sim, &selected)),
        Vec::<String>::new()
    );

    bed.sim.stall_async(false);
    let second = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(second.is_clean(), "{}", second.render_text());
    assert_eq!(bed.left(), Vec::<Key>::new(), "{}", second.render_text());
    assert_eq!(
        changes(&before, &unselected(&bed.sim, &selected)),
        Vec::<String>::new()
    );
    bed.sim.shutdown().await;
}
