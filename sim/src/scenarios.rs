//! Seeded scenarios: what leaked CI jobs leave behind, mixed with resources that must
//! survive a sweep, plus [`Seeder`], the helper tests use to build custom projects
//! directly in the store.
//!
//! Built in: `kubespray-aborted[:NODES]`, `capo-cluster[:WORKERS]`,
//! `openshift-aborted[:WORKERS]` (which puts Barbican, Designate and Manila in the
//! catalog), `scale[:N]`, `multi-project` (several projects and regions, each with a job
//! of every kind, which also puts Barbican, Designate and Manila in the catalog; seeded
//! by the handle, which knows the regions). A scenario can also be a JSON file (see
//! [`FileScenario`]).
//!
//! Selected resources carry the scenario's tag where the kind has tags, their names start
//! with `<tag>-`, and volumes/snapshots have metadata `{"ci-job": "<tag>"}`. Survivors
//! have none of these.

use std::collections::HashMap;
use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::state::SimState;
use crate::store::{str_of, Ctx, Obj};

/// Why a scenario could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    /// No built-in scenario has this name and no file has this path.
    #[error(
        "unknown scenario {0:?} (built in: kubespray-aborted, capo-cluster, openshift-aborted, scale, multi-project)"
    )]
    Unknown(String),
    /// The size after `:` is not a number.
    #[error("scenario size {0:?} is not a number")]
    BadSize(String),
    /// The scenario file could not be read or parsed.
    #[error("scenario file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A scenario to seed.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// An interrupted Kubespray/Terraform job: servers with ports in cross-referencing
    /// security groups, a router with interface and gateway, floating IPs, volumes with
    /// snapshots, a keypair, a server group. `nodes` worker servers.
    KubesprayAborted {
        /// Worker servers besides the master.
        nodes: usize,
    },
    /// A Cluster API (CAPO) cluster: servers (one with a trunk), cloud-provider-openstack
    /// load balancers, cinder-csi volumes and backups, a floating IP's port forwarding.
    CapoCluster {
        /// Worker servers.
        workers: usize,
    },
    /// An aborted OpenShift install whose infraID is the tag: its network, servers and
    /// API load balancer with a TLS listener (Barbican certificate), the image
    /// registry's Swift container, a Designate zone with records, Manila shares (one
    /// with a snapshot) on a share network; another cluster's look-alikes survive. Puts
    /// Barbican, Designate and Manila in the catalog.
    OpenshiftAborted {
        /// Worker servers.
        workers: usize,
    },
    /// About `resources` resources across realistic dependency chains, half selected.
    Scale {
        /// Roughly how many resources.
        resources: usize,
    },
    /// The same small job (same tag, same names) in projects `ci-1` and `ci-2` (a sweep
    /// of `ci-*` deletes it) and in the look-alike `cx-1` (which it must not touch), in
    /// every region of the simulator, the CI user a member of all three.
    MultiProject,
    /// Declared in a JSON file.
    File(FileScenario),
}

/// The projects of [`Scenario::MultiProject`], and whether a sweep of `ci-*` selects
/// their job.
pub const MULTI_PROJECTS: [(&str, bool); 3] = [("ci-1", true), ("ci-2", true), ("cx-1", false)];

impl Scenario {
    /// Parses `NAME[:SIZE]` or a path to a scenario JSON file.
    pub fn parse(spec: &str) -> Result<Scenario, ScenarioError> {
        let (name, size) = match spec.split_once(':') {
            Some((n, s)) => (
                n,
                Some(
                    s.parse::<usize>()
                        .map_err(|_| ScenarioError::BadSize(s.into()))?,
                ),
            ),
            None => (spec, None),
        };
        match name {
            "kubespray-aborted" => Ok(Scenario::KubesprayAborted {
                nodes: size.unwrap_or(2),
            }),
            "capo-cluster" => Ok(Scenario::CapoCluster {
                workers: size.unwrap_or(3),
            }),
            "openshift-aborted" => Ok(Scenario::OpenshiftAborted {
                workers: size.unwrap_or(2),
            }),
            "scale" => Ok(Scenario::Scale {
                resources: size.unwrap_or(1000),
            }),
            "multi-project" => Ok(Scenario::MultiProject),
            _ if Path::new(spec).is_file() => {
                FileScenario::load(Path::new(spec)).map(Scenario::File)
            }
            _ => Err(ScenarioError::Unknown(spec.into())),
        }
    }

    /// A short name for messages.
    pub fn name(&self) -> String {
        match self {
            Scenario::KubesprayAborted { nodes } => format!("kubespray-aborted:{nodes}"),
            Scenario::CapoCluster { workers } => format!("capo-cluster:{workers}"),
            Scenario::OpenshiftAborted { workers } => format!("openshift-aborted:{workers}"),
            Scenario::Scale { resources } => format!("scale:{resources}"),
            Scenario::MultiProject => "multi-project".to_owned(),
            Scenario::File(f) => f.name.clone(),
        }
    }
}

/// What a sweep with `tag` must delete and must keep.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// `(kind, id)` a sweep must delete.
    pub selected: Vec<(String, String)>,
    /// `(kind, id)` a sweep must keep.
    pub survivors: Vec<(String, String)>,
    /// The tag that selects (also the name prefix of selected resources).
    pub tag: String,
}

impl Manifest {
    /// `"12 selected, 9 survivors, tag T"`.
    pub fn summary(&self) -> String {
        format!(
            "{} selected, {} survivors, tag {}",
            self.selected.len(),
            self.survivors.len(),
            self.tag
        )
    }
}

/// Seeds `scenario` into `project`. A scenario that cannot be built completely (a
/// malformed file) yields what was built before the failure.
pub fn seed(state: &mut SimState, project: &str, scenario: &Scenario) -> Manifest {
    let tag = match scenario {
        Scenario::File(f) => f.tag.clone(),
        _ => new_tag(),
    };
    seed_tagged(state, project, scenario, &tag)
}

/// A fresh job tag, `ci-` and 8 hex digits.
pub fn new_tag() -> String {
    format!("ci-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
}

/// [`seed`] with the job's tag given (a file scenario keeps its own), so that one job can
/// span many projects and regions.
pub fn seed_tagged(
    state: &mut SimState,
    project: &str,
    scenario: &Scenario,
    tag: &str,
) -> Manifest {
    let mut s = Seeder::new(state, project);
    let tag = match scenario {
        Scenario::File(f) => f.tag.clone(),
        _ => tag.to_owned(),
    };
    let built = match scenario {
        Scenario::KubesprayAborted { nodes } => kubespray(&mut s, &tag, *nodes),
        Scenario::CapoCluster { workers } => capo(&mut s, &tag, *workers),
        Scenario::OpenshiftAborted { workers } => openshift(&mut s, &tag, *workers),
        Scenario::Scale { resources } => scale(&mut s, &tag, *resources),
        // One project of one region: the handle seeds the others.
        Scenario::MultiProject => small_job(&mut s, &tag).map(drop),
        Scenario::File(f) => from_file(&mut s, f),
    };
    if let Err(e) = built {
        tracing::warn!(scenario = %scenario.name(), error = %e.message, "scenario seeded partially");
    }
    let mut m = s.manifest;
    m.tag = tag;
    m
}

/// Seeds [`Scenario::MultiProject`]'s job with `tag` into `project` of this store.
pub fn seed_job(state: &mut SimState, project: &str, tag: &str) -> Manifest {
    let mut s = Seeder::new(state, project);
    if let Err(e) = small_job(&mut s, tag).map(drop) {
        tracing::warn!(project, error = %e.message, "multi-project job seeded partially");
    }
    let mut m = s.manifest;
    m.tag = tag.to_owned();
    m
}

/// Seeds [`Scenario::MultiProject`]'s job with `tag` into `project` of this store, and
/// beside it one of every newer kind (a trunk, a port forwarding, a volume backup with an
/// incremental on it; Barbican, Designate and Manila leftovers, with those services put
/// in the catalog): what a sweep of several projects and regions must clean in one run.
pub fn seed_mixed_job(state: &mut SimState, project: &str, tag: &str) -> Manifest {
    let mut s = Seeder::new(state, project);
    let seeded = small_job(&mut s, tag).and_then(|job| newer_kinds(&mut s, tag, &job));
    if let Err(e) = seeded {
        tracing::warn!(project, error = %e.message, "multi-project job seeded partially");
    }
    let mut m = s.manifest;
    m.tag = tag.to_owned();
    m
}

/// What [`small_job`] made that more of the job hangs on.
struct SmallJob {
    network: String,
    volume: String,
}

/// The newer kinds of a job, on [`small_job`]'s network and volume.
fn newer_kinds(s: &mut Seeder, tag: &str, job: &SmallJob) -> Result<(), ApiError> {
    for service in ["key-manager", "dns", "sharev2"] {
        let services = &mut s.st.keystone.optional_services;
        if !services.iter().any(|x| x == service) {
            services.push(service.to_owned());
        }
    }
    let t = [tag];
    let p = |n: &str| format!("{tag}-{n}");
    let meta = json!({ "ci-job": tag });
    let parent = s.port(&job.network, &p("trunk-parent"), &t, &[])?;
    let sub = s.port(&job.network, &p("trunk-sub"), &t, &[])?;
    let trunk = s.trunk(&p("trunk"), &t, &parent, &[&sub])?;
    let pf_fip = s.floating_ip(&p("pf-fip"), &t, None)?;
    let forwarding = s.port_forwarding(&pf_fip, &parent, 2222)?;
    let full = s.backup(&job.volume, &p("backup"), false, meta.clone())?;
    let incremental = s.backup(&job.volume, &p("backup-incr"), true, meta.clone())?;
    let secret = s.secret(&p("tls-key"));
    let container = s.secret_container(&p("tls"), &[&secret]);
    let zone = s.zone(&format!("{}.example.org.", p("apps")), "");
    let record = s.recordset(&zone, &p("api"), "A", &["192.0.2.60"]);
    let share_net = s.share_network(&p("share-network"));
    let share = s.share(&p("share"), Some(&share_net), meta);
    let share_snap = s.share_snapshot(&share, &p("share-snapshot"));
    for (kind, id) in [
        ("port", parent),
        ("port", sub),
        ("trunk", trunk),
        ("floating-ip", pf_fip),
        ("port-forwarding", forwarding),
        ("volume-backup", full),
        ("volume-backup", incremental),
        ("secret", secret),
        ("secret-container", container),
        ("zone", zone),
        ("recordset", record),
        ("share-network", share_net),
        ("share", share),
        ("share-snapshot", share_snap),
    ] {
        s.age(kind, &id, 7);
        s.record(kind, &id, true);
    }
    Ok(())
}

/// A small job that can be seeded in several projects of one store with the same tag and
/// names (no keypair: keypairs belong to the user, not the project, and their names are
/// unique per user): a network with a subnet and a routed router, security groups, a
/// server with a floating IP and a data volume with a snapshot; and a kept network.
fn small_job(s: &mut Seeder, tag: &str) -> Result<SmallJob, ApiError> {
    let t = [tag];
    let p = |n: &str| format!("{tag}-{n}");
    let meta = json!({ "ci-job": tag });
    let infra = s.network("shared-infra", &[])?;
    let default_sg = s.st.neutron.ensure_default_sg(&s.ctx.project_id);
    for (kind, id) in [("network", &infra), ("security-group", &default_sg)] {
        s.age(kind, id, 24 * 30);
        s.record(kind, id, false);
    }
    let net = s.network(&p("net"), &t)?;
    let sub = s.subnet(&net, &p("subnet"), "10.30.0.0/24", &t)?;
    let router = s.router(&p("router"), &t, true)?;
    s.router_interface(&router, &sub)?;
    let sg = s.security_group(&p("sg"), &t);
    s.rule(&sg, 22, None)?;
    let server = s.server(
        &p("vm"),
        &t,
        &ServerSpec {
            networks: vec![net.clone()],
            security_groups: vec![p("sg")],
            ..ServerSpec::default()
        },
    )?;
    let port =
        s.st.neutron
            .ports
            .values()
            .find(|x| str_of(x, "device_id") == server)
            .map(id_of);
    let fip = s.floating_ip(&p("fip"), &t, port.as_deref())?;
    let data = s.volume(&p("data"), 1, meta.clone())?;
    s.attach(&server, &data);
    let snap = s.snapshot(&data, &p("snap"), meta)?;
    let job = SmallJob {
        network: net.clone(),
        volume: data.clone(),
    };
    for (kind, id) in [
        ("network", net),
        ("subnet", sub),
        ("router", router),
        ("security-group", sg),
        ("server", server),
        ("floating-ip", fip),
        ("volume", data),
        ("snapshot", snap),
    ] {
        s.age(kind, &id, 7);
        s.record(kind, &id, true);
    }
    Ok(job)
}

/// Builds resources directly in the store, as the project's member would through the
/// API, and records them in a [`Manifest`] when asked.
pub struct Seeder<'a> {
    /// The state seeded into.
    pub st: &'a mut SimState,
    /// Acting as this project's member.
    pub ctx: Ctx,
    /// What was recorded as selected / survivor.
    pub manifest: Manifest,
}

fn obj(v: Value) -> Obj {
    match v {
        Value::Object(o) => o,
        _ => Obj::new(),
    }
}

fn id_of(o: &Obj) -> String {
    str_of(o, "id").to_string()
}

impl<'a> Seeder<'a> {
    /// A seeder acting as the `ci` user, member of `project`.
    pub fn new(st: &'a mut SimState, project: &str) -> Seeder<'a> {
        let user = st.keystone.ci_user_id.clone();
        Seeder {
            st,
            ctx: Ctx {
                project_id: project.into(),
                user_id: user,
                admin: false,
            },
            manifest: Manifest::default(),
        }
    }

    /// Records `(kind, id)` as selected (`true`) or survivor (`false`).
    pub fn record(&mut self, kind: &str, id: &str, selected: bool) {
        let list = if selected {
            &mut self.manifest.selected
        } else {
            &mut self.manifest.survivors
        };
        list.push((kind.to_string(), id.to_string()));
    }

    /// Backdates a resource's creation by `hours`.
    pub fn age(&mut self, kind: &str, id: &str, hours: i64) {
        if kind == "port-forwarding" {
            // Forwardings have no creation time.
            return;
        }
        let at = Timestamp::now() - SignedDuration::from_hours(hours);
        self.st.set_created_at(kind, id, at);
    }

    /// Creates a network.
    pub fn network(&mut self, name: &str, tags: &[&str]) -> Result<String, ApiError> {
        let n = self
            .st
            .neutron
            .create_network(&self.ctx, obj(json!({"name": name, "tags": tags})))?;
        Ok(id_of(&n))
    }

    /// Creates a subnet.
    pub fn subnet(
        &mut self,
        network: &str,
        name: &str,
        cidr: &str,
        tags: &[&str],
    ) -> Result<String, ApiError> {
        let body = json!({"name": name, "network_id": network, "cidr": cidr, "ip_version": 4, "tags": tags});
        Ok(id_of(&self.st.neutron.create_subnet(&self.ctx, obj(body))?))
    }

    /// Creates a port (security groups by id; none given: the default group).
    pub fn port(
        &mut self,
        network: &str,
        name: &str,
        tags: &[&str],
        sgs: &[&str],
    ) -> Result<String, ApiError> {
        let mut body = json!({"name": name, "network_id": network, "tags": tags});
        if !sgs.is_empty() {
            body["security_groups"] = json!(sgs);
        }
        Ok(id_of(&self.st.neutron.create_port(&self.ctx, obj(body))?))
    }

    /// Creates a router, with a gateway on `public` if asked.
    pub fn router(&mut self, name: &str, tags: &[&str], gateway: bool) -> Result<String, ApiError> {
        let mut body = json!({"name": name, "tags": tags});
        if gateway {
            body["external_gateway_info"] =
                json!({"network_id": self.st.neutron.public_network_id});
        }
        Ok(id_of(&self.st.neutron.create_router(&self.ctx, obj(body))?))
    }

    /// Adds a router interface on a subnet; returns the interface port.
    pub fn router_interface(&mut self, router: &str, subnet: &str) -> Result<String, ApiError> {
        let info = self.st.neutron.add_router_interface(
            &self.ctx,
            router,
            &json!({ "subnet_id": subnet }),
        )?;
        Ok(info["port_id"].as_str().unwrap_or("").to_string())
    }

    /// Creates a security group (with its two egress rules).
    pub fn security_group(&mut self, name: &str, tags: &[&str]) -> String {
        id_of(
            &self
                .st
                .neutron
                .create_security_group(&self.ctx, obj(json!({"name": name, "tags": tags}))),
        )
    }

    /// Adds an ingress TCP rule to `sg`, from `remote_group` if given.
    pub fn rule(
        &mut self,
        sg: &str,
        port: u16,
        remote_group: Option<&str>,
    ) -> Result<String, ApiError> {
        let body = json!({"security_group_id": sg, "direction": "ingress", "protocol": "tcp",
            "port_range_min": port, "port_range_max": port, "remote_group_id": remote_group});
        Ok(id_of(&self.st.neutron.create_rule(&self.ctx, obj(body))?))
    }

    /// Creates a floating IP on `public`, associated with `port` if given.
    pub fn floating_ip(
        &mut self,
        description: &str,
        tags: &[&str],
        port: Option<&str>,
    ) -> Result<String, ApiError> {
        let body = json!({"floating_network_id": self.st.neutron.public_network_id, "port_id": port,
            "description": description, "tags": tags});
        Ok(id_of(
            &self.st.neutron.create_floatingip(&self.ctx, obj(body))?,
        ))
    }

    /// Creates a server: ports on `networks`, the given `ports`, booted from `boot_volume`
    /// (or an image), with a keypair and server group if given.
    pub fn server(
        &mut self,
        name: &str,
        tags: &[&str],
        spec: &ServerSpec,
    ) -> Result<String, ApiError> {
        let mut nets: Vec<Value> = spec.networks.iter().map(|n| json!({ "uuid": n })).collect();
        nets.extend(spec.ports.iter().map(|p| json!({ "port": p })));
        let mut body = json!({"name": name, "flavorRef": "1", "tags": tags, "networks": nets,
            "key_name": spec.key_name, "metadata": {}});
        if !spec.security_groups.is_empty() {
            body["security_groups"] = spec
                .security_groups
                .iter()
                .map(|g| json!({ "name": g }))
                .collect();
        }
        match &spec.boot_volume {
            Some(v) => {
                body["block_device_mapping_v2"] = json!([{"boot_index": 0, "uuid": v, "source_type": "volume",
                    "destination_type": "volume", "delete_on_termination": spec.delete_on_termination}]);
            }
            None => body["imageRef"] = json!(self.st.glance.default_image),
        }
        if let Some(g) = &spec.group {
            body["os:scheduler_hints"] = json!({ "group": g });
        }
        let mut o = obj(body);
        if spec.key_name.is_none() {
            o.remove("key_name");
        }
        Ok(id_of(&crate::nova::create_server(self.st, &self.ctx, &o)?))
    }

    /// Creates a volume with metadata.
    pub fn volume(&mut self, name: &str, size: u64, metadata: Value) -> Result<String, ApiError> {
        let body = json!({"name": name, "size": size, "metadata": metadata});
        Ok(id_of(&crate::cinder::create_volume(
            self.st,
            &self.ctx,
            obj(body),
        )?))
    }

    /// Creates a snapshot of a volume (forced, so attached volumes work too).
    pub fn snapshot(
        &mut self,
        volume: &str,
        name: &str,
        metadata: Value,
    ) -> Result<String, ApiError> {
        let body = json!({"volume_id": volume, "name": name, "force": true, "metadata": metadata});
        Ok(id_of(&crate::cinder::create_snapshot(
            self.st,
            &self.ctx,
            obj(body),
        )?))
    }

    /// Attaches a volume to a server.
    pub fn attach(&mut self, server: &str, volume: &str) {
        let n = self
            .st
            .nova
            .servers
            .get(server)
            .map_or(0, |s| s["_volumes"].as_array().map_or(0, Vec::len));
        crate::cinder::attach(
            self.st,
            volume,
            server,
            &format!("/dev/vd{}", (b'a' + n as u8) as char),
        );
        if let Some(Value::Array(v)) = self
            .st
            .nova
            .servers
            .get_mut(server)
            .and_then(|s| s.get_mut("_volumes"))
        {
            v.push(json!({"id": volume, "delete_on_termination": false}));
        }
    }

    /// Creates a keypair (its id is its name).
    pub fn keypair(&mut self, name: &str) -> Result<String, ApiError> {
        let kp = crate::nova::create_keypair(self.st, &self.ctx, &obj(json!({ "name": name })))?;
        Ok(id_of(&kp))
    }

    /// Creates a load balancer on `subnet`, already `ACTIVE`; `listeners` children.
    pub fn load_balancer(
        &mut self,
        name: &str,
        subnet: &str,
        tags: &[&str],
        listeners: usize,
    ) -> Result<String, ApiError> {
        let body = obj(json!({"name": name, "vip_subnet_id": subnet, "tags": tags}));
        let (lb, _) = crate::octavia::create_lb(self.st, &self.ctx, &body)?;
        let id = id_of(&lb);
        if let Some(l) = self.st.octavia.loadbalancers.get_mut(&id) {
            l.insert("provisioning_status".into(), json!("ACTIVE"));
            l.insert("operating_status".into(), json!("ONLINE"));
            let children: Vec<Value> = (0..listeners)
                .map(|_| json!({ "id": uuid::Uuid::new_v4().to_string() }))
                .collect();
            l.insert("listeners".into(), Value::Array(children));
        }
        Ok(id)
    }

    /// Creates an image owned by the project.
    pub fn image(&mut self, name: &str, tags: &[&str], protected: bool) -> String {
        let body = obj(
            json!({"name": name, "tags": tags, "protected": protected, "visibility": "private"}),
        );
        id_of(&self.st.glance.create_image(&self.ctx, &body, true))
    }

    /// Creates a stack from a template (its resources are created too).
    pub fn stack(
        &mut self,
        name: &str,
        tags: &[&str],
        template: Value,
    ) -> Result<String, ApiError> {
        let body = json!({"stack_name": name, "tags": tags.join(","), "template": template});
        Ok(id_of(&crate::heat::create_stack(
            self.st, &self.ctx, &body,
        )?))
    }

    /// Creates a container holding `objects` small objects (its id is its name).
    pub fn container(&mut self, name: &str, objects: usize) -> String {
        crate::swift::create_container(self.st, &self.ctx, name);
        for i in 0..objects {
            crate::swift::put_object(self.st, name, &format!("obj-{i}"), 16);
        }
        name.to_string()
    }

    /// Creates a trunk on `parent` with VLAN `sub_ports` (101, 102, ...).
    pub fn trunk(
        &mut self,
        name: &str,
        tags: &[&str],
        parent: &str,
        sub_ports: &[&str],
    ) -> Result<String, ApiError> {
        let subs: Vec<Value> = sub_ports
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"port_id": p, "segmentation_type": "vlan", "segmentation_id": 101 + i}))
            .collect();
        let body = json!({"name": name, "tags": tags, "port_id": parent, "sub_ports": subs});
        Ok(id_of(&self.st.neutron.create_trunk(&self.ctx, obj(body))?))
    }

    /// Forwards TCP `external` of a floating IP to port 22 of `port`.
    pub fn port_forwarding(
        &mut self,
        fip: &str,
        port: &str,
        external: u16,
    ) -> Result<String, ApiError> {
        let body = json!({"protocol": "tcp", "external_port": external, "internal_port": 22,
            "internal_port_id": port});
        Ok(id_of(&self.st.neutron.create_port_forwarding(
            &self.ctx,
            fip,
            &obj(body),
        )?))
    }

    /// Creates a backup of a volume (forced, so attached volumes work too), incremental
    /// on its latest backup if asked.
    pub fn backup(
        &mut self,
        volume: &str,
        name: &str,
        incremental: bool,
        metadata: Value,
    ) -> Result<String, ApiError> {
        let body = json!({"volume_id": volume, "name": name, "force": true,
            "incremental": incremental, "metadata": metadata});
        Ok(id_of(&crate::cinder::create_backup(
            self.st,
            &self.ctx,
            obj(body),
        )?))
    }

    /// Creates a Barbican secret (Barbican must be enabled for the janitor to see it).
    pub fn secret(&mut self, name: &str) -> String {
        let base = crate::barbican::v1(&self.st.base_url);
        let body = obj(json!({"name": name, "secret_type": "private"}));
        id_of(&self.st.barbican.create_secret(&self.ctx, &base, &body))
    }

    /// Creates a Barbican certificate container of `secrets` (their IDs).
    pub fn secret_container(&mut self, name: &str, secrets: &[&str]) -> String {
        let base = crate::barbican::v1(&self.st.base_url);
        let names = ["certificate", "private_key", "intermediates"];
        let refs: Vec<Value> = secrets
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"name": names.get(i).copied().unwrap_or("secret"),
                "secret_ref": format!("{base}/secrets/{s}")})
            })
            .collect();
        let body = obj(json!({"name": name, "type": "certificate", "secret_refs": refs}));
        id_of(&self.st.barbican.create_container(&self.ctx, &base, &body))
    }

    /// The `secret_ref`/`container_ref` URL of a Barbican secret or container by ID.
    pub fn barbican_ref(&self, id: &str) -> String {
        let base = crate::barbican::v1(&self.st.base_url);
        let collection = if self.st.barbican.containers.contains(id) {
            "containers"
        } else {
            "secrets"
        };
        format!("{base}/{collection}/{id}")
    }

    /// Adds a `TERMINATED_HTTPS` listener to load balancer `lb` whose default
    /// certificate is `default_ref` and SNI certificates `sni` (Barbican IDs).
    pub fn tls_listener(&mut self, lb: &str, default_ref: &str, sni: &[&str]) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let sni: Vec<String> = sni.iter().map(|s| self.barbican_ref(s)).collect();
        let listener = obj(json!({"id": id, "name": format!("{lb}-https"),
            "protocol": "TERMINATED_HTTPS", "protocol_port": 443,
            "loadbalancer_id": lb, "loadbalancers": [{"id": lb}],
            "project_id": self.ctx.project_id, "provisioning_status": "ACTIVE",
            "default_tls_container_ref": self.barbican_ref(default_ref),
            "sni_container_refs": sni, "client_ca_tls_container_ref": null}));
        self.st.octavia.listeners.insert(listener);
        if let Some(Value::Array(list)) = self
            .st
            .octavia
            .loadbalancers
            .get_mut(lb)
            .and_then(|l| l.get_mut("listeners"))
        {
            list.push(json!({ "id": id }));
        }
        id
    }

    /// Creates an active Designate zone `name` (ending in `.`) with its SOA and NS.
    pub fn zone(&mut self, name: &str, description: &str) -> String {
        let base = crate::designate::v2(&self.st.base_url);
        let body =
            obj(json!({"name": name, "email": "ci@example.org", "description": description}));
        id_of(
            &self
                .st
                .designate
                .create_zone(&self.ctx, &base, &body, "ACTIVE"),
        )
    }

    /// Adds an active recordset to a zone: `name` relative to it (`www`), or `@` for
    /// the apex.
    pub fn recordset(&mut self, zone: &str, name: &str, kind: &str, records: &[&str]) -> String {
        let base = crate::designate::v2(&self.st.base_url);
        let Some(z) = self.st.designate.zones.get(zone).cloned() else {
            return String::new();
        };
        let fqdn = match name {
            "@" => str_of(&z, "name").to_string(),
            _ => format!("{name}.{}", str_of(&z, "name")),
        };
        let records = records.iter().map(|r| r.to_string()).collect();
        let rs = self
            .st
            .designate
            .add_recordset(&self.ctx, &base, &z, &fqdn, kind, records, "ACTIVE");
        id_of(&rs)
    }

    /// The IDs of the recordsets Designate made with a zone (its SOA and NS).
    pub fn managed_recordsets(&self, zone: &str) -> Vec<String> {
        self.st
            .designate
            .recordsets
            .values()
            .filter(|r| {
                str_of(r, "zone_id") == zone && crate::designate::DesignateState::is_managed(r)
            })
            .map(id_of)
            .collect()
    }

    /// Creates a Manila share network.
    pub fn share_network(&mut self, name: &str) -> String {
        let body = obj(json!({"name": name}));
        id_of(&self.st.manila.create_share_network(&self.ctx, &body))
    }

    /// Creates an available Manila share, on `network` if given, with `metadata`.
    pub fn share(&mut self, name: &str, network: Option<&str>, metadata: Value) -> String {
        let body = obj(json!({"name": name, "share_network_id": network, "metadata": metadata}));
        id_of(&self.st.manila.create_share(&self.ctx, &body))
    }

    /// Creates an available snapshot of a Manila share.
    pub fn share_snapshot(&mut self, share: &str, name: &str) -> String {
        id_of(&self.st.manila.create_snapshot(&self.ctx, share, name))
    }

    /// Adds a pool re-encrypting to its members to load balancer `lb`, checking them
    /// with the CA `ca` (a Barbican ID).
    pub fn tls_pool(&mut self, lb: &str, ca: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let pool = obj(json!({"id": id, "name": format!("{lb}-backend"),
            "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN", "tls_enabled": true,
            "loadbalancer_id": lb, "loadbalancers": [{"id": lb}],
            "project_id": self.ctx.project_id, "provisioning_status": "ACTIVE",
            "ca_tls_container_ref": self.barbican_ref(ca), "tls_container_ref": null}));
        self.st.octavia.pools.insert(pool);
        if let Some(Value::Array(list)) = self
            .st
            .octavia
            .loadbalancers
            .get_mut(lb)
            .and_then(|l| l.get_mut("pools"))
        {
            list.push(json!({ "id": id }));
        }
        id
    }

    /// Creates a server group.
    pub fn server_group(&mut self, name: &str) -> Result<String, ApiError> {
        let g = crate::nova::create_server_group(
            self.st,
            &self.ctx,
            &obj(json!({"name": name, "policy": "anti-affinity"})),
        )?;
        Ok(id_of(&g))
    }
}

/// How [`Seeder::server`] builds a server.
#[derive(Debug, Clone, Default)]
pub struct ServerSpec {
    /// Networks to create a port on (Nova-owned ports).
    pub networks: Vec<String>,
    /// Pre-created ports to bind.
    pub ports: Vec<String>,
    /// Security group names for Nova's ports.
    pub security_groups: Vec<String>,
    /// Boot from this volume.
    pub boot_volume: Option<String>,
    /// Whether Nova deletes the boot volume with the server.
    pub delete_on_termination: bool,
    /// Keypair name.
    pub key_name: Option<String>,
    /// Server group id.
    pub group: Option<String>,
}

/// A tagged job's resources and a set of survivors around them (Kubespray via Terraform).
fn kubespray(s: &mut Seeder, tag: &str, nodes: usize) -> Result<(), ApiError> {
    let t = [tag];
    let p = |n: &str| format!("{tag}-{n}");
    let meta = json!({ "ci-job": tag });
    // Survivors: shared infrastructure the job used, and an unrelated bastion.
    let infra = s.network("shared-infra", &[])?;
    let infra_sub = s.subnet(&infra, "shared-infra", "10.10.0.0/24", &[])?;
    let bastion_sg = s.security_group("bastion", &[]);
    s.rule(&bastion_sg, 22, None)?;
    let bastion_vol = s.volume("bastion-data", 10, json!({}))?;
    let ops_key = s.keypair("ops-key")?;
    let bastion = s.server(
        "bastion",
        &[],
        &ServerSpec {
            networks: vec![infra.clone()],
            security_groups: vec!["bastion".into()],
            key_name: Some(ops_key.clone()),
            ..ServerSpec::default()
        },
    )?;
    s.attach(&bastion, &bastion_vol);
    let spare_fip = s.floating_ip("ops spare address", &[], None)?;
    let default_sg = s.st.neutron.ensure_default_sg(&s.ctx.project_id);
    for (kind, id) in [
        ("network", &infra),
        ("subnet", &infra_sub),
        ("security-group", &bastion_sg),
        ("security-group", &default_sg),
        ("volume", &bastion_vol),
        ("keypair", &ops_key),
        ("server", &bastion),
        ("floating-ip", &spare_fip),
    ] {
        s.age(kind, id, 24 * 30);
        s.record(kind, id, false);
    }
    let bastion_port =
        s.st.neutron
            .ports
            .values()
            .find(|x| str_of(x, "device_id") == bastion)
            .map(id_of);
    if let Some(port) = bastion_port {
        s.record("port", &port, false);
    }

    // The leaked job.
    let mut sel: Vec<(&str, String)> = Vec::new();
    let net = s.network(&p("net"), &t)?;
    let sub = s.subnet(&net, &p("subnet"), "10.20.0.0/24", &t)?;
    let router = s.router(&p("router"), &t, true)?;
    s.router_interface(&router, &sub)?;
    let master_sg = s.security_group(&p("k8s-master"), &t);
    let node_sg = s.security_group(&p("k8s-node"), &t);
    s.rule(&master_sg, 6443, Some(&node_sg))?;
    s.rule(&node_sg, 10250, Some(&master_sg))?;
    s.rule(&master_sg, 22, None)?;
    let key = s.keypair(&p("key"))?;
    let group = s.server_group(&p("group"))?;
    sel.extend([
        ("network", net.clone()),
        ("subnet", sub),
        ("router", router),
        ("security-group", master_sg),
        ("security-group", node_sg.clone()),
        ("keypair", key.clone()),
        ("server-group", group.clone()),
    ]);
    let master_root = s.volume(&p("master-root"), 20, meta.clone())?;
    let master = s.server(
        &p("master-1"),
        &t,
        &ServerSpec {
            networks: vec![net.clone()],
            security_groups: vec![p("k8s-master")],
            boot_volume: Some(master_root.clone()),
            key_name: Some(key.clone()),
            group: Some(group.clone()),
            ..ServerSpec::default()
        },
    )?;
    let master_port =
        s.st.neutron
            .ports
            .values()
            .find(|x| str_of(x, "device_id") == master)
            .map(id_of);
    let fip = s.floating_ip(&p("master-fip"), &t, master_port.as_deref())?;
    sel.extend([
        ("volume", master_root),
        ("server", master),
        ("floating-ip", fip),
    ]);
    for i in 1..=nodes {
        let pre = s.port(&net, &p(&format!("node-{i}-port")), &t, &[node_sg.as_str()])?;
        let node = s.server(
            &p(&format!("node-{i}")),
            &t,
            &ServerSpec {
                ports: vec![pre.clone()],
                key_name: Some(key.clone()),
                group: Some(group.clone()),
                ..ServerSpec::default()
            },
        )?;
        let data = s.volume(&p(&format!("node-{i}-data")), 5, meta.clone())?;
        s.attach(&node, &data);
        sel.extend([("port", pre), ("server", node), ("volume", data)]);
    }
    let backup = s.volume(&p("etcd-backup"), 2, meta.clone())?;
    let snap = s.snapshot(&backup, &p("etcd-snap"), meta)?;
    sel.extend([("volume", backup), ("snapshot", snap)]);
    for (kind, id) in &sel {
        s.age(kind, id, 7);
        s.record(kind, id, true);
    }
    Ok(())
}

/// A Cluster API (CAPO) cluster: network, router, security groups, the API server load
/// balancer, control plane and workers (the first worker's port trunked, with a
/// sub-port), cloud-provider-openstack service load balancers, cinder-csi volumes (one
/// with a backup chain: full, then two incrementals) and a bastion floating IP
/// forwarding SSH to the control plane. A management network with an unrelated load
/// balancer, a trunked VM port with its own SSH forwarding, and a backed-up volume
/// survive.
/// One OpenShift cluster with infraID `id`: what its installer, image registry and
/// CSI drivers make, recorded as `ours` (selected) or not.
fn openshift_cluster(
    s: &mut Seeder,
    id: &str,
    workers: usize,
    ours: bool,
    net: u8,
) -> Result<(), ApiError> {
    let cluster_tag = format!("openshiftClusterID={id}");
    let t = [cluster_tag.as_str()];
    let p = |n: &str| format!("{id}-{n}");
    let mut made: Vec<(&str, String)> = Vec::new();
    let network = s.network(&p("openshift"), &t)?;
    let subnet = s.subnet(&network, &p("nodes"), &format!("10.{net}.0.0/24"), &t)?;
    let sg = s.security_group(&p("worker"), &t);
    made.extend([
        ("network", network.clone()),
        ("subnet", subnet.clone()),
        ("security-group", sg),
    ]);
    for n in 0..workers {
        let port = s.port(&network, &p(&format!("worker-{n}")), &t, &[])?;
        let spec = ServerSpec {
            ports: vec![port.clone()],
            ..ServerSpec::default()
        };
        let server = s.server(&p(&format!("worker-{n}")), &[], &spec)?;
        s.st.set_field(
            "server",
            &server,
            "metadata",
            json!({ "openshiftClusterID": id }),
        );
        made.extend([("port", port), ("server", server)]);
    }
    let lb = s.load_balancer(&p("api"), &subnet, &t, 0)?;
    let vip =
        s.st.octavia
            .loadbalancers
            .get(&lb)
            .map(|l| str_of(l, "vip_port_id").to_string());
    let cert = s.secret(&p("api-cert"));
    let key = s.secret(&p("api-key"));
    let tls = s.secret_container(&p("api-tls"), &[&cert, &key]);
    s.tls_listener(&lb, &tls, &[]);
    let registry = s.container(&p("image-registry-0a1b2c3d"), 3);
    let zone = s.zone(&format!("{}.example.org.", p("apps")), "");
    let api = s.recordset(&zone, &p("api"), "A", &["192.0.2.50"]);
    let ingress = s.recordset(&zone, &p("ingress"), "A", &["192.0.2.51"]);
    let share_net = s.share_network(&p("share-network"));
    let csi =
        json!({ "manila.csi.openstack.org/cluster": id, "ci-job": if ours { id } else { "" } });
    let share = s.share(&p("pvc-registry"), Some(&share_net), csi.clone());
    let snap = s.share_snapshot(&share, &p("snapshot-registry"));
    let volume_meta = json!({ "cinder.csi.openstack.org/cluster": id });
    let volume = s.volume(&p("pvc-etcd-backup"), 1, volume_meta)?;
    made.extend([
        ("load-balancer", lb),
        ("secret", cert),
        ("secret", key),
        ("secret-container", tls),
        ("container", registry),
        ("zone", zone.clone()),
        ("recordset", api),
        ("recordset", ingress),
        ("share-network", share_net),
        ("share", share),
        ("share-snapshot", snap),
        ("volume", volume),
    ]);
    for (kind, rid) in &made {
        s.age(kind, rid, 7);
        s.record(kind, rid, ours);
    }
    // What the cloud makes and removes with them: the VIP port; Designate's own SOA and
    // NS, which stay with a kept zone.
    if let Some(vip) = vip.filter(|_| !ours) {
        s.record("port", &vip, false);
    }
    if !ours {
        for r in s.managed_recordsets(&zone) {
            s.record("recordset", &r, false);
        }
    }
    Ok(())
}

/// An aborted OpenShift install (infraID = `tag`) next to a live cluster's look-alikes.
fn openshift(s: &mut Seeder, tag: &str, workers: usize) -> Result<(), ApiError> {
    for service in ["key-manager", "dns", "sharev2"] {
        let services = &mut s.st.keystone.optional_services;
        if !services.iter().any(|x| x == service) {
            services.push(service.to_owned());
        }
    }
    openshift_cluster(s, "prod-4xq9z", 1, false, 81)?;
    openshift_cluster(s, tag, workers, true, 80)
}

fn capo(s: &mut Seeder, tag: &str, workers: usize) -> Result<(), ApiError> {
    let t = [tag];
    let p = |n: &str| format!("{tag}-{n}");
    let meta = json!({"ci-job": tag, "cinder.csi.openstack.org/cluster": tag});
    let mgmt = s.network("management", &[])?;
    let mgmt_sub = s.subnet(&mgmt, "management", "10.5.0.0/24", &[])?;
    let other_lb = s.load_balancer("kube_service_prod_default_web", &mgmt_sub, &[], 1)?;
    let logs = s.container("ci-logs-archive", 3);
    let golden = s.image("golden-ubuntu", &[], true);
    // The management VM's trunk and its SSH forwarding, and a backup of its data:
    // not the job's.
    let mgmt_port = s.port(&mgmt, "management-vm", &[], &[])?;
    let mgmt_sub_port = s.port(&mgmt, "management-vm-vlan7", &[], &[])?;
    let mgmt_trunk = s.trunk("management-vm", &[], &mgmt_port, &[mgmt_sub_port.as_str()])?;
    let mgmt_fip = s.floating_ip("management ssh", &[], None)?;
    let mgmt_ssh = s.port_forwarding(&mgmt_fip, &mgmt_port, 22)?;
    let mgmt_data = s.volume("management-data", 1, json!({}))?;
    let mgmt_backup = s.backup(&mgmt_data, "management-data-nightly", false, json!({}))?;
    for (kind, id) in [
        ("network", &mgmt),
        ("subnet", &mgmt_sub),
        ("load-balancer", &other_lb),
        ("container", &logs),
        ("image", &golden),
        ("port", &mgmt_port),
        ("port", &mgmt_sub_port),
        ("trunk", &mgmt_trunk),
        ("floating-ip", &mgmt_fip),
        ("port-forwarding", &mgmt_ssh),
        ("volume", &mgmt_data),
        ("volume-backup", &mgmt_backup),
    ] {
        s.age(kind, id, 24 * 90);
        s.record(kind, id, false);
    }
    let vip_port =
        s.st.octavia
            .loadbalancers
            .get(&other_lb)
            .map(|l| str_of(l, "vip_port_id").to_string());
    if let Some(port) = vip_port {
        s.record("port", &port, false);
    }

    let net = s.network(&p("cluster-net"), &t)?;
    let sub = s.subnet(&net, &p("cluster-subnet"), "10.6.0.0/24", &t)?;
    let router = s.router(&p("cluster-router"), &t, true)?;
    s.router_interface(&router, &sub)?;
    let cp_sg = s.security_group(&p("secgroup-controlplane"), &t);
    let worker_sg = s.security_group(&p("secgroup-worker"), &t);
    s.rule(&cp_sg, 6443, Some(&worker_sg))?;
    s.rule(&worker_sg, 10250, Some(&cp_sg))?;
    let api_lb = s.load_balancer(&p("kubeapi"), &sub, &t, 1)?;
    let svc_lb = s.load_balancer(&format!("kube_service_{tag}_default_nginx"), &sub, &t, 2)?;
    let image = s.image(&p("node-image"), &t, false);
    let mut chain = Vec::new();
    let mut sel = vec![
        ("network", net.clone()),
        ("subnet", sub),
        ("router", router),
        ("security-group", cp_sg.clone()),
        ("security-group", worker_sg.clone()),
        ("load-balancer", api_lb),
        ("load-balancer", svc_lb),
        ("image", image),
    ];
    for i in 0..=workers {
        let (name, sg) = if i == 0 {
            (p("control-plane-0"), &cp_sg)
        } else {
            (p(&format!("md-0-{i}")), &worker_sg)
        };
        let port = s.port(&net, &format!("{name}-0"), &t, &[sg.as_str()])?;
        let server = s.server(
            &name,
            &t,
            &ServerSpec {
                ports: vec![port.clone()],
                ..ServerSpec::default()
            },
        )?;
        sel.extend([("port", port.clone()), ("server", server.clone())]);
        if i == 1 {
            // CAPO trunks a machine's port when asked: the trunk is named like the
            // port, the sub-port is the job's too.
            let sub = s.port(&net, &format!("{name}-0-vlan101"), &t, &[sg.as_str()])?;
            let trunk = s.trunk(&format!("{name}-0"), &t, &port, &[sub.as_str()])?;
            sel.extend([("port", sub), ("trunk", trunk)]);
        }
        if i > 0 {
            let pvc = s.volume(&format!("pvc-{}", uuid::Uuid::new_v4()), 1, meta.clone())?;
            s.attach(&server, &pvc);
            sel.push(("volume", pvc.clone()));
            if i == 1 {
                // cinder-csi backups of the volume: a full one and two incrementals.
                for incremental in [false, true, true] {
                    let name = format!("snapshot-{}", uuid::Uuid::new_v4());
                    chain.push(s.backup(&pvc, &name, incremental, meta.clone())?);
                }
            }
        }
    }
    // A bastion floating IP forwarding SSH to the control plane's port.
    let cp_port = sel
        .iter()
        .find(|(k, _)| *k == "port")
        .map(|(_, id)| id.clone())
        .unwrap_or_default();
    let bastion = s.floating_ip(&p("bastion-fip"), &t, None)?;
    let ssh = s.port_forwarding(&bastion, &cp_port, 2222)?;
    sel.extend([("floating-ip", bastion), ("port-forwarding", ssh)]);
    let bucket = s.container(&p("etcd-backups"), 2);
    sel.push(("container", bucket));
    let stack = s.stack(
        &p("bastion-stack"),
        &t,
        json!({"resources": {"net": {"type": "OS::Neutron::Net"}, "vol": {"type": "OS::Cinder::Volume", "properties": {"size": 1}}}}),
    )?;
    sel.push(("stack", stack));
    for (kind, id) in &sel {
        s.age(kind, id, 7);
        s.record(kind, id, true);
    }
    // About 7 hours old, a minute apart, oldest first, as a real chain is.
    for (n, b) in chain.iter().enumerate() {
        let at = Timestamp::now() - SignedDuration::from_mins(7 * 60 + 3 - n as i64);
        s.st.set_created_at("volume-backup", b, at);
        s.record("volume-backup", b, true);
    }
    Ok(())
}

/// About `n` resources in chains of 13 (network, subnet, router with gateway and
/// interface, group, ports, a floating IP on the first port, volume + snapshot),
/// alternating selected and survivor chains. The floating IP makes each chain's plan 5
/// steps deep: disassociate it, remove the router interface, wait for the interface
/// port, delete the subnet, delete the network.
fn scale(s: &mut Seeder, tag: &str, n: usize) -> Result<(), ApiError> {
    let chains = n.div_ceil(13).max(1);
    for c in 0..chains {
        let selected = c % 2 == 0;
        let tags: Vec<&str> = if selected { vec![tag] } else { Vec::new() };
        let name = |x: &str| {
            if selected {
                format!("{tag}-{x}-{c}")
            } else {
                format!("keep-{x}-{c}")
            }
        };
        let meta = if selected {
            json!({ "ci-job": tag })
        } else {
            json!({})
        };
        let net = s.network(&name("net"), &tags)?;
        let cidr = format!("10.{}.{}.0/24", (c / 256) % 256, c % 256);
        let sub = s.subnet(&net, &name("subnet"), &cidr, &tags)?;
        let router = s.router(&name("router"), &tags, true)?;
        s.router_interface(&router, &sub)?;
        let sg = s.security_group(&name("sg"), &tags);
        let mut made = vec![
            ("network", net.clone()),
            ("subnet", sub),
            ("router", router),
            ("security-group", sg.clone()),
        ];
        for i in 0..6 {
            made.push((
                "port",
                s.port(&net, &name(&format!("port-{i}")), &tags, &[sg.as_str()])?,
            ));
        }
        let fip = s.floating_ip(&name("fip"), &tags, Some(made[4].1.as_str()))?;
        made.push(("floating-ip", fip));
        let vol = s.volume(&name("vol"), 1, meta.clone())?;
        let snap = s.snapshot(&vol, &name("snap"), meta)?;
        made.extend([("volume", vol), ("snapshot", snap)]);
        for (kind, id) in &made {
            s.record(kind, id, selected);
        }
    }
    Ok(())
}

/// A scenario declared in JSON: resources with local references to each other.
///
/// ```json
/// {"name": "mine", "tag": "job-1", "resources": [
///   {"kind": "network", "ref": "n", "name": "job-1-net", "tags": ["job-1"], "selected": true, "age_hours": 8},
///   {"kind": "subnet", "ref": "s", "network": "n", "cidr": "10.0.0.0/24", "selected": true},
///   {"kind": "port", "network": "n", "selected": false}]}
/// ```
/// Kinds: network, subnet (`network`, `cidr`), port (`network`, `security_groups`),
/// router (`gateway`, `interfaces`: subnet refs), security-group (`rules_from`: group
/// refs), floating-ip (`port`), server (`networks`, `ports`, `security_groups` names,
/// `volume`), volume (`size`, `metadata`), snapshot (`volume`), keypair, server-group.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileScenario {
    /// Name for messages.
    pub name: String,
    /// The tag that selects.
    pub tag: String,
    /// The resources, in creation order.
    pub resources: Vec<FileResource>,
}

/// One resource of a [`FileScenario`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileResource {
    /// Kind (CLI word).
    pub kind: String,
    /// Local name other entries refer to.
    #[serde(rename = "ref", default)]
    pub reference: Option<String>,
    /// Resource name.
    #[serde(default)]
    pub name: String,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Whether a sweep must delete it.
    #[serde(default)]
    pub selected: bool,
    /// Backdate creation by this many hours.
    #[serde(default)]
    pub age_hours: Option<i64>,
    /// Network ref (subnet, port).
    #[serde(default)]
    pub network: Option<String>,
    /// Networks refs (server).
    #[serde(default)]
    pub networks: Vec<String>,
    /// Port refs (server) or one port ref (floating-ip).
    #[serde(default)]
    pub ports: Vec<String>,
    /// Port ref (floating-ip).
    #[serde(default)]
    pub port: Option<String>,
    /// Subnet CIDR.
    #[serde(default)]
    pub cidr: Option<String>,
    /// Security group refs (port) or names (server).
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Remote group refs whose members may reach this group.
    #[serde(default)]
    pub rules_from: Vec<String>,
    /// Router: gateway on `public`.
    #[serde(default)]
    pub gateway: bool,
    /// Router: subnet refs to add interfaces on.
    #[serde(default)]
    pub interfaces: Vec<String>,
    /// Volume ref (snapshot: of it; server: boot from it).
    #[serde(default)]
    pub volume: Option<String>,
    /// Volume size in GiB.
    #[serde(default)]
    pub size: Option<u64>,
    /// Volume/snapshot metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
}

impl FileScenario {
    /// Reads and parses a scenario file.
    pub fn load(path: &Path) -> Result<FileScenario, ScenarioError> {
        let err = |reason: String| ScenarioError::File {
            path: path.display().to_string(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
        serde_json::from_str(&text).map_err(|e| err(e.to_string()))
    }
}

fn from_file(s: &mut Seeder, f: &FileScenario) -> Result<(), ApiError> {
    let mut refs: HashMap<String, String> = HashMap::new();
    let missing = |r: &str| {
        ApiError::nova(
            axum::http::StatusCode::BAD_REQUEST,
            format!("unknown ref {r:?}"),
        )
    };
    for r in &f.resources {
        let look = |x: &str| refs.get(x).cloned().ok_or_else(|| missing(x));
        let tags: Vec<&str> = r.tags.iter().map(String::as_str).collect();
        let id = match r.kind.as_str() {
            "network" => s.network(&r.name, &tags)?,
            "subnet" => {
                let net = look(r.network.as_deref().unwrap_or(""))?;
                s.subnet(
                    &net,
                    &r.name,
                    r.cidr.as_deref().unwrap_or("10.0.0.0/24"),
                    &tags,
                )?
            }
            "port" => {
                let net = look(r.network.as_deref().unwrap_or(""))?;
                let sgs = r
                    .security_groups
                    .iter()
                    .map(|g| look(g))
                    .collect::<Result<Vec<_>, _>>()?;
                let sgs: Vec<&str> = sgs.iter().map(String::as_str).collect();
                s.port(&net, &r.name, &tags, &sgs)?
            }
            "router" => {
                let router = s.router(&r.name, &tags, r.gateway)?;
                for sub in &r.interfaces {
                    let sub = look(sub)?;
                    s.router_interface(&router, &sub)?;
                }
                router
            }
            "security-group" => {
                let sg = s.security_group(&r.name, &tags);
                for from in &r.rules_from {
                    let from = look(from)?;
                    s.rule(&sg, 22, Some(&from))?;
                }
                sg
            }
            "floating-ip" => {
                let port = r.port.as_deref().map(&look).transpose()?;
                s.floating_ip(&r.name, &tags, port.as_deref())?
            }
            "server" => {
                let spec = ServerSpec {
                    networks: r
                        .networks
                        .iter()
                        .map(|n| look(n))
                        .collect::<Result<_, _>>()?,
                    ports: r.ports.iter().map(|p| look(p)).collect::<Result<_, _>>()?,
                    security_groups: r.security_groups.clone(),
                    boot_volume: r.volume.as_deref().map(&look).transpose()?,
                    ..ServerSpec::default()
                };
                s.server(&r.name, &tags, &spec)?
            }
            "volume" => s.volume(
                &r.name,
                r.size.unwrap_or(1),
                r.metadata.clone().unwrap_or(json!({})),
            )?,
            "snapshot" => {
                let vol = look(r.volume.as_deref().unwrap_or(""))?;
                s.snapshot(&vol, &r.name, r.metadata.clone().unwrap_or(json!({})))?
            }
            "keypair" => s.keypair(&r.name)?,
            "server-group" => s.server_group(&r.name)?,
            other => return Err(missing(other)),
        };
        if let Some(h) = r.age_hours {
            s.age(&r.kind, &id, h);
        }
        s.record(&r.kind, &id, r.selected);
        if let Some(reference) = &r.reference {
            refs.insert(reference.clone(), id);
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// `NAME[:SIZE]` parses; unknown names and bad sizes are errors.
    #[test]
    fn parses_names_and_sizes() {
        assert_eq!(
            Scenario::parse("scale:500").unwrap(),
            Scenario::Scale { resources: 500 }
        );
        assert_eq!(
            Scenario::parse("kubespray-aborted").unwrap(),
            Scenario::KubesprayAborted { nodes: 2 }
        );
        assert!(matches!(
            Scenario::parse("nope"),
            Err(ScenarioError::Unknown(_))
        ));
        assert!(matches!(
            Scenario::parse("scale:x"),
            Err(ScenarioError::BadSize(_))
        ));
    }
}
