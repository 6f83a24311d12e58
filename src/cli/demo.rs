//! `stacksweep demo`: the whole product in one command on a machine with no cloud. It
//! starts the simulator in-process, seeds what an aborted Kubespray job leaves behind next
//! to resources that must survive, prints the plan, sweeps through the same client,
//! engine and metrics as a real sweep, and checks the result against the seed.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use stacksweep_sim::{Manifest, Scenario, Sim, SimConfig};
use tokio_util::sync::CancellationToken;

use super::exit;
use stacksweep::daemon;
use stacksweep::engine::inventory::Inventory;
use stacksweep::engine::select::{Filters, Marks, Selector};
use stacksweep::engine::{self, Job, SweepOptions};
use stacksweep::metrics::{Metrics, SweepOutcome, TargetLabels};
use stacksweep::openstack::{CloudConfig, Session, SessionOptions};

/// `stacksweep demo` flags.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// The simulator scenario to seed (`kubespray-aborted[:NODES]`, `capo-cluster[:WORKERS]`,
    /// `openshift-aborted[:WORKERS]`).
    #[arg(long, default_value = "kubespray-aborted")]
    pub scenario: String,
    /// Colour: auto (when stdout is a terminal), always or never.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    pub color: Color,
}

/// When to colour the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Color {
    /// When stdout is a terminal.
    Auto,
    /// Always.
    Always,
    /// Never.
    Never,
}

/// Writes headings, bold on a terminal.
struct Out<W> {
    w: W,
    color: bool,
}

impl<W: Write> Out<W> {
    fn heading(&mut self, text: &str) -> std::io::Result<()> {
        if self.color {
            writeln!(self.w, "\n\x1b[1;36m== {text}\x1b[0m")
        } else {
            writeln!(self.w, "\n== {text}")
        }
    }

    fn verdict(&mut self, ok: bool, text: &str) -> std::io::Result<()> {
        let (mark, on, off) = match (ok, self.color) {
            (true, true) => ("ok", "\x1b[32m", "\x1b[0m"),
            (false, true) => ("FAIL", "\x1b[31m", "\x1b[0m"),
            (true, false) => ("ok", "", ""),
            (false, false) => ("FAIL", "", ""),
        };
        writeln!(self.w, "{on}{mark}{off}  {text}")
    }
}

/// The metric lines worth showing in a demo, sorted: sweeps, durations, deletes by kind,
/// API requests and retries; not the zero, bucket or per-outcome detail series.
fn demo_series(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text
        .lines()
        .filter(|l| {
            l.starts_with("stacksweep_") && !l.contains("_bucket") && !l.contains("_created")
        })
        .filter(|l| !l.starts_with("stacksweep_last_sweep_resources"))
        .filter(|l| {
            !l.starts_with("stacksweep_resources_total") || l.contains("outcome=\"deleted\"")
        })
        .filter(|l| !l.ends_with(" 0"))
        .filter(|l| !l.starts_with("stacksweep_api_rate_limit") || !l.ends_with(" -1.0"))
        .collect();
    lines.sort_unstable();
    lines
}

/// The selector a CI job's cleanup would use for the scenario's tag: its tag, the volume
/// metadata it sets, and its name prefix (keypairs and server groups have neither tags nor
/// metadata).
pub fn selector_for(manifest: &Manifest) -> anyhow::Result<Selector> {
    let tag = &manifest.tag;
    let marks = Marks {
        all_tags: vec![],
        any_tags: vec![tag.clone()],
        metadata: vec![("ci-job".to_owned(), tag.clone())],
        name_regex: Some(regex::Regex::new(&format!("^{}-", regex::escape(tag)))?),
        description_regex: None,
    };
    Ok(Selector::new(marks, Filters::default())?)
}

/// Runs the demo; exit 0 when the sweep left the project exactly as the seed says it should.
pub async fn run(args: DemoArgs) -> anyhow::Result<ExitCode> {
    let color = match args.color {
        Color::Auto => std::io::stdout().is_terminal(),
        Color::Always => true,
        Color::Never => false,
    };
    let scenario = Scenario::parse(&args.scenario).context("--scenario")?;
    let mut out = Out {
        w: std::io::stdout().lock(),
        color,
    };
    let ok = demo(&scenario, &mut out).await?;
    Ok(ExitCode::from(if ok {
        exit::CLEAN
    } else {
        exit::RESOURCES_LEFT
    }))
}

async fn demo<W: Write>(scenario: &Scenario, out: &mut Out<W>) -> anyhow::Result<bool> {
    let sim = Sim::start(SimConfig::default())
        .await
        .context("cannot start the simulator")?;
    let manifest = sim.seed(scenario);
    let dir = tempfile::tempdir().context("cannot create a temporary directory")?;
    let clouds_yaml = dir.path().join("clouds.yaml");
    sim.write_clouds_yaml(&clouds_yaml)
        .context("cannot write clouds.yaml")?;

    out.heading(&format!("A simulated cloud at {}", sim.auth_url()))?;
    writeln!(
        out.w,
        "Seeded {}: {}.\nThe job's resources carry tag {tag}, volume metadata ci-job={tag} and names starting {tag}-;\nthe rest of the project (a bastion, shared networks, an ops keypair, ...) must survive.",
        scenario.name(),
        manifest.summary(),
        tag = manifest.tag
    )?;

    let metrics = Arc::new(Metrics::new());
    let labels = TargetLabels {
        target: "demo".to_owned(),
        cloud: "sim".to_owned(),
        project: String::new(),
        region: String::new(),
    };
    let cloud = CloudConfig::from_clouds_yaml(&clouds_yaml, "sim")?;
    let options = SessionOptions {
        observer: Some(metrics.request_observer(&labels)),
        ..SessionOptions::default()
    };
    let session = Session::connect(&cloud, options).await?;
    metrics.set_authenticated(&labels, true);
    let dry = SweepOptions {
        dry_run: true,
        ..SweepOptions::default()
    };
    let job = Job::new(session, selector_for(&manifest)?, dry);

    out.heading("Plan (stacksweep sweep --dry-run)")?;
    let plan = engine::run(&job, CancellationToken::new()).await?.report;
    write!(out.w, "{}", plan.plan.render_text())?;

    out.heading("Sweep")?;
    let job = job.with_options(SweepOptions::default());
    let timer = metrics.sweep_timer(&labels);
    let report = engine::run(&job, CancellationToken::new()).await?.report;
    drop(timer);
    write!(out.w, "{}", report.render_text())?;
    let outcome = if report.is_clean() {
        SweepOutcome::Clean
    } else {
        SweepOutcome::Incomplete
    };
    let now = jiff::Timestamp::now();
    let inventory = Inventory::new(report.project_id.clone(), vec![]);
    let record = daemon::record(&report, &inventory, &[], |_| None, now);
    metrics.record_sweep(
        &labels,
        outcome,
        Some(&record),
        now.as_millisecond() as f64 / 1000.0,
    );

    out.heading("Checked against the seed")?;
    let left: Vec<_> = manifest
        .selected
        .iter()
        .filter(|(kind, id)| sim.exists(kind, id))
        .collect();
    let lost: Vec<_> = manifest
        .survivors
        .iter()
        .filter(|(kind, id)| !sim.exists(kind, id))
        .collect();
    out.verdict(
        left.is_empty(),
        &format!(
            "{} of {} leaked resources deleted",
            manifest.selected.len() - left.len(),
            manifest.selected.len()
        ),
    )?;
    out.verdict(
        lost.is_empty(),
        &format!(
            "{} of {} other resources untouched",
            manifest.survivors.len() - lost.len(),
            manifest.survivors.len()
        ),
    )?;
    for (kind, id) in left.iter().chain(lost.iter()) {
        writeln!(out.w, "      {kind} {id}")?;
    }

    out.heading("Metrics (what the daemon serves on /metrics; the deleted counts and API calls)")?;
    let text = metrics.render_text()?;
    for line in demo_series(&text) {
        writeln!(out.w, "{line}")?;
    }
    sim.shutdown().await;
    Ok(left.is_empty() && lost.is_empty())
}
