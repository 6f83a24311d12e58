//! Keeping the daemon's config current: a reload request (SIGHUP) or a change of the
//! config file (a Kubernetes ConfigMap update, an edit) re-reads it while the daemon runs.

use std::path::Path;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{Daemon, DaemonError, DaemonOptions, SweepRunner};
use crate::config::Config;

/// How often `--config` is checked for changes (a Kubernetes ConfigMap update, an edit).
const CONFIG_POLL: Duration = Duration::from_secs(10);

/// What identifies a version of the config file: modification time and length.
fn file_stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Runs the daemon on `config` with `runner` until `shutdown` is cancelled. When the
/// config came from `file`, each message on `reload` (SIGHUP) and each change of the file
/// re-reads it; an invalid file keeps the config in effect and logs why.
pub async fn serve<R: SweepRunner>(
    config: Config,
    file: Option<&Path>,
    runner: R,
    shutdown: CancellationToken,
    mut reload: mpsc::Receiver<()>,
) -> Result<(), DaemonError> {
    let daemon = Daemon::new(config, runner, DaemonOptions::default()).await?;
    let handle = daemon.handle();
    let run = daemon.run(shutdown);
    tokio::pin!(run);
    let mut reload_open = true;
    let mut stamp = file.and_then(file_stamp);
    let mut poll = tokio::time::interval(CONFIG_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let requested = tokio::select! {
            result = &mut run => return result,
            message = reload.recv(), if reload_open => {
                reload_open = message.is_some();
                message.is_some()
            }
            _ = poll.tick(), if file.is_some() => {
                let now = file.and_then(file_stamp);
                let changed = now.is_some() && now != stamp;
                if changed {
                    stamp = now;
                    tracing::info!("config file changed");
                }
                changed
            }
        };
        match (requested, file) {
            (false, _) => {}
            (true, Some(path)) => {
                // Errors are logged by the handle; the daemon goes on as it was.
                let _ = handle.reload_from_file(path);
            }
            (true, None) => tracing::info!(
                "reload requested, but the daemon was started from flags: nothing to reload"
            ),
        }
    }
}
