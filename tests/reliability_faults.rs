//! Faults at high rates: with a third of all requests answered 500/503, a fifth 429 and
//! one in seven connections reset, and every token expired every 30 ms, sweeps of a
//! leaked job never touch a survivor and never panic; once the faults stop, one sweep
//! finishes the job. A service slower than the request timeout is an error for its
//! kinds only, and the rest of the project is still swept.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reliability_support;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use regex::Regex;
use reliability_support::{fast_session_options, fast_sweep_options, Bed};
use stacksweep::engine::report::Report;
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::engine::{self, Job};
use stacksweep::openstack::{CloudConfig, RetryPolicy, Session};
use stacksweep::resources::Kind;
use stacksweep_sim::{FaultConfig, Manifest, Scenario};
use tokio_util::sync::CancellationToken;

fn selector(m: &Manifest) -> Selector {
    Selector::new(
        Marks {
            any_tags: vec![m.tag.clone()],
            metadata: vec![("ci-job".into(), m.tag.clone())],
            name_regex: Some(Regex::new(&format!("^{}-", regex::escape(&m.tag))).unwrap()),
            ..Marks::default()
        },
        Filters::default(),
    )
    .unwrap()
}

fn assert_survivors(bed: &Bed, m: &Manifest, when: &str) {
    for (kind, id) in &m.survivors {
        assert!(
            bed.sim.exists(kind, id),
            "{when}: survivor {kind} {id} is gone"
        );
    }
}

fn left(bed: &Bed, m: &Manifest) -> Vec<(String, String)> {
    m.selected
        .iter()
        .filter(|(k, id)| bed.sim.exists(k, id))
        .cloned()
        .collect()
}

/// Every failure in a report says something.
fn assert_reasons(report: &Report) {
    for e in report.errors.values() {
        assert!(!e.trim().is_empty(), "an empty listing error");
    }
    for r in report.resources.iter().filter(|r| r.outcome.left_behind()) {
        assert!(
            !r.reason.trim().is_empty(),
            "{} {} left without a reason",
            r.kind,
            r.id
        );
    }
}

/// Very high fault rates and constant token expiry: survivors intact after each sweep,
/// and the job is gone after one sweep without faults.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn high_fault_rates_never_touch_survivors() {
    let bed = Bed::start().await;
    let m = bed
        .sim
        .seed(&Scenario::parse("kubespray-aborted:2").unwrap());
    let session = bed.session("sim").await;
    let selector = selector(&m);
    let mut options = fast_sweep_options();
    options.deadline = Duration::from_secs(20);
    for (i, status) in [(0, 503), (1, 500)] {
        bed.sim.set_faults(
            "*",
            FaultConfig {
                error_rate: 0.33,
                error_status: status,
                throttle_rate: 0.2,
                retry_after_secs: 0,
                drop_rate: 0.15,
                ..FaultConfig::default()
            },
        );
        let done = AtomicBool::new(false);
        let expire = async {
            while !done.load(Ordering::SeqCst) {
                tokio::time::sleep(Duration::from_millis(30)).await;
                bed.sim.expire_tokens();
            }
        };
        let run = async {
            let r = async {
                engine::run(
                    &Job::new(session.clone(), selector.clone(), options.clone()),
                    CancellationToken::new(),
                )
                .await
                .map(|s| s.report)
            }
            .await;
            done.store(true, Ordering::SeqCst);
            r
        };
        let (result, ()) = tokio::join!(run, expire);
        assert_survivors(&bed, &m, &format!("faulty sweep {i}"));
        match result {
            Ok(report) => assert_reasons(&report),
            Err(e) => assert!(!e.to_string().is_empty()),
        }
    }
    let faults: usize = bed
        .sim
        .request_log()
        .iter()
        .filter(|r| matches!(r.status, None | Some(401 | 429 | 500 | 503)))
        .count();
    assert!(faults > 50, "only {faults} faults were injected");

    bed.sim.set_faults("*", FaultConfig::default());
    let report = async {
        engine::run(
            &Job::new(session.clone(), selector.clone(), options.clone()),
            CancellationToken::new(),
        )
        .await
        .map(|s| s.report)
    }
    .await
    .unwrap();
    assert!(report.is_clean(), "{}", report.render_text());
    assert!(left(&bed, &m).is_empty(), "left: {:?}", left(&bed, &m));
    assert_survivors(&bed, &m, "the clean sweep");
    bed.sim.shutdown().await;
}

/// Glance answering slower than the request timeout: images are a listing error that
/// names the timeout; everything else selected is swept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_service_is_a_per_kind_error() {
    let bed = Bed::start().await;
    let m = bed.sim.seed(&Scenario::parse("kubespray-aborted").unwrap());
    let image = bed.sim.with_state(|st| {
        let project = st.keystone.ci_project_id.clone();
        let mut s = stacksweep_sim::scenarios::Seeder::new(st, &project);
        s.image(&format!("{}-image", m.tag), &[&m.tag], false)
    });
    bed.sim.set_faults(
        "image",
        FaultConfig {
            latency: Duration::from_secs(2),
            ..FaultConfig::default()
        },
    );
    let cloud = CloudConfig::from_clouds_yaml(&bed.clouds_yaml(), "sim").unwrap();
    let mut opts = fast_session_options();
    opts.request_timeout = Duration::from_millis(150);
    opts.retry = RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        deadline: Duration::from_millis(400),
    };
    let session = Session::connect(&cloud, opts).await.unwrap();
    let report = async {
        engine::run(
            &Job::new(
                session.clone(),
                (selector(&m)).clone(),
                (fast_sweep_options()).clone(),
            ),
            CancellationToken::new(),
        )
        .await
        .map(|s| s.report)
    }
    .await
    .unwrap();
    let error = report
        .errors
        .get(&Kind::Image)
        .expect("an image listing error");
    assert!(error.to_lowercase().contains("time"), "{error}");
    assert!(bed.sim.exists("image", &image), "the image was deleted");
    assert!(left(&bed, &m).is_empty(), "{}", report.render_text());
    assert_survivors(&bed, &m, "the sweep");
    bed.sim.shutdown().await;
}
