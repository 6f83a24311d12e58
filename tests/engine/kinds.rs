//! The kinds of issue #15 swept against the simulator over loopback: trunks, floating IP
//! port forwardings and volume backups; Barbican secrets and containers, Designate zones
//! and recordsets, Manila shares, share snapshots and share networks (optional services,
//! put in the simulator's catalog per test). For each family: a project mixing them
//! swept clean in one run in the order the cloud needs, survivors of each kind
//! untouched, a second run with nothing to do; each case that must be skipped, with its
//! blocker named; and a cloud without the extension or service, where the kinds are
//! absent, not errors. Then all three services at once, and the `openshift` preset.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use jiff::{SignedDuration, Timestamp};
use serde_json::json;
use stacksweep::engine::plan::{Action, Plan};
use stacksweep::engine::preflight::{self, Status};
use stacksweep::engine::report::{Outcome, Report};
use stacksweep::engine::{self, select};
use stacksweep::resources::{Detach, Kind};
use stacksweep_sim::scenarios::{Seeder, ServerSpec};

use crate::support::{fast_sweep_options, selector, Bed};

const TAG: &str = "ci-k15";

/// Builds resources as the project's member, ages them 7 hours, and records them as the
/// job's (`selected`) or not.
fn seed<R>(bed: &mut Bed, build: impl FnOnce(&mut Seeder) -> R) -> R {
    let project = bed.sim.project_id();
    let (out, manifest) = bed.sim.with_state(|st| {
        let mut s = Seeder::new(st, &project);
        let out = build(&mut s);
        for (kind, id) in s
            .manifest
            .selected
            .clone()
            .iter()
            .chain(&s.manifest.survivors.clone())
        {
            if kind != "volume-backup" {
                s.age(kind, id, 7);
            }
        }
        (out, s.manifest)
    });
    bed.manifest = manifest;
    bed.manifest.tag = TAG.into();
    out
}

/// Records `(kind, id)` as the job's (`true`) or a survivor.
fn mark(s: &mut Seeder, selected: bool, items: &[(&str, &String)]) {
    for (kind, id) in items {
        s.record(kind, id, selected);
    }
}

/// A backup chain of `volume` (full, then incrementals), `marked` ones the job's, about
/// 7 hours old and a minute apart, oldest first.
fn chain(s: &mut Seeder, volume: &str, marked: &[bool]) -> Vec<String> {
    let mut ids = Vec::new();
    for (n, &m) in marked.iter().enumerate() {
        let (name, meta) = if m {
            (format!("{TAG}-backup-{n}"), json!({ "ci-job": TAG }))
        } else {
            (format!("keep-backup-{n}"), json!({}))
        };
        let b = s.backup(volume, &name, n > 0, meta).unwrap();
        let at = Timestamp::now() - SignedDuration::from_mins(7 * 60 + 10 - n as i64);
        s.st.set_created_at("volume-backup", &b, at);
        ids.push(b);
    }
    ids
}

fn step(plan: &Plan, kind: Kind, id: &str, action: &str) -> usize {
    let found = plan
        .steps
        .iter()
        .find(|s| s.kind == kind && s.id == id && s.action.as_str() == action);
    found
        .unwrap_or_else(|| panic!("no {action} {kind} {id}:\n{}", plan.render_text()))
        .number
}

fn outcome<'a>(report: &'a Report, id: &str) -> &'a stacksweep::engine::report::ResourceOutcome {
    report
        .resources
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("{id} not in the report:\n{}", report.render_text()))
}

/// The job's trunk (with a sub-port, on its server's port), a floating IP forwarding
/// SSH to its port, and a volume with a backup chain all go in one run: sub-ports
/// removed, then the trunk, then its ports; the forwarding before its floating IP and
/// port; incrementals newest first. A kept trunk, a kept floating IP's forwarding and a
/// kept backup stay; a second run has nothing to do.
#[tokio::test]
async fn new_kinds_swept_clean_then_nothing_to_do() {
    let mut bed = Bed::start().await;
    let ids = seed(&mut bed, |s| {
        let t = [TAG];
        let p = |n: &str| format!("{TAG}-{n}");
        let net = s.network(&p("net"), &t).unwrap();
        let sub = s.subnet(&net, &p("subnet"), "10.61.0.0/24", &t).unwrap();
        let parent = s.port(&net, &p("vm-0"), &t, &[]).unwrap();
        let vlan = s.port(&net, &p("vm-0-vlan101"), &t, &[]).unwrap();
        let server = s
            .server(
                &p("vm"),
                &t,
                &ServerSpec {
                    ports: vec![parent.clone()],
                    ..ServerSpec::default()
                },
            )
            .unwrap();
        let trunk = s.trunk(&p("vm-0"), &t, &parent, &[vlan.as_str()]).unwrap();
        let app = s.port(&net, &p("app"), &t, &[]).unwrap();
        let fip = s.floating_ip(&p("ssh"), &t, None).unwrap();
        let ssh = s.port_forwarding(&fip, &app, 2222).unwrap();
        let vol = s.volume(&p("data"), 1, json!({ "ci-job": TAG })).unwrap();
        let backups = chain(s, &vol, &[true, true, true]);
        mark(
            s,
            true,
            &[
                ("network", &net),
                ("subnet", &sub),
                ("port", &parent),
                ("port", &vlan),
                ("server", &server),
                ("trunk", &trunk),
                ("port", &app),
                ("floating-ip", &fip),
                ("port-forwarding", &ssh),
                ("volume", &vol),
            ],
        );
        for b in &backups {
            s.record("volume-backup", b, true);
        }
        // Not the job's: an office VM's trunk and SSH forwarding, a nightly backup.
        let office = s.network("office", &[]).unwrap();
        let office_sub = s.subnet(&office, "office", "10.62.0.0/24", &[]).unwrap();
        let kept_parent = s.port(&office, "office-vm", &[], &[]).unwrap();
        let kept_vlan = s.port(&office, "office-vm-vlan7", &[], &[]).unwrap();
        let kept_trunk = s
            .trunk("office-vm", &[], &kept_parent, &[kept_vlan.as_str()])
            .unwrap();
        let kept_fip = s.floating_ip("office ssh", &[], None).unwrap();
        let kept_ssh = s.port_forwarding(&kept_fip, &kept_parent, 22).unwrap();
        let kept_vol = s.volume("office-data", 1, json!({})).unwrap();
        let kept_backups = chain(s, &kept_vol, &[false]);
        mark(
            s,
            false,
            &[
                ("network", &office),
                ("subnet", &office_sub),
                ("port", &kept_parent),
                ("port", &kept_vlan),
                ("trunk", &kept_trunk),
                ("floating-ip", &kept_fip),
                ("port-forwarding", &kept_ssh),
                ("volume", &kept_vol),
                ("volume-backup", &kept_backups[0]),
            ],
        );
        (trunk, parent, vlan, fip, ssh, app, backups)
    });
    let (trunk, parent, vlan, fip, ssh, app, backups) = ids;

    let job = selector(&bed.manifest);
    let inventory = engine::list(&bed.session, &job).await.unwrap();
    let selection = select::evaluate(&inventory, &job, Timestamp::now());
    let plan = stacksweep::engine::plan::build(&inventory, &selection);
    assert!(plan.skipped.is_empty(), "{}", plan.render_text());
    let remove = plan
        .steps
        .iter()
        .find(|s| {
            matches!(
                &s.action,
                Action::Detach {
                    detach: Detach::TrunkSubports { .. }
                }
            )
        })
        .unwrap()
        .number;
    let t = step(&plan, Kind::Trunk, &trunk, "delete");
    assert!(remove < t, "{}", plan.render_text());
    assert!(t < step(&plan, Kind::Port, &parent, "delete"));
    assert!(t < step(&plan, Kind::Port, &vlan, "delete"));
    let pf = step(&plan, Kind::PortForwarding, &ssh, "delete");
    assert!(pf < step(&plan, Kind::FloatingIp, &fip, "delete"));
    assert!(pf < step(&plan, Kind::Port, &app, "delete"));
    let b: Vec<usize> = backups
        .iter()
        .map(|b| step(&plan, Kind::VolumeBackup, b, "delete"))
        .collect();
    assert!(b[2] < b[1] && b[1] < b[0], "{}", plan.render_text());

    bed.assert_swept_clean_then_idle().await;
}

/// Each case the cloud (or safety) forbids is skipped with its blocker named, and the
/// cloud keeps it: a trunk whose parent port is bound to a server we keep; a floating IP
/// with a forwarding to a port we keep (that forwarding too; the one to the job's port
/// goes, with the port); a backup with an incremental on top that is not the job's.
#[tokio::test]
async fn new_kinds_skipped_with_blocker_named() {
    let mut bed = Bed::start().await;
    let (kept_server, trunk, fip, kept_port, kept_pf, job_pf, job_port, base, top) =
        seed(&mut bed, |s| {
            let t = [TAG];
            let p = |n: &str| format!("{TAG}-{n}");
            let shared = s.network("shared", &[]).unwrap();
            let shared_sub = s.subnet(&shared, "shared", "10.63.0.0/24", &[]).unwrap();
            let parent = s.port(&shared, &p("vm-0"), &t, &[]).unwrap();
            let kept_server = s
                .server(
                    "prod-vm",
                    &[],
                    &ServerSpec {
                        ports: vec![parent.clone()],
                        ..ServerSpec::default()
                    },
                )
                .unwrap();
            let trunk = s.trunk(&p("vm-0"), &t, &parent, &[]).unwrap();
            let kept_port = s.port(&shared, "prod-app", &[], &[]).unwrap();
            let job_port = s.port(&shared, &p("app"), &t, &[]).unwrap();
            let fip = s.floating_ip(&p("ssh"), &t, None).unwrap();
            let kept_pf = s.port_forwarding(&fip, &kept_port, 22).unwrap();
            let job_pf = s.port_forwarding(&fip, &job_port, 2222).unwrap();
            let vol = s.volume(&p("data"), 1, json!({ "ci-job": TAG })).unwrap();
            let backups = chain(s, &vol, &[true, false]);
            mark(
                s,
                true,
                &[
                    ("port-forwarding", &job_pf),
                    ("port", &job_port),
                    ("volume", &vol),
                ],
            );
            mark(
                s,
                false,
                &[
                    ("network", &shared),
                    ("subnet", &shared_sub),
                    ("port", &parent),
                    ("server", &kept_server),
                    ("trunk", &trunk),
                    ("port", &kept_port),
                    ("floating-ip", &fip),
                    ("port-forwarding", &kept_pf),
                    ("volume-backup", &backups[0]),
                    ("volume-backup", &backups[1]),
                ],
            );
            (
                kept_server,
                trunk,
                fip,
                kept_port,
                kept_pf,
                job_pf,
                job_port,
                backups[0].clone(),
                backups[1].clone(),
            )
        });

    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    let skipped = |id: &str| {
        let o = outcome(&report, id);
        assert_eq!(o.outcome, Outcome::Skipped, "{id}: {}", o.reason);
        o.reason.clone()
    };
    assert_eq!(
        skipped(&trunk),
        format!("skipped: in use by server {kept_server} (prod-vm) (unselected)")
    );
    assert!(skipped(&fip).contains(&format!("port {kept_port} (prod-app) (unselected)")));
    assert_eq!(
        skipped(&kept_pf),
        format!("skipped: attached to port {kept_port} (prod-app) (unselected)")
    );
    assert!(
        skipped(&base).contains(&format!("volume-backup {top}")),
        "{}",
        skipped(&base)
    );
    assert_eq!(outcome(&report, &job_pf).outcome, Outcome::Deleted);
    assert_eq!(outcome(&report, &job_port).outcome, Outcome::Deleted);
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
}

/// A Neutron without the trunk and port forwarding extensions: both kinds are absent
/// (preflight says so and passes; the sweep lists no such thing and is clean), never an
/// error.
#[tokio::test]
async fn missing_extensions_are_absent() {
    let mut bed = Bed::start().await;
    bed.sim.with_state(|st| {
        st.neutron.disabled_extensions = vec!["trunk".into(), "floating-ip-port-forwarding".into()];
    });
    let net = seed(&mut bed, |s| {
        let net = s.network(&format!("{TAG}-net"), &[TAG]).unwrap();
        s.record("network", &net, true);
        net
    });
    assert_absent(&bed, &[Kind::Trunk, Kind::PortForwarding]).await;
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(report.is_clean(), "{}", report.render_text());
    assert!(!bed.sim.exists("network", &net));
}

/// A sub-port attached to a selected trunk after the plan was made (a port of someone
/// else's): the trunk is skipped with that port named, and the port stays attached.
#[tokio::test]
async fn sub_port_added_since_the_plan_keeps_the_trunk() {
    use stacksweep::engine::inventory::Inventory;
    use stacksweep::engine::{Job, SweepHooks};
    use tokio_util::sync::CancellationToken;

    /// Attaches `port` to `trunk` once the inventory is taken.
    struct Attach<'a> {
        sim: &'a stacksweep_sim::SimHandle,
        trunk: String,
        port: String,
    }
    impl SweepHooks for Attach<'_> {
        fn listed(&mut self, inventory: Inventory) -> Inventory {
            let (trunk, port) = (self.trunk.clone(), self.port.clone());
            self.sim.with_state(|st| {
                let sub =
                    json!([{"port_id": port, "segmentation_type": "vlan", "segmentation_id": 9}]);
                st.set_field("trunk", &trunk, "sub_ports", sub);
                st.set_field("port", &port, "device_owner", json!("trunk:subport"));
                st.set_field("port", &port, "device_id", json!(trunk));
            });
            inventory
        }
    }

    let mut bed = Bed::start().await;
    let (trunk, late) = seed(&mut bed, |s| {
        let net = s.network("shared", &[]).unwrap();
        s.subnet(&net, "shared", "10.64.0.0/24", &[]).unwrap();
        let parent = s.port(&net, &format!("{TAG}-vm-0"), &[TAG], &[]).unwrap();
        let trunk = s
            .trunk(&format!("{TAG}-vm-0"), &[TAG], &parent, &[])
            .unwrap();
        let late = s.port(&net, "someone-elses-vlan", &[], &[]).unwrap();
        mark(s, true, &[("trunk", &trunk)]);
        mark(
            s,
            false,
            &[("network", &net), ("port", &parent), ("port", &late)],
        );
        (trunk, late)
    });
    let job = Job::new(
        bed.session.clone(),
        selector(&bed.manifest),
        fast_sweep_options(),
    );
    let mut hooks = Attach {
        sim: &bed.sim,
        trunk: trunk.clone(),
        port: late.clone(),
    };
    let report = engine::run_with(&job, CancellationToken::new(), Timestamp::now(), &mut hooks)
        .await
        .unwrap()
        .report;
    let o = outcome(&report, &trunk);
    assert_eq!(o.outcome, Outcome::Skipped, "{}", report.render_text());
    assert!(o.reason.contains(&late), "{}", o.reason);
    assert!(bed.sim.exists("trunk", &trunk));
    let still = bed
        .sim
        .with_state(|st| st.neutron.ports.get(&late).cloned())
        .unwrap();
    assert_eq!(still["device_owner"], "trunk:subport");
    bed.assert_survivors();
}

/// A bed with Barbican in the catalog.
async fn barbican_bed() -> Bed {
    Bed::builder().services(&["key-manager"]).start().await
}

/// A load balancer on a subnet of a network of its own, for TLS listeners.
fn lb_on_own_network(s: &mut Seeder, name: &str, tags: &[&str], cidr: &str) -> [String; 3] {
    let net = s.network(name, tags).unwrap();
    let sub = s.subnet(&net, name, cidr, tags).unwrap();
    let lb = s.load_balancer(name, &sub, tags, 0).unwrap();
    [net, sub, lb]
}

/// The job's TLS certificate (a container of its certificate and key) and an SNI secret
/// used by its load balancer's listener, and a container of its own, go in one run: the
/// load balancer first, then the containers, then their secrets (Barbican would delete
/// them in any order: the order is the janitor's). An office load balancer's
/// certificate stays; a second run has nothing to do. More secrets than a Barbican page
/// are listed through its `next` links.
#[tokio::test]
async fn barbican_swept_clean_then_nothing_to_do() {
    let mut bed = barbican_bed().await;
    let (lb, cert, key, tls, sni, spare) = seed(&mut bed, |s| {
        let t = [TAG];
        let p = |n: &str| format!("{TAG}-{n}");
        let [net, sub, lb] = lb_on_own_network(s, &p("web"), &t, "10.65.0.0/24");
        let cert = s.secret(&p("cert"));
        let key = s.secret(&p("key"));
        let tls = s.secret_container(&p("tls"), &[&cert, &key]);
        let sni = s.secret(&p("sni"));
        s.tls_listener(&lb, &tls, &[&sni]);
        let spare = s.secret(&p("spare"));
        let extra = s.secret_container(&p("extra"), &[&spare]);
        mark(
            s,
            true,
            &[
                ("network", &net),
                ("subnet", &sub),
                ("load-balancer", &lb),
                ("secret", &cert),
                ("secret", &key),
                ("secret-container", &tls),
                ("secret", &sni),
                ("secret", &spare),
                ("secret-container", &extra),
            ],
        );
        // Enough secrets for Barbican's largest page (100) to be followed by another.
        for n in 0..110 {
            let bulk = s.secret(&p(&format!("bulk-{n}")));
            s.record("secret", &bulk, true);
        }
        let [onet, osub, olb] = lb_on_own_network(s, "office-web", &[], "10.66.0.0/24");
        let ocert = s.secret("office-cert");
        let okey = s.secret("office-key");
        let otls = s.secret_container("office-tls", &[&ocert, &okey]);
        s.tls_listener(&olb, &otls, &[]);
        mark(
            s,
            false,
            &[
                ("network", &onet),
                ("subnet", &osub),
                ("load-balancer", &olb),
                ("secret", &ocert),
                ("secret", &okey),
                ("secret-container", &otls),
            ],
        );
        (lb, cert, key, tls, sni, spare)
    });

    let job = selector(&bed.manifest);
    let inventory = engine::list(&bed.session, &job).await.unwrap();
    assert_eq!(inventory.count(Kind::Secret), 116);
    let selection = select::evaluate(&inventory, &job, Timestamp::now());
    let plan = stacksweep::engine::plan::build(&inventory, &selection);
    assert!(plan.skipped.is_empty(), "{}", plan.render_text());
    let l = step(&plan, Kind::LoadBalancer, &lb, "delete");
    let c = step(&plan, Kind::SecretContainer, &tls, "delete");
    assert!(l < c, "{}", plan.render_text());
    assert!(l < step(&plan, Kind::Secret, &sni, "delete"));
    assert!(c < step(&plan, Kind::Secret, &cert, "delete"));
    assert!(c < step(&plan, Kind::Secret, &key, "delete"));
    assert!(step(&plan, Kind::Secret, &spare, "delete") > 0);

    bed.assert_swept_clean_then_idle().await;
}

/// Barbican refuses none of these deletes, so the janitor keeps them itself, the holder
/// named: the job's secret in a kept container; the job's container and SNI secret a
/// kept load balancer's listener uses (and the container's secret, waiting on it), the
/// CA its pool checks its members with. The
/// job's own container still goes, then its secret.
#[tokio::test]
async fn barbican_skipped_with_blocker_named() {
    let mut bed = barbican_bed().await;
    let (in_kept, kept_container, used, used_secret, sni, olb, own, own_secret, ca) =
        seed(&mut bed, |s| {
            let p = |n: &str| format!("{TAG}-{n}");
            let in_kept = s.secret(&p("ca"));
            let other = s.secret("prod-key");
            let kept_container = s.secret_container("prod-tls", &[&in_kept, &other]);
            let used_secret = s.secret(&p("lb-key"));
            let used = s.secret_container(&p("lb-tls"), &[&used_secret]);
            let sni = s.secret(&p("sni"));
            let [onet, osub, olb] = lb_on_own_network(s, "prod-web", &[], "10.67.0.0/24");
            s.tls_listener(&olb, &used, &[&sni]);
            let ca = s.secret(&p("backend-ca"));
            s.tls_pool(&olb, &ca);
            let own_secret = s.secret(&p("own"));
            let own = s.secret_container(&p("own-tls"), &[&own_secret]);
            mark(
                s,
                true,
                &[("secret-container", &own), ("secret", &own_secret)],
            );
            mark(
                s,
                false,
                &[
                    ("secret", &in_kept),
                    ("secret", &other),
                    ("secret-container", &kept_container),
                    ("secret", &used_secret),
                    ("secret-container", &used),
                    ("secret", &sni),
                    ("secret", &ca),
                    ("network", &onet),
                    ("subnet", &osub),
                    ("load-balancer", &olb),
                ],
            );
            (
                in_kept,
                kept_container,
                used,
                used_secret,
                sni,
                olb,
                own,
                own_secret,
                ca,
            )
        });

    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    let skipped = |id: &str| {
        let o = outcome(&report, id);
        assert_eq!(o.outcome, Outcome::Skipped, "{id}: {}", o.reason);
        o.reason.clone()
    };
    assert_eq!(
        skipped(&in_kept),
        format!("skipped: in use by secret-container {kept_container} (prod-tls) (unselected)")
    );
    assert_eq!(
        skipped(&used),
        format!("skipped: in use by load-balancer {olb} (prod-web) (unselected)")
    );
    assert_eq!(
        skipped(&sni),
        format!("skipped: in use by load-balancer {olb} (prod-web) (unselected)")
    );
    assert_eq!(
        skipped(&ca),
        format!("skipped: in use by load-balancer {olb} (prod-web) (unselected)")
    );
    let waits = skipped(&used_secret);
    assert!(
        waits.contains(&used) && waits.contains(&format!("load-balancer {olb}")),
        "{waits}"
    );
    assert_eq!(outcome(&report, &own).outcome, Outcome::Deleted);
    assert_eq!(outcome(&report, &own_secret).outcome, Outcome::Deleted);
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
}

/// A cloud without Barbican (the default): secrets and containers are absent, never an
/// error, and the load balancers' listeners are not even listed.
#[tokio::test]
async fn missing_barbican_is_absent() {
    let mut bed = Bed::start().await;
    let lb = seed(&mut bed, |s| {
        let [net, sub, lb] = lb_on_own_network(s, &format!("{TAG}-web"), &[TAG], "10.68.0.0/24");
        mark(
            s,
            true,
            &[("network", &net), ("subnet", &sub), ("load-balancer", &lb)],
        );
        lb
    });
    assert_absent(&bed, &[Kind::Secret, Kind::SecretContainer]).await;
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    assert!(report.is_clean(), "{}", report.render_text());
    assert!(!bed.sim.exists("load-balancer", &lb));
    assert_eq!(
        bed.sim
            .request_count("GET", "/load-balancer/v2/lbaas/listeners"),
        0
    );
}

/// A bed with Designate in the catalog.
async fn designate_bed() -> Bed {
    Bed::builder().services(&["dns"]).start().await
}

/// The job's zone (its records the job's too) goes, and its records with it (their
/// steps come after its delete), as do the SOA and NS Designate made for it (never
/// deleted by us: gone with the zone); the job's record
/// in an office zone goes alone; the office zone and its records stay; a second run has
/// nothing to do.
#[tokio::test]
async fn designate_swept_clean_then_nothing_to_do() {
    let mut bed = designate_bed().await;
    let (zone, api, alone, managed) = seed(&mut bed, |s| {
        let zone = s.zone(&format!("{TAG}-app.example.org."), "CI job zone");
        let api = s.recordset(&zone, &format!("{TAG}-api"), "A", &["10.69.0.5"]);
        let web = s.recordset(&zone, &format!("{TAG}-web"), "CNAME", &["api.example.org."]);
        let office = s.zone("office.example.org.", "");
        let www = s.recordset(&office, "www", "A", &["192.0.2.10"]);
        let alone = s.recordset(&office, &format!("{TAG}-db"), "A", &["10.69.0.6"]);
        mark(
            s,
            true,
            &[
                ("zone", &zone),
                ("recordset", &api),
                ("recordset", &web),
                ("recordset", &alone),
            ],
        );
        mark(s, false, &[("zone", &office), ("recordset", &www)]);
        for r in s.managed_recordsets(&office) {
            s.record("recordset", &r, false);
        }
        let managed = s.managed_recordsets(&zone);
        (zone, api, alone, managed)
    });

    let job = selector(&bed.manifest);
    let inventory = engine::list(&bed.session, &job).await.unwrap();
    let selection = select::evaluate(&inventory, &job, Timestamp::now());
    for r in &managed {
        let verdict = selection
            .verdict(&stacksweep::resources::ResourceKey::new(
                Kind::Recordset,
                r.clone(),
            ))
            .unwrap();
        assert!(!verdict.selected, "{r}: {}", verdict.reason);
        assert!(
            verdict.reason.contains("managed by Designate"),
            "{}",
            verdict.reason
        );
    }
    let plan = stacksweep::engine::plan::build(&inventory, &selection);
    assert!(plan.skipped.is_empty(), "{}", plan.render_text());
    let z = step(&plan, Kind::Zone, &zone, "delete");
    // The zone's delete takes its recordsets: theirs come after it, not racing it.
    assert!(step(&plan, Kind::Recordset, &api, "delete") > z);
    assert!(step(&plan, Kind::Recordset, &alone, "delete") > 0);
    for r in &managed {
        assert!(step(&plan, Kind::Recordset, r, "await-gone") > z);
    }

    bed.assert_swept_clean_then_idle().await;
    for r in &managed {
        assert!(!bed.sim.exists("recordset", r));
    }
}

/// A selected zone holding a record that is not the job's stays, that record named
/// (records go before their zone, and deleting the zone would delete it); the job's record in it goes alone; Designate's
/// SOA and NS are never candidates, whatever their name.
#[tokio::test]
async fn designate_skipped_with_blocker_named() {
    let mut bed = designate_bed().await;
    let (zone, www, job_record, managed) = seed(&mut bed, |s| {
        let zone = s.zone(&format!("{TAG}-shared.example.org."), "");
        let www = s.recordset(&zone, "www", "A", &["192.0.2.20"]);
        let job_record = s.recordset(&zone, &format!("{TAG}-x"), "A", &["10.70.0.5"]);
        mark(s, true, &[("recordset", &job_record)]);
        mark(s, false, &[("zone", &zone), ("recordset", &www)]);
        let managed = s.managed_recordsets(&zone);
        for r in &managed {
            s.record("recordset", r, false);
        }
        (zone, www, job_record, managed)
    });
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    let o = outcome(&report, &zone);
    assert_eq!(o.outcome, Outcome::Skipped, "{}", report.render_text());
    assert_eq!(
        o.reason,
        format!("skipped: in use by recordset {www} (www.{TAG}-shared.example.org.) (unselected)")
    );
    assert_eq!(outcome(&report, &job_record).outcome, Outcome::Deleted);
    for r in &managed {
        assert!(bed.sim.exists("recordset", r));
    }
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
}

/// A record added to a selected zone after the plan was made (someone else's): read
/// again before its delete, the zone lists its records anew and stays, that record
/// named.
#[tokio::test]
async fn record_added_since_the_plan_keeps_the_zone() {
    use stacksweep::engine::inventory::Inventory;
    use stacksweep::engine::{Job, SweepHooks};
    use tokio_util::sync::CancellationToken;

    /// Adds a record `late` to `zone` once the inventory is taken.
    struct Add<'a> {
        sim: &'a stacksweep_sim::SimHandle,
        zone: String,
        late: Option<String>,
    }
    impl SweepHooks for Add<'_> {
        fn listed(&mut self, inventory: Inventory) -> Inventory {
            let project = self.sim.project_id();
            let zone = self.zone.clone();
            self.late = Some(self.sim.with_state(|st| {
                Seeder::new(st, &project).recordset(&zone, "late", "A", &["192.0.2.30"])
            }));
            inventory
        }
    }

    let mut bed = designate_bed().await;
    let zone = seed(&mut bed, |s| {
        let zone = s.zone(&format!("{TAG}-late.example.org."), "");
        mark(s, true, &[("zone", &zone)]);
        zone
    });
    let job = Job::new(
        bed.session.clone(),
        selector(&bed.manifest),
        fast_sweep_options(),
    );
    let mut hooks = Add {
        sim: &bed.sim,
        zone: zone.clone(),
        late: None,
    };
    let report = engine::run_with(&job, CancellationToken::new(), Timestamp::now(), &mut hooks)
        .await
        .unwrap()
        .report;
    let late = hooks.late.unwrap();
    let o = outcome(&report, &zone);
    assert_eq!(o.outcome, Outcome::Skipped, "{}", report.render_text());
    assert!(o.reason.contains(&late), "{}", o.reason);
    assert!(bed.sim.exists("zone", &zone));
    assert!(bed.sim.exists("recordset", &late));
}

/// A cloud without Designate (the default): zones and recordsets are absent, never an
/// error.
#[tokio::test]
async fn missing_designate_is_absent() {
    let bed = Bed::start().await;
    assert_absent(&bed, &[Kind::Zone, Kind::Recordset]).await;
}

/// A bed with Manila in the catalog.
async fn manila_bed() -> Bed {
    Bed::builder().services(&["sharev2"]).start().await
}

/// The job's share network, its share (marked by metadata) and the share's snapshot go
/// in one run: the snapshot, then the share, then the network. An office share on an
/// office network, with its snapshot, stays; a second run has nothing to do.
#[tokio::test]
async fn manila_swept_clean_then_nothing_to_do() {
    let mut bed = manila_bed().await;
    let (net, share, snap) = seed(&mut bed, |s| {
        let net = s.share_network(&format!("{TAG}-share-net"));
        let share = s.share("pvc-data", Some(&net), json!({ "ci-job": TAG }));
        let snap = s.share_snapshot(&share, &format!("{TAG}-snap"));
        mark(
            s,
            true,
            &[
                ("share-network", &net),
                ("share", &share),
                ("share-snapshot", &snap),
            ],
        );
        let onet = s.share_network("office-share-net");
        let oshare = s.share("office-home", Some(&onet), json!({}));
        let osnap = s.share_snapshot(&oshare, "office-nightly");
        mark(
            s,
            false,
            &[
                ("share-network", &onet),
                ("share", &oshare),
                ("share-snapshot", &osnap),
            ],
        );
        (net, share, snap)
    });
    let job = selector(&bed.manifest);
    let inventory = engine::list(&bed.session, &job).await.unwrap();
    let selection = select::evaluate(&inventory, &job, Timestamp::now());
    let plan = stacksweep::engine::plan::build(&inventory, &selection);
    assert!(plan.skipped.is_empty(), "{}", plan.render_text());
    let sh = step(&plan, Kind::Share, &share, "delete");
    assert!(step(&plan, Kind::ShareSnapshot, &snap, "delete") < sh);
    assert!(sh < step(&plan, Kind::ShareNetwork, &net, "delete"));
    bed.assert_swept_clean_then_idle().await;
    assert!(bed
        .sim
        .request_log()
        .iter()
        .any(|r| r.path.contains("/share/v2/") && r.path.ends_with("/shares/detail")));
}

/// Manila's refusals, and what the janitor keeps itself: a share with a snapshot we
/// keep (Manila: 403), a share network with a share we keep (Manila: 409), each skipped
/// with the blocker named; the job's snapshot of a share we keep goes alone.
#[tokio::test]
async fn manila_skipped_with_blocker_named() {
    let mut bed = manila_bed().await;
    let (share, kept_snap, net, kept_share, job_snap) = seed(&mut bed, |s| {
        let share = s.share(&format!("{TAG}-data"), None, json!({}));
        let kept_snap = s.share_snapshot(&share, "backup-keep");
        let net = s.share_network(&format!("{TAG}-share-net"));
        let kept_share = s.share("prod-home", Some(&net), json!({}));
        let job_snap = s.share_snapshot(&kept_share, &format!("{TAG}-snap"));
        mark(s, true, &[("share-snapshot", &job_snap)]);
        mark(
            s,
            false,
            &[
                ("share", &share),
                ("share-snapshot", &kept_snap),
                ("share-network", &net),
                ("share", &kept_share),
            ],
        );
        (share, kept_snap, net, kept_share, job_snap)
    });
    let report = bed
        .sweep(&selector(&bed.manifest), &fast_sweep_options())
        .await;
    let skipped = |id: &str| {
        let o = outcome(&report, id);
        assert_eq!(o.outcome, Outcome::Skipped, "{id}: {}", o.reason);
        o.reason.clone()
    };
    assert_eq!(
        skipped(&share),
        format!("skipped: in use by share-snapshot {kept_snap} (backup-keep) (unselected)")
    );
    assert_eq!(
        skipped(&net),
        format!("skipped: in use by share {kept_share} (prod-home) (unselected)")
    );
    assert_eq!(outcome(&report, &job_snap).outcome, Outcome::Deleted);
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
}

/// A cloud without Manila (the default): its kinds are absent, never an error.
#[tokio::test]
async fn missing_manila_is_absent() {
    let bed = Bed::start().await;
    assert_absent(
        &bed,
        &[Kind::Share, Kind::ShareSnapshot, Kind::ShareNetwork],
    )
    .await;
}

/// The `openshift=<infraID>` preset sweeps an aborted OpenShift install: what the
/// installer tagged (`openshiftClusterID=<infraID>` on Neutron, metadata on servers),
/// the image registry's Swift container `<infraID>-image-registry-…`, and what the
/// Cinder and Manila CSI drivers marked with the cluster ID; another cluster's
/// look-alikes in the same project stay; a second run has nothing to do.
#[tokio::test]
async fn openshift_preset_sweeps_one_cluster() {
    let mut bed = manila_bed().await;
    let build = |s: &mut Seeder, id: &str, ours: bool| {
        let tag = format!("openshiftClusterID={id}");
        let t = [tag.as_str()];
        let net = s.network(&format!("{id}-openshift"), &t).unwrap();
        let sub = s
            .subnet(
                &net,
                &format!("{id}-nodes"),
                if ours { "10.71.0.0/24" } else { "10.72.0.0/24" },
                &t,
            )
            .unwrap();
        let port = s
            .port(&net, &format!("{id}-master-port-0"), &t, &[])
            .unwrap();
        let server = s
            .server(
                &format!("{id}-master-0"),
                &[],
                &ServerSpec {
                    ports: vec![port.clone()],
                    ..ServerSpec::default()
                },
            )
            .unwrap();
        s.st.set_field(
            "server",
            &server,
            "metadata",
            json!({ "openshiftClusterID": id }),
        );
        let registry = s.container(&format!("{id}-image-registry-abcdef"), 2);
        let csi = json!({ "cinder.csi.openstack.org/cluster": id });
        let vol = s.volume("pvc-data", 1, csi).unwrap();
        let share = s.share(
            "pvc-shared",
            None,
            json!({ "manila.csi.openstack.org/cluster": id }),
        );
        for (kind, rid) in [
            ("network", &net),
            ("subnet", &sub),
            ("port", &port),
            ("server", &server),
            ("container", &registry),
            ("volume", &vol),
            ("share", &share),
        ] {
            s.record(kind, rid, ours);
        }
    };
    seed(&mut bed, |s| {
        build(s, "ocp-x7k2p", true);
        build(s, "ocp-other", false);
    });
    let marks = select::resolve_preset("openshift=ocp-x7k2p").unwrap();
    let filters = select::Filters {
        older_than: Some(std::time::Duration::from_secs(6 * 3600)),
        ..select::Filters::default()
    };
    let job = select::Selector::new(marks, filters).unwrap();
    let report = bed.sweep(&job, &fast_sweep_options()).await;
    assert!(
        report.is_clean(),
        "{}\n{}",
        report.render_text(),
        report.plan.render_text()
    );
    assert_eq!(report.totals().deleted, bed.manifest.selected.len());
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
    let again = bed.sweep(&job, &fast_sweep_options()).await;
    assert_eq!(again.totals().selected, 0, "{}", again.render_text());
}

/// One project mixing every kind of Barbican, Designate and Manila (the job's and
/// survivors of each) is swept clean in one run, survivors untouched, and a second run
/// has nothing to do.
#[tokio::test]
async fn all_new_services_swept_clean_then_nothing_to_do() {
    let mut bed = Bed::builder()
        .services(&["key-manager", "dns", "sharev2"])
        .start()
        .await;
    seed(&mut bed, |s| {
        let p = |n: &str| format!("{TAG}-{n}");
        let [net, sub, lb] = lb_on_own_network(s, &p("web"), &[TAG], "10.73.0.0/24");
        let cert = s.secret(&p("cert"));
        let tls = s.secret_container(&p("tls"), &[&cert]);
        s.tls_listener(&lb, &tls, &[]);
        let zone = s.zone(&format!("{TAG}-mix.example.org."), "");
        let rec = s.recordset(&zone, &p("web"), "A", &["10.73.0.10"]);
        let snet = s.share_network(&p("share-net"));
        let share = s.share(&p("data"), Some(&snet), json!({}));
        let snap = s.share_snapshot(&share, &p("snap"));
        mark(
            s,
            true,
            &[
                ("network", &net),
                ("subnet", &sub),
                ("load-balancer", &lb),
                ("secret", &cert),
                ("secret-container", &tls),
                ("zone", &zone),
                ("recordset", &rec),
                ("share-network", &snet),
                ("share", &share),
                ("share-snapshot", &snap),
            ],
        );
        let okey = s.secret("office-key");
        let otls = s.secret_container("office-tls", &[&okey]);
        let ozone = s.zone("office.example.org.", "");
        let owww = s.recordset(&ozone, "www", "A", &["192.0.2.5"]);
        let oshare = s.share("office-home", None, json!({}));
        mark(
            s,
            false,
            &[
                ("secret", &okey),
                ("secret-container", &otls),
                ("zone", &ozone),
                ("recordset", &owww),
                ("share", &oshare),
            ],
        );
    });
    bed.assert_swept_clean_then_idle().await;
}

/// The `openshift-aborted` scenario (every new kind, the optional services in the
/// catalog by the scenario itself): swept clean by the job's marks, and just as clean by
/// the `openshift=<infraID>` preset alone; the live cluster's look-alikes stay.
#[tokio::test]
async fn openshift_aborted_scenario_swept_clean() {
    let bed = Bed::builder().scenario("openshift-aborted").start().await;
    assert!(bed
        .manifest
        .selected
        .iter()
        .any(|(k, _)| k == "share-snapshot"));
    assert!(bed.manifest.selected.iter().any(|(k, _)| k == "recordset"));
    bed.assert_swept_clean_then_idle().await;

    let bed = Bed::builder().scenario("openshift-aborted:1").start().await;
    let preset = format!("openshift={}", bed.manifest.tag);
    let marks = select::resolve_preset(&preset).unwrap();
    let filters = select::Filters {
        older_than: Some(std::time::Duration::from_secs(6 * 3600)),
        ..select::Filters::default()
    };
    let job = select::Selector::new(marks, filters).unwrap();
    let report = bed.sweep(&job, &fast_sweep_options()).await;
    assert!(
        report.is_clean(),
        "{}\n{}",
        report.render_text(),
        report.plan.render_text()
    );
    assert_eq!(report.totals().deleted, bed.manifest.selected.len());
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
}

/// `kinds` are absent in preflight (which is still ok) and in the listing, never an
/// error.
async fn assert_absent(bed: &Bed, kinds: &[Kind]) {
    let p = preflight::run(&bed.session, false, |_| true).await;
    for kind in kinds {
        let check = p.kinds.iter().find(|k| k.kind == *kind).unwrap();
        assert_eq!(check.status, Status::Absent, "{}", p.render_text());
    }
    assert!(p.is_ok(), "{}", p.render_text());
    let inventory = engine::list(&bed.session, &selector(&bed.manifest))
        .await
        .unwrap();
    for kind in kinds {
        assert!(inventory.absent().contains(kind), "{kind:?}");
    }
    assert!(inventory.errors().is_empty(), "{:?}", inventory.errors());
}
