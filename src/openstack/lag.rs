//! How late this process gets the CPU: the client's own share of a request's latency.
//!
//! The time from sending a request to reading its answer includes the time this process
//! waited to run once the answer was there. On a busy CI runner, or in a container held
//! back by its CPU quota (a Kubernetes CPU limit stops every thread until the next
//! period), that wait can be as long as the answer itself. Pacing judges a service by
//! its latency, so it must not take our own delay for the service's load: it would
//! shrink, the sweep would slow down, and nothing about the cloud would have changed.
//!
//! A thread sleeps [`TICK`] over and over, while requests are in flight, and adds up how
//! much later than asked it woke (lateness under [`LATE_FLOOR`] is the timer's slack,
//! not a delay). The sum only grows; a request's client delay is how much it grew while
//! the request was in flight, never more than the request's own real time. Without
//! requests in flight the thread waits on a condition variable, so an idle daemon does
//! not wake.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// How long the measuring thread sleeps between two readings.
const TICK: Duration = Duration::from_millis(5);
/// Lateness at or below which a wake-up counts as on time (timer slack).
const LATE_FLOOR: Duration = Duration::from_millis(1);

/// The process's lateness so far, and how many requests want it measured.
struct LagClock {
    late_micros: AtomicU64,
    in_flight: Mutex<usize>,
    wake: Condvar,
}

/// The clock, with its thread started; `None` if the thread could not be started (then
/// no delay is ever subtracted: pacing behaves as it would without this module).
fn clock() -> Option<&'static LagClock> {
    static CLOCK: OnceLock<Option<&'static LagClock>> = OnceLock::new();
    *CLOCK.get_or_init(|| {
        let clock: &'static LagClock = Box::leak(Box::new(LagClock {
            late_micros: AtomicU64::new(0),
            in_flight: Mutex::new(0),
            wake: Condvar::new(),
        }));
        std::thread::Builder::new()
            .name("stacksweep-lag".into())
            .spawn(move || clock.measure())
            .ok()
            .map(|_| clock)
    })
}

impl LagClock {
    /// The measuring thread's loop: sleep a tick while something is in flight, add up
    /// the lateness.
    fn measure(&self) {
        loop {
            {
                let mut in_flight = self
                    .in_flight
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                while *in_flight == 0 {
                    in_flight = self
                        .wake
                        .wait(in_flight)
                        .unwrap_or_else(PoisonError::into_inner);
                }
            }
            let before = Instant::now();
            std::thread::sleep(TICK);
            self.record(before.elapsed());
        }
    }

    /// One tick that took `slept`.
    fn record(&self, slept: Duration) {
        let late = lateness(slept);
        if !late.is_zero() {
            let micros = u64::try_from(late.as_micros()).unwrap_or(u64::MAX);
            self.late_micros.fetch_add(micros, Ordering::Relaxed);
        }
    }

    fn total(&self) -> u64 {
        self.late_micros.load(Ordering::Relaxed)
    }
}

/// How much of a tick that took `slept` was this process waiting to run.
fn lateness(slept: Duration) -> Duration {
    let late = slept.saturating_sub(TICK);
    if late > LATE_FLOOR {
        late
    } else {
        Duration::ZERO
    }
}

/// One request in flight, as the lag clock sees it: measuring while it lives.
pub(crate) struct LagMark {
    clock: Option<&'static LagClock>,
    late_micros: u64,
    sent: Instant,
}

impl LagMark {
    /// Starts measuring for a request sent now.
    pub(crate) fn start() -> LagMark {
        LagMark::on(clock())
    }

    fn on(clock: Option<&'static LagClock>) -> LagMark {
        if let Some(c) = clock {
            let mut in_flight = c.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            *in_flight += 1;
            if *in_flight == 1 {
                c.wake.notify_one();
            }
        }
        LagMark {
            clock,
            late_micros: clock.map_or(0, LagClock::total),
            sent: Instant::now(),
        }
    }

    /// How long this process was kept from running since the request was sent: at
    /// most the request's real time so far.
    pub(crate) fn client_delay(&self) -> Duration {
        let Some(c) = self.clock else {
            return Duration::ZERO;
        };
        let late = Duration::from_micros(c.total().saturating_sub(self.late_micros));
        late.min(self.sent.elapsed())
    }
}

impl Drop for LagMark {
    fn drop(&mut self) {
        if let Some(c) = self.clock {
            let mut in_flight = c.in_flight.lock().unwrap_or_else(PoisonError::into_inner);
            *in_flight = in_flight.saturating_sub(1);
        }
    }
}

/// `rtt` without the client's own delay: what the service took, as far as we can tell.
pub(crate) fn service_time(rtt: Duration, client_delay: Duration) -> Duration {
    rtt.saturating_sub(client_delay)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// A tick on time, or late by no more than the timer's slack, is no delay; past
    /// that, all of the lateness is.
    #[test]
    fn only_lateness_past_the_slack_counts() {
        assert_eq!(lateness(TICK), Duration::ZERO);
        assert_eq!(lateness(TICK - Duration::from_millis(1)), Duration::ZERO);
        assert_eq!(lateness(TICK + LATE_FLOOR), Duration::ZERO);
        assert_eq!(
            lateness(TICK + Duration::from_millis(30)),
            Duration::from_millis(30)
        );
    }

    /// A clock of its own, without a thread: the test plays the thread.
    fn test_clock() -> &'static LagClock {
        Box::leak(Box::new(LagClock {
            late_micros: AtomicU64::new(0),
            in_flight: Mutex::new(0),
            wake: Condvar::new(),
        }))
    }

    /// A request sees the lateness that grew while it was in flight, never more than
    /// its own real time, and none from before it was sent; it counts as in flight
    /// while it lives.
    #[test]
    fn a_request_sees_the_lateness_of_its_own_flight() {
        let c = test_clock();
        c.record(TICK + Duration::from_secs(3));
        let mark = LagMark::on(Some(c));
        assert_eq!(*c.in_flight.lock().unwrap(), 1);
        assert_eq!(mark.client_delay(), Duration::ZERO);
        c.record(TICK + Duration::from_millis(40));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(mark.client_delay(), Duration::from_millis(40));
        c.record(TICK + Duration::from_secs(10));
        let capped = mark.client_delay();
        assert!(capped >= Duration::from_millis(50) && capped < Duration::from_secs(10));
        drop(mark);
        assert_eq!(*c.in_flight.lock().unwrap(), 0);
        assert_eq!(LagMark::on(None).client_delay(), Duration::ZERO);
    }

    /// The process's clock starts its thread.
    #[test]
    fn the_process_clock_runs() {
        assert!(clock().is_some());
    }

    /// The service's time is the round trip less our delay, never below zero.
    #[test]
    fn service_time_takes_out_the_client_delay() {
        let ms = Duration::from_millis;
        assert_eq!(service_time(ms(300), ms(190)), ms(110));
        assert_eq!(service_time(ms(20), ms(50)), Duration::ZERO);
    }
}
