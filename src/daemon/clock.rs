//! Wall-clock time for the scheduler, and when a target's cron schedule fires next.
//!
//! The clock is a value rather than `Timestamp::now()` so that tests can run the
//! scheduler on paused tokio time: [`Clock::Virtual`] moves with `tokio::time`.

use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::Timestamp;

use crate::config::CronExpr;

/// Where the scheduler reads the time of day.
#[derive(Debug, Clone)]
pub enum Clock {
    /// The system's wall clock.
    System,
    /// `origin` plus the `tokio::time` elapsed since `start`: with paused tokio time in
    /// tests, wall time advances exactly as the scheduler's sleeps do.
    Virtual {
        /// Wall time at `start`.
        origin: Timestamp,
        /// The tokio instant `origin` corresponds to.
        start: tokio::time::Instant,
    },
}

impl Clock {
    /// A virtual clock reading `origin` now and following tokio time from here.
    pub fn virtual_from(origin: Timestamp) -> Clock {
        Clock::Virtual {
            origin,
            start: tokio::time::Instant::now(),
        }
    }

    /// The current wall time.
    pub fn now(&self) -> Timestamp {
        match self {
            Clock::System => Timestamp::now(),
            Clock::Virtual { origin, start } => {
                let elapsed = jiff::SignedDuration::try_from(start.elapsed())
                    .unwrap_or(jiff::SignedDuration::MAX);
                origin.checked_add(elapsed).unwrap_or(Timestamp::MAX)
            }
        }
    }
}

/// The earliest time strictly after `after` at which one of `crons` fires, read in `tz`.
/// `None` when no expression ever fires again (e.g. a date that does not exist).
pub fn next_fire(crons: &[CronExpr], tz: &TimeZone, after: Timestamp) -> Option<Timestamp> {
    let zoned = after.to_zoned(tz.clone());
    crons
        .iter()
        .filter_map(|c| c.cron.find_next_occurrence(&zoned, false).ok())
        .map(|z| z.timestamp())
        .min()
}

/// How long from `now` until `at` (zero when `at` has passed).
pub fn until(now: Timestamp, at: Timestamp) -> Duration {
    Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO)
}

/// A random delay in `[0, max]`, spreading the targets' starts (and several instances').
pub fn jitter(max: Duration) -> Duration {
    if max.is_zero() {
        return Duration::ZERO;
    }
    use rand::Rng as _;
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cron(text: &str) -> CronExpr {
        text.parse().unwrap()
    }

    /// The next fire time is strictly after the given time, across expressions.
    #[test]
    fn next_fire_is_strictly_after() {
        let at: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let every5 = [cron("*/5 * * * *")];
        assert_eq!(
            next_fire(&every5, &TimeZone::UTC, at).unwrap(),
            "2026-11-22T10:05:00Z".parse::<Timestamp>().unwrap()
        );
        let both = [cron("0 3 * * *"), cron("30 10 * * *")];
        assert_eq!(
            next_fire(&both, &TimeZone::UTC, at).unwrap(),
            "2026-11-22T10:30:00Z".parse::<Timestamp>().unwrap()
        );
    }

    /// Cron expressions are read in the configured time zone.
    #[test]
    fn next_fire_follows_time_zone() {
        let tz = TimeZone::get("Europe/Paris").unwrap();
        let at: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        // 03:00 in Paris (UTC+1 in November) is 02:00 UTC.
        assert_eq!(
            next_fire(&[cron("0 3 * * *")], &tz, at).unwrap(),
            "2026-11-23T02:00:00Z".parse::<Timestamp>().unwrap()
        );
    }

    /// A virtual clock moves with paused tokio time.
    #[tokio::test(start_paused = true)]
    async fn virtual_clock_follows_tokio_time() {
        let origin: Timestamp = "2026-11-22T10:00:00Z".parse().unwrap();
        let clock = Clock::virtual_from(origin);
        tokio::time::sleep(Duration::from_secs(90)).await;
        assert_eq!(
            clock.now(),
            "2026-11-22T10:01:30Z".parse::<Timestamp>().unwrap()
        );
        assert_eq!(until(clock.now(), origin), Duration::ZERO);
    }

    /// Jitter stays within its bound.
    #[test]
    fn jitter_is_bounded() {
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(2)) <= Duration::from_secs(2));
        }
    }
}
