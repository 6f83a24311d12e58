//! placeholder
/// `stacksweep daemon` flags.
#[derive(Debug, clap::Args)]
pub struct DaemonArgs {}
/// Runs the daemon.
pub async fn run(
    _a: DaemonArgs,
    _s: tokio_util::sync::CancellationToken,
    _r: tokio::sync::mpsc::Receiver<()>,
) -> anyhow::Result<()> {
    Ok(())
}
