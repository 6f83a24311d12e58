//! `stacksweep sim`: serves the built-in OpenStack simulator on loopback, optionally
//! seeded with a scenario and with faults, until cancelled.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use stacksweep_sim::{FaultConfig, Manifest, Scenario, Sim, SimConfig};
use tokio_util::sync::CancellationToken;

/// Arguments of `stacksweep sim`.
#[derive(Debug, Clone, clap::Args)]
pub struct SimArgs {
    /// Address to listen on (loopback); port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Seed a scenario: `kubespray-aborted[:NODES]`, `capo-cluster[:WORKERS]`,
    /// `openshift-aborted[:WORKERS]` (Barbican, Designate and Manila leftovers; puts them
    /// in the catalog), `scale[:N]`, `multi-project` (projects ci-1, ci-2 and the
    /// look-alike cx-1 in RegionOne and RegionTwo, each with a job of every kind), or a
    /// path to a scenario JSON file.
    #[arg(long)]
    pub scenario: Option<String>,
    /// Latency added to every answer (`20ms`, `1s`).
    #[arg(long, value_parser = parse_duration, default_value = "0s")]
    pub latency: Duration,
    /// Write a `clouds.yaml` (clouds `sim` and `sim-appcred`) here once serving.
    #[arg(long)]
    pub clouds_yaml: Option<PathBuf>,
    /// Fraction (0..=1) of requests answered 503.
    #[arg(long, default_value_t = 0.0)]
    pub error_rate: f64,
    /// Fraction (0..=1) of requests answered 429 with `Retry-After`.
    #[arg(long, default_value_t = 0.0)]
    pub throttle_rate: f64,
    /// Fraction (0..=1) of connections dropped without an answer.
    #[arg(long, default_value_t = 0.0)]
    pub drop_rate: f64,
    /// Requests per second per service above which it answers 429 (`50/s`, `600/m`).
    #[arg(long, value_parser = parse_rate)]
    pub rate_limit: Option<u32>,
    /// Each service works on at most N requests at once, each for `--latency`; the rest
    /// queue, so latency grows with load past N (a server with N workers).
    #[arg(long, value_name = "N")]
    pub workers: Option<u32>,
    /// Lifetime of issued tokens.
    #[arg(long, value_parser = parse_duration, default_value = "1h")]
    pub token_ttl: Duration,
    /// How long a deleted server stays in `deleting`.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    pub server_delete_delay: Duration,
    /// How long a deleted volume or snapshot stays in `deleting`.
    #[arg(long, value_parser = parse_duration, default_value = "1s")]
    pub volume_delete_delay: Duration,
    /// Put an optional service in the catalog (repeatable): `key-manager` (Barbican),
    /// `dns` (Designate), `sharev2` (Manila). Without it the cloud has none of them.
    #[arg(long = "service", value_name = "TYPE", value_parser = parse_service)]
    pub services: Vec<String>,
    /// Write the seeded scenario's manifest here once serving, as JSON: `tag`, and
    /// `selected` / `survivors` as `[kind, id]` pairs (for benchmarks and checks).
    #[arg(long, requires = "scenario")]
    pub manifest: Option<PathBuf>,
}

/// An optional service's catalog type the simulator serves.
fn parse_service(s: &str) -> Result<String, String> {
    let known = stacksweep_sim::keystone::OPTIONAL_SERVICES;
    if known.iter().any(|(ty, _, _)| *ty == s) {
        Ok(s.to_owned())
    } else {
        let types: Vec<&str> = known.iter().map(|(ty, _, _)| *ty).collect();
        Err(format!(
            "unknown service {s:?}; optional services: {}",
            types.join(", ")
        ))
    }
}

/// Parses `20ms`, `1s`, `2m 30s`, `PT1S`.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d: jiff::SignedDuration = s
        .trim()
        .parse()
        .map_err(|e| format!("{s:?} is not a duration: {e}"))?;
    Duration::try_from(d).map_err(|_| format!("{s:?} is negative"))
}

/// Parses `50/s`, `600/m` or `50` into requests per second.
fn parse_rate(s: &str) -> Result<u32, String> {
    let (n, per) = s.split_once('/').unwrap_or((s, "s"));
    let n: u32 = n
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a rate like 50/s"))?;
    match per.trim() {
        "s" | "sec" => Ok(n),
        "m" | "min" => Ok((n / 60).max(1)),
        _ => Err(format!("{s:?}: the unit must be /s or /m")),
    }
}

/// Serves the simulator until `shutdown` is cancelled; writes the clouds.yaml and one
/// line with the address and the seeded manifest once it answers.
pub async fn run(args: SimArgs, shutdown: CancellationToken) -> anyhow::Result<()> {
    if !args.listen.ip().is_loopback() {
        anyhow::bail!(
            "the simulator listens on loopback only, not {}",
            args.listen
        );
    }
    for (name, rate) in [
        ("error-rate", args.error_rate),
        ("throttle-rate", args.throttle_rate),
        ("drop-rate", args.drop_rate),
    ] {
        if !(0.0..=1.0).contains(&rate) {
            anyhow::bail!("--{name} must be between 0 and 1, not {rate}");
        }
    }
    let scenario = args.scenario.as_deref().map(Scenario::parse).transpose()?;
    let config = SimConfig {
        listen: args.listen,
        latency: args.latency,
        token_ttl: args.token_ttl,
        server_delete_delay: args.server_delete_delay,
        volume_delete_delay: args.volume_delete_delay,
        faults: FaultConfig {
            error_rate: args.error_rate,
            throttle_rate: args.throttle_rate,
            retry_after_secs: 1,
            drop_rate: args.drop_rate,
            rate_limit: args.rate_limit,
            workers: args.workers,
            ..FaultConfig::default()
        },
        // `multi-project` spans two regions.
        regions: match scenario {
            Some(Scenario::MultiProject) => vec!["RegionOne".into(), "RegionTwo".into()],
            _ => SimConfig::default().regions,
        },
        ..SimConfig::default()
    };
    let sim = Sim::start(config)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    for service in &args.services {
        sim.enable_service(service);
    }
    let manifest = scenario.as_ref().map(|s| (s.name(), sim.seed(s)));
    if let Some(path) = &args.clouds_yaml {
        sim.write_clouds_yaml(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if let (Some(path), Some((_, m))) = (&args.manifest, &manifest) {
        write_manifest(path, m).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut line = format!(
        "stacksweep sim listening on http://{} (auth {})",
        sim.addr(),
        sim.auth_url()
    );
    if let Some(path) = &args.clouds_yaml {
        line.push_str(&format!("; clouds.yaml {}", path.display()));
    }
    if let Some((name, m)) = &manifest {
        line.push_str(&format!("; scenario {name}: {}", m.summary()));
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")?;
    out.flush()?;
    drop(out);
    shutdown.cancelled().await;
    sim.shutdown().await;
    Ok(())
}

/// Writes `{"tag": T, "selected": [[kind, id], ...], "survivors": [...]}`.
fn write_manifest(path: &std::path::Path, m: &Manifest) -> anyhow::Result<()> {
    let doc = serde_json::json!({
        "tag": m.tag,
        "selected": m.selected,
        "survivors": m.survivors,
    });
    std::fs::write(path, serde_json::to_vec(&doc)?)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Durations and rates parse in the forms the help text promises.
    #[test]
    fn parses_durations_and_rates() {
        assert_eq!(parse_duration("20ms").unwrap(), Duration::from_millis(20));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert!(parse_duration("-1s").is_err());
        assert_eq!(parse_rate("50/s").unwrap(), 50);
        assert_eq!(parse_rate("600/m").unwrap(), 10);
        assert!(parse_rate("5/h").is_err());
    }

    /// `--service` takes the optional services the simulator serves, nothing else.
    #[test]
    fn parses_optional_services() {
        assert_eq!(parse_service("key-manager").unwrap(), "key-manager");
        assert!(parse_service("dns").is_ok() && parse_service("sharev2").is_ok());
        let err = parse_service("barbican").unwrap_err();
        assert!(err.contains("key-manager, dns, sharev2"), "{err}");
    }

    /// `--manifest` writes the tag and `[kind, id]` pairs as JSON.
    #[test]
    fn manifest_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.json");
        let m = Manifest {
            selected: vec![("port".into(), "p1".into())],
            survivors: vec![("network".into(), "n1".into())],
            tag: "ci-1".into(),
        };
        write_manifest(&path, &m).unwrap();
        let doc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(
            doc,
            serde_json::json!({"tag": "ci-1", "selected": [["port", "p1"]], "survivors": [["network", "n1"]]})
        );
    }
}
