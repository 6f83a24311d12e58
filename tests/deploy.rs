//! Checks the deployment artefacts users copy: the Kubernetes manifests, the Dockerfile
//! and the example configs, against what the binary and CI actually do.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;

use serde_json::Value;

fn manifests(file: &str) -> Vec<Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("config/kubernetes")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    serde_saphyr::from_multiple::<Value>(&text)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} in manifests"))
}

/// The container of a pod spec, checked for the clouds.yaml Secret mount and its env.
fn check_container_and_secret(pod: &Value, first_arg: &str) -> Value {
    let container = &pod["containers"][0];
    assert!(
        container["image"].as_str().unwrap().contains("stacksweep"),
        "image"
    );
    assert_eq!(container["args"][0], first_arg);
    let mounts = container["volumeMounts"].as_array().unwrap();
    let clouds = mounts
        .iter()
        .find(|m| m["name"] == "clouds")
        .expect("clouds mount");
    assert_eq!(clouds["mountPath"], "/etc/openstack");
    assert_eq!(clouds["readOnly"], true);
    let volume = pod["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "clouds")
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], "stacksweep-clouds");
    let env = container["env"].as_array().unwrap();
    assert!(env.iter().any(
        |e| e["name"] == "OS_CLIENT_CONFIG_FILE" && e["value"] == "/etc/openstack/clouds.yaml"
    ));
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    container.clone()
}

/// Every manifest is valid YAML with apiVersion and kind.
#[test]
fn every_manifest_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/kubernetes");
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        for doc in manifests(&name) {
            assert!(
                doc["apiVersion"].is_string() && doc["kind"].is_string(),
                "{name}"
            );
            count += 1;
        }
    }
    assert!(count >= 6, "expected at least 6 documents, found {count}");
}

/// The CronJob runs a one-shot sweep, never concurrently, with the Secret mounted.
#[test]
fn cronjob_runs_sweep_with_the_secret() {
    let docs = manifests("cronjob.yaml");
    let cron = find(&docs, "CronJob");
    assert_eq!(cron["spec"]["concurrencyPolicy"], "Forbid");
    let pod = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"];
    check_container_and_secret(pod, "sweep");
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
}

/// The daemon Deployment probes /healthz and /readyz on the metrics port the Service and
/// ServiceMonitor scrape.
#[test]
fn daemon_probes_and_metrics_port_agree() {
    let docs = manifests("daemon.yaml");
    let deployment = find(&docs, "Deployment");
    let container = check_container_and_secret(&deployment["spec"]["template"]["spec"], "daemon");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    let port = &container["ports"][0];
    assert_eq!(port["name"], "metrics");
    assert_eq!(port["containerPort"], 9187);
    let service = find(&docs, "Service");
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "metrics");
    let monitor = find(&docs, "ServiceMonitor");
    assert_eq!(monitor["spec"]["endpoints"][0]["port"], "metrics");
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    // The config the daemon reads must listen where the probes look.
    let config = find(&manifests("configmap.yaml"), "ConfigMap")["data"]["stacksweep.toml"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(config.contains("listen = \"0.0.0.0:9187\""));
}

/// The Dockerfile builds on the toolchain CI uses, with the locked release build of the whole
/// workspace's sources, and runs stacksweep as a non-root user.
#[test]
fn dockerfile_matches_ci() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    let rustc =
        std::process::Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
            .arg("--version")
            .output()
            .unwrap();
    let version = String::from_utf8(rustc.stdout).unwrap();
    let minor: String = version
        .split_whitespace()
        .nth(1)
        .unwrap()
        .split('.')
        .take(2)
        .collect::<Vec<_>>()
        .join(".");
    assert!(
        dockerfile.contains(&format!("FROM rust:{minor}-")),
        "Dockerfile must build on rust {minor}, the toolchain CI runs"
    );
    assert!(dockerfile.contains("cargo build --release --locked"));
    // The build needs every workspace member's sources, the simulator crate included.
    assert!(dockerfile.contains("COPY sim ./sim"));
    assert!(
        ci.contains("--locked"),
        ".ci/run must build locked, as the image does"
    );
    assert!(dockerfile.contains("USER nonroot"));
    assert!(dockerfile.contains("ENTRYPOINT [\"stacksweep\"]"));
}
