//! `stacksweep demo` (lands with the daemon's metrics).
use std::process::ExitCode;

/// `stacksweep demo` flags.
#[derive(Debug, clap::Args)]
pub struct DemoArgs {}

/// Runs the demo.
pub async fn run(_args: DemoArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("demo: not wired yet")
}
