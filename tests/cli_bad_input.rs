//! Bad input never deletes anything: each mistake in a config file, a flag or a
//! clouds.yaml is one clear error naming the key or file, exit 2, and the simulator the
//! config points at sees no DELETE. A valid config against the same seeded simulator
//! does delete (so "no DELETE" is a check that can fail).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reliability_support;

use reliability_support::{Bed, Run};
use stacksweep_sim::Scenario;

/// A simulator seeded with a leaked Kubespray job; returns it and the job's tag.
async fn seeded() -> (Bed, String) {
    let bed = Bed::start().await;
    let manifest = bed.sim.seed(&Scenario::parse("kubespray-aborted").unwrap());
    (bed, manifest.tag)
}

/// Runs `stacksweep ARGS` and checks: exit 2, no DELETE, and every `names` in stderr.
async fn expect_error(bed: &Bed, args: &[&str], names: &[&str]) -> Run {
    let run = bed.run(args, &[]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    for n in names {
        assert!(run.stderr.contains(n), "{n:?} not in: {}", run.stderr);
    }
    assert!(
        !run.stderr.contains("panicked"),
        "panic on bad input: {}",
        run.stderr
    );
    assert_eq!(bed.deletes(), 0, "a DELETE after bad input: {run:?}");
    run
}

/// `stacksweep sweep -c bad.toml` with `text` as the config: exit 2, the key named.
async fn bad_config(text: &str, names: &[&str]) -> String {
    let (bed, tag) = seeded().await;
    let text = text.replace("TAG", &tag);
    let path = bed.write("bad.toml", &text);
    let run = expect_error(&bed, &["sweep", "-c", &path], names).await;
    stable(&bed, &run.stderr)
}

/// Stderr with the temporary directory and timestamps made stable for snapshots.
fn stable(bed: &Bed, text: &str) -> String {
    let dir = bed.dir.path().display().to_string();
    let time = regex::Regex::new(r"\d{4}-\d\d-\d\dT[\d:.]+Z").unwrap();
    time.replace_all(&text.replace(&dir, "[DIR]"), "[TIME]")
        .into_owned()
}

/// Control: the same seeded simulator and a valid config do get DELETEs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_config_deletes() {
    let (bed, tag) = seeded().await;
    let path = bed.write(
        "ok.toml",
        &format!("[select]\nany_tags = [\"{tag}\"]\nmetadata = {{ \"ci-job\" = \"{tag}\" }}\n\n[[target]]\ncloud = \"sim\"\n"),
    );
    let run = bed.run(&["sweep", "-c", &path], &[]).await;
    assert!(matches!(run.code, Some(0 | 1)), "{run:?}");
    assert!(bed.deletes() > 0, "the control deleted nothing: {run:?}");
}

/// Malformed TOML names the file and the line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_toml() {
    let err = bad_config("[select\nany_tags = [\"TAG\"]\n", &["bad.toml", "line 1"]).await;
    insta::assert_snapshot!(err);
}

/// An unknown key is an error naming it, not ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_key() {
    let err = bad_config(
        "[select]\nany_tags = [\"TAG\"]\nolder_then = \"6h\"\n\n[[target]]\ncloud = \"sim\"\n",
        &["bad.toml", "older_then"],
    )
    .await;
    insta::assert_snapshot!(err);
}

/// A duration that does not parse names its key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_duration() {
    let err = bad_config(
        "[select]\nany_tags = [\"TAG\"]\nolder_than = \"6 parsecs\"\n\n[retry]\nbase_delay = \"soon\"\n\n[[target]]\ncloud = \"sim\"\n",
        &["older_than", "6 parsecs", "retry.base_delay"],
    )
    .await;
    insta::assert_snapshot!(err);
}

/// An invalid cron expression names `schedule.cron`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_cron() {
    let err = bad_config(
        "[select]\nany_tags = [\"TAG\"]\n\n[schedule]\ncron = \"61 * * * *\"\n\n[[target]]\ncloud = \"sim\"\n",
        &["schedule.cron", "61 * * * *"],
    )
    .await;
    insta::assert_snapshot!(err);
}

/// A regex that does not compile names `name_regex`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_regex() {
    let err = bad_config(
        "[select]\nname_regex = \"^ci-((\"\n\n[[target]]\ncloud = \"sim\"\n",
        &["name_regex", "unclosed group"],
    )
    .await;
    insta::assert_snapshot!(err);
}

/// An empty selector is refused (it would select everything).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_selector() {
    let err = bad_config(
        "[select]\nolder_than = \"1h\"\n\n[[target]]\ncloud = \"sim\"\n",
        &["select", "no selector"],
    )
    .await;
    insta::assert_snapshot!(err);
}

/// Unknown presets and kinds are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_preset_and_kind() {
    let err = bad_config(
        "[select]\npresets = [\"kubespary\"]\nkinds = [\"servers\"]\n\n[[target]]\ncloud = \"sim\"\n",
        &["kubespary", "servers"],
    )
    .await;
    insta::assert_snapshot!(err);
}

/// Every problem of a file is reported at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_problems_at_once() {
    let err = bad_config(
        "[select]\nany_tags = [\"TAG\"]\nolder_than = \"x\"\nname_regex = \"(\"\n\n[safety]\ngrace = \"y\"\n\n[schedule]\ncron = \"nope\"\n\n[[target]]\ncloud = \"sim\"\n",
        &["older_than", "name_regex", "safety.grace", "schedule.cron"],
    )
    .await;
    insta::assert_snapshot!(err);
}

/// A cloud name missing from clouds.yaml is named, with the files searched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_cloud() {
    let err = bad_config(
        "[select]\nany_tags = [\"TAG\"]\n\n[[target]]\ncloud = \"nope\"\n",
        &["\"nope\"", "clouds.yaml"],
    )
    .await;
    assert!(err.contains("clouds defined: sim, sim-appcred"), "{err}");
}

/// A clouds.yaml with wrong types names the file; nothing is swept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clouds_yaml_wrong_types() {
    let (bed, tag) = seeded().await;
    let auth_url = bed.sim.auth_url();
    for (i, body) in [
        "clouds:\n  broken:\n    auth: \"not a mapping\"\n".to_string(),
        format!("clouds:\n  broken:\n    auth:\n      auth_url: {auth_url}\n      username: [ci-user]\n      password: ci-password\n      project_name: ci\n"),
        "clouds: [1, 2]\n".to_string(),
        "clouds:\n  broken: {\n".to_string(),
    ]
    .iter()
    .enumerate()
    {
        let yaml = bed.write(&format!("broken{i}.yaml"), body);
        let config = bed.write(
            "c.toml",
            &format!("[select]\nany_tags = [\"{tag}\"]\n\n[[target]]\ncloud = \"broken\"\n"),
        );
        let run = bed
            .run(&["sweep", "-c", &config], &[("OS_CLIENT_CONFIG_FILE", &yaml)])
            .await;
        assert_eq!(run.code, Some(2), "{body}: {run:?}");
        assert!(
            run.stderr.contains(&format!("broken{i}.yaml")),
            "{body}: the file is not named: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    }
    assert_eq!(bed.deletes(), 0);
}

/// A wrong password is an authentication error (exit 2) that names the cloud.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password() {
    let (bed, tag) = seeded().await;
    let yaml = std::fs::read_to_string(bed.clouds_yaml()).unwrap();
    bed.write(
        "clouds.yaml",
        &yaml.replace("ci-password", "not-the-password"),
    );
    let config = bed.write(
        "c.toml",
        &format!("[select]\nany_tags = [\"{tag}\"]\n\n[[target]]\ncloud = \"sim\"\n"),
    );
    let run = expect_error(
        &bed,
        &["sweep", "-c", &config],
        &["cannot authenticate", "\"sim\""],
    )
    .await;
    assert!(!run.stderr.contains("not-the-password"), "{}", run.stderr);
}

/// Bad selector flags are errors naming the flag's value, before any request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags() {
    let (bed, tag) = seeded().await;
    for (args, names) in [
        (
            vec![
                "sweep",
                "--cloud",
                "sim",
                "--tag",
                &tag,
                "--older-than",
                "3 fortnights",
            ],
            vec!["3 fortnights"],
        ),
        (
            vec!["sweep", "--cloud", "sim", "--name-regex", "[a-"],
            vec!["name_regex"],
        ),
        (
            vec!["sweep", "--cloud", "sim", "--older-than", "1h"],
            vec!["no selector"],
        ),
        (
            vec!["sweep", "--cloud", "sim", "--tag", &tag, "--kind", "vm"],
            vec!["\"vm\""],
        ),
        (
            vec!["sweep", "--cloud", "sim", "--metadata", "novalue"],
            vec!["KEY=VALUE"],
        ),
        (
            vec!["sweep", "-c", "/nonexistent/stacksweep.toml"],
            vec!["/nonexistent/stacksweep.toml"],
        ),
    ] {
        expect_error(&bed, &args, &names).await;
    }
}

/// `check-config` reports the same problems, exit 2, without sweeping.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_config_reports_problems() {
    let (bed, tag) = seeded().await;
    let path = bed.write(
        "bad.toml",
        &format!("[select]\nany_tags = [\"{tag}\"]\nolder_than = \"x\"\n\n[schedule]\ncron = \"nope\"\n\n[[target]]\ncloud = \"sim\"\n"),
    );
    let run = bed.run(&["check-config", "-c", &path], &[]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    let all = format!("{}{}", run.stdout, run.stderr);
    for n in ["older_than", "schedule.cron"] {
        assert!(all.contains(n), "{n} not in {all}");
    }
    let good = bed.write(
        "good.toml",
        &format!("[select]\nany_tags = [\"{tag}\"]\n\n[[target]]\ncloud = \"nope\"\n"),
    );
    let run = bed.run(&["check-config", "-c", &good], &[]).await;
    assert_eq!(run.code, Some(2), "{run:?}");
    assert!(run.stdout.contains("\"nope\""), "{run:?}");
    assert_eq!(bed.deletes(), 0);
}
