//! Injected faults, per service: added latency, a rate of 5xx answers, 429 with
//! `Retry-After` (at random or above a request-rate limit), a fixed number of workers
//! (latency that grows with load), dropped connections, and deterministic "the next N
//! requests" variants for tests that must not be random.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::Semaphore;
use tokio::time::Instant;

/// What to inject into one service's answers. All zero (the default) injects nothing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    /// Added to every answer.
    pub latency: Duration,
    /// Fraction (0..=1) of requests answered with `error_status`.
    pub error_rate: f64,
    /// Status of injected errors; 503 when 0.
    pub error_status: u16,
    /// Fraction (0..=1) of requests answered 429.
    pub throttle_rate: f64,
    /// `Retry-After` seconds on injected 429s.
    pub retry_after_secs: u64,
    /// Fraction (0..=1) of requests whose connection is dropped without an answer.
    pub drop_rate: f64,
    /// Requests per second above which the service answers 429 (`None`: no limit).
    pub rate_limit: Option<u32>,
    /// The service works on at most this many requests at once, each for the latency;
    /// the others queue, so latency grows with load past this knee, as a server with N
    /// workers does (`None`: every request is served at once).
    pub workers: Option<u32>,
    /// The next N requests answer `error_status`.
    pub fail_next: u32,
    /// The next N requests answer 429.
    pub throttle_next: u32,
    /// The next N requests have their connection dropped.
    pub drop_next: u32,
    /// The service is out, as a real one is when its database or its process is gone;
    /// takes precedence over every other fault.
    pub outage: Option<Outage>,
    /// How many more requests the outage lasts, then it clears itself (`None`: until
    /// cleared with [`FaultState::set_outage`] or a new config).
    pub outage_requests: Option<u32>,
    /// How long a [`Outage::Database`] request to Neutron hangs before its connection is
    /// dropped; [`DEFAULT_OUTAGE_HOLD`] when zero. Tests shorten it to stay fast.
    pub outage_hold: Duration,
}

/// How long Neutron holds a request while its database is gone: past any client's
/// request timeout (the janitor's session default is 60 s; the real bed's probe gave up
/// at 10 s).
pub const DEFAULT_OUTAGE_HOLD: Duration = Duration::from_secs(120);

/// A whole service out, answered as the real services answered it on the OpenStack test
/// bed (recorded by `tests/realcloud/chaos_probe.py`; the answers are in
/// `sim/tests/fixtures/chaos-answers.json` and the conformance tests hold the simulator
/// to them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outage {
    /// The service's database is gone (MariaDB stopped). Nova, Cinder and Keystone
    /// answer 500 with their recorded bodies ([`database_error`]); Neutron answers
    /// nothing (oslo.db retries its connection while the request waits), so the
    /// simulator holds the request for `outage_hold` and then drops the connection: a
    /// client with a shorter timeout times out, one with a longer one sees a dropped
    /// connection. Services not recorded (Octavia, Glance, Heat, Swift) answer a 500 in
    /// their own error shape.
    Database,
    /// The service's process is stopped or restarting. The real service refuses
    /// connections on its port; the simulator serves every service on one port, so it
    /// cannot refuse one service's connections, and instead closes each connection
    /// without an answer, which a client sees as a transport error just the same.
    Down,
}

/// The status and message a service answered while its database was gone, as recorded
/// on the real bed (`None`: not recorded, or no answer at all as Neutron's).
pub fn database_error(service: &str) -> Option<(u16, &'static str)> {
    match canonical_service(service) {
        "compute" => Some((
            500,
            "Unexpected API Error. Please contact the administrator\n<class 'oslo_db.exception.DBConnectionError'>",
        )),
        "block-storage" => Some((
            500,
            "The server has either erred or is incapable of performing the requested operation.",
        )),
        "identity" => Some((
            500,
            "An unexpected error prevented the server from fulfilling your request.",
        )),
        _ => None,
    }
}

/// Every service the simulator serves, by catalog type.
pub const SERVICES: [&str; 8] = [
    "identity",
    "compute",
    "network",
    "block-storage",
    "load-balancer",
    "image",
    "orchestration",
    "object-store",
];

/// What happens to one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Answer normally.
    Pass,
    /// Answer this 5xx status.
    Error(u16),
    /// Answer 429 with this `Retry-After`.
    Throttle(u64),
    /// Close the connection without an answer.
    Drop,
    /// Answer the service's recorded database-outage error ([`database_error`]).
    DatabaseError,
    /// Hold the request this long, then close the connection without an answer.
    Hang(Duration),
}

/// The decision for one request: latency to add, then an action.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Sleep this long first (holding one of `workers`, when the service has them).
    pub latency: Duration,
    /// Then do this.
    pub action: Fault,
    /// The service's workers: a request waits for one, then is served.
    pub workers: Option<Arc<Semaphore>>,
}

/// Fault settings per service, with the rate-limit windows.
#[derive(Debug, Default)]
pub struct FaultState {
    /// Applies to services without their own entry.
    pub default: FaultConfig,
    /// Base latency added to every request of every service.
    pub base_latency: Duration,
    per_service: HashMap<String, FaultConfig>,
    windows: HashMap<String, (Instant, u32)>,
    /// Each service's workers, and how many there are.
    workers: HashMap<String, (u32, Arc<Semaphore>)>,
}

/// The catalog type for a service name or alias (`neutron` → `network`).
pub fn canonical_service(name: &str) -> &str {
    match name {
        "keystone" | "identity" => "identity",
        "nova" | "compute" => "compute",
        "neutron" | "network" => "network",
        "cinder" | "volume" | "volumev3" | "block-storage" | "block_storage" => "block-storage",
        "octavia" | "load-balancer" | "load_balancer" => "load-balancer",
        "glance" | "image" => "image",
        "heat" | "orchestration" => "orchestration",
        "swift" | "object-store" | "object_store" => "object-store",
        "barbican" | "key-manager" | "key_manager" => "key-manager",
        "designate" | "dns" => "dns",
        "manila" | "sharev2" | "shared-file-system" => "shared-file-system",
        other => other,
    }
}

impl FaultState {
    /// Faults from `default` for every service, plus a base latency.
    pub fn new(default: FaultConfig, base_latency: Duration) -> FaultState {
        FaultState {
            default,
            base_latency,
            ..FaultState::default()
        }
    }

    /// Starts (`Some`) or clears (`None`) an outage of one service (`*` or `all`: every
    /// service, each counting its own `requests`), keeping its other faults. `requests`
    /// bounds it to that many requests; `None` lasts until cleared.
    pub fn set_outage(&mut self, service: &str, outage: Option<Outage>, requests: Option<u32>) {
        let services: Vec<String> = if service == "*" || service == "all" {
            SERVICES.iter().map(|s| s.to_string()).collect()
        } else {
            vec![canonical_service(service).to_string()]
        };
        for name in services {
            let cfg = self
                .per_service
                .entry(name)
                .or_insert_with(|| self.default.clone());
            cfg.outage = outage;
            cfg.outage_requests = requests;
        }
    }

    /// Replaces one service's faults (`*` or `all`: every service).
    pub fn set(&mut self, service: &str, faults: FaultConfig) {
        if service == "*" || service == "all" {
            self.per_service.clear();
            self.default = faults;
        } else {
            // `REGION/service`: one further region's service.
            let key = match service.rsplit_once('/') {
                Some((region, name)) => format!("{region}/{}", canonical_service(name)),
                None => canonical_service(service).to_string(),
            };
            self.per_service.insert(key, faults);
        }
    }

    /// Decides what happens to the next request to `service`.
    /// A further region's requests come as `REGION/service`: that key's faults when set,
    /// else the service's own.
    pub fn decide(&mut self, service: &str) -> Decision {
        let key = match self.per_service.contains_key(service) {
            true => service,
            false => service.rsplit('/').next().unwrap_or(service),
        };
        let cfg = match self.per_service.get_mut(key) {
            Some(c) => c,
            None => &mut self.default,
        };
        let latency = self.base_latency + cfg.latency;
        let workers = cfg.workers.filter(|n| *n > 0).map(|n| {
            let entry = self
                .workers
                .entry(service.to_string())
                .or_insert_with(|| (n, Arc::new(Semaphore::new(n as usize))));
            if entry.0 != n {
                *entry = (n, Arc::new(Semaphore::new(n as usize)));
            }
            Arc::clone(&entry.1)
        });
        let error_status = if cfg.error_status == 0 {
            503
        } else {
            cfg.error_status
        };
        let retry = cfg.retry_after_secs;
        // A bounded outage counts this request, and clears itself after its last one.
        let outage = match (cfg.outage, cfg.outage_requests) {
            (Some(_), Some(0)) => {
                cfg.outage = None;
                cfg.outage_requests = None;
                None
            }
            (Some(outage), Some(left)) => {
                cfg.outage_requests = Some(left - 1);
                if left == 1 {
                    cfg.outage = None;
                    cfg.outage_requests = None;
                }
                Some(outage)
            }
            (outage, _) => outage,
        };
        let hold = if cfg.outage_hold.is_zero() {
            DEFAULT_OUTAGE_HOLD
        } else {
            cfg.outage_hold
        };
        let action = if let Some(outage) = outage {
            match outage {
                Outage::Down => Fault::Drop,
                Outage::Database if service == "network" => Fault::Hang(hold),
                Outage::Database => Fault::DatabaseError,
            }
        } else if cfg.drop_next > 0 {
            cfg.drop_next -= 1;
            Fault::Drop
        } else if cfg.fail_next > 0 {
            cfg.fail_next -= 1;
            Fault::Error(error_status)
        } else if cfg.throttle_next > 0 {
            cfg.throttle_next -= 1;
            Fault::Throttle(retry)
        } else {
            let mut rng = rand::rng();
            if cfg.drop_rate > 0.0 && rng.random_bool(cfg.drop_rate.clamp(0.0, 1.0)) {
                Fault::Drop
            } else if cfg.error_rate > 0.0 && rng.random_bool(cfg.error_rate.clamp(0.0, 1.0)) {
                Fault::Error(error_status)
            } else if cfg.throttle_rate > 0.0 && rng.random_bool(cfg.throttle_rate.clamp(0.0, 1.0))
            {
                Fault::Throttle(retry)
            } else if let Some(limit) = cfg.rate_limit {
                let now = Instant::now();
                let window = self.windows.entry(service.to_string()).or_insert((now, 0));
                if now.duration_since(window.0) >= Duration::from_secs(1) {
                    *window = (now, 0);
                }
                window.1 += 1;
                if window.1 > limit {
                    Fault::Throttle(retry.max(1))
                } else {
                    Fault::Pass
                }
            } else {
                Fault::Pass
            }
        };
        Decision {
            latency,
            action,
            workers,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    /// With `workers`, every request of a service shares the same N workers, so the
    /// N+1st waits for one; another service and a changed count get their own.
    #[test]
    fn workers_are_shared_per_service() {
        let mut state = FaultState::new(
            FaultConfig {
                workers: Some(2),
                ..FaultConfig::default()
            },
            Duration::from_millis(20),
        );
        let a = state.decide("network").workers.unwrap();
        let b = state.decide("network").workers.unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let _one = a.clone().try_acquire_owned().unwrap();
        let _two = b.clone().try_acquire_owned().unwrap();
        assert!(
            a.clone().try_acquire_owned().is_err(),
            "a third request queues"
        );
        let other = state.decide("compute").workers.unwrap();
        assert!(
            other.try_acquire_owned().is_ok(),
            "compute has its own workers"
        );
        state.set(
            "network",
            FaultConfig {
                workers: Some(4),
                ..FaultConfig::default()
            },
        );
        let c = state.decide("network").workers.unwrap();
        assert_eq!(c.available_permits(), 4);
        state.set("network", FaultConfig::default());
        assert!(state.decide("network").workers.is_none());
    }

    /// An outage of every service (`*`) counts each service's requests on its own, keeps
    /// the services' other faults, and clears itself after its last request.
    #[test]
    fn outage_of_every_service_counts_per_service() {
        let mut state = FaultState::new(FaultConfig::default(), Duration::ZERO);
        state.set(
            "compute",
            FaultConfig {
                latency: Duration::from_millis(7),
                ..FaultConfig::default()
            },
        );
        state.set_outage("*", Some(Outage::Database), Some(2));
        for _ in 0..2 {
            assert_eq!(state.decide("compute").action, Fault::DatabaseError);
            assert_eq!(
                state.decide("network").action,
                Fault::Hang(DEFAULT_OUTAGE_HOLD)
            );
        }
        assert_eq!(state.decide("compute").action, Fault::Pass);
        assert_eq!(state.decide("network").action, Fault::Pass);
        assert_eq!(state.decide("compute").latency, Duration::from_millis(7));
        state.set_outage("identity", Some(Outage::Down), None);
        for _ in 0..5 {
            assert_eq!(state.decide("identity").action, Fault::Drop);
        }
        state.set_outage("keystone", None, None);
        assert_eq!(state.decide("identity").action, Fault::Pass);
    }
}
