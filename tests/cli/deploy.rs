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

/// The keys of `[coordination.etcd]` (#16) the etcd ConfigMap must set.
const ETCD_KEYS: &[&str] = &["endpoints", "prefix", "lease_ttl", "member"];

/// Every `--flag` of `args` (after the subcommand) is one `stacksweep daemon --help` lists,
/// with `--shard` among them.
fn check_daemon_flags(args: &[Value]) {
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_stacksweep"))
        .args(["daemon", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8(help.stdout).unwrap();
    for arg in args.iter().filter_map(Value::as_str) {
        if !arg.starts_with("--") {
            continue;
        }
        let listed = help
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .any(|word| word == arg);
        assert!(listed, "{arg} is not a flag of `stacksweep daemon`");
    }
}

/// Whether every `matchLabels` pair is among `labels`.
fn selects(match_labels: &Value, labels: &Value) -> bool {
    let wanted = match_labels.as_object().unwrap();
    !wanted.is_empty() && wanted.iter().all(|(k, v)| labels[k] == *v)
}

/// The wiring of a replicated daemon: the workload's selector picks its own pods, the PDB
/// (at most one pod down) picks them too, the Service selects them and targets the
/// container's metrics port, the ServiceMonitor selects the Service and scrapes its port
/// by name at `/metrics`, the probes ask `/healthz` and `/readyz` on that port. Returns
/// the container.
fn check_replicated(docs: &[Value], workload: &Value) -> Value {
    let pod = &workload["spec"]["template"];
    let labels = &pod["metadata"]["labels"];
    assert!(
        selects(&workload["spec"]["selector"]["matchLabels"], labels),
        "the selector must match the pod labels"
    );
    let container = check_container_and_secret(&pod["spec"], "daemon");
    check_daemon_flags(container["args"].as_array().unwrap());
    let port = &container["ports"][0];
    assert_eq!(port["name"], "metrics");
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(container[probe]["httpGet"]["path"], path);
        assert_eq!(container[probe]["httpGet"]["port"], "metrics");
    }
    let pdb = find(docs, "PodDisruptionBudget");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert!(
        selects(&pdb["spec"]["selector"]["matchLabels"], labels),
        "PDB selects the pods"
    );
    let service = find(docs, "Service");
    assert!(
        selects(&service["spec"]["selector"], labels),
        "Service selects the pods"
    );
    let service_port = &service["spec"]["ports"][0];
    assert_eq!(service_port["targetPort"], port["name"]);
    let monitor = find(docs, "ServiceMonitor");
    assert!(
        selects(
            &monitor["spec"]["selector"]["matchLabels"],
            &service["metadata"]["labels"]
        ),
        "ServiceMonitor selects the Service"
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["port"],
        service_port["name"]
    );
    assert_eq!(monitor["spec"]["endpoints"][0]["path"], "/metrics");
    // Two layouts in one namespace would select each other's pods: each has its own
    // instance label.
    assert!(labels["app.kubernetes.io/instance"].is_string());
    container
}

/// The env var `name` of `container`, taken from the downward API field `path`.
fn check_downward(container: &Value, name: &str, path: &str) {
    let env = container["env"].as_array().unwrap();
    let var = env
        .iter()
        .find(|e| e["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in env"));
    assert_eq!(var["valueFrom"]["fieldRef"]["fieldPath"], path, "{name}");
}

/// The etcd-coordinated fleet: three replicas, a member name from the pod's name, a
/// config whose `[coordination.etcd]` has endpoints, prefix and lease TTL and whose rest
/// the daemon accepts, and the replicated wiring (PDB, Service, ServiceMonitor, probes).
#[test]
fn fleet_deployment_coordinates_on_etcd() {
    let docs = manifests("fleet-etcd.yaml");
    let deployment = find(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let container = check_replicated(&docs, deployment);
    check_downward(&container, "POD_NAME", "metadata.name");
    let map = find(&docs, "ConfigMap");
    let config_volume = deployment["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    assert_eq!(config_volume["configMap"]["name"], map["metadata"]["name"]);
    let text = map["data"]["stacksweep.toml"].as_str().unwrap();
    let mut table: toml::Table = toml::from_str(text).unwrap();
    let coordination = table.remove("coordination").expect("[coordination]");
    let etcd = coordination["etcd"]
        .as_table()
        .expect("[coordination.etcd]");
    for key in etcd.keys() {
        assert!(
            ETCD_KEYS.contains(&key.as_str()),
            "unknown key coordination.etcd.{key}"
        );
    }
    let endpoints = etcd["endpoints"].as_array().unwrap();
    assert!(!endpoints.is_empty() && endpoints.iter().all(|e| e.is_str()));
    assert!(etcd["prefix"].as_str().unwrap().starts_with('/'));
    stacksweep::config::parse_duration(etcd["lease_ttl"].as_str().unwrap()).unwrap();
    // The rest is a config the daemon takes as it is today, listening where probes look.
    let rest = toml::to_string(&table).unwrap();
    let config = stacksweep::config::Config::parse(&rest, "fleet-etcd.yaml").unwrap();
    assert_eq!(config.listen.port(), 9187);
    assert_eq!(config.listen.ip().to_string(), "0.0.0.0");
}

/// The static-shard StatefulSet: pod I runs `--shard I/N` with I from the pod-index label
/// and N its replica count, under a headless governing Service, with the replicated
/// wiring (PDB, Service, ServiceMonitor, probes).
#[test]
fn shard_statefulset_passes_its_index() {
    let docs = manifests("shards-statefulset.yaml");
    let set = find(&docs, "StatefulSet");
    let replicas = set["spec"]["replicas"].as_u64().unwrap();
    assert_eq!(replicas, 3);
    let container = check_replicated(&docs, set);
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let at = args.iter().position(|a| *a == "--shard").expect("--shard");
    assert_eq!(args[at + 1], format!("$(POD_INDEX)/{replicas}"));
    check_downward(
        &container,
        "POD_INDEX",
        "metadata.labels['apps.kubernetes.io/pod-index']",
    );
    let service = find(&docs, "Service");
    assert_eq!(set["spec"]["serviceName"], service["metadata"]["name"]);
    assert_eq!(service["spec"]["clusterIP"], "None");
    // Shards read the one-replica config: it must exist and parse.
    let volume = set["spec"]["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    let map = find(&manifests("configmap.yaml"), "ConfigMap").clone();
    assert_eq!(volume["configMap"]["name"], map["metadata"]["name"]);
    stacksweep::config::Config::parse(
        map["data"]["stacksweep.toml"].as_str().unwrap(),
        "configmap.yaml",
    )
    .unwrap();
    // The state volume is a claim per pod.
    let claims = set["spec"]["volumeClaimTemplates"].as_array().unwrap();
    assert!(claims.iter().any(|c| c["metadata"]["name"] == "state"));
}
