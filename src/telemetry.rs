//! Logging setup: `tracing` to stderr, level from `RUST_LOG` (default `info`), human text
//! or one JSON object per line for log shippers.

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per event, with the span fields (kind, id) flattened in.
    Json,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// `RUST_LOG` did not parse.
    #[error("invalid RUST_LOG: {0}")]
    Filter(#[from] tracing_subscriber::filter::ParseError),
    /// A global subscriber was already installed.
    #[error("logging already initialised: {0}")]
    Init(#[from] tracing_subscriber::util::TryInitError),
}

/// The filter from `RUST_LOG`, defaulting to `info` (`debug` when `verbose`; noisy HTTP
/// internals held at `warn`).
fn filter(verbose: bool) -> Result<EnvFilter, TelemetryError> {
    let level = if verbose { "debug" } else { "info" };
    match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => Ok(EnvFilter::try_new(spec)?),
        _ => Ok(EnvFilter::try_new(format!(
            "{level},hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn"
        ))?),
    }
}

/// Installs the global subscriber writing to stderr (stdout is for plans and reports).
/// `verbose` (`-v`) makes the default level `debug`; `RUST_LOG` still wins.
pub fn init(format: LogFormat, verbose: bool) -> Result<(), TelemetryError> {
    let filter = filter(verbose)?;
    let layer = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .with_target(false)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(layer.with_filter(filter))
        .try_init()?;
    Ok(())
}
