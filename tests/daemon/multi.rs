//! What the daemon tests share: scraping `/metrics`, and for the multi-project tests a
//! two-region simulator seeded with `multi-project` (its clouds.yaml in the
//! environment), the config sweeping its tag over `ci-*` in every region, and a start
//! just before a minute boundary.

use std::net::SocketAddr;

use jiff::Timestamp;
use stacksweep_sim::{Manifest, Scenario, Sim, SimConfig, SimHandle};
use tempfile::TempDir;

/// A two-region simulator holding the `multi-project` scenario; `OS_CLIENT_CONFIG_FILE`
/// points at its clouds.yaml (hold `crate::support::ENV` while it lives).
pub struct MultiProject {
    pub sim: SimHandle,
    pub manifest: Manifest,
    _dir: TempDir,
}

impl MultiProject {
    pub async fn start() -> MultiProject {
        let sim = Sim::start(SimConfig {
            regions: vec!["RegionOne".into(), "RegionTwo".into()],
            ..SimConfig::default()
        })
        .await
        .unwrap();
        let manifest = sim.seed(&Scenario::MultiProject);
        let dir = tempfile::tempdir().unwrap();
        let clouds = dir.path().join("clouds.yaml");
        sim.write_clouds_yaml(&clouds).unwrap();
        std::env::set_var("OS_CLIENT_CONFIG_FILE", &clouds);
        MultiProject {
            sim,
            manifest,
            _dir: dir,
        }
    }

    /// A daemon config sweeping the scenario's tag every minute in `ci-*` of every
    /// region, after `head` (sections of the caller's).
    pub fn config_text(&self, head: &str) -> String {
        let tag = &self.manifest.tag;
        format!(
            "{head}[metrics]\nlisten = \"127.0.0.1:0\"\n[schedule]\ncron = \"* * * * *\"\n\
             [select]\nany_tags = [\"{tag}\"]\nmetadata = {{ \"ci-job\" = \"{tag}\" }}\n\
             name_regex = \"^{tag}-\"\nolder_than = \"6h\"\n\
             [[target]]\nname = \"ci\"\ncloud = \"sim\"\nprojects = [\"ci-*\"]\nregions = \"all\"\n",
        )
    }
}

/// 30 s before the next minute boundary: each further 60 s of virtual time crosses
/// exactly one cron tick.
pub fn before_a_minute() -> Timestamp {
    Timestamp::from_second(Timestamp::now().as_second() / 60 * 60 + 30).unwrap()
}

/// The daemon's `/metrics` text.
pub async fn scrape(addr: SocketAddr) -> String {
    reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// Runs a daemon of `config` on virtual time from `start` for 65 s (one sweep of a
/// `* * * * *` schedule when `start` is [`before_a_minute`]), then stops it and returns
/// what its `/metrics` said.
pub async fn metrics_after_a_minute(
    config: stacksweep::config::Config,
    start: Timestamp,
) -> String {
    use stacksweep::daemon::{Clock, Daemon, DaemonOptions, EngineRunner};
    let options = DaemonOptions {
        clock: Clock::virtual_from(start),
        ..DaemonOptions::default()
    };
    let daemon = Daemon::new(config, EngineRunner, options).await.unwrap();
    let addr = daemon.local_addr().unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(daemon.run(shutdown.clone()));
    tokio::time::sleep(std::time::Duration::from_secs(65)).await;
    let text = scrape(addr).await;
    shutdown.cancel();
    task.await.unwrap().unwrap();
    text
}
