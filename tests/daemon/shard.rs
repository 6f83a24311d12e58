//! Static shards (`[coordination] shard = "I/N"`): two daemons, shard 0/2 and 1/2, over
//! the `multi-project` scenario (ci-1 and ci-2 in two regions: four units) on paused
//! tokio time. Each sweeps exactly the units rendezvous hashing gives it, together every
//! unit once, and the look-alike `cx-1` is never touched.
//!
//! One test in this file: credentials are found through `OS_CLIENT_CONFIG_FILE`, which is
//! process-wide.

use std::collections::BTreeSet;
use std::time::Duration;

use stacksweep::config::Config;
use stacksweep::coord::Shard;
use stacksweep::daemon::{Clock, Daemon, DaemonOptions, EngineRunner};
use tokio_util::sync::CancellationToken;

use crate::multi::{before_a_minute, scrape, MultiProject};

/// The units (`project/region`) with a deleted server in a daemon's `/metrics`.
fn swept_units(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|l| {
            l.starts_with("stacksweep_resources_total{")
                && l.contains("kind=\"server\",outcome=\"deleted\"")
                && l.ends_with(" 1")
        })
        .filter_map(|l| {
            let field = |name: &str| {
                let start = l.find(&format!("{name}=\""))? + name.len() + 2;
                let len = l[start..].find('"')?;
                Some(l[start..start + len].to_owned())
            };
            Some(format!("{}/{}", field("project")?, field("region")?))
        })
        .collect()
}

/// Shards 0/2 and 1/2 each sweep exactly their rendezvous units, together all four once.
#[tokio::test(start_paused = true)]
async fn two_static_shards_sweep_disjoint_units_covering_all() {
    let _env = crate::support::ENV.lock().await;
    let bed = MultiProject::start().await;
    let (sim, manifest) = (&bed.sim, &bed.manifest);
    let start = before_a_minute();
    let shutdown = CancellationToken::new();
    let mut daemons = Vec::new();
    for i in 0..2 {
        let text = bed.config_text(&format!("[coordination]\nshard = \"{i}/2\"\n"));
        let config = Config::parse(&text, "test").unwrap();
        let options = DaemonOptions {
            clock: Clock::virtual_from(start),
            ..DaemonOptions::default()
        };
        let daemon = Daemon::new(config, EngineRunner, options).await.unwrap();
        let addr = daemon.local_addr().unwrap();
        daemons.push((addr, tokio::spawn(daemon.run(shutdown.clone()))));
    }
    tokio::time::sleep(Duration::from_secs(65)).await;

    let mut all = BTreeSet::new();
    for (i, (addr, _)) in daemons.iter().enumerate() {
        let text = scrape(*addr).await;
        let shard = Shard::new(i, 2).unwrap();
        let mut expected = BTreeSet::new();
        for project in ["ci-1", "ci-2"] {
            let id = sim.add_project(project);
            for region in ["RegionOne", "RegionTwo"] {
                if shard.owns(&format!("ci/{id}/{region}")) {
                    expected.insert(format!("{project}/{region}"));
                }
            }
        }
        let swept = swept_units(&text);
        assert_eq!(swept, expected, "shard {shard}\n{text}");
        assert!(!text.contains("project=\"cx-1\""), "{text}");
        for unit in swept {
            assert!(all.insert(unit.clone()), "{unit} swept by two shards");
        }
    }
    assert_eq!(all.len(), 4, "{all:?}");
    for (kind, id) in &manifest.selected {
        assert!(!sim.exists(kind, id), "{kind} {id} left");
    }
    for (kind, id) in &manifest.survivors {
        assert!(sim.exists(kind, id), "survivor {kind} {id} deleted");
    }
    shutdown.cancel();
    for (_, task) in daemons {
        task.await.unwrap().unwrap();
    }
    bed.sim.shutdown().await;
}
