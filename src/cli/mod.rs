//! The command line: one file per subcommand. `main.rs` parses [`Cli`], sets up logging
//! and signals, and calls [`Cli::run`]; everything here is a library function so it can
//! be tested without a process.

pub mod check_config;
pub mod common;
pub mod daemon;
pub mod demo;
pub mod preflight;
pub mod sim;
pub mod sweep;

use std::process::ExitCode;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use stacksweep::telemetry::LogFormat;

/// Process exit codes, as documented in the README.
pub mod exit {
    /// Everything selected is gone (or, with `--dry-run`, the plan was printed).
    pub const CLEAN: u8 = 0;
    /// Resources were left: stuck, failed, or skipped because something unselected uses them.
    pub const RESOURCES_LEFT: u8 = 1;
    /// Configuration, credentials or authentication are wrong; nothing was deleted.
    pub const CONFIG_ERROR: u8 = 2;
    /// Stopped by SIGINT (128 + 2, the shell's convention): the report says what was done.
    pub const SIGINT: u8 = 130;
    /// Stopped by SIGTERM (128 + 15, the shell's convention): the report says what was done.
    pub const SIGTERM: u8 = 143;
}

/// How the process is asked to stop: the token long-running work watches, and the exit
/// code of the signal that cancelled it. `main` triggers it; nothing else listens to
/// signals.
#[derive(Debug, Clone, Default)]
pub struct Shutdown {
    token: CancellationToken,
    /// [`exit::SIGINT`] or [`exit::SIGTERM`] once triggered; 0 before.
    code: Arc<AtomicU8>,
}

impl Shutdown {
    /// Not triggered yet.
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// The token cancelled by [`Shutdown::trigger`].
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// Records the exit code of the signal that arrived and cancels the token. Returns
    /// `false` when it was triggered already (a second signal).
    pub fn trigger(&self, code: u8) -> bool {
        if self.token.is_cancelled() {
            return false;
        }
        // Only the first signal's code counts.
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.token.cancel();
        true
    }

    /// The exit code of a process stopped early: the first signal's
    /// ([`exit::SIGTERM`] when triggered without one).
    pub fn exit_code(&self) -> u8 {
        match self.code.load(Ordering::SeqCst) {
            0 => exit::SIGTERM,
            code => code,
        }
    }
}

/// stacksweep keeps OpenStack CI projects clean: it finds the resources CI jobs leaked,
/// deletes them in dependency order, and never touches what it was not asked to.
#[derive(Debug, Parser)]
#[command(name = "stacksweep", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr (level from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "STACKSWEEP_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// Log at debug level (every request, every path searched for clouds.yaml), unless
    /// RUST_LOG says otherwise.
    #[arg(long, short = 'v', global = true)]
    pub verbose: bool,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sweep every configured target once, then exit (0 clean, 1 resources left, 2 config/auth error, 130/143 stopped by SIGINT/SIGTERM).
    Sweep(sweep::SweepArgs),
    /// Sweep on a cron schedule, serving /metrics, /healthz and /readyz.
    Daemon(daemon::DaemonArgs),
    /// Validate the config and credentials and run the preflight per target; print every problem (130/143 when stopped by a signal).
    CheckConfig(check_config::CheckConfigArgs),
    /// Say what stacksweep can do in a project: catalog, API versions, listing per kind (0 ok, 2 something selected cannot work).
    Preflight(preflight::PreflightArgs),
    /// Serve the built-in OpenStack simulator on loopback, for trying configs and benchmarks.
    Sim(sim::SimArgs),
    /// Start the simulator in-process, seed an aborted CI job, sweep it, show what happened.
    Demo(demo::DemoArgs),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

impl Cli {
    /// Runs the chosen subcommand. `shutdown` is triggered on SIGTERM/SIGINT; `reload`
    /// receives one message per SIGHUP (the daemon reloads its config).
    pub async fn run(
        self,
        shutdown: Shutdown,
        reload: tokio::sync::mpsc::Receiver<()>,
    ) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Sweep(args) => sweep::run(args, &shutdown).await,
            Command::Daemon(args) => {
                daemon::run(args, shutdown.token(), reload).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::CheckConfig(args) => check_config::run(args, &shutdown).await,
            Command::Preflight(args) => {
                let token = shutdown.token();
                tokio::select! {
                    code = preflight::run(args) => code,
                    () = token.cancelled() => {
                        eprintln!("stacksweep: preflight cancelled");
                        Ok(ExitCode::from(shutdown.exit_code()))
                    }
                }
            }
            Command::Sim(args) => {
                sim::run(args, shutdown.token()).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Demo(args) => demo::run(args).await,
            Command::Completions { shell } => {
                let mut cmd = <Cli as clap::CommandFactory>::command();
                clap_complete::generate(shell, &mut cmd, "stacksweep", &mut std::io::stdout());
                Ok(ExitCode::SUCCESS)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first signal decides the exit code and cancels; a second one is reported as
    /// such (main then exits at once).
    #[test]
    fn first_signal_sets_the_exit_code() {
        let shutdown = Shutdown::new();
        assert!(!shutdown.token().is_cancelled());
        assert!(shutdown.trigger(exit::SIGINT));
        assert!(shutdown.token().is_cancelled());
        assert!(!shutdown.trigger(exit::SIGTERM));
        assert_eq!(shutdown.exit_code(), exit::SIGINT);
        let term = Shutdown::new();
        term.trigger(exit::SIGTERM);
        assert_eq!(term.exit_code(), 143);
    }
}
