//! An in-memory OpenStack for tests, benchmarks and the demo: Keystone, Nova, Neutron,
//! Cinder, Octavia, Glance, Heat and Swift on one axum listener (and, when enabled,
//! Barbican, Designate and Manila), answering with the real
//! APIs' paths, JSON shapes, status codes and error bodies, with injectable faults.
//!
//! It is a crate apart: it uses nothing of the janitor (`stacksweep`) and speaks only HTTP.

// Dependencies run one way, from the bottom up (no file uses one above it):
// 1. the shared vocabulary: `store` (resources, tables, caller, ids, times, pages),
//    `error` (error answers), `faults`, `log`, `quota` (limits);
// 2. each service's model, `<service>/state.rs` (Neutron's also spans `kind`, `networks`,
//    `ports`, `routers`, `floating_ips`, `security_groups` and `ops`), which knows nothing
//    of the other services nor of requests;
// 3. `state`: every model behind the one lock, and the delayed jobs that change it;
// 4. `http`: the shared handle and the middleware (log, faults, token check);
// 5. the services' handlers and cross-service operations (Nova boots on Neutron ports
//    and Cinder volumes; Heat creates through Nova, Cinder and Neutron's model);
// 6. `scenarios`, which seed through the services; and this file, which routes them.

pub mod barbican;
pub mod cinder;
pub mod designate;
pub mod error;
pub mod faults;
pub mod glance;
pub mod heat;
pub mod http;
pub mod index;
pub mod keystone;
pub mod log;
pub mod manila;
pub mod neutron;
pub mod nova;
pub mod octavia;
pub mod quota;
pub mod scenarios;
pub mod state;
pub mod store;
pub mod swift;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio_util::sync::CancellationToken;

pub use faults::{FaultConfig, Outage};
pub use log::RequestRecord;
pub use scenarios::{Manifest, Scenario};
pub use state::SimState;
pub use store::Ctx;

use http::Shared;

/// How a simulator behaves: token lifetime, asynchronous delays, latency, faults.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How long issued tokens stay valid.
    pub token_ttl: Duration,
    /// How long a deleted server lingers in `deleting`.
    pub server_delete_delay: Duration,
    /// How long a deleted volume or snapshot lingers in `deleting`.
    pub volume_delete_delay: Duration,
    /// How long volumes stay attached after their server is gone.
    pub volume_detach_delay: Duration,
    /// How long a backup made through the API stays `creating` (its volume `backing-up`).
    pub backup_create_delay: Duration,
    /// How long load balancers and stacks linger in `PENDING_DELETE`/`DELETE_IN_PROGRESS`.
    pub other_delete_delay: Duration,
    /// Latency added to every request.
    pub latency: Duration,
    /// Faults applied to every service (see [`SimHandle::set_faults`] for one service).
    pub faults: FaultConfig,
    /// Address to listen on; `127.0.0.1:0` picks a free port.
    pub listen: SocketAddr,
    /// Regions, each with its own store and endpoints: the first at the root paths, each
    /// further one under `/regions/<name>`. Keystone is shared.
    pub regions: Vec<String>,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            token_ttl: Duration::from_secs(3600),
            server_delete_delay: Duration::from_millis(500),
            volume_delete_delay: Duration::from_millis(200),
            volume_detach_delay: Duration::from_millis(200),
            backup_create_delay: Duration::from_millis(200),
            other_delete_delay: Duration::from_millis(200),
            latency: Duration::ZERO,
            faults: FaultConfig::default(),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            regions: vec![PRIMARY_REGION.to_owned()],
        }
    }
}

/// The region of the default simulator (and the first of a multi-region one, usually).
pub const PRIMARY_REGION: &str = "RegionOne";

/// The simulator; [`Sim::start`] serves it.
pub struct Sim;

impl Sim {
    /// Binds the configured address (loopback, port 0 by default) and serves until
    /// [`SimHandle::shutdown`].
    pub async fn start(config: SimConfig) -> std::io::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let delays = state::Delays {
            server_delete: config.server_delete_delay,
            volume_delete: config.volume_delete_delay,
            volume_detach: config.volume_detach_delay,
            backup_create: config.backup_create_delay,
            other_delete: config.other_delete_delay,
        };
        let faults = faults::FaultState::new(config.faults.clone(), config.latency);
        let mut state = SimState::new(format!("http://{addr}"), delays, faults);
        state.keystone.token_ttl = config.token_ttl;
        let mut region_names = config.regions.clone();
        region_names.dedup();
        if region_names.is_empty() {
            region_names.push(PRIMARY_REGION.to_owned());
        }
        state.keystone.regions = region_names.clone();
        let keystone = state.keystone.clone();
        let shared = Shared::new(state);
        let mut regions = BTreeMap::new();
        regions.insert(region_names[0].clone(), shared.clone());
        let mut further = Vec::new();
        for name in &region_names[1..] {
            // Faults and the log are the primary's (it sees every request first).
            let store = SimState::with_keystone(
                format!("http://{addr}/regions/{name}"),
                delays,
                faults::FaultState::default(),
                keystone.clone(),
            );
            let region = Shared::region(store, shared.clone());
            regions.insert(name.clone(), region.clone());
            further.push((name.clone(), region));
        }
        let app = router(shared.clone(), &further);
        let cancel = CancellationToken::new();
        let stop = cancel.clone();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { stop.cancelled().await })
                .await;
        });
        Ok(SimHandle {
            addr,
            shared,
            primary: region_names[0].clone(),
            regions,
            cancel,
            task,
        })
    }
}

/// The whole simulator: every service under its path prefix, with log, faults, auth;
/// each further region's services (Keystone aside) under `/regions/<name>`, on its store.
fn router(shared: Arc<Shared>, further: &[(String, Arc<Shared>)]) -> Router {
    let mut services = Router::new()
        .merge(keystone::router(shared.clone()))
        .merge(region_services(shared.clone()));
    for (name, region) in further {
        let routes = region_services(region.clone()).with_state(region.clone());
        services = services.nest(&format!("/regions/{name}"), routes);
    }
    http::wrap(services, shared)
}

/// Every service but Keystone, on one region's store.
fn region_services(shared: Arc<Shared>) -> Router<Arc<Shared>> {
    Router::new()
        .merge(neutron::router(shared.clone()))
        .merge(nova::router(shared.clone()))
        .merge(cinder::router(shared.clone()))
        .merge(octavia::router(shared.clone()))
        .merge(glance::router(shared.clone()))
        .merge(heat::router(shared.clone()))
        .merge(swift::router(shared.clone()))
        .merge(barbican::router(shared.clone()))
        .merge(designate::router(shared.clone()))
        .merge(manila::router(shared.clone()))
}

/// A running simulator: its address, and the hooks tests use to shape and inspect it.
pub struct SimHandle {
    addr: SocketAddr,
    /// The primary region's store (and Keystone).
    shared: Arc<Shared>,
    /// The primary region's name.
    primary: String,
    /// Every region's store by name, the primary's included.
    regions: BTreeMap<String, Arc<Shared>>,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl SimHandle {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Keystone's v3 URL (`http://127.0.0.1:PORT/identity/v3`).
    pub fn auth_url(&self) -> String {
        format!("http://{}/identity/v3", self.addr)
    }

    /// The `ci` project's id (where the `sim` cloud's tokens are scoped).
    pub fn project_id(&self) -> String {
        self.shared.lock().keystone.ci_project_id.clone()
    }

    /// Writes a `clouds.yaml` with cloud `sim` (password, member of `ci`, RegionOne) and
    /// cloud `sim-appcred` (application credential of the same user).
    pub fn write_clouds_yaml(&self, path: &Path) -> std::io::Result<()> {
        let (id, secret) = self.shared.lock().keystone.app_cred.clone();
        let text = format!(
            "clouds:\n  sim:\n    auth_type: password\n    auth:\n      auth_url: {url}\n      username: {user}\n      password: {pw}\n      project_name: {project}\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: {region}\n    interface: public\n    identity_api_version: 3\n  sim-appcred:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: {url}\n      application_credential_id: {id}\n      application_credential_secret: {secret}\n    region_name: {region}\n    interface: public\n    identity_api_version: 3\n",
            url = self.auth_url(),
            user = keystone::CI_USER,
            pw = keystone::CI_PASSWORD,
            project = keystone::CI_PROJECT,
            region = self.primary,
        );
        std::fs::write(path, text)
    }

    /// Seeds a scenario; returns what a sweep with its tag must delete and must keep.
    /// `multi-project` seeds its projects in every region; the others the `ci` project
    /// of the primary region.
    pub fn seed(&self, scenario: &Scenario) -> Manifest {
        if let Scenario::MultiProject = scenario {
            return self.seed_multi_project();
        }
        let project = self.project_id();
        scenarios::seed(&mut self.shared.lock(), &project, scenario)
    }

    /// `multi-project`: projects `ci-1`, `ci-2` (the `ci-*` pattern) and the look-alike
    /// `cx-1`, the CI user a member of each, every one holding the same job (same tag,
    /// same names) in every region. What a sweep of `ci-*` must delete and keep.
    fn seed_multi_project(&self) -> Manifest {
        let tag = scenarios::new_tag();
        let mut manifest = Manifest {
            tag: tag.clone(),
            ..Manifest::default()
        };
        for (name, selected) in scenarios::MULTI_PROJECTS {
            let project = self.add_project(name);
            for region in self.regions.values() {
                let mut m = scenarios::seed_mixed_job(&mut region.lock(), &project, &tag);
                if !selected {
                    m.survivors.append(&mut m.selected);
                }
                manifest.selected.append(&mut m.selected);
                manifest.survivors.append(&mut m.survivors);
            }
        }
        manifest
    }

    /// Seeds `scenario` (not `multi-project`, which has its own projects) into each of
    /// `projects` (made if missing, the CI user a member of each) in every region, all
    /// under one tag: a fleet of CI projects for benchmarks. Returns what a sweep of that
    /// tag must delete and keep.
    pub fn seed_projects(&self, projects: &[String], scenario: &Scenario) -> Manifest {
        let tag = scenarios::new_tag();
        let mut manifest = Manifest {
            tag: tag.clone(),
            ..Manifest::default()
        };
        for name in projects {
            let project = self.add_project(name);
            for region in self.regions.values() {
                let mut m = scenarios::seed_tagged(&mut region.lock(), &project, scenario, &tag);
                manifest.selected.append(&mut m.selected);
                manifest.survivors.append(&mut m.survivors);
            }
        }
        manifest
    }

    /// The small job of `multi-project` (same tag in each), seeded into each of `names`
    /// (projects made as needed, the CI user a member) in the primary region: many
    /// projects for tests of several sweepers sharing them. What a sweep of the tag must
    /// delete and keep.
    pub fn seed_job_projects(&self, names: &[String]) -> Manifest {
        let tag = format!("ci-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let mut manifest = Manifest {
            tag: tag.clone(),
            ..Manifest::default()
        };
        for name in names {
            let project = self.add_project(name);
            let mut m = scenarios::seed_job(&mut self.shared.lock(), &project, &tag);
            manifest.selected.append(&mut m.selected);
            manifest.survivors.append(&mut m.survivors);
        }
        manifest
    }

    /// A project with this name (made if it is not there yet) in which the CI user has
    /// the member role; returns its id.
    pub fn add_project(&self, name: &str) -> String {
        let id = self.shared.lock().keystone.ci_member_project(name);
        for region in self.regions.values() {
            if !Arc::ptr_eq(region, &self.shared) {
                region.lock().keystone.ci_member_project_as(name, &id);
            }
        }
        id
    }

    /// Seeds a scenario into `project` of `region` (`None`: the primary).
    pub fn seed_in(&self, project: &str, region: Option<&str>, scenario: &Scenario) -> Manifest {
        match self.store(region) {
            Some(store) => scenarios::seed(&mut store.lock(), project, scenario),
            None => Manifest::default(),
        }
    }

    /// The region names, the primary first.
    pub fn regions(&self) -> Vec<String> {
        let mut out = vec![self.primary.clone()];
        out.extend(self.regions.keys().filter(|r| **r != self.primary).cloned());
        out
    }

    fn store(&self, region: Option<&str>) -> Option<&Arc<Shared>> {
        self.regions.get(region.unwrap_or(&self.primary))
    }

    /// Whether a resource of `kind` (CLI word: `server`, `port`, ...) exists, in any region.
    pub fn exists(&self, kind: &str, id: &str) -> bool {
        self.regions.values().any(|r| r.lock().exists(kind, id))
    }

    /// Ids of every resource of `kind`, all projects, all regions.
    pub fn ids(&self, kind: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .regions
            .values()
            .flat_map(|r| r.lock().ids(kind))
            .collect();
        ids.sort();
        ids
    }

    /// Replaces the faults of one service (`network`, `neutron`, ..., or `*` for all);
    /// `RegionTwo/network` for one service of one further region only (a service's own
    /// faults apply to every region otherwise).
    pub fn set_faults(&self, service: &str, faults: FaultConfig) {
        self.shared.lock().faults.set(service, faults);
    }

    /// Starts (`Some`) or clears (`None`) an outage of one service (`*`: every service,
    /// as when the shared database is gone), keeping its other faults; `requests` bounds
    /// it to that many requests of the service, `None` lasts until cleared.
    pub fn set_outage(&self, service: &str, outage: Option<Outage>, requests: Option<u32>) {
        self.shared
            .lock()
            .faults
            .set_outage(service, outage, requests);
    }

    /// Stalls (`true`) or resumes (`false`) every asynchronous job — deletes of servers,
    /// volumes, snapshots, load balancers and stacks, detaches — as when RabbitMQ is
    /// down: the APIs keep answering (a deleted server stays `deleting`), and the work
    /// finishes once resumed.
    pub fn stall_async(&self, stalled: bool) {
        self.shared.set_stall(stalled);
    }

    /// Sets the quota limit `name` (the service's own name: `instances`, `cores`, `ram`,
    /// `floatingip`, `gigabytes`, ...) for every project; `-1` is unlimited.
    pub fn set_quota(&self, name: &str, limit: i64) {
        self.shared.lock().quota.set(name, limit);
    }

    /// Puts an optional service (catalog type: `key-manager`) in the catalog of the
    /// tokens issued from now on.
    pub fn enable_service(&self, service_type: &str) {
        let mut st = self.shared.lock();
        let services = &mut st.keystone.optional_services;
        if !services.iter().any(|s| s == service_type) {
            services.push(service_type.to_owned());
        }
    }

    /// Expires every issued token; the next request with one answers 401.
    pub fn expire_tokens(&self) {
        self.shared.lock().keystone.expire_tokens();
    }

    /// The next delete of this resource leaves it in its failed state (`error_deleting`,
    /// `ERROR`, `DELETE_FAILED`); Neutron resources answer 500 to every delete instead.
    pub fn make_stuck(&self, kind: &str, id: &str) {
        self.shared
            .lock()
            .stuck
            .insert((kind.to_string(), id.to_string()));
    }

    /// The next `times` deletes of this resource answer 409.
    pub fn conflict_for(&self, kind: &str, id: &str, times: u32) {
        self.shared
            .lock()
            .conflicts
            .insert((kind.to_string(), id.to_string()), times);
    }

    /// Every request answered so far.
    pub fn request_log(&self) -> Vec<RequestRecord> {
        self.shared.lock().log.records()
    }

    /// Forgets the request records kept so far (counters keep counting), so a long
    /// benchmark in this process measures its client, not the simulator's log.
    pub fn clear_request_log(&self) {
        self.shared.lock().log.clear_records();
    }

    /// Requests with this method whose path starts with `path_prefix`.
    pub fn request_count(&self, method: &str, path_prefix: &str) -> usize {
        self.shared.lock().log.count(method, path_prefix)
    }

    /// Requests per endpoint (`"DELETE /network/v2.0/ports/{id}"` → n).
    pub fn endpoint_counts(&self) -> std::collections::BTreeMap<String, u64> {
        self.shared.lock().log.endpoint_counts()
    }

    /// Runs `f` on the state, under the lock (tests create resources directly).
    pub fn with_state<R>(&self, f: impl FnOnce(&mut SimState) -> R) -> R {
        f(&mut self.shared.lock())
    }

    /// Runs `f` on one region's state (`None` if there is no such region).
    pub fn with_region_state<R>(
        &self,
        region: &str,
        f: impl FnOnce(&mut SimState) -> R,
    ) -> Option<R> {
        self.regions.get(region).map(|r| f(&mut r.lock()))
    }

    /// Stops serving and waits for the server task.
    pub async fn shutdown(self) {
        self.cancel.cancel();
        let _ = self.task.await;
    }
}
