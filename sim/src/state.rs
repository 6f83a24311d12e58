//! Everything the simulator holds, behind the one lock: every service's model, the
//! injected faults, the request log and the test hooks; and the delayed follow-up jobs
//! (asynchronous deletes) that change it later.
//!
//! It sits above the services' models and below their HTTP handlers: a handler locks the
//! state and works on the models in it.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use jiff::Timestamp;
use serde_json::Value;

use crate::barbican::state::BarbicanState;
use crate::cinder::state::CinderState;
use crate::designate::state::DesignateState;
use crate::faults::FaultState;
use crate::glance::state::GlanceState;
use crate::heat::state::HeatState;
use crate::keystone::state::KeystoneState;
use crate::log::RequestLog;
use crate::manila::state::ManilaState;
use crate::neutron::state::NeutronState;
use crate::nova::state::NovaState;
use crate::octavia::state::OctaviaState;
use crate::quota::QuotaLimits;
use crate::store::{fmt_micro, fmt_plain, fmt_z, str_of, Ctx, Obj, Table};
use crate::swift::state::SwiftState;

/// What a [`Job`] does to the state; it may schedule further jobs.
pub type JobFn = Box<dyn FnOnce(&mut SimState) -> Vec<Job> + Send>;

/// Work to do later, on the state (a delete finishing). Returns further jobs.
pub struct Job {
    /// How long after scheduling it runs.
    pub delay: Duration,
    /// What it does.
    pub run: JobFn,
}

impl Job {
    /// A job running `f` after `delay`.
    pub fn after(
        delay: Duration,
        f: impl FnOnce(&mut SimState) -> Vec<Job> + Send + 'static,
    ) -> Job {
        Job {
            delay,
            run: Box::new(f),
        }
    }
}

/// Everything the simulator holds: every service's resources, faults, the request log.
pub struct SimState {
    /// Users, projects, tokens, application credentials.
    pub keystone: KeystoneState,
    /// Networks, subnets, ports, routers, floating IPs, security groups.
    pub neutron: NeutronState,
    /// Servers, keypairs, server groups, flavors.
    pub nova: NovaState,
    /// Volumes and snapshots.
    pub cinder: CinderState,
    /// Load balancers.
    pub octavia: OctaviaState,
    /// Images.
    pub glance: GlanceState,
    /// Stacks.
    pub heat: HeatState,
    /// Containers and objects.
    pub swift: SwiftState,
    /// Secrets and secret containers.
    pub barbican: BarbicanState,
    /// Zones and recordsets.
    pub designate: DesignateState,
    /// Shares, share snapshots and share networks.
    pub manila: ManilaState,
    /// Injected faults per service.
    pub(crate) faults: FaultState,
    /// Every request answered, and counters.
    pub(crate) log: RequestLog,
    /// `(kind, id)` whose next delete ends in a failed state.
    pub(crate) stuck: HashSet<(String, String)>,
    /// `(kind, id)` → deletes still to answer 409.
    pub(crate) conflicts: HashMap<(String, String), u32>,
    /// Base URL (`http://127.0.0.1:PORT`) for links and the catalog.
    pub base_url: String,
    /// Delays of asynchronous operations.
    pub delays: Delays,
    /// Quota limits (usage follows the state).
    pub quota: QuotaLimits,
}

/// How long asynchronous operations take.
#[derive(Debug, Clone, Copy)]
pub struct Delays {
    /// A server in `deleting` until it disappears.
    pub server_delete: Duration,
    /// A volume or snapshot in `deleting` until it disappears.
    pub volume_delete: Duration,
    /// A backup made through the API stays `creating`, and its volume `backing-up`, this
    /// long (as cinder-backup takes a while): meanwhile Cinder refuses to delete either.
    pub backup_create: Duration,
    /// A volume stays `in-use`/`detaching` this long after its server is gone.
    pub volume_detach: Duration,
    /// A load balancer or stack in `PENDING_DELETE`/`DELETE_IN_PROGRESS`.
    pub other_delete: Duration,
}

impl SimState {
    pub(crate) fn new(base_url: String, delays: Delays, faults: FaultState) -> SimState {
        SimState::with_keystone(base_url, delays, faults, KeystoneState::new())
    }

    /// A store on `keystone`'s users and projects: a further region's store starts from a
    /// copy of the primary's (the same ids), though only the primary's issues tokens.
    pub(crate) fn with_keystone(
        base_url: String,
        delays: Delays,
        faults: FaultState,
        keystone: KeystoneState,
    ) -> SimState {
        let admin_project = keystone.admin_project_id.clone();
        let mut st = SimState {
            neutron: NeutronState::new(&admin_project),
            keystone,
            nova: NovaState::new(),
            cinder: CinderState::default(),
            octavia: OctaviaState::default(),
            glance: GlanceState::default(),
            heat: HeatState::default(),
            swift: SwiftState::default(),
            barbican: BarbicanState::default(),
            designate: DesignateState::default(),
            manila: ManilaState::default(),
            faults,
            log: RequestLog::default(),
            stuck: HashSet::new(),
            conflicts: HashMap::new(),
            base_url,
            delays,
            quota: Default::default(),
        };
        let admin = Ctx {
            project_id: admin_project,
            user_id: String::new(),
            admin: true,
        };
        let image = serde_json::json!({"name": "cirros-0.6.2-x86_64-disk", "visibility": "public"});
        let image = st
            .glance
            .create_image(&admin, image.as_object().unwrap_or(&Obj::new()), true);
        st.glance.default_image = str_of(&image, "id").to_string();
        st
    }

    /// Whether `(kind, id)` was marked stuck; consumes the mark.
    pub fn take_stuck(&mut self, kind: &str, id: &str) -> bool {
        self.stuck.remove(&(kind.to_string(), id.to_string()))
    }

    /// Whether this delete of `(kind, id)` must answer 409; counts one down.
    pub fn take_conflict(&mut self, kind: &str, id: &str) -> bool {
        let key = (kind.to_string(), id.to_string());
        match self.conflicts.get_mut(&key) {
            Some(n) if *n > 0 => {
                *n -= 1;
                if *n == 0 {
                    self.conflicts.remove(&key);
                }
                true
            }
            _ => false,
        }
    }

    /// Whether a resource of `kind` (CLI word: `server`, `port`, ...) with `id` exists.
    pub fn exists(&self, kind: &str, id: &str) -> bool {
        self.table(kind).is_some_and(|t| t.contains(id))
    }

    /// Ids of every resource of `kind`, all projects.
    pub fn ids(&self, kind: &str) -> Vec<String> {
        self.table(kind).map(Table::ids).unwrap_or_default()
    }

    /// The table holding `kind` (CLI word).
    pub fn table(&self, kind: &str) -> Option<&Table> {
        Some(match kind {
            "network" => &self.neutron.networks,
            "subnet" => &self.neutron.subnets,
            "port" => &self.neutron.ports,
            "router" => &self.neutron.routers,
            "floating-ip" => &self.neutron.floatingips,
            "security-group" => &self.neutron.security_groups,
            "security-group-rule" => &self.neutron.security_group_rules,
            "trunk" => &self.neutron.trunks,
            "port-forwarding" => &self.neutron.port_forwardings,
            "volume-backup" => &self.cinder.backups,
            "server" => &self.nova.servers,
            "server-group" => &self.nova.server_groups,
            "keypair" => &self.nova.keypairs,
            "volume" => &self.cinder.volumes,
            "snapshot" => &self.cinder.snapshots,
            "load-balancer" => &self.octavia.loadbalancers,
            "image" => &self.glance.images,
            "stack" => &self.heat.stacks,
            "container" => &self.swift.containers,
            "secret" => &self.barbican.secrets,
            "secret-container" => &self.barbican.containers,
            "zone" => &self.designate.zones,
            "recordset" => &self.designate.recordsets,
            "share" => &self.manila.shares,
            "share-snapshot" => &self.manila.snapshots,
            "share-network" => &self.manila.share_networks,
            _ => return None,
        })
    }

    /// The table holding `kind`, to change it.
    pub fn table_mut(&mut self, kind: &str) -> Option<&mut Table> {
        Some(match kind {
            "network" => &mut self.neutron.networks,
            "subnet" => &mut self.neutron.subnets,
            "port" => &mut self.neutron.ports,
            "router" => &mut self.neutron.routers,
            "floating-ip" => &mut self.neutron.floatingips,
            "security-group" => &mut self.neutron.security_groups,
            "security-group-rule" => &mut self.neutron.security_group_rules,
            "trunk" => &mut self.neutron.trunks,
            "port-forwarding" => &mut self.neutron.port_forwardings,
            "volume-backup" => &mut self.cinder.backups,
            "server" => &mut self.nova.servers,
            "server-group" => &mut self.nova.server_groups,
            "keypair" => &mut self.nova.keypairs,
            "volume" => &mut self.cinder.volumes,
            "snapshot" => &mut self.cinder.snapshots,
            "load-balancer" => &mut self.octavia.loadbalancers,
            "image" => &mut self.glance.images,
            "stack" => &mut self.heat.stacks,
            "container" => &mut self.swift.containers,
            "secret" => &mut self.barbican.secrets,
            "secret-container" => &mut self.barbican.containers,
            "zone" => &mut self.designate.zones,
            "recordset" => &mut self.designate.recordsets,
            "share" => &mut self.manila.shares,
            "share-snapshot" => &mut self.manila.snapshots,
            "share-network" => &mut self.manila.share_networks,
            _ => return None,
        })
    }

    /// Sets the creation time of a resource, formatted the way its service formats it.
    pub fn set_created_at(&mut self, kind: &str, id: &str, at: Timestamp) {
        let (key, text) = match kind {
            "server" => ("created", fmt_z(at)),
            "volume" | "snapshot" | "volume-backup" | "zone" | "recordset" | "share"
            | "share-snapshot" | "share-network" => ("created_at", fmt_micro(at)),
            "keypair" => ("created_at", fmt_micro(at)),
            "load-balancer" => ("created_at", fmt_plain(at)),
            "secret" | "secret-container" => ("created", fmt_micro(at)),
            "stack" => ("creation_time", fmt_z(at)),
            "container" => ("last_modified", fmt_micro(at)),
            _ => ("created_at", fmt_z(at)),
        };
        if let Some(obj) = self.table_mut(kind).and_then(|t| t.get_mut(id)) {
            obj.insert(key.into(), Value::String(text.clone()));
            if key == "created" {
                obj.insert("updated".into(), Value::String(text));
            } else if obj.contains_key("updated_at") {
                obj.insert("updated_at".into(), Value::String(text));
            }
        }
    }

    /// Sets one field of a resource (tests shaping odd states).
    pub fn set_field(&mut self, kind: &str, id: &str, key: &str, value: Value) -> bool {
        match self.table_mut(kind).and_then(|t| t.get_mut(id)) {
            Some(obj) => {
                obj.insert(key.to_string(), value);
                true
            }
            None => false,
        }
    }
}
