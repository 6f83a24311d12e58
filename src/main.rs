//! The `stacksweep` binary: parses the command line, sets up logging and signals, and
//! calls into the library. Nothing else listens to signals.

use std::process::ExitCode;

mod cli;

use clap::Parser;
use cli::{exit, Cli, Shutdown};
use tokio::signal::unix::{signal, SignalKind};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = stacksweep::telemetry::init(cli.log_format, cli.verbose) {
        eprintln!("stacksweep: {e}");
        return ExitCode::from(exit::CONFIG_ERROR);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stacksweep: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let shutdown = Shutdown::new();
        let (reload_tx, reload_rx) = tokio::sync::mpsc::channel(1);
        if let Err(e) = watch_signals(shutdown.clone(), reload_tx) {
            eprintln!("stacksweep: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
        match cli.run(shutdown, reload_rx).await {
            Ok(code) => code,
            Err(e) => {
                // Errors reaching here are configuration, credential or auth problems.
                eprintln!("stacksweep: {e:#}");
                ExitCode::from(exit::CONFIG_ERROR)
            }
        }
    })
}

/// SIGTERM/SIGINT trigger `shutdown` (a second one exits at once, 128 + its number);
/// SIGHUP asks for a reload.
fn watch_signals(shutdown: Shutdown, reload: tokio::sync::mpsc::Sender<()>) -> std::io::Result<()> {
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            let (name, code) = tokio::select! {
                _ = term.recv() => ("SIGTERM", exit::SIGTERM),
                _ = int.recv() => ("SIGINT", exit::SIGINT),
                _ = hup.recv() => {
                    // A full channel means a reload is already pending.
                    let _ = reload.try_send(());
                    continue;
                }
            };
            if !shutdown.trigger(code) {
                eprintln!("stacksweep: second signal ({name}), exiting now");
                std::process::exit(i32::from(code));
            }
            tracing::info!(
                signal = name,
                "signal received: starting nothing new, finishing in-flight work, then exiting (a second signal exits at once)"
            );
        }
    });
    Ok(())
}
