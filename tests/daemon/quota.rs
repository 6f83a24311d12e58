//! The daemon's quota metrics against the simulator, on paused tokio time: after a sweep,
//! `stacksweep_quota_used` equals what the simulator holds, `stacksweep_quota_limit`
//! shows the limits (-1 for unlimited) and `stacksweep_quota_freed_total` counts what the
//! sweep deleted.
//!
//! One test in this file: credentials are found the production way, through
//! `OS_CLIENT_CONFIG_FILE`, which is process-wide.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::Timestamp;
use serde_json::json;
use stacksweep::config::Config;
use stacksweep::openstack::{CloudConfig, Service, Session, SessionOptions};
use stacksweep_sim::{Sim, SimConfig};

/// The value of the sample named with exactly these labels (`None` when absent).
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

fn quota(text: &str, metric: &str, resource: &str) -> Option<f64> {
    let labels = format!(r#"{{target="ci",cloud="sim",project="",resource="{resource}"}}"#);
    sample(text, &format!("stacksweep_quota_{metric}{labels}"))
}

/// Three tagged networks leak, one untagged stays: after one sweep the gauges match the
/// simulator and the freed counter says three networks.
#[tokio::test(start_paused = true)]
async fn daemon_exports_quota() {
    // Tests of this crate that set the environment take turns.
    let _env = crate::support::ENV.lock().await;
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    sim.set_quota("cores", -1);
    let dir = tempfile::tempdir().unwrap();
    let clouds = dir.path().join("clouds.yaml");
    sim.write_clouds_yaml(&clouds).unwrap();
    std::env::set_var("OS_CLIENT_CONFIG_FILE", &clouds);
    let cloud = CloudConfig::from_clouds_yaml(&clouds, "sim").unwrap();
    let ci = Session::connect(&cloud, SessionOptions::default())
        .await
        .unwrap();
    for (name, tags) in [("a", true), ("b", true), ("c", true), ("keep", false)] {
        let body = json!({"network": {"name": name}});
        let net = ci.post(Service::Network, "/networks", &body).await.unwrap();
        let id = net["network"]["id"].as_str().unwrap();
        if tags {
            let path = format!("/networks/{id}/tags");
            let body = json!({"tags": ["ci-leak"]});
            ci.put(Service::Network, &path, &body).await.unwrap();
        }
    }
    let text = format!(
        "[metrics]\nlisten = \"127.0.0.1:0\"\n[schedule]\ncron = \"* * * * *\"\n\
         [safety]\nstate_file = {state:?}\ngrace = \"0s\"\n\
         [select]\ntags = [\"ci-leak\"]\n[[target]]\nname = \"ci\"\ncloud = \"sim\"\n",
        state = dir.path().join("state.json").display().to_string(),
    );
    let config = Config::parse(&text, "test").unwrap();
    let text = crate::multi::metrics_after_a_minute(config, Timestamp::now()).await;
    let pid = ci.project_id().to_owned();
    let networks = sim.with_state(|st| {
        st.neutron
            .networks
            .values()
            .filter(|n| n["project_id"] == pid.as_str())
            .count() as f64
    });
    assert_eq!(quota(&text, "used", "networks"), Some(networks), "{text}");
    assert_eq!(quota(&text, "freed_total", "networks"), Some(3.0), "{text}");
    assert_eq!(quota(&text, "limit", "networks"), Some(200.0), "{text}");
    assert_eq!(quota(&text, "limit", "cores"), Some(-1.0), "{text}");
    assert_eq!(quota(&text, "used", "instances"), Some(0.0), "{text}");
    sim.shutdown().await;
}
