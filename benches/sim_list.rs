//! Benchmark: a simulator holding ~100,000 resources (the `scale` scenario) answers a
//! paginated list of 10,000 ports; prints the time to page through them over HTTP.
//! Run with `cargo bench --bench sim_list`; not a timed test, nothing is asserted on time.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    missing_docs
)]

use std::time::Instant;

use serde_json::json;
use stacksweep_sim::{Scenario, Sim, SimConfig};

/// Resources seeded; `SIM_BENCH_RESOURCES` overrides.
const RESOURCES: usize = 100_000;
const PORTS: usize = 10_000;
const PAGE: usize = 1_000;

/// What the client reads of a page: how many ports, and the links.
#[derive(serde::Deserialize)]
struct Page {
    ports: Vec<serde::de::IgnoredAny>,
    ports_links: Vec<Link>,
}

#[derive(serde::Deserialize)]
struct Link {
    rel: String,
    href: String,
}

#[tokio::main]
async fn main() {
    let sim = Sim::start(SimConfig::default()).await.unwrap();
    let started = Instant::now();
    let manifest = sim.seed(&Scenario::Scale {
        resources: RESOURCES,
    });
    let total = manifest.selected.len() + manifest.survivors.len();
    let ports_held = sim.ids("port").len();
    println!(
        "seeded {total} resources ({ports_held} ports) in {:.2?}",
        started.elapsed()
    );

    let http = reqwest::Client::new();
    let base = format!("http://{}", sim.addr());
    let auth = json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "ci-user",
        "domain": {"id": "default"}, "password": "ci-password"}}}, "scope": {"project": {"name": "ci", "domain": {"id": "default"}}}}});
    let resp = http
        .post(format!("{base}/identity/v3/auth/tokens"))
        .json(&auth)
        .send()
        .await
        .unwrap();
    let token = resp.headers()["x-subject-token"]
        .to_str()
        .unwrap()
        .to_string();

    for round in 1..=3 {
        let started = Instant::now();
        let mut seen = 0;
        let mut pages = 0;
        let mut url = format!("{base}/network/v2.0/ports?limit={PAGE}");
        while seen < PORTS {
            let bytes = http
                .get(&url)
                .header("x-auth-token", &token)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            let page: Page = serde_json::from_slice(&bytes).unwrap();
            seen += page.ports.len();
            pages += 1;
            match page.ports_links.into_iter().find(|l| l.rel == "next") {
                Some(l) => url = l.href,
                None => break,
            }
        }
        println!(
            "round {round}: listed {seen} ports in {pages} pages of {PAGE} in {:.2?}",
            started.elapsed()
        );
    }
    sim.shutdown().await;
}
