//! Daemon replicas coordinated on a real etcd (`tests/support/etcd.rs`), run as the
//! built binary against one simulator holding many `ci-NNN` projects with the same job.
//! The simulator logs each request's client (the `User-Agent` names the replica) and the
//! project of its token, which is how these tests see who deleted what, and when.
//!
//! Schedules are a year apart: every sweep here comes from membership changes (start,
//! a replica's death, etcd coming back), which is how units move between replicas.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use stacksweep::coord::owner;
use stacksweep_sim::log::RequestRecord;
use stacksweep_sim::{Manifest, Sim, SimConfig, SimHandle};
use tokio::process::Child;

use crate::support::etcd::{tls_file, Etcd};
use crate::support::{bin, fast_sim_config};

/// The lease TTL of these tests' replicas, in seconds.
const TTL: u64 = 3;

/// The etcd `root` user's password in the authentication test (replicas have it in
/// `ETCD_PASSWORD_RIGHT`), and a wrong one (in `ETCD_PASSWORD_WRONG`).
const ETCD_PASSWORD: &str = "etcd-root-pw-4711";
const WRONG_PASSWORD: &str = "not-the-pw-0815";

/// A simulator with `n` projects `ci-001`.. each holding the small job, and the
/// project ids by name.
struct Cloud {
    sim: SimHandle,
    manifest: Manifest,
    projects: BTreeMap<String, String>,
    dir: tempfile::TempDir,
}

impl Cloud {
    async fn start(n: usize, latency: Duration) -> Cloud {
        let sim = Sim::start(SimConfig {
            latency,
            ..fast_sim_config()
        })
        .await
        .unwrap();
        let names: Vec<String> = (1..=n).map(|i| format!("ci-{i:03}")).collect();
        let manifest = sim.seed_job_projects(&names);
        let projects = names
            .iter()
            .map(|n| (sim.add_project(n), n.clone()))
            .collect();
        let dir = tempfile::tempdir().unwrap();
        sim.write_clouds_yaml(&dir.path().join("clouds.yaml"))
            .unwrap();
        Cloud {
            sim,
            manifest,
            projects,
            dir,
        }
    }

    /// Selected resources still there.
    fn left(&self) -> usize {
        let selected = self.manifest.selected.iter();
        selected.filter(|(k, id)| self.sim.exists(k, id)).count()
    }

    /// Survivors that were deleted.
    fn lost(&self) -> Vec<(String, String)> {
        let survivors = self.manifest.survivors.iter();
        survivors
            .filter(|(k, id)| !self.sim.exists(k, id))
            .cloned()
            .collect()
    }

    /// The DELETE requests answered so far, in order.
    fn deletes(&self) -> Vec<RequestRecord> {
        let log = self.sim.request_log().into_iter();
        log.filter(|r| r.method == "DELETE").collect()
    }
}

/// The member name a request's `User-Agent` carries (`stacksweep/x member/NAME`).
fn member_of(r: &RequestRecord) -> Option<&str> {
    r.client.as_deref()?.split(" member/").nth(1)
}

/// One replica: the daemon binary with its own config and metrics port.
struct Replica {
    name: String,
    port: u16,
    child: Child,
    log: PathBuf,
}

impl Replica {
    async fn spawn(cloud: &Cloud, etcd: &Etcd, prefix: &str, name: &str) -> Replica {
        Replica::spawn_with(cloud, etcd, prefix, name, "", 8).await
    }

    /// A replica whose `[coordination.etcd]` also has `etcd_extra` (TLS files, a user),
    /// sweeping `units_at_once` units at a time.
    async fn spawn_with(
        cloud: &Cloud,
        etcd: &Etcd,
        prefix: &str,
        name: &str,
        etcd_extra: &str,
        units_at_once: usize,
    ) -> Replica {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tag = &cloud.manifest.tag;
        let config = format!(
            r#"[metrics]
listen = "127.0.0.1:{port}"
[schedule]
cron = "0 0 1 1 *"
max_concurrent_units = {units_at_once}
[coordination.etcd]
endpoints = ["{endpoint}"]
prefix = "{prefix}"
lease_ttl = "{TTL}s"
{etcd_extra}
[select]
any_tags = ["{tag}"]
metadata = {{ "ci-job" = "{tag}" }}
name_regex = "^{tag}-"
older_than = "6h"
kinds = ["server", "floating-ip", "port", "router", "subnet", "network", "security-group", "volume", "snapshot"]
[[target]]
name = "ci"
cloud = "sim"
projects = ["ci-*"]
"#,
            endpoint = etcd.endpoint(),
        );
        let path = cloud.dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config).unwrap();
        let log = cloud.dir.path().join(format!("{name}.log"));
        let out = std::fs::File::create(&log).unwrap();
        let child = tokio::process::Command::new(bin())
            .arg("daemon")
            .arg("--config")
            .arg(&path)
            .current_dir(cloud.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", cloud.dir.path())
            .env(
                "OS_CLIENT_CONFIG_FILE",
                cloud.dir.path().join("clouds.yaml"),
            )
            .env("POD_NAME", name)
            .env("ETCD_PASSWORD_RIGHT", ETCD_PASSWORD)
            .env("ETCD_PASSWORD_WRONG", WRONG_PASSWORD)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Replica {
            name: name.to_owned(),
            port,
            child,
            log,
        }
    }

    async fn get(&self, path: &str) -> String {
        let url = format!("http://127.0.0.1:{}{path}", self.port);
        match reqwest::get(url).await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// The value of an unlabelled-but-`coordination="etcd"` sample of `/metrics`.
    async fn gauge(&self, name: &str) -> Option<f64> {
        let series = format!("stacksweep_{name}{{coordination=\"etcd\"}} ");
        let text = self.get("/metrics").await;
        text.lines()
            .find_map(|l| l.strip_prefix(&series)?.trim().parse().ok())
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Every replica's log, for failure messages.
fn logs(replicas: &[Replica]) -> String {
    let mut text = String::new();
    for r in replicas {
        let log = r.log();
        let tail: Vec<&str> = log.lines().rev().take(40).collect();
        text.push_str(&format!("--- {} (last lines)\n", r.name));
        for l in tail.into_iter().rev() {
            text.push_str(l);
            text.push('\n');
        }
    }
    text
}

/// Polls `done` every 200 ms until it holds, or fails after `within` (a generous bound:
/// the assertion is the condition, never the time).
async fn until<F, Fut>(within: Duration, what: &str, replicas: &[Replica], mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + within;
    while !done().await {
        if tokio::time::Instant::now() > deadline {
            panic!("never: {what}\n{}", logs(replicas));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Waits until `replicas[0]` (r0) has deleted something, SIGKILLs it, and returns how
/// many deletes the simulator had answered by then.
async fn kill_r0_once_it_deletes(cloud: &Cloud, replicas: &mut [Replica]) -> usize {
    until(Duration::from_secs(120), "r0 deletes", replicas, || async {
        cloud.deletes().iter().any(|r| member_of(r) == Some("r0"))
    })
    .await;
    replicas[0].child.start_kill().unwrap();
    replicas[0].child.wait().await.unwrap();
    cloud.deletes().len()
}

/// The projects r0 deleted in among the first `killed_at` deletes.
fn projects_r0_deleted_in(cloud: &Cloud, killed_at: usize) -> BTreeSet<String> {
    cloud.deletes()[..killed_at]
        .iter()
        .filter(|r| member_of(r) == Some("r0"))
        .filter_map(|r| r.project.clone())
        .collect()
}

/// Waits (at most `within`) until nothing selected is left, checks that no survivor
/// went, and returns every delete.
async fn converged(cloud: &Cloud, replicas: &[Replica], within: Duration) -> Vec<RequestRecord> {
    until(within, "convergence after the kill", replicas, || async {
        cloud.left() == 0
    })
    .await;
    assert_eq!(cloud.lost(), Vec::<(String, String)>::new());
    cloud.deletes()
}

/// The projects (by id) rendezvous hashing gives `member` among `members`.
fn projects_of(cloud: &Cloud, member: &str, members: &[&str]) -> BTreeSet<String> {
    let projects = cloud.projects.keys();
    projects
        .filter(|id| owner(&format!("ci/{id}/-"), members) == Some(member))
        .cloned()
        .collect()
}

/// A key prefix of this test's own in etcd.
fn prefix(test: &str) -> String {
    format!("/stacksweep-test-{test}-{}", std::process::id())
}

/// For each project, the members whose deletes touched it, in order of their runs: a
/// member appearing twice means two replicas' deletes interleaved on that project.
fn delete_runs(deletes: &[RequestRecord]) -> BTreeMap<String, Vec<String>> {
    let mut runs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in deletes {
        let (Some(project), Some(member)) = (r.project.clone(), member_of(r)) else {
            continue;
        };
        let list = runs.entry(project).or_default();
        if list.last().map(String::as_str) != Some(member) {
            list.push(member.to_owned());
        }
    }
    runs
}

/// No project saw two replicas' deletes interleave (A, B, A).
fn assert_no_interleaving(deletes: &[RequestRecord]) {
    for (project, runs) in delete_runs(deletes) {
        let distinct: BTreeSet<&String> = runs.iter().collect();
        assert_eq!(
            distinct.len(),
            runs.len(),
            "deletes of replicas interleaved on project {project}: {runs:?}"
        );
    }
}

/// Three replicas share 300 projects: every project swept, all selected deleted, no
/// survivor touched, and no two replicas' deletes interleaved on one project.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_share_300_projects() {
    let etcd = Etcd::start().await;
    let cloud = Cloud::start(300, Duration::ZERO).await;
    let prefix = prefix("share");
    let mut replicas = Vec::new();
    for name in ["r0", "r1", "r2"] {
        replicas.push(Replica::spawn(&cloud, &etcd, &prefix, name).await);
    }
    until(
        Duration::from_secs(80),
        "every selected resource deleted",
        &replicas,
        || async { cloud.left() == 0 },
    )
    .await;
    assert_eq!(cloud.lost(), Vec::<(String, String)>::new());
    let deletes = cloud.deletes();
    let swept: BTreeSet<&String> = deletes.iter().filter_map(|r| r.project.as_ref()).collect();
    assert_eq!(swept.len(), 300, "projects with deletes");
    let members: BTreeSet<&str> = deletes.iter().filter_map(member_of).collect();
    assert_eq!(
        members,
        BTreeSet::from(["r0", "r1", "r2"]),
        "{}",
        logs(&replicas)
    );
    assert_no_interleaving(&deletes);
    for r in &replicas {
        let ready = r.get("/readyz").await;
        assert!(
            ready.contains("of 3 [r0, r1, r2], session up"),
            "{}: {ready}",
            r.name
        );
    }
}

/// A replica SIGKILLed mid-sweep: its lease expires, the others take its units over and
/// everything converges (0 selected left, 0 survivors deleted), without interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_units_are_taken_over() {
    let etcd = Etcd::start().await;
    let cloud = Cloud::start(90, Duration::from_millis(5)).await;
    let prefix = prefix("kill");
    let mut replicas = Vec::new();
    for name in ["r0", "r1", "r2"] {
        replicas.push(Replica::spawn(&cloud, &etcd, &prefix, name).await);
    }
    // Kill r0 once it has deleted something, and while its share is not done.
    let killed_at = kill_r0_once_it_deletes(&cloud, &mut replicas).await;
    let projects_of_r0 = projects_of(&cloud, "r0", &["r0", "r1", "r2"]);
    let r0_done = projects_r0_deleted_in(&cloud, killed_at);
    let deletes = converged(&cloud, &replicas, Duration::from_secs(60)).await;
    // r0's projects it had not touched were swept by the others, some after the kill.
    let by_others = |range: &[RequestRecord]| -> BTreeSet<String> {
        range
            .iter()
            .filter(|r| matches!(member_of(r), Some("r1" | "r2")))
            .filter_map(|r| r.project.clone())
            .filter(|p| projects_of_r0.contains(p) && !r0_done.contains(p))
            .collect()
    };
    let untouched: BTreeSet<String> = projects_of_r0.difference(&r0_done).cloned().collect();
    assert_eq!(by_others(&deletes), untouched, "{}", logs(&replicas));
    assert!(
        !by_others(&deletes[killed_at..]).is_empty(),
        "{}",
        logs(&replicas)
    );
    assert_no_interleaving(&deletes);
    for r in &replicas[1..] {
        let ready = r.get("/readyz").await;
        assert!(
            ready.contains("of 2 [r1, r2], session up"),
            "{}: {ready}",
            r.name
        );
    }
}

/// A replica killed while the other is still in its own long sweep (one unit at a time,
/// 20 ms answers): the survivor takes the dead one's units over within the lease TTL, in
/// the middle of that sweep, not after it; everything converges without interleaving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_replicas_units_are_taken_over_mid_sweep() {
    let etcd = Etcd::start().await;
    let cloud = Cloud::start(30, Duration::from_millis(20)).await;
    let prefix = prefix("midsweep");
    let mut replicas = Vec::new();
    for name in ["r0", "r1"] {
        replicas.push(Replica::spawn_with(&cloud, &etcd, &prefix, name, "", 1).await);
    }
    let killed_at = kill_r0_once_it_deletes(&cloud, &mut replicas).await;
    let of_r0 = projects_of(&cloud, "r0", &["r0", "r1"]);
    let of_r1 = projects_of(&cloud, "r1", &["r0", "r1"]);
    let r0_touched = projects_r0_deleted_in(&cloud, killed_at);
    let deletes = converged(&cloud, &replicas, Duration::from_secs(120)).await;
    let by_r1_in = |projects: &BTreeSet<String>| -> Vec<usize> {
        (0..deletes.len())
            .filter(|&i| member_of(&deletes[i]) == Some("r1"))
            .filter(|&i| {
                deletes[i]
                    .project
                    .as_ref()
                    .is_some_and(|p| projects.contains(p))
            })
            .collect()
    };
    let untouched: BTreeSet<String> = of_r0.difference(&r0_touched).cloned().collect();
    let first_taken_over = by_r1_in(&untouched).first().copied();
    let last_of_its_own = by_r1_in(&of_r1).last().copied();
    assert!(
        first_taken_over.is_some() && first_taken_over < last_of_its_own,
        "r1 swept r0's units only after its own sweep (first taken-over delete {first_taken_over:?}, \
         last delete of its own units {last_of_its_own:?})\n{}",
        logs(&replicas)
    );
    assert!(
        replicas[1].log().contains("membership changed mid-sweep"),
        "{}",
        logs(&replicas)
    );
    assert_no_interleaving(&deletes);
}

/// etcd stopped for 30 s: every replica notices, finishes its in-flight deletes and
/// starts none during the outage; once etcd is back they resume and converge.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_start_no_deletes_while_etcd_is_down() {
    let mut etcd = Etcd::start().await;
    let cloud = Cloud::start(60, Duration::from_millis(20)).await;
    let prefix = prefix("outage");
    let mut replicas = Vec::new();
    for name in ["r0", "r1", "r2"] {
        replicas.push(Replica::spawn(&cloud, &etcd, &prefix, name).await);
    }
    until(
        Duration::from_secs(60),
        "some deletes",
        &replicas,
        || async { cloud.deletes().len() >= 20 },
    )
    .await;
    assert!(
        cloud.left() > 0,
        "swept before the outage: make the sweep longer"
    );
    etcd.stop();
    let outage = tokio::time::Instant::now();
    until(
        Duration::from_secs(25),
        "every replica's session down and no unit in progress",
        &replicas,
        || async {
            for r in &replicas {
                // No sample yet: the replica never took a unit.
                let in_progress = r.gauge("coordination_units_in_progress").await;
                if r.gauge("coordination_session_up").await != Some(0.0)
                    || in_progress.unwrap_or(0.0) != 0.0
                {
                    return false;
                }
            }
            true
        },
    )
    .await;
    let quiet = cloud.deletes().len();
    // The outage itself: 30 s from the stop.
    tokio::time::sleep_until(outage + Duration::from_secs(30)).await;
    assert_eq!(
        cloud.deletes().len(),
        quiet,
        "deletes started while etcd was down\n{}",
        logs(&replicas)
    );
    for r in &replicas {
        let ready = r.get("/readyz").await;
        assert!(ready.contains("session down"), "{}: {ready}", r.name);
    }
    etcd.resume().await;
    until(
        Duration::from_secs(60),
        "convergence after the outage",
        &replicas,
        || async { cloud.left() == 0 },
    )
    .await;
    assert!(cloud.deletes().len() > quiet);
    assert_eq!(cloud.lost(), Vec::<(String, String)>::new());
    assert_no_interleaving(&cloud.deletes());
}

/// Two replicas over six projects, one whose etcd settings are `refused` and one whose
/// are `admitted` (`(member, [coordination.etcd] lines)`): the admitted one sweeps every
/// project, the refused one never gets a session (`/readyz` says so), logs `refusal`,
/// and deletes nothing.
async fn one_refused_one_admitted(
    etcd: &Etcd,
    test: &str,
    refused: (&str, &str),
    admitted: (&str, &str),
    refusal: &str,
) -> (Cloud, [Replica; 2]) {
    let cloud = Cloud::start(6, Duration::ZERO).await;
    let prefix = prefix(test);
    let replicas = [
        Replica::spawn_with(&cloud, etcd, &prefix, refused.0, refused.1, 8).await,
        Replica::spawn_with(&cloud, etcd, &prefix, admitted.0, admitted.1, 8).await,
    ];
    until(
        Duration::from_secs(60),
        "every selected resource deleted",
        &replicas,
        || async { cloud.left() == 0 },
    )
    .await;
    until(
        Duration::from_secs(30),
        "the refused replica logs why",
        &replicas,
        || async { replicas[0].log().to_lowercase().contains(refusal) },
    )
    .await;
    assert_eq!(cloud.lost(), Vec::<(String, String)>::new());
    let deletes = cloud.deletes();
    let members: BTreeSet<&str> = deletes.iter().filter_map(member_of).collect();
    assert_eq!(members, BTreeSet::from([admitted.0]), "{}", logs(&replicas));
    let ready = replicas[1].get("/readyz").await;
    let one = format!("of 1 [{}], session up", admitted.0);
    assert!(ready.contains(&one), "{ready}");
    let ready = replicas[0].get("/readyz").await;
    assert!(ready.contains("session down"), "{ready}");
    (cloud, replicas)
}

/// etcd on `https://` with client-certificate auth: a replica with the CA, certificate
/// and key sweeps every project; one without a client certificate never gets a session,
/// says why, and deletes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_reach_etcd_over_tls_with_a_client_certificate() {
    let etcd = Etcd::start_tls().await;
    let ca = format!("ca_file = {:?}", tls_file("ca.pem"));
    let with_cert = format!(
        "{ca}\ncert_file = {:?}\nkey_file = {:?}",
        tls_file("client.pem"),
        tls_file("client.key")
    );
    // (rustls: "received fatal alert: BadCertificate".)
    let refused = ("no-cert", ca.as_str());
    let admitted = ("cert", with_cert.as_str());
    one_refused_one_admitted(&etcd, "tls", refused, admitted, "certificate").await;
}

/// etcd with authentication on: a replica whose user's password comes from the
/// environment variable `password_env` names sweeps every project; one given a wrong
/// password never gets a session and deletes nothing; neither password is ever logged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_authenticate_to_etcd_with_a_password_from_the_environment() {
    let etcd = Etcd::start().await;
    let mut admin = etcd_client::Client::connect([etcd.endpoint()], None)
        .await
        .unwrap();
    let _ = admin.role_add("root").await;
    admin.user_add("root", ETCD_PASSWORD, None).await.unwrap();
    admin.user_grant_role("root", "root").await.unwrap();
    admin.auth_enable().await.unwrap();
    let user = |var: &str| format!("username = \"root\"\npassword_env = \"{var}\"");
    let (wrong, right) = (user("ETCD_PASSWORD_WRONG"), user("ETCD_PASSWORD_RIGHT"));
    let refused = ("wrong-pw", wrong.as_str());
    let admitted = ("right-pw", right.as_str());
    let (_cloud, replicas) =
        one_refused_one_admitted(&etcd, "auth", refused, admitted, "authentication failed").await;
    for r in &replicas {
        let seen = format!(
            "{}{}{}",
            r.log(),
            r.get("/metrics").await,
            r.get("/readyz").await
        );
        for secret in [ETCD_PASSWORD, WRONG_PASSWORD] {
            assert!(
                !seen.contains(secret),
                "{} shows a password:\n{seen}",
                r.name
            );
        }
    }
}
