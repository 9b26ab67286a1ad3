//! What can be checked of the deployment offline (no container engine, no cluster here):
//!
//! - the runtime stage of `deploy/Dockerfile` copies exactly the libtorch shared libraries that
//!   `ldd` says the four binaries load, and the rest come with the slim base image;
//! - the Kubernetes manifests of `deploy/k8s/` render with kustomize (`kubectl kustomize`) and
//!   validate against the Kubernetes API schemas (`kubernetes-validate --strict`, installed by
//!   `scripts/test`), and say what the deployment promises (one learner with a volume and gRPC
//!   health probes, actors spread over nodes, only actors may reach the learner's gRPC port).
//!
//! `scripts/test` sets `GFN_KUBERNETES_VALIDATE` (a PYTHONPATH holding kubernetes-validate) and,
//! when it had to fetch one, `GFN_KUBECTL`.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml_ng::Value;

fn repository() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf()
}

/// Libraries of the slim Debian base image (packages libc6, libgcc-s1, libstdc++6) that the
/// runtime stage relies on without copying.
const BASE_IMAGE_LIBRARIES: &[&str] = &[
    "linux-vdso.so.1",
    "ld-linux-x86-64.so.2",
    "libc.so.6",
    "libm.so.6",
    "libdl.so.2",
    "libpthread.so.0",
    "librt.so.1",
    "libutil.so.1",
    "libgcc_s.so.1",
    "libstdc++.so.6",
];

/// Where the build stage installs libtorch (`GFN_LIBTORCH_DIR=/opt/libtorch`, then `py/`).
const IMAGE_LIBTORCH_ROOT: &str = "/opt/libtorch/py";

/// The runtime stage's library copies (between its BEGIN and END markers): source and
/// destination of each `COPY --from=build`.
fn dockerfile_runtime_libraries(dockerfile: &str) -> Vec<(String, String)> {
    let begin = dockerfile.find("# runtime libraries: BEGIN").expect("BEGIN marker in deploy/Dockerfile");
    let end = dockerfile.find("# runtime libraries: END").expect("END marker in deploy/Dockerfile");
    dockerfile[begin..end]
        .lines()
        .filter(|line| line.starts_with("COPY"))
        .map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(words.len(), 4, "one library per COPY line: {line}");
            assert_eq!(words[1], "--from=build", "{line}");
            (words[2].to_string(), words[3].to_string())
        })
        .collect()
}

/// `(soname, resolved path)` of every library `ldd` lists for `binary`.
fn ldd(binary: &Path) -> Vec<(String, Option<PathBuf>)> {
    let output = Command::new("ldd").arg(binary).output().expect("ldd runs");
    assert!(output.status.success(), "ldd {}: {}", binary.display(), String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            let name = line.split_whitespace().next()?;
            let soname = Path::new(name).file_name()?.to_string_lossy().into_owned();
            let resolved = match line.split(" => ").nth(1) {
                Some(rest) if rest.starts_with("not found") => None,
                Some(rest) => Some(PathBuf::from(rest.split(" (").next()?)),
                None => Some(PathBuf::from(name)),
            };
            Some((soname, resolved))
        })
        .collect()
}

#[test]
fn runtime_stage_copies_exactly_the_libtorch_libraries_the_binaries_load() {
    let dockerfile = std::fs::read_to_string(repository().join("deploy/Dockerfile")).unwrap();
    let Some(libtorch) = std::env::var_os("LIBTORCH").map(PathBuf::from) else {
        panic!("LIBTORCH is not set: run the tests through scripts/test (it sources scripts/libtorch.sh)");
    };
    if !libtorch.ends_with("py/torch") {
        eprintln!(
            "skipped: LIBTORCH={} is not the PyPI libtorch the image builds with; the check needs \
             binaries built like the image's",
            libtorch.display()
        );
        return;
    }
    let root = libtorch.parent().unwrap().canonicalize().unwrap();
    let mut needed = BTreeSet::new();
    for name in ["gfn", "gfn-learner", "gfn-actor", "gfn-reward-server"] {
        let binary = support::binary(name);
        for (soname, resolved) in ldd(&binary) {
            let path = resolved.unwrap_or_else(|| panic!("{name}: {soname} not found by ldd"));
            let path = path.canonicalize().unwrap_or(path);
            match path.strip_prefix(&root) {
                Ok(relative) => {
                    needed.insert(format!("{IMAGE_LIBTORCH_ROOT}/{}", relative.display()));
                }
                Err(_) => assert!(
                    BASE_IMAGE_LIBRARIES.contains(&soname.as_str()),
                    "{name} loads {soname} ({}), which neither libtorch nor the slim base image \
                     provides: install it in the runtime stage of deploy/Dockerfile",
                    path.display()
                ),
            }
        }
    }
    let copies = dockerfile_runtime_libraries(&dockerfile);
    for (source, destination) in &copies {
        assert_eq!(source, destination, "libraries keep the build stage's layout (RPATH $ORIGIN/../..)");
    }
    let copied: BTreeSet<String> = copies.into_iter().map(|(_, destination)| destination).collect();
    let missing: Vec<_> = needed.difference(&copied).collect();
    let extra: Vec<_> = copied.difference(&needed).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "deploy/Dockerfile's runtime libraries differ from what ldd reports: missing {missing:?}, \
         not needed {extra:?}"
    );
    assert!(needed.iter().any(|p| p.ends_with("/libtorch_cpu.so")), "{needed:?}");

    // The runtime stage: slim, unprivileged, no compiler or package installation.
    let runtime = &dockerfile[dockerfile.find("AS runtime").expect("a runtime stage")..];
    assert!(dockerfile.contains("FROM debian:${DEBIAN_RELEASE}-slim AS runtime"));
    assert!(!runtime.contains("apt-get install"), "the runtime stage installs no packages");
    assert!(runtime.contains("\nUSER 10001:10001"), "the runtime stage runs as a non-root user");
    assert!(
        dockerfile.contains("GFN_LIBTORCH_DIR=/opt/libtorch"),
        "the build stage installs libtorch at {IMAGE_LIBTORCH_ROOT}"
    );
}

/// `kubectl kustomize DIR`.
fn kustomize(dir: &Path) -> String {
    let kubectl = std::env::var("GFN_KUBECTL").unwrap_or_else(|_| "kubectl".into());
    let output = Command::new(&kubectl)
        .arg("kustomize")
        .arg(dir)
        .output()
        .unwrap_or_else(|e| panic!("{kubectl} kustomize: {e} (scripts/test installs what it needs)"));
    assert!(
        output.status.success(),
        "kustomize {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `kubernetes-validate --strict` of `manifests` against Kubernetes `version`.
fn validate(manifests: &str, version: &str) -> std::process::Output {
    let python_path = std::env::var("GFN_KUBERNETES_VALIDATE")
        .expect("GFN_KUBERNETES_VALIDATE is not set: run the tests through scripts/test");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("manifests.yaml");
    std::fs::write(&file, manifests).unwrap();
    Command::new("python3")
        .args(["-m", "kubernetes_validate", "--strict", "--quiet", "-k", version])
        .arg(&file)
        .env("PYTHONPATH", python_path)
        .output()
        .expect("python3 runs")
}

fn documents(manifests: &str) -> Vec<Value> {
    serde_yaml_ng::Deserializer::from_str(manifests)
        .map(|document| serde::Deserialize::deserialize(document).unwrap())
        .collect()
}

fn find<'a>(documents: &'a [Value], kind: &str, name: &str) -> &'a Value {
    documents
        .iter()
        .find(|d| d["kind"].as_str() == Some(kind) && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn manifests_render_with_kustomize_and_validate_against_the_kubernetes_schemas() {
    let k8s = repository().join("deploy/k8s");
    for dir in ["base", "overlays/example", "overlays/molecules-reward-service", "overlays/seh-frag-moo"] {
        let manifests = kustomize(&k8s.join(dir));
        for version in ["1.29.0", "1.37.0"] {
            let result = validate(&manifests, version);
            assert!(
                result.status.success(),
                "{dir} against Kubernetes {version}: {}{}",
                String::from_utf8_lossy(&result.stdout),
                String::from_utf8_lossy(&result.stderr)
            );
        }
    }

    // The validator does reject what the API server would: an unknown field.
    let manifests = kustomize(&k8s.join("overlays/example"));
    let broken = manifests.replacen("  serviceName: gfn-learner", "  serviceNames: gfn-learner", 1);
    assert_ne!(broken, manifests);
    let result = validate(&broken, "1.37.0");
    assert!(!result.status.success(), "a misspelt field passed validation");
    assert!(String::from_utf8_lossy(&result.stdout).contains("serviceNames"), "{result:?}");

    // What the deployment promises.
    let docs = documents(&manifests);
    let learner = find(&docs, "StatefulSet", "gfn-learner");
    assert_eq!(learner["metadata"]["namespace"].as_str(), Some("gfn-example"));
    assert_eq!(learner["spec"]["replicas"].as_u64(), Some(1));
    let claim = &learner["spec"]["volumeClaimTemplates"][0];
    assert_eq!(claim["metadata"]["name"].as_str(), Some("state"));
    let pod = &learner["spec"]["template"]["spec"];
    assert!(pod["terminationGracePeriodSeconds"].as_u64().unwrap() >= 30);
    let container = &pod["containers"][0];
    assert_eq!(container["image"].as_str(), Some("registry.example.com/gfn:0.1.0"));
    assert_eq!(container["readinessProbe"]["grpc"]["service"].as_str(), Some("gfn.v1.Learner"));
    assert_eq!(container["livenessProbe"]["grpc"]["port"].as_u64(), Some(50051));
    assert!(container["resources"]["limits"]["memory"].is_string());
    let mounts = container["volumeMounts"].as_sequence().unwrap();
    assert!(mounts.iter().any(|m| m["name"].as_str() == Some("state")));
    let config_map =
        pod["volumes"].as_sequence().unwrap().iter().find(|v| v["name"].as_str() == Some("config"));
    let config_map_name = config_map.unwrap()["configMap"]["name"].as_str().unwrap();
    assert!(config_map_name.starts_with("gfn-run-config-"), "hashed ConfigMap name: {config_map_name}");
    let run_config = find(&docs, "ConfigMap", config_map_name)["data"]["run.toml"].as_str().unwrap();
    let parsed = checked_run_config(run_config);
    assert_eq!(parsed.learner.listen, "0.0.0.0:50051");
    assert!(parsed.checkpoint.dir.unwrap().starts_with("/var/lib/gfn"), "checkpoints on the volume");

    // learner and actors read the run token from the Secret gfn-run-token
    let token_mounted = |pod: &Value, args: &Value| {
        let args: Vec<&str> = args.as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
        let file = args.iter().position(|a| *a == "--token-file").map(|i| args[i + 1]);
        let secret = pod["volumes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|v| v["secret"]["secretName"].as_str() == Some("gfn-run-token"));
        file == Some("/etc/gfn-token/token") && secret.is_some()
    };
    assert!(token_mounted(pod, &container["args"]), "the learner reads the run token");

    let actors = find(&docs, "Deployment", "gfn-actor");
    assert_eq!(actors["spec"]["replicas"].as_u64(), Some(4));
    let actor_pod = &actors["spec"]["template"]["spec"];
    assert!(
        actor_pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
            .is_sequence()
    );
    let args: Vec<&str> =
        actor_pod["containers"][0]["args"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(args[..2], ["--learner", "gfn-learner:50051"]);
    assert!(token_mounted(actor_pod, &actor_pod["containers"][0]["args"]), "actors send the run token");
    assert_eq!(actor_pod["securityContext"]["fsGroup"].as_u64(), Some(10001), "the token file is readable");
    // each actor serves its metrics on the port its scrape annotation names
    let metrics_at = args.iter().position(|a| *a == "--metrics-listen").expect("actors serve metrics");
    assert_eq!(args[metrics_at + 1], "0.0.0.0:9100");
    assert_eq!(actor_pod["containers"][0]["ports"][0]["containerPort"].as_u64(), Some(9100));
    let actor_annotations = &actors["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(actor_annotations["prometheus.io/scrape"].as_str(), Some("true"));
    assert_eq!(actor_annotations["prometheus.io/port"].as_str(), Some("9100"));
    let autoscaler = find(&docs, "HorizontalPodAutoscaler", "gfn-actor");
    assert_eq!(autoscaler["spec"]["scaleTargetRef"]["name"].as_str(), Some("gfn-actor"));
    assert_eq!(autoscaler["spec"]["metrics"][0]["resource"]["name"].as_str(), Some("cpu"));
    assert!(find(&docs, "PodDisruptionBudget", "gfn-actor")["spec"]["minAvailable"].is_number());
    let services: BTreeSet<&str> = docs
        .iter()
        .filter(|d| d["kind"].as_str() == Some("Service"))
        .filter_map(|d| d["metadata"]["name"].as_str())
        .collect();
    assert_eq!(services, BTreeSet::from(["gfn-learner", "gfn-learner-metrics"]));
    let metrics = find(&docs, "Service", "gfn-learner-metrics");
    assert_eq!(metrics["metadata"]["annotations"]["prometheus.io/scrape"].as_str(), Some("true"));

    // Only actor pods reach the learner's gRPC port.
    let policy = find(&docs, "NetworkPolicy", "gfn-learner");
    let grpc_rule = policy["spec"]["ingress"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|rule| rule["ports"][0]["port"].as_u64() == Some(50051))
        .expect("an ingress rule for the gRPC port");
    let from = grpc_rule["from"].as_sequence().expect("gRPC ingress is restricted");
    assert_eq!(from.len(), 1);
    assert_eq!(from[0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"].as_str(), Some("actor"));
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"].as_str(),
        Some("learner")
    );
}

/// The reward-server tier (component `reward-server`, overlay `molecules-reward-service`): a
/// Deployment of `gfn-reward-server` behind a headless Service the run's `[reward] dns` names,
/// an autoscaler and a disruption budget of its own, only actors admitted to its gRPC port, and
/// the proxy weights from a read-only volume.
#[test]
fn the_reward_server_tier_scales_apart_from_the_actors() {
    let manifests = kustomize(&repository().join("deploy/k8s/overlays/molecules-reward-service"));
    let docs = documents(&manifests);
    let servers = find(&docs, "Deployment", "gfn-reward-server");
    assert_eq!(servers["metadata"]["namespace"].as_str(), Some("gfn-molecules"));
    assert_eq!(servers["spec"]["replicas"].as_u64(), Some(4), "scaled apart from the 2 actors");
    assert_eq!(find(&docs, "Deployment", "gfn-actor")["spec"]["replicas"].as_u64(), Some(2));
    let pod = &servers["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["image"].as_str(), Some("registry.example.com/gfn:0.1.0"));
    assert_eq!(container["command"][0].as_str(), Some("gfn-reward-server"));
    assert_eq!(container["readinessProbe"]["grpc"]["service"].as_str(), Some("gfn.reward.v1.RewardModel"));
    let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    let value_of = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(value_of("--listen"), "0.0.0.0:50061");
    assert_eq!(value_of("--token-file"), "/etc/gfn-token/token");
    assert!(value_of("--proxy-weights").starts_with("/var/lib/gfn-data/"));
    let data =
        pod["volumes"].as_sequence().unwrap().iter().find(|v| v["name"].as_str() == Some("molecule-data"));
    assert_eq!(data.unwrap()["persistentVolumeClaim"]["claimName"].as_str(), Some("gfn-molecule-data"));
    assert_eq!(
        find(&docs, "PersistentVolumeClaim", "gfn-molecule-data")["spec"]["accessModes"][0],
        "ReadOnlyMany"
    );

    // headless: every ready pod is an endpoint the actors balance over
    let service = find(&docs, "Service", "gfn-reward-server");
    assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"));
    assert_eq!(service["spec"]["ports"][0]["port"].as_u64(), Some(50061));
    let autoscaler = find(&docs, "HorizontalPodAutoscaler", "gfn-reward-server");
    assert_eq!(autoscaler["spec"]["scaleTargetRef"]["name"].as_str(), Some("gfn-reward-server"));
    assert!(find(&docs, "PodDisruptionBudget", "gfn-reward-server")["spec"]["minAvailable"].is_number());
    let policy = find(&docs, "NetworkPolicy", "gfn-reward-server");
    let rule = policy["spec"]["ingress"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|rule| rule["ports"][0]["port"].as_u64() == Some(50061))
        .expect("an ingress rule for the reward gRPC port");
    assert_eq!(
        rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"].as_str(),
        Some("actor")
    );

    // the run's reward section points at that Service, and the actors mount the vocabulary
    let learner = find(&docs, "StatefulSet", "gfn-learner");
    let config_map = learner["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|v| v["configMap"]["name"].as_str())
        .unwrap();
    let run_config = find(&docs, "ConfigMap", config_map)["data"]["run.toml"].as_str().unwrap();
    let parsed = checked_run_config(run_config);
    let reward = parsed.reward.service().expect("rewards from the service");
    assert_eq!(reward.dns.as_deref(), Some("gfn-reward-server:50061"));
    assert_eq!((reward.exponent, reward.min, reward.norm), (10.0, 0.1, 8.0), "the paper's reward");
    let actor_mounts =
        &find(&docs, "Deployment", "gfn-actor")["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
    assert!(
        actor_mounts
            .as_sequence()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"].as_str() == Some("/var/lib/gfn-data"))
    );
}

/// The multi-objective overlay (`seh-frag-moo`): the reward tier runs `gfn-reward-server --model
/// properties` with RDKit's SA table from the data volume, the run takes QED and SA from it
/// through the headless Service (sEH and MW stay with the actors), and both the actors and the
/// learner (its Pareto evaluation) may call it.
#[test]
fn the_multi_objective_overlay_takes_qed_and_sa_from_the_reward_tier() {
    let docs = documents(&kustomize(&repository().join("deploy/k8s/overlays/seh-frag-moo")));
    let servers = find(&docs, "Deployment", "gfn-reward-server");
    assert_eq!(servers["metadata"]["namespace"].as_str(), Some("gfn-moo"));
    let container = &servers["spec"]["template"]["spec"]["containers"][0];
    let args: Vec<&str> = container["args"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    let value_of = |flag: &str| args[args.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(value_of("--model"), "properties");
    assert_eq!(value_of("--sa-fragment-scores"), "/var/lib/gfn-data/fpscores.pkl.gz");
    assert_eq!(value_of("--token-file"), "/etc/gfn-token/token");
    let policy = find(&docs, "NetworkPolicy", "gfn-reward-server");
    let rule = policy["spec"]["ingress"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|rule| rule["ports"][0]["port"].as_u64() == Some(50061))
        .expect("an ingress rule for the reward gRPC port");
    let admitted: Vec<&str> = rule["from"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|from| from["podSelector"]["matchLabels"]["app.kubernetes.io/component"].as_str())
        .collect();
    assert_eq!(admitted, ["actor", "learner"]);

    let learner = find(&docs, "StatefulSet", "gfn-learner");
    let config_map = learner["spec"]["template"]["spec"]["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find_map(|v| v["configMap"]["name"].as_str())
        .unwrap();
    let run_config = find(&docs, "ConfigMap", config_map)["data"]["run.toml"].as_str().unwrap();
    let parsed = checked_run_config(run_config);
    assert!(parsed.reward.service().is_none(), "sEH is the actors' built-in proxy");
    assert_eq!(parsed.conditioning.objectives, ["seh", "qed", "sa", "mw"]);
    let services = &parsed.conditioning.services;
    assert_eq!(services.len(), 1);
    assert_eq!(services[0].objectives, ["qed", "sa"]);
    assert_eq!(services[0].connection.dns.as_deref(), Some("gfn-reward-server:50061"));
    for (kind, name) in [("Deployment", "gfn-actor"), ("StatefulSet", "gfn-learner")] {
        let mounts = &find(&docs, kind, name)["spec"]["template"]["spec"]["containers"][0]["volumeMounts"];
        assert!(
            mounts
                .as_sequence()
                .unwrap()
                .iter()
                .any(|m| m["mountPath"].as_str() == Some("/var/lib/gfn-data")),
            "{name} reads the vocabulary and proxy weights"
        );
    }
}

#[test]
fn the_optional_service_monitor_component_renders() {
    // kustomize takes relative paths only: an overlay two levels below the repository root
    let dir = tempfile::Builder::new().tempdir_in(repository().join("target")).unwrap();
    std::fs::write(
        dir.path().join("kustomization.yaml"),
        "resources:\n  - ../../deploy/k8s/base\ncomponents:\n  - ../../deploy/k8s/components/service-monitor\n",
    )
    .unwrap();
    let docs = documents(&kustomize(dir.path()));
    let monitor = find(&docs, "ServiceMonitor", "gfn-learner");
    assert_eq!(monitor["spec"]["selector"]["matchLabels"]["gfn.dev/metrics"].as_str(), Some("true"));
    assert_eq!(monitor["spec"]["endpoints"][0]["port"].as_str(), Some("metrics"));
    let actors = find(&docs, "PodMonitor", "gfn-actor");
    assert_eq!(
        actors["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"].as_str(),
        Some("actor")
    );
    assert_eq!(actors["spec"]["podMetricsEndpoints"][0]["port"].as_str(), Some("metrics"));
}

/// A manifest's run.toml, parsed and validated as the learner does.
fn checked_run_config(text: &str) -> gfn_common::config::RunConfig {
    use gfn_common::task::{BuiltinTasks, Tasks};
    BuiltinTasks::default().config_from_str(text, None, &[]).expect("the manifest's run.toml is valid")
}
