//! `stacksweep daemon`: sweeps each target on its cron schedule, serves `/metrics`,
//! `/healthz` and `/readyz`, reloads its config on request, and shuts down cleanly.
//!
//! The daemon does not know how a sweep is done: it drives a [`SweepRunner`] (the engine,
//! or a fake in tests). It owns *when* sweeps run (schedule, jitter, deadline, no overlap,
//! a bound on concurrent targets), the grace-period state file, and the metrics.
//!
//! Shutdown is a [`CancellationToken`] passed to [`Daemon::run`]; nothing here listens to
//! signals. When it is cancelled the daemon stops scheduling, lets in-flight sweeps
//! finish their in-flight deletes for up to [`DaemonOptions::drain_timeout`], writes the
//! state and returns.

pub mod clock;
mod config_watch;
mod grace;
mod health;
pub mod http;
mod record;
mod runner;
mod scheduler;
pub mod state;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::Timestamp;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use self::clock::Clock;
pub use self::config_watch::serve;
pub use self::health::AuthStatus;
use self::health::Health;
pub use self::record::record;
pub use self::runner::EngineRunner;
use crate::config::{Config, ConfigError, Target};
use crate::coord::Share;
use crate::daemon::state::StateStore;
use crate::metrics::{Metrics, SweepRecord, TargetLabels};
use crate::openstack::TokenCache;

/// Default of [`DaemonOptions::drain_timeout`].
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(60);

/// How long the daemon waits for one target's authentication check.
const AUTH_CHECK_TIMEOUT: Duration = Duration::from_secs(60);

/// Why a sweep did not run to the end.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// Resolving credentials or authenticating failed: the target is not ready.
    #[error("authentication failed: {0}")]
    Auth(String),
    /// Anything else that stopped the sweep (listing failed, engine error...).
    #[error("{0}")]
    Failed(String),
}

/// Everything a runner needs for one sweep of one target.
#[derive(Debug, Clone)]
pub struct SweepContext {
    /// The target, as configured when the sweep started.
    pub target: Target,
    /// The whole config of that moment (safety, retry...).
    pub config: Arc<Config>,
    /// The grace-period state, shared by every target (saved by the daemon after the sweep).
    pub state: Arc<StateStore>,
    /// Where the runner hooks its API request observer ([`Metrics::request_observer`]).
    pub metrics: Arc<Metrics>,
    /// The target's metric labels.
    pub labels: TargetLabels,
    /// The wall time of the sweep's start, from the daemon's clock (use it for the state).
    pub now: Timestamp,
    /// Cancelled at the per-sweep deadline or on shutdown: start no new deletes, let the
    /// ones in flight finish, return what was done.
    pub cancel: CancellationToken,
    /// Scoped tokens reused from one sweep to the next (one cache per config generation:
    /// a reload starts afresh).
    pub tokens: TokenCache,
    /// Which units this replica sweeps (everything, without coordination).
    pub share: Arc<Share>,
}

/// Carries out sweeps for the daemon. The engine implements it; tests use fakes.
pub trait SweepRunner: Send + Sync + 'static {
    /// Authenticates to the target (what `/readyz` reports), touching nothing. `config`
    /// is the whole config in effect (retry settings, the projects allow-list).
    fn authenticate(
        &self,
        target: &Target,
        config: &Config,
    ) -> impl Future<Output = Result<(), SweepError>> + Send;

    /// One sweep of `ctx.target`: returns per-kind counts once done, or stopped by
    /// `ctx.cancel`. Applies the grace period through `ctx.state` (not saving it).
    fn sweep(
        &self,
        ctx: SweepContext,
    ) -> impl Future<Output = Result<SweepRecord, SweepError>> + Send;
}

/// Why the daemon could not start or stopped on its own.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The HTTP server stopped with an error.
    #[error("HTTP server failed: {0}")]
    Serve(std::io::Error),
}

/// Knobs that are not in the config file.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// Where wall time comes from (a virtual clock in tests).
    pub clock: Clock,
    /// After a deadline or shutdown, how long a sweep may take to finish its in-flight
    /// deletes before it is abandoned.
    pub drain_timeout: Duration,
    /// The metrics to record into and serve.
    pub metrics: Arc<Metrics>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            clock: Clock::System,
            drain_timeout: DEFAULT_DRAIN_TIMEOUT,
            metrics: Arc::new(Metrics::new()),
        }
    }
}

/// One version of the config, with the concurrency bound it sets.
#[derive(Debug)]
struct Generation {
    config: Arc<Config>,
    /// `schedule.max_concurrent_targets` permits; a reload that changes the bound makes
    /// a new semaphore (sweeps already running keep their old permit).
    permits: Arc<Semaphore>,
    /// Scoped Keystone tokens of this generation's sweeps: dropped with it on reload.
    tokens: TokenCache,
}

/// What the daemon's tasks share.
struct Shared<R> {
    runner: R,
    /// This replica's share of the units; fixed for the daemon's life.
    share: Arc<Share>,
    metrics: Arc<Metrics>,
    health: Arc<Health>,
    state: Arc<StateStore>,
    clock: Clock,
    drain: Duration,
    generation: watch::Sender<Arc<Generation>>,
    /// Targets whose schedule loop is running; changed only under this lock, together
    /// with a look at the latest generation, so a reload never loses or doubles a loop.
    loops: Mutex<BTreeSet<String>>,
    tracker: TaskTracker,
}

/// A daemon, bound to its listen address and ready to [`run`](Daemon::run).
pub struct Daemon<R> {
    shared: Arc<Shared<R>>,
    listener: TcpListener,
}

/// Reloads and inspects a daemon from outside (`main` on SIGHUP, tests). Cheap to clone.
pub struct DaemonHandle<R> {
    shared: Arc<Shared<R>>,
}

impl<R> Clone for DaemonHandle<R> {
    fn clone(&self) -> Self {
        DaemonHandle {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<R: SweepRunner> Daemon<R> {
    /// Loads the state file and binds the config's listen address.
    pub async fn new(
        config: Config,
        runner: R,
        options: DaemonOptions,
    ) -> Result<Daemon<R>, DaemonError> {
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| DaemonError::Bind {
                    addr: config.listen,
                    source,
                })?;
        if config.safety.state_file.is_none() && !config.safety.grace.is_zero() {
            tracing::warn!(
                "safety.grace is set but safety.state_file is not: first sightings are kept \
                 in memory only, so every restart starts the grace periods over"
            );
        }
        let state = Arc::new(StateStore::load(config.safety.state_file.as_deref()));
        let permits = Arc::new(Semaphore::new(config.schedule.max_concurrent_targets));
        let share = Arc::new(Share::of(&config.coordination, &options.metrics));
        let (generation, _) = watch::channel(Arc::new(Generation {
            config: Arc::new(config),
            permits,
            tokens: TokenCache::new(),
        }));
        let shared = Arc::new(Shared {
            runner,
            share,
            metrics: options.metrics,
            health: Arc::new(Health::default()),
            state,
            clock: options.clock,
            drain: options.drain_timeout,
            generation,
            loops: Mutex::default(),
            tracker: TaskTracker::new(),
        });
        Ok(Daemon { shared, listener })
    }

    /// The address `/metrics` is served on (the bound port when the config said `:0`).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// A handle to reload and inspect the daemon while it runs.
    pub fn handle(&self) -> DaemonHandle<R> {
        DaemonHandle {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Runs until `shutdown` is cancelled: then stops scheduling, waits for in-flight
    /// sweeps up to the drain timeout, writes the state and returns.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), DaemonError> {
        let Daemon { shared, listener } = self;
        let endpoints = http::Endpoints {
            metrics: Arc::clone(&shared.metrics),
            health: Arc::clone(&shared.health),
            share: Arc::clone(&shared.share),
        };
        // The etcd session outlives the drain: in-flight units keep their locks to the end.
        let member_stop = CancellationToken::new();
        let member = match &*shared.share {
            Share::Etcd(m) => Some(tokio::spawn(Arc::clone(m).run(member_stop.clone()))),
            _ => None,
        };
        // The server outlives the drain, so the last sweeps' metrics can still be scraped.
        let server_stop = CancellationToken::new();
        let mut server = tokio::spawn(http::serve(listener, endpoints, server_stop.clone()));
        tracing::info!(listen = %shared.generation.borrow().config.listen, "daemon started");

        // Cancelled by `shutdown`, or by the supervisor if the HTTP server dies.
        let stop = shutdown.child_token();
        let outcome = scheduler::supervise(&shared, &stop, &mut server).await;

        shared.tracker.close();
        // A little longer than a sweep's own drain, so sweeps record their outcome first.
        let bound = shared.drain + Duration::from_secs(1);
        if tokio::time::timeout(bound, shared.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                ?bound,
                "in-flight sweeps did not finish in time; abandoning them"
            );
        }
        if let Err(e) = shared.state.save().await {
            tracing::error!(error = %e, "cannot write the state file on shutdown");
        }
        member_stop.cancel();
        if let Some(task) = member {
            // Leaving revokes the lease, so the others take the units over at once.
            let _ = tokio::time::timeout(Duration::from_secs(3), task).await;
        }
        server_stop.cancel();
        let served = match outcome {
            Some(result) => result,
            None => server.await,
        };
        match served {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(DaemonError::Serve(e)),
            Err(join) => tracing::error!(error = %join, "HTTP server task failed"),
        }
        tracing::info!("daemon stopped");
        Ok(())
    }
}

impl<R: SweepRunner> DaemonHandle<R> {
    /// The config in effect.
    pub fn config(&self) -> Arc<Config> {
        Arc::clone(&self.shared.generation.borrow().config)
    }

    /// The metrics the daemon records into.
    pub fn metrics(&self) -> Arc<Metrics> {
        Arc::clone(&self.shared.metrics)
    }

    /// The grace-period state.
    pub fn state(&self) -> Arc<StateStore> {
        Arc::clone(&self.shared.state)
    }

    /// Switches to `config`: schedules, targets and limits take effect at once (sweeps in
    /// flight finish under the old config). The listen address and the state file cannot
    /// change without a restart; a change to them is logged and ignored.
    pub fn reload(&self, mut config: Config) {
        let current = self.config();
        if config.listen != current.listen {
            tracing::warn!(old = %current.listen, new = %config.listen,
                "the listen address cannot change on reload; restart to apply it");
            config.listen = current.listen;
        }
        if config.coordination != current.coordination {
            tracing::warn!("[coordination] cannot change on reload; restart to apply it");
            config.coordination = current.coordination.clone();
        }
        if config.safety.state_file != current.safety.state_file {
            tracing::warn!("safety.state_file cannot change on reload; restart to apply it");
            config.safety.state_file = current.safety.state_file.clone();
        }
        let permits = {
            let generation = self.shared.generation.borrow();
            if generation.config.schedule.max_concurrent_targets
                == config.schedule.max_concurrent_targets
            {
                Arc::clone(&generation.permits)
            } else {
                Arc::new(Semaphore::new(config.schedule.max_concurrent_targets))
            }
        };
        let targets: Vec<&str> = config.targets.iter().map(|t| t.name.as_str()).collect();
        tracing::info!(targets = ?targets, "config reloaded");
        self.shared.generation.send_replace(Arc::new(Generation {
            config: Arc::new(config),
            permits,
            tokens: TokenCache::new(),
        }));
    }

    /// Re-reads the config file and [`reload`](Self::reload)s it. An unreadable or invalid
    /// file keeps the config in effect; the error (every problem) is logged and returned.
    pub fn reload_from_file(&self, path: &Path) -> Result<(), ConfigError> {
        match Config::load(path) {
            Ok(config) => {
                self.reload(config);
                Ok(())
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e,
                    "invalid config on reload: keeping the current one");
                Err(e)
            }
        }
    }

    /// Each target's last authentication, as `/readyz` reports it.
    pub fn readiness(&self) -> Result<(), Vec<String>> {
        self.shared.health.readiness()
    }
}
