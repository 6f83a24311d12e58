//! Ownership, one case per test (issue #17): a selected resource X and an unselected one
//! Y that relate, built in the simulator and swept over loopback. The sweep must never
//! delete, detach or change Y; X is skipped with Y named when deleting it would touch Y,
//! and goes when it would not. Everything selected carries the `own` tag, the metadata
//! `ci-job=own` or a name starting `own-`; nothing else is ours.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use crate::support::{fast_sweep_options, mutations, Bed};
use regex::Regex;
use serde_json::{json, Value};
use stacksweep::engine::inventory::Inventory;
use stacksweep::engine::report::{Outcome, Report, ResourceOutcome};
use stacksweep::engine::select::{Filters, Marks, Selection, Selector};
use stacksweep::engine::{self, Job, SweepHooks, SweepOptions};
use stacksweep_sim::scenarios::{Seeder, ServerSpec};
use stacksweep_sim::store::str_of;
use stacksweep_sim::{SimHandle, SimState};
use tokio_util::sync::CancellationToken;

const TAG: &str = "own";

/// Ours: tag `own`, metadata `ci-job=own`, or a name starting `own-`; `keep` keeps.
fn ours() -> Selector {
    let marks = Marks {
        any_tags: vec![TAG.into()],
        metadata: vec![("ci-job".into(), TAG.into())],
        name_regex: Some(Regex::new("^own-").unwrap()),
        ..Marks::default()
    };
    let filters = Filters {
        keep_tags: vec!["keep".into()],
        ..Filters::default()
    };
    Selector::new(marks, filters).unwrap()
}

/// Runs `f` with a seeder acting as the project's member.
fn seed<T>(bed: &Bed, f: impl FnOnce(&mut Seeder) -> T) -> T {
    let project = bed.sim.project_id();
    bed.sim.with_state(|st| f(&mut Seeder::new(st, &project)))
}

/// One object of the simulator's store, changed in place.
fn edit(
    sim: &SimHandle,
    table: fn(&mut SimState) -> &mut stacksweep_sim::store::Table,
    id: &str,
    key: &str,
    value: Value,
) {
    sim.with_state(|st| {
        table(st).get_mut(id).unwrap().insert(key.into(), value);
    });
}

async fn sweep(bed: &Bed) -> Report {
    bed.sweep(&ours(), &fast_sweep_options()).await
}

fn outcome<'a>(report: &'a Report, id: &str) -> &'a ResourceOutcome {
    let found = report.resources.iter().find(|r| r.id == id);
    found.unwrap_or_else(|| panic!("{id} not in the report\n{}", report.render_text()))
}

/// `id` was skipped, is still there, and its reason names `blocker`.
fn kept_naming(bed: &Bed, report: &Report, kind: &str, id: &str, blocker: &str) {
    let o = outcome(report, id);
    assert_eq!(
        o.outcome,
        Outcome::Skipped,
        "{kind} {id}: {}\n{}",
        o.reason,
        report.render_text()
    );
    assert!(
        o.reason.contains(blocker),
        "{kind} {id}: {:?} names no {blocker}",
        o.reason
    );
    assert!(bed.sim.exists(kind, id), "{kind} {id} is gone");
}

/// `id` was deleted and is gone.
fn deleted(bed: &Bed, report: &Report, kind: &str, id: &str) {
    let o = outcome(report, id);
    assert_eq!(
        o.outcome,
        Outcome::Deleted,
        "{kind} {id}: {}\n{}",
        o.reason,
        report.render_text()
    );
    assert!(!bed.sim.exists(kind, id), "{kind} {id} is left");
}

/// `id` was not selected, with a reason containing `why`, and is still there.
fn never_selected(bed: &Bed, report: &Report, kind: &str, id: &str, why: &str) {
    let o = outcome(report, id);
    assert!(
        !o.selected && o.outcome == Outcome::Kept,
        "{kind} {id}: {o:?}"
    );
    assert!(o.reason.contains(why), "{kind} {id}: {:?}", o.reason);
    assert!(bed.sim.exists(kind, id), "{kind} {id} is gone");
}

/// Every DELETE, detach or update the simulator saw names one of `ids`.
fn only_touched(bed: &Bed, ids: &[&str]) {
    for m in mutations(&bed.sim) {
        assert!(
            ids.iter().any(|id| m.contains(id)),
            "{m} touches nothing selected"
        );
    }
}

/// A network with a subnet, neither ours.
fn their_network(s: &mut Seeder, name: &str, cidr: &str) -> (String, String) {
    let net = s.network(name, &[]).unwrap();
    let sub = s.subnet(&net, name, cidr, &[]).unwrap();
    (net, sub)
}

/// [`their_network`] routed to `public` by a router of theirs, so floating IPs can go
/// on its ports.
fn their_routed_network(s: &mut Seeder, name: &str, cidr: &str) -> String {
    let (net, sub) = their_network(s, name, cidr);
    let router = s.router(&format!("{name}-router"), &[], true).unwrap();
    s.router_interface(&router, &sub).unwrap();
    net
}

/// The first fixed IP of a port.
fn address(bed: &Bed, port: &str) -> String {
    bed.sim.with_state(|st| {
        let p = st.neutron.ports.get(port).unwrap();
        p["fixed_ips"][0]["ip_address"]
            .as_str()
            .unwrap()
            .to_string()
    })
}

/// A group named as remote group by a rule of a group we keep is kept, naming that
/// group. Neutron would delete it (204) and drop the kept group's rule: a change to
/// something unselected, so stacksweep keeps it (decision kept from before #17).
#[tokio::test]
async fn group_named_by_an_unselected_groups_rule_is_kept() {
    let bed = Bed::start().await;
    let (x, y) = seed(&bed, |s| {
        let x = s.security_group("own-web", &[]);
        let y = s.security_group("app", &[]);
        s.rule(&y, 80, Some(&x)).unwrap();
        (x, y)
    });
    let report = sweep(&bed).await;
    kept_naming(&bed, &report, "security-group", &x, &y);
    let rules = bed.sim.with_state(|st| {
        let rules = st.neutron.security_group_rules.values();
        rules.filter(|r| str_of(r, "remote_group_id") == x).count()
    });
    assert_eq!(rules, 1, "the kept group's rule was dropped");
    assert_eq!(mutations(&bed.sim), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// A volume attached to a server we keep is kept, naming the server.
#[tokio::test]
async fn volume_attached_to_an_unselected_server_is_kept() {
    let bed = Bed::start().await;
    let (x, y) = seed(&bed, |s| {
        let y = s.server("app", &[], &ServerSpec::default()).unwrap();
        let x = s.volume("data", 1, json!({ "ci-job": TAG })).unwrap();
        s.attach(&y, &x);
        (x, y)
    });
    let report = sweep(&bed).await;
    kept_naming(&bed, &report, "volume", &x, &y);
    assert!(bed.sim.exists("server", &y));
    assert_eq!(mutations(&bed.sim), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// A snapshot of a volume we keep goes; the volume stays (deleting a snapshot does not
/// touch its volume).
#[tokio::test]
async fn snapshot_of_an_unselected_volume_goes() {
    let bed = Bed::start().await;
    let (x, y) = seed(&bed, |s| {
        let y = s.volume("data", 1, json!({})).unwrap();
        let x = s.snapshot(&y, "own-snap", json!({})).unwrap();
        (x, y)
    });
    let report = sweep(&bed).await;
    deleted(&bed, &report, "snapshot", &x);
    assert!(bed.sim.exists("volume", &y));
    only_touched(&bed, &[&x]);
    bed.sim.shutdown().await;
}

/// Volumes created from a snapshot or an image we keep go; the snapshot, its volume and
/// the image stay (Cinder deletes such a volume without touching its source).
#[tokio::test]
async fn volumes_from_an_unselected_snapshot_or_image_go() {
    let bed = Bed::start().await;
    let (restored, from_image, snap, base, image) = seed(&bed, |s| {
        let base = s.volume("base", 1, json!({})).unwrap();
        let snap = s.snapshot(&base, "base-snap", json!({})).unwrap();
        let restored = s.volume("own-restored", 1, json!({})).unwrap();
        let from_image = s.volume("own-from-image", 1, json!({})).unwrap();
        let image = s.st.glance.default_image.clone();
        let volumes = &mut s.st.cinder.volumes;
        volumes
            .get_mut(&restored)
            .unwrap()
            .insert("snapshot_id".into(), json!(snap));
        volumes
            .get_mut(&from_image)
            .unwrap()
            .insert("volume_image_metadata".into(), json!({ "image_id": image }));
        (restored, from_image, snap, base, image)
    });
    let report = sweep(&bed).await;
    deleted(&bed, &report, "volume", &restored);
    deleted(&bed, &report, "volume", &from_image);
    for (kind, id) in [("snapshot", &snap), ("volume", &base), ("image", &image)] {
        assert!(bed.sim.exists(kind, id), "{kind} {id} is gone");
    }
    only_touched(&bed, &[&restored, &from_image]);
    bed.sim.shutdown().await;
}

/// A server booted from a volume we keep, with `delete_on_termination`: deleting the
/// server would delete the volume, so the server is kept, naming the volume. Without
/// the flag the server goes and the volume stays; with the volume ours too, both go.
#[tokio::test]
async fn server_that_would_delete_an_unselected_volume_is_kept() {
    for (volume_ours, delete_on_termination) in [(false, true), (false, false), (true, true)] {
        let bed = Bed::start().await;
        let (x, y) = seed(&bed, |s| {
            let meta = if volume_ours {
                json!({ "ci-job": TAG })
            } else {
                json!({})
            };
            let y = s.volume("root", 1, meta).unwrap();
            let spec = ServerSpec {
                boot_volume: Some(y.clone()),
                delete_on_termination,
                ..ServerSpec::default()
            };
            (s.server("own-vm", &[], &spec).unwrap(), y)
        });
        let report = sweep(&bed).await;
        match (volume_ours, delete_on_termination) {
            (false, true) => {
                kept_naming(&bed, &report, "server", &x, &y);
                assert!(bed.sim.exists("volume", &y));
                assert_eq!(mutations(&bed.sim), Vec::<String>::new());
            }
            (false, false) => {
                deleted(&bed, &report, "server", &x);
                assert!(bed.sim.exists("volume", &y));
                only_touched(&bed, &[&x]);
            }
            _ => {
                deleted(&bed, &report, "server", &x);
                deleted(&bed, &report, "volume", &y);
            }
        }
        bed.sim.shutdown().await;
    }
}

/// A floating IP on a port we keep is kept, still associated, naming the port.
#[tokio::test]
async fn floating_ip_on_an_unselected_port_is_kept() {
    let bed = Bed::start().await;
    let (x, y) = seed(&bed, |s| {
        let net = their_routed_network(s, "app", "10.31.0.0/24");
        let y = s.port(&net, "app-port", &[], &[]).unwrap();
        (s.floating_ip("own-fip", &[], Some(&y)).unwrap(), y)
    });
    let report = sweep(&bed).await;
    kept_naming(&bed, &report, "floating-ip", &x, &y);
    let port = bed
        .sim
        .with_state(|st| st.neutron.floatingips.get(&x).unwrap()["port_id"].clone());
    assert_eq!(port, json!(y));
    assert_eq!(mutations(&bed.sim), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// A port of ours with a floating IP we keep: deleting the port would disassociate the
/// floating IP, so the port is kept, naming the floating IP, which stays associated.
#[tokio::test]
async fn port_with_an_unselected_floating_ip_is_kept() {
    let bed = Bed::start().await;
    let (x, y) = seed(&bed, |s| {
        let net = their_routed_network(s, "app", "10.32.0.0/24");
        let x = s.port(&net, "own-port", &[], &[]).unwrap();
        (
            x.clone(),
            s.floating_ip("ops address", &[], Some(&x)).unwrap(),
        )
    });
    let report = sweep(&bed).await;
    kept_naming(&bed, &report, "port", &x, &y);
    let port = bed
        .sim
        .with_state(|st| st.neutron.floatingips.get(&y).unwrap()["port_id"].clone());
    assert_eq!(port, json!(x));
    assert_eq!(mutations(&bed.sim), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// A port of ours whose `allowed_address_pairs` name a kept port's address goes: that
/// changes nothing of the kept port. The other way round (a kept port pairs the address
/// our port holds, a VIP), deleting ours would free an address the kept one serves: ours
/// is kept, naming it.
#[tokio::test]
async fn allowed_address_pairs_keep_the_address_they_name() {
    let bed = Bed::start().await;
    let (pairing, vip, held_vip, kept_pairing) = seed(&bed, |s| {
        let (net, _) = their_network(s, "app", "10.33.0.0/24");
        let pairing = s.port(&net, "own-vm-port", &[], &[]).unwrap();
        let vip = s.port(&net, "vip", &[], &[]).unwrap();
        let held_vip = s.port(&net, "own-vip", &[], &[]).unwrap();
        let kept_pairing = s.port(&net, "vm-port", &[], &[]).unwrap();
        (pairing, vip, held_vip, kept_pairing)
    });
    fn ports(st: &mut SimState) -> &mut stacksweep_sim::store::Table {
        &mut st.neutron.ports
    }
    let pair = |port: &str| json!([{ "ip_address": address(&bed, port) }]);
    edit(
        &bed.sim,
        ports,
        &pairing,
        "allowed_address_pairs",
        pair(&vip),
    );
    edit(
        &bed.sim,
        ports,
        &kept_pairing,
        "allowed_address_pairs",
        pair(&held_vip),
    );
    let report = sweep(&bed).await;
    deleted(&bed, &report, "port", &pairing);
    assert!(bed.sim.exists("port", &vip));
    kept_naming(&bed, &report, "port", &held_vip, &kept_pairing);
    assert!(outcome(&report, &held_vip)
        .reason
        .contains("allowed address pair"));
    only_touched(&bed, &[&pairing]);
    bed.sim.shutdown().await;
}

/// Extra routes: a router of ours routing through a port we keep is kept, naming the
/// port; one routing through its own ports has its routes cleared before its interfaces
/// are removed (Neutron refuses the other order with `RouterInterfaceInUseByRoute`) and
/// goes with everything of it.
#[tokio::test]
async fn router_routes_through_a_kept_port_keep_it() {
    for hop_ours in [false, true] {
        let bed = Bed::start().await;
        let hop_tags: &[&str] = if hop_ours { &[TAG] } else { &[] };
        let (router, hop, net, sub) = seed(&bed, |s| {
            let net = s.network("own-net", &[]).unwrap();
            let sub = s.subnet(&net, "own-sub", "10.34.0.0/24", &[]).unwrap();
            let router = s.router("own-router", &[], true).unwrap();
            s.router_interface(&router, &sub).unwrap();
            let hop = s.port(&net, "hop", hop_tags, &[]).unwrap();
            (router, hop, net, sub)
        });
        let routes = json!([{"destination": "192.168.50.0/24", "nexthop": address(&bed, &hop)}]);
        edit(
            &bed.sim,
            |st| &mut st.neutron.routers,
            &router,
            "routes",
            routes,
        );
        let report = sweep(&bed).await;
        if hop_ours {
            assert!(report.is_clean(), "{}", report.render_text());
            for (kind, id) in [
                ("router", &router),
                ("port", &hop),
                ("subnet", &sub),
                ("network", &net),
            ] {
                deleted(&bed, &report, kind, id);
            }
        } else {
            kept_naming(&bed, &report, "router", &router, &hop);
            let kept = bed
                .sim
                .with_state(|st| st.neutron.routers.get(&router).unwrap()["routes"].clone());
            assert_eq!(
                kept.as_array().map(Vec::len),
                Some(1),
                "the routes were changed"
            );
            assert_eq!(mutations(&bed.sim), Vec::<String>::new());
        }
        bed.sim.shutdown().await;
    }
}

/// A router of ours with an interface on a subnet we keep (its servers reach out
/// through the router's gateway: SNAT, floating IPs): removing the interface or clearing
/// the gateway would cut them off, so the router is kept, naming the subnet, with its
/// gateway and interface untouched.
#[tokio::test]
async fn router_serving_an_unselected_subnet_is_kept() {
    let bed = Bed::start().await;
    let (router, sub, vm) = seed(&bed, |s| {
        let (net, sub) = their_network(s, "app", "10.35.0.0/24");
        let router = s.router("own-router", &[], true).unwrap();
        s.router_interface(&router, &sub).unwrap();
        let vm = s.port(&net, "app-vm", &[], &[]).unwrap();
        (router, sub, vm)
    });
    let report = sweep(&bed).await;
    let reason = &outcome(&report, &router).reason;
    assert!(
        reason.contains("its interface is the way out of"),
        "{reason}"
    );
    let blocker = if reason.contains(&sub) { &sub } else { &vm };
    kept_naming(&bed, &report, "router", &router, blocker);
    let gateway = bed
        .sim
        .with_state(|st| st.neutron.routers.get(&router).unwrap()["external_gateway_info"].clone());
    assert!(!gateway.is_null(), "the gateway was cleared");
    assert_eq!(mutations(&bed.sim), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// A keypair used by a server we keep is kept, naming the server. Nova would delete it
/// (the server keeps running), but a rebuild or evacuation of that server reads it
/// again: stacksweep keeps it.
#[tokio::test]
async fn keypair_used_by_an_unselected_server_is_kept() {
    let bed = Bed::start().await;
    let (key, server) = seed(&bed, |s| {
        let key = s.keypair("own-key").unwrap();
        let spec = ServerSpec {
            key_name: Some(key.clone()),
            ..ServerSpec::default()
        };
        (key.clone(), s.server("app", &[], &spec).unwrap())
    });
    let report = sweep(&bed).await;
    kept_naming(&bed, &report, "keypair", &key, &server);
    assert_eq!(mutations(&bed.sim), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// A server group with a member we keep is kept, naming the member.
#[tokio::test]
async fn server_group_with_an_unselected_member_is_kept() {
    let bed = Bed::start().await;
    let (group, server) = seed(&bed, |s| {
        let group = s.server_group("own-group").unwrap();
        let spec = ServerSpec {
            group: Some(group.clone()),
            ..ServerSpec::default()
        };
        (group.clone(), s.server("app", &[], &spec).unwrap())
    });
    let report = sweep(&bed).await;
    kept_naming(&bed, &report, "server-group", &group, &server);
    assert_eq!(mutations(&bed.sim), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// What the member sees but does not own (another project's shared network, public
/// image and shared security group), the project's `default` group and a protected
/// image are never selected, marks or not, and nothing is sent about them.
#[tokio::test]
async fn shared_default_and_protected_are_never_selected() {
    let bed = Bed::start().await;
    let project = bed.sim.project_id();
    let (network, image, group, default, golden) = seed(&bed, |s| {
        let golden = s.image("own-golden", &[TAG], true);
        let default = s.st.neutron.ensure_default_sg(&project);
        s.st.neutron
            .security_groups
            .get_mut(&default)
            .unwrap()
            .insert("tags".into(), json!([TAG]));
        s.ctx.project_id = s.st.keystone.admin_project_id.clone();
        s.ctx.admin = true;
        let network = s.network("own-shared", &[TAG]).unwrap();
        s.st.neutron
            .networks
            .get_mut(&network)
            .unwrap()
            .insert("shared".into(), json!(true));
        let group = s.security_group("own-common", &[TAG]);
        s.st.neutron
            .security_groups
            .get_mut(&group)
            .unwrap()
            .insert("shared".into(), json!(true));
        let image = s.image("own-public", &[TAG], false);
        s.st.glance
            .images
            .get_mut(&image)
            .unwrap()
            .insert("visibility".into(), json!("public"));
        (network, image, group, default, golden)
    });
    let report = sweep(&bed).await;
    let foreign = "owned by another project";
    never_selected(&bed, &report, "network", &network, foreign);
    never_selected(&bed, &report, "image", &image, foreign);
    never_selected(&bed, &report, "security-group", &group, foreign);
    never_selected(
        &bed,
        &report,
        "security-group",
        &default,
        "default security group",
    );
    never_selected(&bed, &report, "image", &golden, "protected image");
    assert_eq!(mutations(&bed.sim), Vec::<String>::new());
    bed.sim.shutdown().await;
}

/// Changes the simulator between selection and planning, as someone editing tags while
/// a sweep runs would: the plan is made on the listing, the re-reads see the change.
struct Retag<'a>(&'a SimHandle, fn(&mut SimState));

impl SweepHooks for Retag<'_> {
    fn selected(&mut self, _: &Inventory, _: &mut Selection) {
        self.0.with_state(self.1);
    }
}

/// A resource that gained a keep tag or lost its mark between the plan and its delete
/// is not deleted: the re-read decides (a network, a router with a gateway whose clear
/// is a step of its own, a volume losing its metadata); one unchanged still goes.
#[tokio::test]
async fn tags_changed_after_the_plan_decide() {
    let bed = Bed::start().await;
    let (kept, unmarked, router, volume, control) = seed(&bed, |s| {
        let kept = s.network("net-a", &[TAG]).unwrap();
        let unmarked = s.network("net-b", &[TAG]).unwrap();
        let router = s.router("router-c", &[TAG], true).unwrap();
        let volume = s.volume("vol-d", 1, json!({ "ci-job": TAG })).unwrap();
        let control = s.network("net-e", &[TAG]).unwrap();
        (kept, unmarked, router, volume, control)
    });
    fn change(st: &mut SimState) {
        for net in st.neutron.networks.values_mut() {
            match str_of(net, "name") {
                "net-a" => net.insert("tags".into(), json!([TAG, "keep"])),
                "net-b" => net.insert("tags".into(), json!([])),
                _ => None,
            };
        }
        for r in st.neutron.routers.values_mut() {
            r.insert("tags".into(), json!([]));
        }
        for v in st.cinder.volumes.values_mut() {
            v.insert("metadata".into(), json!({}));
        }
    }
    let job = Job::new(bed.session.clone(), ours(), fast_sweep_options());
    let mut retag = Retag(&bed.sim, change);
    let now = jiff::Timestamp::now();
    let swept = engine::run_with(&job, CancellationToken::new(), now, &mut retag);
    let report = swept.await.unwrap().report;
    for (kind, id, why) in [
        ("network", &kept, "has keep-tag keep"),
        ("network", &unmarked, "not marked"),
        ("router", &router, "not marked"),
        ("volume", &volume, "not marked"),
    ] {
        kept_naming(
            &bed,
            &report,
            kind,
            id,
            "no longer selected since the plan was made",
        );
        assert!(
            outcome(&report, id).reason.contains(why),
            "{kind}: {}",
            outcome(&report, id).reason
        );
    }
    let gateway = bed
        .sim
        .with_state(|st| st.neutron.routers.get(&router).unwrap()["external_gateway_info"].clone());
    assert!(!gateway.is_null(), "the gateway was cleared");
    deleted(&bed, &report, "network", &control);
    only_touched(&bed, &[&control]);
    bed.sim.shutdown().await;
}

/// `check-config` tries an unanchored `name_regex` on a dry-run listing and warns about
/// each name it matches past the start (`own-` matching `prod-own-db`, which `^own-`
/// would keep); an anchored one gets no warning. Warnings do not fail the check.
#[tokio::test]
async fn check_config_warns_on_an_unanchored_name_regex() {
    let bed = Bed::start().await;
    let survivor = seed(&bed, |s| {
        s.network("own-net", &[]).unwrap();
        s.network("prod-own-db", &[]).unwrap()
    });
    let config =
        |regex: &str| format!("[[target]]\ncloud = \"sim\"\n\n[select]\nname_regex = {regex:?}\n");
    let path = bed.write("unanchored.toml", &config("own-"));
    let run = bed.run(&["check-config", "--config", &path], &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    let warnings: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.contains("warning:"))
        .collect();
    assert_eq!(warnings.len(), 1, "{}", run.stdout);
    assert!(
        warnings[0].contains("prod-own-db") && warnings[0].contains(&survivor),
        "{}",
        warnings[0]
    );
    let path = bed.write("anchored.toml", &config("^own-"));
    let run = bed.run(&["check-config", "--config", &path], &[]).await;
    assert_eq!(run.code, Some(0), "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("warning:"), "{}", run.stdout);
    assert_eq!(bed.deletes(), 0);
    bed.sim.shutdown().await;
}

/// A server in `ERROR` and a volume in `error` are deleted (Nova and Cinder accept
/// both); a volume in `error_deleting` is reported stuck and not sent a delete.
#[tokio::test]
async fn error_states_go_or_are_stuck() {
    let bed = Bed::start().await;
    let (server, broken, stuck) = seed(&bed, |s| {
        let server = s.server("own-vm", &[], &ServerSpec::default()).unwrap();
        let broken = s.volume("own-broken", 1, json!({})).unwrap();
        let stuck = s.volume("own-stuck", 1, json!({})).unwrap();
        (server, broken, stuck)
    });
    edit(
        &bed.sim,
        |st| &mut st.nova.servers,
        &server,
        "status",
        json!("ERROR"),
    );
    edit(
        &bed.sim,
        |st| &mut st.nova.servers,
        &server,
        "OS-EXT-STS:vm_state",
        json!("error"),
    );
    edit(
        &bed.sim,
        |st| &mut st.cinder.volumes,
        &broken,
        "status",
        json!("error"),
    );
    edit(
        &bed.sim,
        |st| &mut st.cinder.volumes,
        &stuck,
        "status",
        json!("error_deleting"),
    );
    let report = sweep(&bed).await;
    deleted(&bed, &report, "server", &server);
    deleted(&bed, &report, "volume", &broken);
    let o = outcome(&report, &stuck);
    assert_eq!(o.outcome, Outcome::Stuck, "{}", o.reason);
    assert!(o.reason.contains("error_deleting"), "{}", o.reason);
    only_touched(&bed, &[&server, &broken]);
    bed.sim.shutdown().await;
}

/// A volume Cinder reports `in-use`, attached to a server that is already gone (not in
/// the server list): not a blocker, since Cinder usually catches up within seconds, but
/// an attachment that outlasts the await timeout is reported stuck, naming the server,
/// instead of being retried until the sweep's deadline.
#[tokio::test]
async fn in_use_by_a_gone_server_ends_stuck() {
    let bed = Bed::start().await;
    let ghost = "0f0e0d0c-0000-4000-8000-00000000dead";
    let volume = seed(&bed, |s| {
        let v = s.volume("own-orphan", 1, json!({})).unwrap();
        stacksweep_sim::cinder::attach(s.st, &v, ghost, "/dev/vdb");
        v
    });
    let options = SweepOptions {
        await_timeout: Duration::from_millis(300),
        ..fast_sweep_options()
    };
    let started = std::time::Instant::now();
    let report = bed.sweep(&ours(), &options).await;
    let o = outcome(&report, &volume);
    assert_eq!(o.outcome, Outcome::Stuck, "{}", o.reason);
    assert!(
        o.reason.contains("in-use") && o.reason.contains(ghost),
        "{}",
        o.reason
    );
    assert!(
        started.elapsed() < options.deadline / 2,
        "retried until the deadline"
    );
    assert!(report.kinds[&stacksweep::resources::Kind::Volume].conflict_retries > 0);
    assert!(bed.sim.exists("volume", &volume));
    bed.sim.shutdown().await;
}

/// A port of ours still bound to a server that is gone (Nova deleted the server while
/// Neutron was down, the chaos stage's real finding) goes: the server is not in the
/// listing and Nova answers 404 for it right before the delete. A port whose server
/// turns up by the time of its delete (created after the listing) is kept, naming it.
#[tokio::test]
async fn port_left_bound_to_a_gone_server_goes() {
    let bed = Bed::start().await;
    let gone = "0f0e0d0c-0000-4000-8000-00000000dead";
    let late = "0f0e0d0c-0000-4000-8000-0000000000a7";
    let (net, orphan, raced) = seed(&bed, |s| {
        let net = s.network("own-net", &[TAG]).unwrap();
        let orphan = s.port(&net, "own-orphan", &[TAG], &[]).unwrap();
        let raced = s.port(&net, "own-raced", &[TAG], &[]).unwrap();
        (net, orphan, raced)
    });
    for (port, server) in [(&orphan, gone), (&raced, late)] {
        edit(
            &bed.sim,
            |st| &mut st.neutron.ports,
            port,
            "device_owner",
            json!("compute:nova"),
        );
        edit(
            &bed.sim,
            |st| &mut st.neutron.ports,
            port,
            "device_id",
            json!(server),
        );
    }
    // After the listing, a server of theirs with the id the raced port names appears.
    fn late_server(st: &mut SimState) {
        let late = "0f0e0d0c-0000-4000-8000-0000000000a7";
        let project = st.keystone.ci_project_id.clone();
        let id = Seeder::new(st, &project)
            .server("theirs-late", &[], &ServerSpec::default())
            .unwrap();
        let mut server = st.nova.servers.remove(&id).unwrap();
        server.insert("id".into(), json!(late));
        st.nova.servers.insert(server);
    }
    let job = Job::new(bed.session.clone(), ours(), fast_sweep_options());
    let mut hook = Retag(&bed.sim, late_server);
    let swept = engine::run_with(
        &job,
        CancellationToken::new(),
        jiff::Timestamp::now(),
        &mut hook,
    );
    let report = swept.await.unwrap().report;
    deleted(&bed, &report, "port", &orphan);
    kept_naming(&bed, &report, "port", &raced, late);
    kept_naming(&bed, &report, "network", &net, &raced);
    assert!(bed.sim.exists("server", late));
    bed.sim.shutdown().await;
}
