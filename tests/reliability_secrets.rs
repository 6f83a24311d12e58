//! No secret in any output of the binary: full sweeps at `RUST_LOG=trace` (text and JSON
//! logs, text and JSON reports) with a password cloud and an application-credential
//! cloud, with tokens expiring mid-sweep; a dry run; `check-config`; and the errors of a
//! wrong password and a wrong application-credential secret. Every byte of stdout and
//! stderr is searched for the password, the secret, the wrong ones, and every token the
//! simulator issued.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod reliability_support;

use std::time::Duration;

use reliability_support::{fast_sim_config, Bed, Run};
use stacksweep_sim::{Scenario, SimConfig};

const PASSWORD: &str = "Pw-7f3c9e-Very-Secret";
const WRONG_PASSWORD: &str = "Nope-4411-Wrong-Secret";
const WRONG_SECRET: &str = "b6d0c3f1e2a94c7f8e5d1a2b3c4d5e6f";

/// A clouds.yaml with a password cloud (`pw`), an application-credential cloud
/// (`appcred`) and their wrong twins.
fn clouds_yaml(bed: &Bed, appcred: &(String, String)) -> String {
    let url = bed.sim.auth_url();
    let (id, secret) = appcred;
    let pw = |name: &str, password: &str| {
        format!("  {name}:\n    auth:\n      auth_url: {url}\n      username: janitor\n      password: \"{password}\"\n      project_name: ci\n      user_domain_name: Default\n      project_domain_name: Default\n    region_name: RegionOne\n")
    };
    let ac = |name: &str, secret: &str| {
        format!("  {name}:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: {url}\n      application_credential_id: {id}\n      application_credential_secret: \"{secret}\"\n    region_name: RegionOne\n")
    };
    format!(
        "clouds:\n{}{}{}{}",
        pw("pw", PASSWORD),
        pw("pw-wrong", WRONG_PASSWORD),
        ac("appcred", secret),
        ac("appcred-wrong", WRONG_SECRET)
    )
}

fn selector_args(tag: &str) -> Vec<String> {
    vec![
        "--any-tag".into(),
        tag.into(),
        "--metadata".into(),
        format!("ci-job={tag}"),
        "--name-regex".into(),
        format!("^{}-", regex::escape(tag)),
    ]
}

async fn traced(bed: &Bed, args: &[String]) -> Run {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bed.run(&args, &[("RUST_LOG", "trace")]).await
}

/// A fully traced life of the binary prints no password, secret or token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_output() {
    let bed = Bed::with_config(SimConfig {
        token_ttl: Duration::from_secs(2),
        ..fast_sim_config()
    })
    .await;
    let appcred = bed.sim.with_state(|st| {
        let ci = st.keystone.ci_project_id.clone();
        let user = st.keystone.add_user("janitor", PASSWORD);
        st.keystone.assign(&user, &ci, "member");
        st.keystone.app_cred.clone()
    });
    bed.write("clouds.yaml", &clouds_yaml(&bed, &appcred));
    let mut runs: Vec<(String, Run)> = Vec::new();

    // Password cloud, text logs, JSON report; every token expires once deletes start.
    let tag = bed
        .sim
        .seed(&Scenario::parse("kubespray-aborted").unwrap())
        .tag;
    let mut args: Vec<String> = ["sweep", "--cloud", "pw", "--output", "json"]
        .map(String::from)
        .to_vec();
    args.extend(selector_args(&tag));
    let expire = async {
        while bed.deletes() == 0 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        bed.sim.expire_tokens();
    };
    let (run, ()) = tokio::join!(traced(&bed, &args), expire);
    assert_eq!(run.code, Some(0), "{run:?}");
    assert!(run.stdout.contains("\"deleted\""), "the JSON report");
    runs.push(("password sweep".into(), run));

    // Application credential, JSON logs, text report.
    let tag = bed.sim.seed(&Scenario::parse("capo-cluster").unwrap()).tag;
    let mut args: Vec<String> = ["--log-format", "json", "sweep", "--cloud", "appcred"]
        .map(String::from)
        .to_vec();
    args.extend(selector_args(&tag));
    let run = traced(&bed, &args).await;
    assert_eq!(run.code, Some(0), "{run:?}");
    runs.push(("app-cred sweep".into(), run));

    // A dry run and check-config over both clouds.
    let tag = bed
        .sim
        .seed(&Scenario::parse("kubespray-aborted").unwrap())
        .tag;
    let config = bed.write(
        "both.toml",
        &format!("[select]\nany_tags = [\"{tag}\"]\n\n[[target]]\ncloud = \"pw\"\n\n[[target]]\ncloud = \"appcred\"\n"),
    );
    for args in [
        vec!["sweep", "-c", &config, "--dry-run"],
        vec![
            "--log-format",
            "json",
            "sweep",
            "-c",
            &config,
            "--dry-run",
            "-o",
            "json",
        ],
        vec!["check-config", "-c", &config],
    ] {
        let args: Vec<String> = args.into_iter().map(String::from).collect();
        let run = traced(&bed, &args).await;
        assert!(matches!(run.code, Some(0 | 1)), "{args:?}: {run:?}");
        runs.push((args.join(" "), run));
    }

    // Wrong password, wrong secret: errors, exit 2.
    for cloud in ["pw-wrong", "appcred-wrong"] {
        let wrong = bed.write(
            "wrong.toml",
            &format!("[select]\nany_tags = [\"{tag}\"]\n\n[[target]]\ncloud = \"{cloud}\"\n"),
        );
        for args in [
            vec!["sweep".to_string(), "-c".into(), wrong.clone()],
            vec!["check-config".to_string(), "-c".into(), wrong.clone()],
            vec![
                "--log-format".to_string(),
                "json".into(),
                "sweep".into(),
                "-c".into(),
                wrong,
            ],
        ] {
            let run = traced(&bed, &args).await;
            assert_eq!(run.code, Some(2), "{cloud} {args:?}: {run:?}");
            runs.push((format!("{cloud}: {}", args.join(" ")), run));
        }
    }

    let tokens = bed.sim.with_state(|st| st.keystone.issued_tokens());
    assert!(tokens.len() >= 4, "tokens issued: {}", tokens.len());
    let refused = bed
        .sim
        .request_log()
        .iter()
        .filter(|r| r.status == Some(401))
        .count();
    assert!(refused > 0, "no request met an expired token");
    let mut secrets = vec![
        PASSWORD.to_string(),
        WRONG_PASSWORD.to_string(),
        WRONG_SECRET.to_string(),
        appcred.1.clone(),
    ];
    secrets.extend(tokens);
    let all: String = runs
        .iter()
        .map(|(_, r)| format!("{}{}", r.stdout, r.stderr))
        .collect();
    assert!(all.contains("TRACE"), "trace logs were captured");
    assert!(
        all.contains("\"level\":\"TRACE\""),
        "JSON trace logs were captured"
    );
    for (what, run) in &runs {
        for secret in &secrets {
            for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
                if let Some(at) = text.find(secret.as_str()) {
                    let start = at.saturating_sub(200);
                    panic!(
                        "a secret is in the {stream} of {what}: ...{}...",
                        &text[start..(at + secret.len() + 50).min(text.len())]
                    );
                }
            }
        }
    }
    bed.sim.shutdown().await;
}
