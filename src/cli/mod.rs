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
}

/// stacksweep keeps OpenStack CI projects clean: it finds the resources CI jobs leaked,
/// deletes them in dependency order, and never touches what it was not asked to.
#[derive(Debug, Parser)]
#[command(name = "stacksweep", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// Log format on stderr (level from RUST_LOG, default info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "STACKSWEEP_LOG_FORMAT")]
    pub log_format: LogFormat,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Sweep every configured target once, then exit (0 clean, 1 resources left, 2 config/auth error).
    Sweep(sweep::SweepArgs),
    /// Sweep on a cron schedule, serving /metrics, /healthz and /readyz.
    Daemon(daemon::DaemonArgs),
    /// Validate the config and credentials and run the preflight per target; print every problem.
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
    /// Runs the chosen subcommand. `shutdown` is cancelled on SIGTERM/SIGINT; `reload`
    /// receives one message per SIGHUP (the daemon reloads its config).
    pub async fn run(
        self,
        shutdown: CancellationToken,
        reload: tokio::sync::mpsc::Receiver<()>,
    ) -> anyhow::Result<ExitCode> {
        match self.command {
            Command::Sweep(args) => sweep::run(args, shutdown).await,
            Command::Daemon(args) => {
                daemon::run(args, shutdown, reload).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::CheckConfig(args) => check_config::run(args).await,
            Command::Preflight(args) => preflight::run(args).await,
            Command::Sim(args) => {
                sim::run(args, shutdown).await?;
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
