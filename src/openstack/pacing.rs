//! Per-service adaptive pacing: how many requests a service gets in flight, and how many
//! it gets per second, learned from how it answers. One job: the limit of one service.
//!
//! Why adaptive: a fixed cap protects a cloud that never said it was overloaded and cannot
//! react to one that is. The cloud tells us how hard we may push: 429 (with
//! `Retry-After`), 502/503/504, dropped connections, and latency that grows under load.
//!
//! - **Concurrency** follows additive-increase / multiplicative-decrease, judged once per
//!   window (as many answers as the limit: about one round trip), as TCP and Netflix's
//!   concurrency-limits `AIMDLimit` do. It starts at [`START_CONCURRENCY`] and doubles per
//!   clean window (slow start) until the first decrease, then grows by one per clean
//!   window; it grows only while it is used up (an idle limit proves nothing). A 429,
//!   502/503/504 or a dropped connection halves it; a window whose median latency is
//!   more than [`LATENCY_HIGH`]× its floor shrinks it towards [`LATENCY_LOW`]× (by a
//!   tenth to 30%); between the two it holds. A window is at least 16 answers. If the
//!   next window is no faster for it, the slowness is the service's own, not our load:
//!   the floors are measured again from there instead of shrinking further. At most one decrease per
//!   window: answers to requests sent before the last decrease do not count again.
//! - **Latency** is an answer's time less the time this process was kept from running
//!   while it was in flight (`super::lag`): on a busy runner or under a CPU quota our
//!   own delay is not the service's load.
//! - **Latency floor** per request shape (method, first path segment, depth, query or
//!   not): a page of 200 ports is not "slow" next to a single keypair, so each shape is
//!   compared with its own best. A shape first seen while the service is slow gets its
//!   first latency divided by how slow the known shapes run now (the sweep's later steps
//!   bring new shapes, under the load of the earlier ones). Floors measured at the very
//!   start can still be inflated (a service queueing already at the start), so after [`FIRST_PROBE`] windows and then every [`PROBE_EVERY`] the limit drops to
//!   a quarter for one window (as
//!   Envoy's adaptive concurrency re-measures its minimum RTT): a service that was
//!   queueing answers faster then, its floors fall, and the next windows shrink it.
//! - **Rate**: unpaced until the first 429 (the concurrency limit is the safe bound).
//!   A 429 says a rate was exceeded, so the rate the cloud accepted in the last second
//!   (`w`) becomes the reference: the rate drops to `BETA`·`w` and climbs back along a
//!   cubic (TCP CUBIC; the AWS SDKs' adaptive retry mode does the same for throttling),
//!   flat near `w` for `K` then faster past it. `K` is ten times the `Retry-After` the
//!   cloud asked for (1 s to 60 s): probing past the limit costs the pause, so probing
//!   rarely keeps that cost near a tenth. Far past `w` the rate is forgotten.
//! - **`Retry-After`** (on 429 and 503) holds the whole service, not only the request
//!   that got it: no request of that service starts before it has passed.
//! - **Ceilings**: the limits never exceed the configured ones (`retry.concurrency`,
//!   `retry.requests_per_second`). [`PacingMode::Fixed`] keeps them as fixed caps
//!   instead (only `Retry-After` is still honoured) for operators who must have one.
//!
//! [`Controller`] is the arithmetic, on explicit instants (unit-tested without a clock);
//! [`Pacer`] puts it on a tokio semaphore and tokio time.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::lag::{self, LagMark};
use super::request::RequestObserver;
use super::Service;

/// Requests in flight a service starts with: today's proven-polite fixed default, from
/// which slow start reaches the ceiling in a few round trips when the service is fast.
pub const START_CONCURRENCY: usize = 8;
/// Mean latency over its floor above which a window shrinks the limit ("well above").
pub const LATENCY_HIGH: f64 = 2.0;
/// Mean latency over its floor at or below which a used-up limit grows; the decrease
/// aims here.
pub const LATENCY_LOW: f64 = 1.5;
/// Concurrency kept on a hard signal (429, 502/503/504, dropped connection).
const HARD_DECREASE: f64 = 0.5;
/// Rate kept after a 429, relative to what the cloud accepted in the last second.
const BETA: f64 = 0.9;
/// Learned rate forgotten once the cubic passes this multiple of it.
const FORGET_AFTER: f64 = 4.0;
/// Bounds of the cubic's flat time `K`.
const K_MIN: Duration = Duration::from_secs(1);
const K_MAX: Duration = Duration::from_secs(60);
/// Windows between two probes of the floors at a quarter of the limit (a probe costs
/// about one window at a quarter of the throughput: ~1.5% of the time).
pub const PROBE_EVERY: u32 = 64;
/// Windows before the first probe: floors measured at the start are the likeliest to be
/// inflated (a service already queueing at the start concurrency).
pub const FIRST_PROBE: u32 = 8;
/// Smallest learned rate, per second.
const MIN_RATE: f64 = 1.0;
/// Cap of the moving average of latency over floor (new shapes are divided by it).
const RATIO_CAP: f64 = 4.0;
/// Fewest answers a window is judged on: a median of fewer is noise.
const MIN_WINDOW: u32 = 16;
/// Most a latency window shrinks the limit by (to 70%): latency is a softer signal
/// than a 429, and a noisy one at small limits.
const LATENCY_DECREASE_MAX: f64 = 0.7;
/// How much a floor rises per answer of its shape that was not faster.
const FLOOR_CREEP: f64 = 1.0 / 4096.0;
/// Request shapes remembered per service; later ones give no latency signal (Swift's
/// container names are unbounded).
const MAX_SHAPES: usize = 32;

/// Whether limits adapt or stay fixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PacingMode {
    /// Grow while clean and fast, shrink on pushback; the configured limits are ceilings.
    #[default]
    Adaptive,
    /// The configured limits, always (`Retry-After` still holds the service).
    Fixed,
}

impl PacingMode {
    /// As written in the config (`adaptive`, `fixed`).
    pub fn as_str(self) -> &'static str {
        match self {
            PacingMode::Adaptive => "adaptive",
            PacingMode::Fixed => "fixed",
        }
    }
}

/// The limits of one service's pacing.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PacingConfig {
    /// Adaptive or fixed.
    pub mode: PacingMode,
    /// Most requests in flight (the ceiling; the cap in fixed mode).
    pub max_concurrency: usize,
    /// Most requests started per second (`None`: no ceiling).
    pub max_rate: Option<u32>,
    /// Where the adaptive limit starts (at most the ceiling).
    pub start_concurrency: usize,
}

/// What one exchange said about the service's load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Signal {
    /// Answered, and not with pushback: a latency sample.
    Clean,
    /// 429: over a rate.
    Throttled {
        /// The answer's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// 502, 503, 504: overloaded or unavailable.
    Overloaded {
        /// The answer's `Retry-After`.
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, reset, timed out.
    NoAnswer,
    /// Says nothing about load (a 500, a refused certificate).
    Neutral,
}

impl Signal {
    /// The signal of an answer with `status` (`None`: no answer; `retryable`: the failure
    /// was one of the transport's, not a refused certificate).
    pub fn of(status: Option<u16>, retry_after: Option<Duration>, retryable: bool) -> Signal {
        match status {
            Some(429) => Signal::Throttled { retry_after },
            Some(502..=504) => Signal::Overloaded { retry_after },
            Some(500..=599) => Signal::Neutral,
            Some(_) => Signal::Clean,
            None if retryable => Signal::NoAnswer,
            None => Signal::Neutral,
        }
    }
}

/// How the cloud pushed back, as [`RequestObserver::on_pushback`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Pushback {
    /// 429.
    Throttled,
    /// 502, 503, 504.
    Overloaded,
    /// No answer.
    NoAnswer,
}

impl Pushback {
    /// A bounded label for metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Pushback::Throttled => "throttled",
            Pushback::Overloaded => "overloaded",
            Pushback::NoAnswer => "no_answer",
        }
    }
}

/// One service's pacing so far: counts since the session started and the limits now.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PacingStats {
    /// Requests started (retries included).
    pub requests: u64,
    /// Answered 429.
    pub throttled: u64,
    /// Answered 502, 503 or 504.
    pub overloaded: u64,
    /// Not answered (connection refused, reset, timed out).
    pub no_answer: u64,
    /// Requests in flight allowed now.
    pub concurrency_limit: usize,
    /// Lowest concurrency limit so far.
    pub lowest_concurrency_limit: usize,
    /// Requests per second allowed now (`None`: not rate-paced).
    pub rate_limit: Option<f64>,
    /// Requests retried, by reason (kept by the request path, not the pacer).
    pub retries: RetryCounts,
}

/// How often a service's requests were retried, and why.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetryCounts {
    /// After a 429.
    pub rate_limited: u64,
    /// After a 5xx (a service whose database is gone answers 500).
    pub server_error: u64,
    /// After no answer: refused (a restarting service), reset, timed out.
    pub transport: u64,
    /// After a 401: the token was renewed once.
    pub reauthenticated: u64,
}

impl RetryCounts {
    /// All retries.
    pub fn total(&self) -> u64 {
        self.rate_limited + self.server_error + self.transport + self.reauthenticated
    }

    /// The counts of `self` since `before`.
    pub fn since(&self, before: &RetryCounts) -> RetryCounts {
        RetryCounts {
            rate_limited: self.rate_limited.saturating_sub(before.rate_limited),
            server_error: self.server_error.saturating_sub(before.server_error),
            transport: self.transport.saturating_sub(before.transport),
            reauthenticated: self.reauthenticated.saturating_sub(before.reauthenticated),
        }
    }

    /// `reason: count` for each reason seen, for people (`transport 12, server_error 3`).
    pub fn describe(&self) -> String {
        [
            ("rate_limited", self.rate_limited),
            ("server_error", self.server_error),
            ("transport", self.transport),
            ("reauthenticated", self.reauthenticated),
        ]
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(why, n)| format!("{why} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
    }
}

impl PacingStats {
    /// Answers that asked us to slow down (429, 502/503/504, no answer).
    pub fn pushback(&self) -> u64 {
        self.throttled + self.overloaded + self.no_answer
    }
}

/// The shape of a request, for its latency floor: method, first path segment, number of
/// segments, query or not (`GET /ports?…` and `GET /ports/ID` are two shapes).
pub fn shape(method: &str, path: &str) -> u64 {
    let (path, query) = match path.split_once('?') {
        Some((p, _)) => (p, true),
        None => (path, false),
    };
    let mut segments = path.split('/').filter(|s| !s.is_empty());
    let first = segments.next();
    let depth = usize::from(first.is_some()) + segments.count();
    let mut h = DefaultHasher::new();
    (method, first, depth, query).hash(&mut h);
    h.finish()
}

/// Answers per 100 ms over the last second: what the cloud accepted lately.
#[derive(Debug, Default)]
struct LastSecond {
    buckets: [u32; 10],
    /// Index of the 100 ms period of the newest bucket, since `origin`.
    newest: u64,
}

impl LastSecond {
    fn period(origin: Instant, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(origin).as_millis() / 100).unwrap_or(u64::MAX)
    }

    fn roll(&mut self, period: u64) {
        let stale = period.saturating_sub(self.newest).min(10);
        for i in 1..=stale {
            self.buckets[((self.newest + i) % 10) as usize] = 0;
        }
        self.newest = self.newest.max(period);
    }

    fn add(&mut self, origin: Instant, now: Instant) {
        let period = Self::period(origin, now);
        self.roll(period);
        self.buckets[(period % 10) as usize] += 1;
    }

    fn total(&mut self, origin: Instant, now: Instant) -> u32 {
        self.roll(Self::period(origin, now));
        self.buckets.iter().sum()
    }
}

/// A rate learned from a 429.
#[derive(Debug, Clone, Copy)]
struct Learned {
    /// What the cloud accepted in the second before the 429, per second.
    w: f64,
    /// When.
    at: Instant,
    /// Flat time of the cubic.
    k: Duration,
}

impl Learned {
    /// The cubic: `BETA`·w at the 429, w after `k`, faster past it.
    fn rate(&self, now: Instant) -> f64 {
        let k = self.k.as_secs_f64();
        let x = (now.saturating_duration_since(self.at).as_secs_f64() - k) / k;
        self.w * (1.0 + (1.0 - BETA) * x.powi(3))
    }
}

/// The statistics of the current window.
#[derive(Debug, Clone)]
struct Window {
    started: Instant,
    answers: u32,
    /// Latency over floor of the window's clean answers.
    ratios: Vec<f64>,
    /// Requests started in the window.
    starts: u32,
    /// Of which had to wait for a place: the limit, not the demand, held them.
    waited: u32,
}

impl Window {
    /// Whether the limit bound the window: at least a quarter of its requests had to
    /// wait for a place. Growing a limit the sweep does not use proves nothing.
    fn used_up(&self) -> bool {
        self.starts > 0 && 4 * self.waited >= self.starts
    }
}

impl Window {
    fn new(now: Instant) -> Window {
        Window {
            started: now,
            answers: 0,
            ratios: Vec::new(),
            starts: 0,
            waited: 0,
        }
    }
}

/// The arithmetic of one service's limits, on explicit instants.
#[derive(Debug)]
pub struct Controller {
    config: PacingConfig,
    origin: Instant,
    limit: f64,
    slow_start: bool,
    /// The limit to go back to while a window probes the floors at a quarter of it.
    probing: Option<f64>,
    /// Windows judged since the last probe.
    since_probe: u32,
    /// Whether a probe ran yet.
    probed: bool,
    last_decrease: Option<Instant>,
    window: Window,
    floors: Vec<(u64, Duration)>,
    /// Recent latency over floor of the shapes already known (moving average).
    recent_ratio: f64,
    /// The median latency over floor of the window that last shrank the limit, while
    /// latency keeps it shrinking: if shrinking does not bring latency down, the
    /// slowness is not our load.
    shrunk_at_ratio: Option<f64>,
    learned: Option<Learned>,
    hold_until: Option<Instant>,
    accepted: LastSecond,
    in_flight: usize,
    stats: PacingStats,
}

impl Controller {
    /// Limits at their starting point.
    pub fn new(config: PacingConfig, now: Instant) -> Controller {
        let max = config.max_concurrency.max(1);
        let start = match config.mode {
            PacingMode::Adaptive => config.start_concurrency.clamp(1, max),
            PacingMode::Fixed => max,
        };
        let mut c = Controller {
            config,
            origin: now,
            limit: start as f64,
            slow_start: true,
            probing: None,
            since_probe: 0,
            probed: false,
            last_decrease: None,
            window: Window::new(now),
            floors: Vec::new(),
            recent_ratio: 1.0,
            shrunk_at_ratio: None,
            learned: None,
            hold_until: None,
            accepted: LastSecond::default(),
            in_flight: 0,
            stats: PacingStats::default(),
        };
        c.stats.concurrency_limit = c.concurrency();
        c.stats.lowest_concurrency_limit = c.concurrency();
        c.stats.rate_limit = c.rate(now);
        c
    }

    /// Requests in flight allowed now (at least 1, at most the ceiling).
    pub fn concurrency(&self) -> usize {
        (self.limit.floor() as usize).clamp(1, self.config.max_concurrency.max(1))
    }

    /// Requests per second allowed at `now` (`None`: not rate-paced).
    pub fn rate(&self, now: Instant) -> Option<f64> {
        let ceiling = self.config.max_rate.map(|r| f64::from(r.max(1)));
        let learned = self.learned.map(|l| l.rate(now)).map(|r| r.max(MIN_RATE));
        match (learned, ceiling) {
            (Some(l), Some(c)) => Some(l.min(c)),
            (l, c) => l.or(c),
        }
    }

    /// No request starts before this (a `Retry-After` in force).
    pub fn hold_until(&self) -> Option<Instant> {
        self.hold_until
    }

    /// Counts and limits so far.
    pub fn stats(&self, now: Instant) -> PacingStats {
        PacingStats {
            concurrency_limit: self.concurrency(),
            rate_limit: self.rate(now),
            ..self.stats
        }
    }

    /// A request starts at `now`; `waited`: it found no place free and had to wait.
    pub fn started(&mut self, now: Instant, waited: bool) {
        self.in_flight += 1;
        self.stats.requests += 1;
        self.window.starts += 1;
        self.window.waited += u32::from(waited);
        self.forget_stale_rate(now);
    }

    /// A started request ended without an answer that says anything (cancelled).
    pub fn abandoned(&mut self) {
        self.in_flight = self.in_flight.saturating_sub(1);
    }

    /// The answer to a request sent at `sent` came at `now`, after `rtt`.
    pub fn answered(
        &mut self,
        sent: Instant,
        now: Instant,
        shape: u64,
        rtt: Duration,
        signal: Signal,
    ) {
        self.answered_late(sent, now, shape, rtt, Duration::ZERO, signal);
    }

    /// [`Controller::answered`] for a request during whose flight this process was kept
    /// from running for `client_delay`: the answer is judged without it, while the
    /// floors stay made of whole round trips (a floor net of a delay that did not hold
    /// up this answer would be too low, and every later answer would look slow).
    pub fn answered_late(
        &mut self,
        sent: Instant,
        now: Instant,
        shape: u64,
        rtt: Duration,
        client_delay: Duration,
        signal: Signal,
    ) {
        self.in_flight = self.in_flight.saturating_sub(1);
        // Answers to requests sent before the last decrease saw the old load: they
        // neither shrink the limit again nor count in the new window.
        let current = self.last_decrease.is_none_or(|at| sent >= at);
        match signal {
            Signal::Clean => {
                self.accepted.add(self.origin, now);
                let ratio = self.sample(shape, rtt, client_delay);
                if sent >= self.window.started {
                    self.window.answers += 1;
                    if let Some(ratio) = ratio {
                        self.window.ratios.push(ratio);
                    }
                }
            }
            Signal::Throttled { retry_after } => {
                self.stats.throttled += 1;
                self.hold(now, retry_after);
                if current {
                    self.learn_rate(now, retry_after.unwrap_or(Duration::ZERO));
                    self.decrease(now, HARD_DECREASE);
                }
            }
            Signal::Overloaded { retry_after } => {
                self.stats.overloaded += 1;
                self.hold(now, retry_after);
                if current {
                    self.decrease(now, HARD_DECREASE);
                }
            }
            Signal::NoAnswer => {
                self.stats.no_answer += 1;
                if current {
                    self.decrease(now, HARD_DECREASE);
                }
            }
            Signal::Neutral => {
                if sent >= self.window.started {
                    self.window.answers += 1;
                }
            }
        }
        if self.window.answers >= (self.concurrency() as u32).max(MIN_WINDOW) {
            self.judge_window(now);
        }
    }

    /// The ratio of `rtt` to its shape's floor (the floor updated first); `None` once
    /// too many shapes were seen.
    fn sample(&mut self, shape: u64, rtt: Duration, client_delay: Duration) -> Option<f64> {
        let rtt = rtt.max(Duration::from_micros(100));
        match self.floors.iter().position(|(s, _)| *s == shape) {
            Some(i) => {
                // A floor creeps up by 1/4096 per answer unless an answer is faster: one
                // set too low (under a passing slowdown) does not shrink the limit forever.
                let floor = &mut self.floors[i].1;
                *floor = floor.mul_f64(1.0 + FLOOR_CREEP).min(rtt);
                let service = lag::service_time(rtt, client_delay).max(Duration::from_micros(100));
                let ratio = service.as_secs_f64() / floor.as_secs_f64();
                self.recent_ratio += (ratio.min(RATIO_CAP) - self.recent_ratio) / 8.0;
                Some(ratio)
            }
            None if self.floors.len() < MAX_SHAPES => {
                // As slow as the known shapes run now: its floor is that much lower.
                let slowdown = self.recent_ratio.max(1.0);
                self.floors.push((shape, rtt.div_f64(slowdown)));
                Some(slowdown)
            }
            None => None,
        }
    }

    fn hold(&mut self, now: Instant, retry_after: Option<Duration>) {
        if let Some(wait) = retry_after.filter(|w| !w.is_zero()) {
            let until = now + wait;
            self.hold_until = Some(self.hold_until.map_or(until, |h| h.max(until)));
        }
    }

    /// After a 429: the rate the cloud accepted in the last second is the reference.
    fn learn_rate(&mut self, now: Instant, retry_after: Duration) {
        if self.config.mode == PacingMode::Fixed {
            return;
        }
        let accepted = f64::from(self.accepted.total(self.origin, now));
        // Already paced below what it accepted: the pacing's own rate is the reference.
        let w = match self.rate(now) {
            Some(r) if r < accepted => r,
            _ => accepted,
        }
        .max(MIN_RATE);
        let k = (retry_after * 10).clamp(K_MIN, K_MAX);
        self.learned = Some(Learned { w, at: now, k });
        self.stats.rate_limit = self.rate(now);
    }

    fn forget_stale_rate(&mut self, now: Instant) {
        if let Some(l) = self.learned {
            if l.rate(now) > FORGET_AFTER * l.w {
                self.learned = None;
            }
        }
    }

    /// Shrinks the concurrency to `factor` of itself (at least 1) and starts a window.
    fn decrease(&mut self, now: Instant, factor: f64) {
        if self.config.mode == PacingMode::Fixed {
            return;
        }
        if let Some(saved) = self.probing.take() {
            self.limit = saved;
        }
        self.limit = (self.limit * factor).max(1.0);
        self.slow_start = false;
        self.last_decrease = Some(now);
        self.window = Window::new(now);
        self.stats.lowest_concurrency_limit =
            self.stats.lowest_concurrency_limit.min(self.concurrency());
    }

    /// A window is complete: grow, hold or shrink on its mean latency.
    fn judge_window(&mut self, now: Instant) {
        let window = std::mem::replace(&mut self.window, Window::new(now));
        if self.config.mode == PacingMode::Fixed {
            return;
        }
        if let Some(saved) = self.probing.take() {
            // The probe only refreshed the floors; its own latency is low by design.
            self.limit = saved;
            self.since_probe = 0;
            self.probed = true;
            return;
        }
        let mut ratios = window.ratios.clone();
        if ratios.is_empty() {
            return;
        }
        // The median: one slow answer (a big page, a slow delete) does not decide.
        ratios.sort_unstable_by(f64::total_cmp);
        let ratio = ratios[ratios.len() / 2];
        let max = self.config.max_concurrency.max(1) as f64;
        tracing::trace!(
            p10 = ratios[ratios.len() / 10],
            p90 = ratios[ratios.len() * 9 / 10],
            max = self.config.max_concurrency,
            limit = self.limit,
            ratio,
            used_up = window.used_up(),
            starts = window.starts,
            waited = window.waited,
            answers = window.answers,
            slow_start = self.slow_start,
            "pacing window"
        );
        self.since_probe += 1;
        let every = if self.probed {
            PROBE_EVERY
        } else {
            FIRST_PROBE
        };
        if self.since_probe >= every && self.limit >= 4.0 {
            self.probing = Some(self.limit);
            self.limit = (self.limit / 4.0).floor().max(1.0);
            return;
        }
        if ratio > LATENCY_HIGH {
            if self
                .shrunk_at_ratio
                .is_some_and(|before| ratio >= 0.9 * before)
            {
                // Fewer requests in flight did not make the answers faster: the service
                // is slower for reasons of its own. Take its current speed as the floor.
                self.floors.clear();
                self.recent_ratio = 1.0;
                self.shrunk_at_ratio = None;
                return;
            }
            self.shrunk_at_ratio = Some(ratio);
            self.decrease(now, (LATENCY_LOW / ratio).clamp(LATENCY_DECREASE_MAX, 0.9));
            return;
        }
        self.shrunk_at_ratio = None;
        if ratio <= LATENCY_LOW && window.used_up() {
            self.limit = if self.slow_start {
                self.limit * 2.0
            } else {
                self.limit + 1.0
            }
            .min(max);
        }
    }
}

/// One service's pacing on tokio: a semaphore sized to the concurrency limit, a rate
/// schedule, the `Retry-After` hold, and the observer told of limits and pushback.
pub(crate) struct Pacer {
    service: Service,
    permits: Semaphore,
    state: Mutex<PacerState>,
    observer: Option<Arc<dyn RequestObserver>>,
}

struct PacerState {
    controller: Controller,
    /// Permits the semaphore stands for (the concurrency limit when last resized).
    capacity: usize,
    /// Permits to forget as they come back (the limit shrank below what is in flight).
    debt: usize,
    /// When the next request may start under the rate.
    next_slot: Instant,
    /// Limits last told to the observer (`None` before the first answer: services
    /// never asked do not appear).
    told: Option<(usize, Option<f64>)>,
}

/// A request's place in flight; give it back with [`Ticket::finish`]. Dropped unfinished
/// (the request was cancelled), it frees the place and says nothing about the service.
pub(crate) struct Ticket<'a> {
    pacer: &'a Pacer,
    sent: Instant,
    shape: u64,
    done: bool,
    /// How late this process ran while the request was in flight.
    lag: LagMark,
}

impl Ticket<'_> {
    /// The request's answer (after `rtt`) and what it said. The service is judged on
    /// `rtt` less the time this process was kept from running meanwhile (see
    /// [`super::lag`]): a starved client is not a slow service.
    pub fn finish(mut self, rtt: Duration, signal: Signal) {
        self.done = true;
        let client_delay = self.lag.client_delay();
        let now = Instant::now();
        self.pacer
            .update(|c| c.answered_late(self.sent, now, self.shape, rtt, client_delay, signal));
        let pushback = match signal {
            Signal::Throttled { .. } => Some(Pushback::Throttled),
            Signal::Overloaded { .. } => Some(Pushback::Overloaded),
            Signal::NoAnswer => Some(Pushback::NoAnswer),
            Signal::Clean | Signal::Neutral => None,
        };
        if let (Some(p), Some(observer)) = (pushback, &self.pacer.observer) {
            observer.on_pushback(self.pacer.service, p);
        }
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.pacer.update(Controller::abandoned);
        }
    }
}

impl Pacer {
    pub fn new(
        service: Service,
        config: PacingConfig,
        observer: Option<Arc<dyn RequestObserver>>,
    ) -> Pacer {
        let now = Instant::now();
        let controller = Controller::new(config, now);
        let capacity = controller.concurrency();
        Pacer {
            service,
            permits: Semaphore::new(capacity),
            state: Mutex::new(PacerState {
                controller,
                capacity,
                debt: 0,
                next_slot: now,
                told: None,
            }),
            observer,
        }
    }

    fn lock(&self) -> MutexGuard<'_, PacerState> {
        // Plain arithmetic under the lock: a panic elsewhere cannot leave it half-made.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the hold, a place in flight and a slot of the rate; `None` when the
    /// semaphore was closed (never, in practice).
    pub async fn acquire(&self, shape: u64) -> Option<Ticket<'_>> {
        loop {
            let hold = self.lock().controller.hold_until();
            if let Some(until) = hold.filter(|u| *u > Instant::now()) {
                tokio::time::sleep_until(until).await;
                continue;
            }
            // Our own count of places: forgotten here, given back by the place's guard
            // (cancelled while waiting) or by the ticket.
            let waited = match self.permits.try_acquire() {
                Ok(permit) => {
                    permit.forget();
                    false
                }
                Err(_) => {
                    self.permits.acquire().await.ok()?.forget();
                    true
                }
            };
            let place = Place { pacer: self };
            let slot = {
                let mut s = self.lock();
                let now = Instant::now();
                match s.controller.rate(now) {
                    Some(rate) => {
                        let slot = s.next_slot.max(now);
                        s.next_slot = slot + Duration::from_secs_f64(1.0 / rate);
                        slot
                    }
                    None => {
                        s.next_slot = now;
                        now
                    }
                }
            };
            tokio::time::sleep_until(slot).await;
            let mut s = self.lock();
            let now = Instant::now();
            if s.controller.hold_until().is_some_and(|u| u > now) {
                // A Retry-After came in while we waited: wait it out like the others.
                drop(s);
                drop(place);
                continue;
            }
            s.controller.started(now, waited);
            drop(s);
            std::mem::forget(place);
            return Some(Ticket {
                pacer: self,
                sent: now,
                shape,
                done: false,
                lag: LagMark::start(),
            });
        }
    }

    /// Applies `change` to the controller, gives the place back and resizes the
    /// semaphore to the new limit, then tells the observer of new limits.
    fn update(&self, change: impl FnOnce(&mut Controller)) {
        let told = {
            let mut s = self.lock();
            change(&mut s.controller);
            s.give_back(&self.permits);
            let target = s.controller.concurrency();
            s.resize(&self.permits, target);
            let now = Instant::now();
            let limits = Some((target, s.controller.rate(now)));
            (limits != s.told)
                .then(|| {
                    s.told = limits;
                    limits
                })
                .flatten()
        };
        if let (Some((concurrency, rate)), Some(o)) = (told, &self.observer) {
            o.on_limits(self.service, concurrency, rate);
        }
    }

    /// Counts and limits so far.
    pub fn stats(&self) -> PacingStats {
        self.lock().controller.stats(Instant::now())
    }
}

/// A place in flight taken from the semaphore but not yet a started request: given
/// back if the request is cancelled while it waits for its rate slot.
struct Place<'a> {
    pacer: &'a Pacer,
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.pacer.lock().give_back(&self.pacer.permits);
    }
}

impl PacerState {
    fn give_back(&mut self, permits: &Semaphore) {
        if self.debt > 0 {
            self.debt -= 1;
        } else {
            permits.add_permits(1);
        }
    }

    fn resize(&mut self, permits: &Semaphore, target: usize) {
        if target > self.capacity {
            let add = target - self.capacity;
            let paid = add.min(self.debt);
            self.debt -= paid;
            permits.add_permits(add - paid);
        } else if target < self.capacity {
            let remove = self.capacity - target;
            let forgotten = permits.forget_permits(remove);
            self.debt += remove - forgotten;
        }
        self.capacity = target;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn adaptive(max: usize, rate: Option<u32>) -> PacingConfig {
        PacingConfig {
            mode: PacingMode::Adaptive,
            max_concurrency: max,
            max_rate: rate,
            start_concurrency: START_CONCURRENCY,
        }
    }

    const MS: Duration = Duration::from_millis(1);

    /// Runs one full window at `rtt`: rounds of `n` (the limit) requests in flight
    /// together, each having waited for its place (more demand than the limit), until
    /// the window has its answers.
    fn window(c: &mut Controller, now: &mut Instant, rtt: Duration, signal: Signal) {
        let n = c.concurrency();
        let total = n.max(MIN_WINDOW as usize);
        let mut done = 0;
        while done < total {
            let sent = *now;
            let k = n.min(total - done);
            for _ in 0..k {
                c.started(sent, true);
            }
            *now += rtt;
            for _ in 0..k {
                c.answered(sent, *now, 1, rtt, signal);
            }
            done += k;
        }
    }

    /// A clean, fast, used-up limit doubles per window from the start, up to the ceiling.
    #[test]
    fn slow_start_doubles_to_the_ceiling() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        assert_eq!(c.concurrency(), 8);
        let mut seen = vec![];
        for _ in 0..5 {
            window(&mut c, &mut now, 20 * MS, Signal::Clean);
            seen.push(c.concurrency());
        }
        assert_eq!(seen, [16, 32, 64, 64, 64]);
    }

    /// A limit not used up does not grow: an idle service proves nothing.
    #[test]
    fn idle_limit_does_not_grow() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        for _ in 0..20 {
            c.started(now, false);
            now += 20 * MS;
            c.answered(now - 20 * MS, now, 1, 20 * MS, Signal::Clean);
        }
        assert_eq!(c.concurrency(), 8);
    }

    /// A 429 halves the limit once per window, ends slow start (then +1 per window), and
    /// holds the whole service for its Retry-After.
    #[test]
    fn throttle_halves_once_and_holds() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        window(&mut c, &mut now, 20 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 16);
        let sent = now;
        for _ in 0..16 {
            c.started(sent, true);
        }
        now += 20 * MS;
        let throttled = Signal::Throttled {
            retry_after: Some(Duration::from_secs(2)),
        };
        // All 16 were sent before the decrease: one halving, not sixteen.
        for _ in 0..16 {
            c.answered(sent, now, 1, 20 * MS, throttled);
        }
        assert_eq!(c.concurrency(), 8);
        assert_eq!(c.hold_until(), Some(now + Duration::from_secs(2)));
        assert_eq!(c.stats(now).throttled, 16);
        now += Duration::from_secs(2);
        window(&mut c, &mut now, 20 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 9, "additive after the first decrease");
    }

    /// 503 and dropped connections halve the limit; a 500 says nothing about load.
    #[test]
    fn overload_and_no_answer_shrink_500_does_not() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        window(&mut c, &mut now, 20 * MS, Signal::Neutral);
        assert_eq!(c.concurrency(), 8);
        c.started(now, false);
        c.answered(
            now,
            now + MS,
            1,
            MS,
            Signal::Overloaded { retry_after: None },
        );
        assert_eq!(c.concurrency(), 4);
        now += 10 * MS;
        c.started(now, false);
        c.answered(now, now + MS, 1, MS, Signal::NoAnswer);
        assert_eq!(c.concurrency(), 2);
        assert_eq!(c.hold_until(), None, "no Retry-After, no hold");
        assert_eq!(c.stats(now).pushback(), 2);
    }

    /// Latency well above its floor (the window's median) shrinks the limit, by 30% at
    /// most; between 1.5x and 2x it holds; back near the floor it grows again.
    #[test]
    fn latency_shrinks_holds_and_grows() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        window(&mut c, &mut now, 20 * MS, Signal::Clean);
        window(&mut c, &mut now, 20 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 32);
        window(&mut c, &mut now, 80 * MS, Signal::Clean);
        assert_eq!(
            c.concurrency(),
            22,
            "4x the floor: down 30%, the most latency takes"
        );
        window(&mut c, &mut now, 35 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 22, "1.75x: held");
        window(&mut c, &mut now, 46 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 15, "2.3x: down 30% again");
        window(&mut c, &mut now, 21 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 16, "fast again: +1");
    }

    /// Answers slowed by this process's own delay (a busy runner, a CPU quota) are
    /// judged without it: the limit grows where the same round trips from a slow
    /// service would shrink it; and the delay does not lower the floor.
    #[test]
    fn our_own_delay_is_not_the_services_latency() {
        let run = |client_delay: Duration| {
            let mut now = Instant::now();
            let mut c = Controller::new(adaptive(64, None), now);
            window(&mut c, &mut now, 20 * MS, Signal::Clean);
            window(&mut c, &mut now, 20 * MS, Signal::Clean);
            assert_eq!(c.concurrency(), 32);
            for _ in 0..32 {
                c.started(now, true);
            }
            let sent = now;
            now += 80 * MS;
            for _ in 0..32 {
                c.answered_late(sent, now, 1, 80 * MS, client_delay, Signal::Clean);
            }
            let limit = c.concurrency();
            window(&mut c, &mut now, 20 * MS, Signal::Clean);
            (limit, c.concurrency())
        };
        assert_eq!(run(Duration::ZERO).0, 22, "the service slow: down 30%");
        // 75 of the 80 ms were ours: the service answered in 5 ms, faster than ever.
        let (limit, after) = run(75 * MS);
        assert_eq!(
            limit, 64,
            "judged on the service's time: slow start goes on"
        );
        assert_eq!(
            after, 64,
            "the floor stayed at 20 ms: 20 ms answers are not slow"
        );
    }

    /// When shrinking the limit does not make answers faster, the slowness is the
    /// service's own: the floors are taken again from its current speed, and the limit
    /// stops shrinking.
    #[test]
    fn slowness_that_shrinking_does_not_cure_is_not_ours() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        window(&mut c, &mut now, 20 * MS, Signal::Clean);
        window(&mut c, &mut now, 20 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 32);
        // The service becomes 3x slower whatever we send.
        window(&mut c, &mut now, 60 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 22, "first: assumed ours");
        window(&mut c, &mut now, 60 * MS, Signal::Clean);
        assert_eq!(
            c.concurrency(),
            22,
            "no faster at 22: not ours, floors renewed"
        );
        window(&mut c, &mut now, 60 * MS, Signal::Clean);
        window(&mut c, &mut now, 60 * MS, Signal::Clean);
        assert_eq!(
            c.concurrency(),
            24,
            "at its new floor: grows again, +1 per window"
        );
    }

    /// A floor first measured under load (the service was already queueing at the
    /// start) is corrected by the periodic probes at a quarter of the limit, and the
    /// limit then shrinks towards the knee, a step per probe.
    #[test]
    fn probe_corrects_floors_measured_under_load() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        // 2 workers at 10 ms: latency is 10 ms x in flight / 2.
        let rtt = |n: usize| MS * (10 * n.max(2) as u32 / 2);
        let mut seen = vec![];
        for _ in 0..(FIRST_PROBE + PROBE_EVERY + 8) {
            let n = c.concurrency();
            window(&mut c, &mut now, rtt(n), Signal::Clean);
            seen.push(c.concurrency());
        }
        assert_eq!(seen[0], 16, "the inflated floor hides the queue at first");
        assert!(seen.contains(&4), "the probe ran at a quarter: {seen:?}");
        assert!(c.concurrency() <= 4, "settled near the knee of 2: {seen:?}");
        assert!(c.stats(now).lowest_concurrency_limit <= 4);
    }

    /// A shape first seen while the known ones run at twice their floor gets half its
    /// first latency as floor: the load it met is not taken for its speed.
    #[test]
    fn new_shapes_are_judged_under_the_current_load() {
        let now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        c.sample(1, 10 * MS, Duration::ZERO);
        for _ in 0..40 {
            c.sample(1, 20 * MS, Duration::ZERO);
        }
        assert!(c.recent_ratio > 1.9, "{}", c.recent_ratio);
        let first = c.sample(2, 60 * MS, Duration::ZERO).unwrap();
        assert!(first > 1.9, "the new shape is as slow as the rest: {first}");
        let floor = c.floors.iter().find(|(s, _)| *s == 2).unwrap().1;
        assert!(floor < 32 * MS && floor > 28 * MS, "{floor:?}");
    }

    /// Each request shape has its own floor: slow list pages next to fast single reads
    /// are not a latency rise.
    #[test]
    fn floors_are_per_shape() {
        assert_ne!(shape("GET", "/ports?limit=200"), shape("GET", "/ports/abc"));
        assert_eq!(shape("GET", "/ports/abc"), shape("GET", "/ports/def"));
        assert_ne!(shape("GET", "/ports/abc"), shape("DELETE", "/ports/abc"));
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        for _ in 0..4 {
            let sent = now;
            let n = c.concurrency();
            for _ in 0..n {
                c.started(sent, true);
            }
            now += 100 * MS;
            for i in 0..c.concurrency() {
                let (s, rtt) = if i % 2 == 0 {
                    (1, 10 * MS)
                } else {
                    (2, 100 * MS)
                };
                c.answered(sent, now, s, rtt, Signal::Clean);
            }
        }
        assert_eq!(c.concurrency(), 64);
    }

    /// Neither limit ever passes its ceiling, whatever the answers.
    #[test]
    fn never_exceeds_ceilings() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(12, Some(30)), now);
        let signals = [
            Signal::Clean,
            Signal::Clean,
            Signal::Throttled { retry_after: None },
            Signal::Clean,
            Signal::Overloaded {
                retry_after: Some(MS),
            },
            Signal::Clean,
        ];
        for i in 0..600 {
            window(&mut c, &mut now, 10 * MS, signals[i % signals.len()]);
            now += Duration::from_millis(200);
            assert!(c.concurrency() <= 12 && c.concurrency() >= 1);
            assert!(c.rate(now).unwrap() <= 30.0, "{:?}", c.rate(now));
        }
        let start = Controller::new(adaptive(4, None), now);
        assert_eq!(start.concurrency(), 4, "the start is at most the ceiling");
    }

    /// A 429 paces the rate just under what the cloud accepted in the last second, flat
    /// for ten times its Retry-After, then climbing past it, then forgotten.
    #[test]
    fn throttle_learns_a_rate_and_climbs_back() {
        let mut now = Instant::now();
        let mut c = Controller::new(adaptive(64, None), now);
        assert_eq!(c.rate(now), None, "unpaced until the cloud pushes back");
        for _ in 0..50 {
            c.started(now, false);
            now += 10 * MS;
            c.answered(now - 10 * MS, now, 1, 10 * MS, Signal::Clean);
        }
        c.started(now, false);
        c.answered(
            now,
            now,
            1,
            MS,
            Signal::Throttled {
                retry_after: Some(Duration::from_secs(1)),
            },
        );
        let r0 = c.rate(now).unwrap();
        assert!((r0 - 45.0).abs() < 0.01, "{r0}");
        let at = |s: u64| c.rate(now + Duration::from_secs(s)).unwrap();
        assert!(at(5) > 49.0 && at(5) < 50.0, "flat near 50: {}", at(5));
        assert!((at(10) - 50.0).abs() < 0.01);
        assert!(at(20) > 54.0, "past it: {}", at(20));
        now += Duration::from_secs(60);
        c.started(now, false);
        assert_eq!(c.rate(now), None, "forgotten far past it");
    }

    /// Fixed mode keeps the configured limits whatever the answers, but still holds on
    /// Retry-After.
    #[test]
    fn fixed_mode_stays_fixed() {
        let mut now = Instant::now();
        let config = PacingConfig {
            mode: PacingMode::Fixed,
            ..adaptive(8, Some(20))
        };
        let mut c = Controller::new(config, now);
        window(&mut c, &mut now, MS, Signal::Clean);
        window(
            &mut c,
            &mut now,
            MS,
            Signal::Throttled {
                retry_after: Some(Duration::from_secs(3)),
            },
        );
        window(&mut c, &mut now, 100 * MS, Signal::Clean);
        assert_eq!(c.concurrency(), 8);
        assert_eq!(c.rate(now), Some(20.0));
        assert!(c.hold_until().is_some());
    }

    /// The pacer never lets more requests in flight than the limit, even while it
    /// shrinks under them, and a Retry-After holds requests not yet started.
    #[tokio::test(start_paused = true)]
    async fn pacer_bounds_in_flight_and_holds() {
        let pacer = Pacer::new(Service::Network, adaptive(4, None), None);
        let mut tickets = vec![];
        for _ in 0..4 {
            tickets.push(pacer.acquire(1).await.unwrap());
        }
        let fifth = tokio::time::timeout(Duration::from_millis(10), pacer.acquire(1)).await;
        assert!(fifth.is_err(), "a fifth request must wait");
        let first = tickets.remove(0);
        first.finish(
            MS,
            Signal::Overloaded {
                retry_after: Some(Duration::from_secs(5)),
            },
        );
        assert_eq!(pacer.stats().concurrency_limit, 2);
        // Three still in flight, limit 2: the next place comes after two more finish, and
        // after the hold.
        let start = Instant::now();
        tickets.remove(0).finish(MS, Signal::Clean);
        tickets.remove(0).finish(MS, Signal::Clean);
        let next = pacer.acquire(1).await.unwrap();
        assert!(
            start.elapsed() >= Duration::from_secs(5),
            "{:?}",
            start.elapsed()
        );
        drop(next);
        drop(tickets);
        assert_eq!(pacer.lock().controller.in_flight, 0);
    }

    /// A request cancelled while it waits for its rate slot gives its place back.
    #[tokio::test(start_paused = true)]
    async fn cancelled_waits_give_their_place_back() {
        let pacer = Pacer::new(Service::Network, adaptive(2, Some(1)), None);
        for _ in 0..6 {
            let _ = tokio::time::timeout(Duration::from_millis(100), pacer.acquire(1)).await;
        }
        assert_eq!(pacer.permits.available_permits(), 2);
        let t = pacer.acquire(1).await.unwrap();
        drop(t);
        assert_eq!(pacer.permits.available_permits(), 2);
        assert_eq!(pacer.lock().controller.in_flight, 0);
    }

    /// With a rate in force, requests start one interval apart.
    #[tokio::test(start_paused = true)]
    async fn pacer_paces_on_tokio_time() {
        let pacer = Pacer::new(Service::Network, adaptive(8, Some(2)), None);
        let start = Instant::now();
        for _ in 0..5 {
            let t = pacer.acquire(1).await.unwrap();
            t.finish(MS, Signal::Clean);
        }
        assert_eq!(start.elapsed(), Duration::from_secs(2));
    }
}
