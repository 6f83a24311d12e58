//! Targets of several projects and regions, run as a user runs them: the `multi-project`
//! scenario (the same job in `ci-1`, `ci-2` and the look-alike `cx-1`, in RegionOne and
//! RegionTwo) swept with `projects = ["ci-*"]` and `regions = "all"`. Each unit (a
//! project of a region) is swept on a token scoped to its project; the look-alike is
//! never listed, let alone deleted; a failing unit does not stop the others; the run's
//! `max_deletes_total` holds across concurrent units.

use std::collections::BTreeSet;

use serde_json::Value;
use stacksweep_sim::SimConfig;

use super::support::{fast_sim_config, Bed, Run};

/// A fast simulator in two regions, seeded with `multi-project`.
async fn bed() -> Bed {
    Bed::builder()
        .sim(SimConfig {
            regions: vec!["RegionOne".into(), "RegionTwo".into()],
            ..fast_sim_config()
        })
        .scenario("multi-project")
        .start()
        .await
}

/// A config sweeping the manifest's job in `projects` and `regions` (TOML values).
fn config(bed: &Bed, projects: &str, regions: &str, extra: &str) -> String {
    let tag = &bed.manifest.tag;
    let text = format!(
        r#"{extra}
[select]
any_tags = ["{tag}"]
metadata = {{ "ci-job" = "{tag}" }}
name_regex = "^{tag}-"
older_than = "6h"
[[target]]
cloud = "sim"
projects = {projects}
regions = {regions}
"#
    );
    bed.write("units.toml", &text)
}

async fn sweep_json(bed: &Bed, config: &str, dry_run: bool) -> (Run, Value) {
    let mut args = vec!["sweep", "--config", config, "--output", "json"];
    if dry_run {
        args.push("--dry-run");
    }
    let run = bed.run(&args, &[]).await;
    let doc = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", run.stdout, run.stderr));
    (run, doc)
}

/// Ids of every resource of the look-alike project `cx-1`, in every region.
fn look_alike_ids(bed: &Bed) -> BTreeSet<String> {
    let cx1 = bed.sim.add_project("cx-1");
    let mut ids = BTreeSet::new();
    for region in bed.sim.regions() {
        bed.sim.with_region_state(&region, |st| {
            for kind in stacksweep::resources::Kind::ALL {
                let Some(table) = st.table(kind.as_str()) else {
                    continue;
                };
                for obj in table.values() {
                    let owner = ["project_id", "tenant_id", "os-vol-tenant-attr:tenant_id"]
                        .iter()
                        .find_map(|k| obj.get(*k).and_then(Value::as_str));
                    if owner == Some(cx1.as_str()) {
                        ids.insert(obj["id"].as_str().unwrap_or_default().to_owned());
                    }
                }
            }
        });
    }
    ids
}

/// Every id a JSON sweep document names in its reports.
fn reported_ids(doc: &Value) -> BTreeSet<String> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| {
            t["report"]["resources"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Two `ci-*` projects in two regions, each with a job of every kind, are swept clean in
/// one run, one report per unit and a total; the look-alike `cx-1` with the very same job is untouched; a second run
/// deletes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_projects_two_regions_swept_clean_then_idle() {
    let bed = bed().await;
    let look_alike = look_alike_ids(&bed);
    assert!(look_alike.len() >= 10, "{look_alike:?}");
    let kinds: BTreeSet<&str> = bed
        .manifest
        .selected
        .iter()
        .map(|(k, _)| k.as_str())
        .collect();
    for kind in [
        "trunk",
        "port-forwarding",
        "volume-backup",
        "secret",
        "secret-container",
        "zone",
        "recordset",
        "share",
        "share-snapshot",
        "share-network",
    ] {
        assert!(kinds.contains(kind), "the job has no {kind}: {kinds:?}");
    }
    let config = config(&bed, r#"["ci-*"]"#, r#""all""#, "");
    let (run, doc) = sweep_json(&bed, &config, false).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let mut keys: Vec<String> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let u = &t["unit"];
            format!(
                "{}/{}",
                u["project"].as_str().unwrap(),
                u["region"].as_str().unwrap()
            )
        })
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "ci-1/RegionOne",
            "ci-1/RegionTwo",
            "ci-2/RegionOne",
            "ci-2/RegionTwo"
        ]
    );
    assert_eq!(doc["total"]["units"], 4);
    assert_eq!(
        doc["total"]["deleted"].as_u64().unwrap() as usize,
        bed.manifest.selected.len()
    );
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
    for id in &look_alike {
        assert!(
            bed.sim
                .request_log()
                .iter()
                .all(|r| !r.path.contains(id.as_str())),
            "a request named the look-alike's {id}"
        );
    }
    assert!(reported_ids(&doc).is_disjoint(&look_alike));

    let deletes = bed.deletes();
    let (run, doc) = sweep_json(&bed, &config, false).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert_eq!(doc["total"]["selected"], 0, "{}", run.stdout);
    assert_eq!(bed.deletes(), deletes, "the second run deleted something");
    bed.assert_survivors();
}

/// A project outside the list is never a candidate: a dry run's plan and reports name
/// nothing of the look-alike `cx-1` (nor of the bare `ci`), though its resources carry
/// the same tag and names; the text output has one section per unit and the total.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn project_outside_the_list_is_never_a_candidate() {
    let bed = bed().await;
    let look_alike = look_alike_ids(&bed);
    let config = config(
        &bed,
        r#"["ci-1", "ci-2"]"#,
        r#"["RegionOne", "RegionTwo"]"#,
        "",
    );
    let (run, doc) = sweep_json(&bed, &config, true).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    let reported = reported_ids(&doc);
    assert!(reported.is_disjoint(&look_alike));
    let selected: BTreeSet<String> = bed
        .manifest
        .selected
        .iter()
        .map(|(_, id)| id.clone())
        .collect();
    assert!(
        selected.is_subset(&reported),
        "every selected id is planned"
    );
    let plan = doc.to_string();
    for id in &look_alike {
        assert!(!plan.contains(id.as_str()), "the plan names {id}");
    }
    assert_eq!(bed.deletes(), 0);
    let text = bed
        .run(&["sweep", "--config", &config, "--dry-run"], &[])
        .await;
    assert_eq!(text.code, Some(0), "{}", text.stderr);
    assert!(
        text.stdout
            .contains("== target sim (cloud sim) project ci-2 region RegionTwo"),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("== total: 4 unit(s), 0 not swept"),
        "{}",
        text.stdout
    );
}

/// One failing unit does not stop the others: a region missing from the catalog and a
/// project the credential cannot scope to each fail on their own, named, while the
/// other units are swept clean; the exit code says something could not be swept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_unit_does_not_stop_the_others() {
    let bed = bed().await;
    let config = config(
        &bed,
        r#"["ci-*", "ci-404"]"#,
        r#"["RegionOne", "RegionNowhere", "RegionTwo"]"#,
        "",
    );
    let run = bed.run(&["sweep", "--config", &config], &[]).await;
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("\"ci-404\""), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("region \"RegionNowhere\" is not in the catalog"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout
            .contains("== target sim (cloud sim) project ci-1 region RegionNowhere\nnot swept"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("== total: 7 unit(s), 3 not swept"),
        "{}",
        run.stdout
    );
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
}

/// `safety.max_deletes_total` holds across units swept concurrently: exactly that many
/// resources get a DELETE, the rest are not attempted and the run says resources are
/// left.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_deletes_total_holds_across_concurrent_units() {
    let bed = bed().await;
    let extra = "[safety]\nmax_deletes_total = 5\n[schedule]\nmax_concurrent_units = 4\n";
    let config = config(&bed, r#"["ci-*"]"#, r#""all""#, extra);
    let (run, doc) = sweep_json(&bed, &config, false).await;
    assert_eq!(run.code, Some(1), "{}\n{}", run.stdout, run.stderr);
    let deleted: BTreeSet<String> = bed
        .sim
        .request_log()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert_eq!(deleted.len(), 5, "{deleted:?}");
    assert_eq!(doc["total"]["deletes_drawn"], 5);
    assert_eq!(doc["total"]["deleted"], 5);
    let not_attempted = doc
        .to_string()
        .matches("max_deletes_total = 5 reached")
        .count();
    assert!(not_attempted > 0, "{}", run.stdout);
    bed.assert_survivors();
}

/// `check-config` lists the units a target of several projects and regions would sweep
/// (discovery asks Keystone; nothing is listed in the projects), and names an explicit
/// project the credential cannot scope to as a problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_lists_the_units() {
    let bed = bed().await;
    let all = config(&bed, r#"["ci-*"]"#, r#""all""#, "");
    let run = bed.run(&["check-config", "--config", &all], &[]).await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("target \"sim\": 4 unit(s) to sweep:"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("(project ci-2, region RegionTwo)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("cx-1"), "{}", run.stdout);
    assert_eq!(bed.deletes(), 0);
    let missing = config(&bed, r#"["ci-1", "ci-404"]"#, r#"["RegionOne"]"#, "");
    let run = bed.run(&["check-config", "--config", &missing], &[]).await;
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("\"ci-404\""), "{}", run.stdout);
}

/// An application credential is bound to its project: a target naming other projects
/// with one is refused, naming why, and nothing is swept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn application_credential_cannot_sweep_other_projects() {
    let bed = bed().await;
    let text = std::fs::read_to_string(config(&bed, r#"["ci-*"]"#, r#""all""#, "")).unwrap();
    let path = bed.write(
        "appcred.toml",
        &text.replace("cloud = \"sim\"", "cloud = \"sim-appcred\""),
    );
    let run = bed.run(&["sweep", "--config", &path], &[]).await;
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stderr
            .contains("the application credential is bound to project"),
        "{}",
        run.stderr
    );
    assert_eq!(bed.deletes(), 0);
    // Its own project (`ci`, by name) in every region is fine.
    let own = bed.write(
        "appcred-own.toml",
        &text
            .replace("cloud = \"sim\"", "cloud = \"sim-appcred\"")
            .replace(r#"["ci-*"]"#, r#"["ci"]"#),
    );
    let run = bed
        .run(&["sweep", "--config", &own, "--dry-run"], &[])
        .await;
    assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("== total: 2 unit(s), 0 not swept"),
        "{}",
        run.stdout
    );
}

/// A region whose every endpoint drops its connections fails its units alone, after its
/// retry deadline; the other region's units are swept clean and nothing of the dead
/// region is touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_region_fails_alone() {
    let bed = bed().await;
    for service in [
        "compute",
        "network",
        "block-storage",
        "load-balancer",
        "image",
        "orchestration",
        "object-store",
        "key-manager",
        "dns",
        "sharev2",
    ] {
        bed.sim.set_faults(
            &format!("RegionTwo/{service}"),
            stacksweep_sim::FaultConfig {
                drop_rate: 1.0,
                ..stacksweep_sim::FaultConfig::default()
            },
        );
    }
    let retry = "[retry]\nbase_delay = \"50ms\"\nmax_delay = \"200ms\"\ndeadline = \"2s\"\nconnect_deadline = \"1s\"\n";
    let config = config(&bed, r#"["ci-*"]"#, r#""all""#, retry);
    let run = bed.run(&["sweep", "--config", &config], &[]).await;
    assert_eq!(run.code, Some(2), "{}\n{}", run.stdout, run.stderr);
    assert!(
        run.stdout.contains("== total: 4 unit(s), 2 not swept"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("== target sim (cloud sim) project ci-2 region RegionTwo\nnot swept"),
        "{}",
        run.stdout
    );
    let in_two = |kind: &str, id: &str| {
        bed.sim
            .with_region_state("RegionTwo", |st| st.exists(kind, id))
            .unwrap()
    };
    let (two, one): (Vec<_>, Vec<_>) = bed
        .manifest
        .selected
        .iter()
        .partition(|(kind, id)| in_two(kind, id));
    assert!(!one.is_empty());
    assert_eq!(
        two.len(),
        one.len(),
        "RegionTwo's selected resources all stay"
    );
    for (kind, id) in one {
        assert!(!bed.sim.exists(kind, id), "RegionOne's {kind} {id} left");
    }
    bed.assert_survivors();
    assert!(
        bed.sim
            .request_log()
            .iter()
            .all(|r| !(r.path.starts_with("/regions/RegionTwo") && r.method != "GET")),
        "a mutating request reached RegionTwo"
    );
}

/// `sweep --shard 0/2` then `--shard 1/2`: each run sweeps only its rendezvous units,
/// the two together every unit exactly once, and everything selected ends deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_static_shards_sweep_every_unit_once() {
    let bed = bed().await;
    let config = config(&bed, r#"["ci-*"]"#, r#""all""#, "");
    let mut seen = Vec::new();
    for shard in ["0/2", "1/2"] {
        let args = [
            "sweep", "--config", &config, "--output", "json", "--shard", shard,
        ];
        let run = bed.run(&args, &[]).await;
        assert_eq!(run.code, Some(0), "{}\n{}", run.stdout, run.stderr);
        let doc: Value = serde_json::from_str(&run.stdout).unwrap();
        let s: stacksweep::coord::Shard = shard.parse().unwrap();
        for t in doc["targets"].as_array().unwrap() {
            let u = &t["unit"];
            let id = bed.sim.add_project(u["project"].as_str().unwrap());
            let key = format!(
                "{}/{id}/{}",
                t["target"].as_str().unwrap(),
                u["region"].as_str().unwrap()
            );
            assert!(s.owns(&key), "{key} swept by shard {shard}");
            seen.push(key);
        }
    }
    seen.sort();
    let len = seen.len();
    seen.dedup();
    assert_eq!((seen.len(), len), (4, 4), "{seen:?}");
    assert_eq!(bed.left(), Vec::<(String, String)>::new());
    bed.assert_survivors();
    let run = bed
        .run(&["sweep", "--config", &config, "--shard", "2/2"], &[])
        .await;
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("is not a shard"), "{}", run.stderr);
}
