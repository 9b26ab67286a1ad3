//! Rewards from reward services, end to end with real processes: a learner, two actors and two
//! Python reward servers (examples/reward-server, generated from the .proto alone, RDKit QED)
//! train the fragment environment on QED. One server is SIGKILLed mid-run and restarted on
//! its port: no trajectory with a wrong or missing reward reaches the learner, training goes
//! on against the other server, the dead one is ejected by the actors and gets calls again once
//! it is back.
//!
//! Needs grpcio, grpcio-tools and RDKit importable by `python3`: `scripts/test` installs
//! examples/reward-server/requirements.txt into `.pytools/` and sets `GFN_PYTHONPATH`.

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use support::data::vocabulary;
use support::python::pytools;
use support::{Event, LearnerProcess, Process, binary, scrape, wait_until, write_config};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A QED reward server listening on `listen`; its address.
fn start_qed_server(listen: &str) -> (Process, String) {
    let mut command = Command::new("python3");
    command
        .arg(root().join("examples/reward-server/qed_server.py"))
        .args(["--listen", listen])
        .env("PYTHONPATH", pytools());
    let mut server = Process::spawn(command);
    let address = server.wait_for(Duration::from_secs(60), |line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        (event["event"] == "listening").then(|| event["address"].as_str().unwrap().to_string())
    });
    (server, address)
}

/// `gfn-actor` with its own `/metrics`; the process and the metrics address.
fn start_actor_with_metrics(learner: &str, name: &str) -> (Process, String) {
    let mut command = Command::new(binary("gfn-actor"));
    command.args(["--learner", learner, "--name", name, "--metrics-listen", "127.0.0.1:0"]);
    let mut actor = Process::spawn_with_events(command);
    let metrics = actor.wait_for_event(Duration::from_secs(30), |event| match event {
        Event::Metrics { address } => Some(address.clone()),
        _ => None,
    });
    (actor, metrics)
}

/// A labelled actor metric summed over the actors (0 where absent).
fn total(actors: &[String], name: &str, endpoint: &str) -> f64 {
    let key = format!("{name}{{endpoint=\"http://{endpoint}\"}}");
    actors.iter().map(|a| scrape(a).get(&key).copied().unwrap_or(0.0)).sum()
}

/// Least rise of the top-100 average QED from the first evaluation (800 molecules) to the end
/// (9,600) of the run below. Measured (2026-12-01, AMD EPYC): the learned policy +0.250
/// (0.668 → 0.918); the same pipeline with a uniformly random policy (`exploration_epsilon =
/// 1`) +0.159 (0.707 → 0.866), only because more molecules are drawn.
const GAIN_TOP100: f64 = 0.18;
/// Least rise of the mean QED from the first to the last 1,000 stored molecules: the learned
/// policy +0.237 (0.368 → 0.606), the uniform one +0.001 (0.343 → 0.344).
const GAIN_MEAN: f64 = 0.1;

#[test]
fn learner_two_actors_and_two_python_reward_servers_train_on_qed_through_a_server_crash() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server_a, address_a) = start_qed_server("127.0.0.1:0");
    let (_server_b, address_b) = start_qed_server("127.0.0.1:0");
    let db = dir.path().join("molecules.sqlite");
    let log = dir.path().join("evaluation.jsonl");
    let config = write_config(
        dir.path(),
        "qed.toml",
        &format!(
            "seed = 5\n[env]\ntype = \"fragments\"\nvocabulary = {:?}\nr_min = 0.01\nreward_norm = 1.0\nmode_threshold = 0.9\n\
             [reward]\ntype = \"service\"\nendpoints = [{address_a:?}, {address_b:?}]\nexponent = 10.0\nmin = 0.01\n\
             max_batch = 16\nmax_in_flight = 2\ndeadline_ms = 3000.0\nattempts = 3\neject_after_failures = 2\neject_seconds = 1.0\n\
             [policy]\nhidden = 128\nrounds = 3\n\
             [training]\nupdates = 600\nbatch_size = 16\nlearning_rate = 5e-4\nexploration_epsilon = 0.05\n\
             [evaluation]\ninterval_updates = 50\nmilestone_molecules = 0\nlog_path = {log:?}\nresults_db = {db:?}\n\
             [learner]\nlinger_seconds = 1.0\nqueue_capacity = 64\n\
             [actor]\nrollout_batch = 16\nsubmit_batch = 16\n",
            vocabulary(),
        ),
    );
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let (mut actor_0, metrics_0) = start_actor_with_metrics(&learner.address, "q0");
    let (mut actor_1, metrics_1) = start_actor_with_metrics(&learner.address, "q1");
    let actors = [metrics_0, metrics_1];
    let calls = "gfn_actor_reward_service_calls_total";

    // both servers get calls; then server A crashes mid-run
    wait_until(Duration::from_secs(120), "calls to both reward servers", || {
        total(&actors, calls, &address_a) > 0.0 && total(&actors, calls, &address_b) > 0.0
    });
    wait_until(Duration::from_secs(300), "update 150", || {
        learner.metric("gfn_learner_updates_total") >= 150.0
    });
    server_a.child.kill().unwrap();
    server_a.wait(Duration::from_secs(10));
    let update_at_kill = learner.metric("gfn_learner_updates_total");
    wait_until(Duration::from_secs(60), "server A ejected by an actor", || {
        total(&actors, "gfn_actor_reward_service_ejections_total", &address_a) >= 1.0
    });
    wait_until(Duration::from_secs(120), "100 more updates without server A", || {
        learner.metric("gfn_learner_updates_total") >= update_at_kill + 100.0
    });
    // server A comes back on its port and gets calls again
    let calls_before_restart = total(&actors, calls, &address_a);
    let (_server_a, _) = start_qed_server(&address_a);
    wait_until(Duration::from_secs(120), "calls answered by the restarted server A", || {
        total(&actors, "gfn_actor_reward_service_objects_total", &address_a) > 0.0
            && total(&actors, calls, &address_a) > calls_before_restart + 2.0
            && total(&actors, "gfn_actor_reward_service_ejected", &address_a) == 0.0
    });
    assert!(learner.process.wait(Duration::from_secs(600)).success(), "{:?}", learner.process.output());
    for actor in [&mut actor_0, &mut actor_1] {
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
    }

    // every stored molecule's score is its QED, recomputed here from its SMILES, and names the model
    let output = Command::new("python3")
        .arg(root().join("tests/python/qed_check.py"))
        .arg(&db)
        .env("PYTHONPATH", pytools())
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let check: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    println!("{check}");
    assert!(check["molecules"].as_u64().unwrap() >= 9600, "{check}");
    assert_eq!(check["missing"], 0, "{check}");
    assert_eq!(check["unparsable"], 0, "{check}");
    assert!(check["max_abs_diff"].as_f64().unwrap() < 1e-9, "{check}");
    let models: HashMap<String, u64> = serde_json::from_value(check["models"].clone()).unwrap();
    let expected_model = format!("rdkit-qed@{}", check["rdkit"].as_str().unwrap());
    assert_eq!(models.keys().collect::<Vec<_>>(), vec![&expected_model], "{models:?}");

    // the policy learned QED: the top-100 and the mean QED rise
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(&log).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let top100 = |r: &serde_json::Value| r["top100_proxy"].as_f64().unwrap();
    let (first, last) = (&records[0], &records[records.len() - 1]);
    assert_eq!(first["update"], 50);
    let connection = rusqlite::Connection::open(&db).unwrap();
    let qed: Vec<f64> = connection
        .prepare("SELECT proxy FROM molecules ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mean = |values: &[f64]| values.iter().sum::<f64>() / values.len() as f64;
    let (first_mean, last_mean) = (mean(&qed[..1000]), mean(&qed[qed.len() - 1000..]));
    println!(
        "top-100 QED {:.4} → {:.4}; mean QED of the first/last 1000 {first_mean:.4} → {last_mean:.4}",
        top100(first),
        top100(last)
    );
    assert!(top100(last) - top100(first) > GAIN_TOP100, "{first} → {last}");
    assert!(last_mean - first_mean > GAIN_MEAN, "{first_mean} → {last_mean}");
}

/// `gfn-reward-server` on a free port; its address and model name.
fn start_seh_server() -> (Process, String, String) {
    let mut command = Command::new(binary("gfn-reward-server"));
    command
        .args(["--listen", "127.0.0.1:0", "--threads", "2", "--proxy-weights"])
        .arg(support::data::proxy_weights());
    let mut server = Process::spawn(command);
    let (address, model) = server.wait_for(Duration::from_secs(60), |line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        if event["event"] != "listening" {
            return None;
        }
        Some((event["address"].as_str()?.to_string(), event["model"].as_str()?.to_string()))
    });
    (server, address, model)
}

/// The sEH proxy served remotely by the built-in Rust server gives the same rewards as the
/// in-process proxy: learner + 2 actors whose `[reward]` points at `gfn-reward-server`; every
/// stored molecule's proxy equals an in-process recomputation from its SMILES, its reward is
/// the paper's `(max(proxy, 0.1)/8)^10`, and it names the server's model and weights version.
#[test]
fn the_seh_proxy_served_by_gfn_reward_server_matches_the_in_process_proxy() {
    use gfn_common::reward::molecule_features::featurize_smiles;
    use gfn_common::reward::seh_proxy::SehProxy;

    let dir = tempfile::tempdir().unwrap();
    let (_server, address, model) = start_seh_server();
    assert!(model.starts_with("seh-proxy-bengio2021@"), "{model}");
    let db = dir.path().join("molecules.sqlite");
    let config = write_config(
        dir.path(),
        "seh-remote.toml",
        &format!(
            "seed = 2\n[env]\ntype = \"fragments\"\nvocabulary = {:?}\n\
             [reward]\ntype = \"service\"\nendpoints = [{address:?}]\nexponent = 10.0\nmin = 0.1\nnorm = 8.0\nmax_in_flight = 2\n\
             [policy]\nhidden = 64\nrounds = 2\n\
             [training]\nupdates = 100\nbatch_size = 16\nexploration_epsilon = 0.05\n\
             [evaluation]\ninterval_updates = 50\nresults_db = {db:?}\n\
             [learner]\nlinger_seconds = 1.0\n[actor]\nrollout_batch = 16\nsubmit_batch = 16\n",
            vocabulary(),
        ),
    );
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let mut actors: Vec<_> =
        (0..2).map(|i| support::start_actor(&learner.address, &format!("s{i}"))).collect();
    assert!(learner.process.wait(Duration::from_secs(300)).success(), "{:?}", learner.process.output());
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
    }
    let connection = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, f64, f64, String)> = connection
        .prepare("SELECT smiles, proxy, log_reward, reward_model FROM molecules")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(rows.len() >= 1600, "{} molecules", rows.len());
    tch::set_num_threads(1);
    let proxy = SehProxy::load(&support::data::proxy_weights()).unwrap();
    let graphs: Vec<_> = rows.iter().map(|(smiles, ..)| featurize_smiles(smiles).unwrap()).collect();
    let recomputed: Vec<f32> = graphs.chunks(256).flat_map(|chunk| proxy.predict(chunk)).collect();
    for ((smiles, stored, log_reward, reward_model), again) in rows.iter().zip(recomputed) {
        let again = (again as f64).max(gfn_reward_server_floor());
        assert!((stored - again).abs() <= 1e-3, "{smiles}: stored {stored}, in process {again}");
        let expected = 10.0 * (stored.max(0.1) / 8.0).ln();
        assert!((log_reward - expected).abs() < 1e-9, "{smiles}: log R {log_reward} vs {expected}");
        assert_eq!(reward_model, &model);
    }
}

/// The floor `gfn-reward-server` applies to proxy values (a SCORE must be positive).
fn gfn_reward_server_floor() -> f64 {
    1e-3
}

/// Reward calls over TLS: `gfn-reward-server --tls-cert/--tls-key` with a certificate from the
/// run CA, and the actor's reward client given that CA (`https://` endpoint) scores through it;
/// a client that does not trust the CA gets no reward.
#[test]
fn reward_calls_go_over_tls_to_a_server_with_a_run_ca_certificate() {
    use gfn_actor::reward_service::connect;
    use gfn_common::config::RewardServiceConfig;
    use gfn_proto::reward::v1::{Molecule, RewardObject, reward_object::Object};
    use support::tls::{certificate_authority, leaf};
    use tonic::transport::{Certificate, ClientTlsConfig};

    let dir = tempfile::tempdir().unwrap();
    let (ca, issuer) = certificate_authority(dir.path(), "run-ca");
    let server_pem = leaf(dir.path(), "reward", &["localhost"], true, &issuer);
    let mut command = Command::new(binary("gfn-reward-server"));
    command
        .args(["--listen", "127.0.0.1:0", "--proxy-weights"])
        .arg(support::data::proxy_weights())
        .arg("--tls-cert")
        .arg(&server_pem.cert)
        .arg("--tls-key")
        .arg(&server_pem.key);
    let mut server = Process::spawn(command);
    let address = server.wait_for(Duration::from_secs(60), |line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        event["address"].as_str().map(str::to_string)
    });
    let port = address.rsplit_once(':').unwrap().1;
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let config = RewardServiceConfig {
        endpoints: vec![format!("https://localhost:{port}")],
        attempts: 1,
        ..RewardServiceConfig::default()
    };
    let molecule = || {
        let molecule = Molecule { smiles: "c1ccccc1O".into(), junction_tree_json: String::new() };
        vec![RewardObject { object: Some(Object::Molecule(molecule)) }]
    };
    let trusted =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(&ca.cert).unwrap()));
    let client = connect(&config, None, Some(trusted), "run", runtime.handle()).unwrap();
    let reply = runtime.block_on(client.score(molecule())).expect("scored over TLS");
    assert_eq!(reply.results.len(), 1);
    assert!(reply.model.starts_with("seh-proxy-bengio2021@"), "{}", reply.model);
    // a client with another CA is refused at the handshake
    let (other, _) = certificate_authority(dir.path(), "other-ca");
    let untrusted =
        ClientTlsConfig::new().ca_certificate(Certificate::from_pem(std::fs::read(&other.cert).unwrap()));
    let client = connect(&config, None, Some(untrusted), "run", runtime.handle()).unwrap();
    assert!(runtime.block_on(client.score(molecule())).is_err());
}

/// Objectives from a reward service beside built-in ones (`[[conditioning.services]]`): a
/// learner and 2 actors train the fragments on sEH (computed by the actors) with QED and SA from
/// `gfn-reward-server --model properties`. Every stored molecule names where each value came
/// from, the service's raw values equal RDKit-identical recomputations from the SMILES, and the
/// learner's Pareto evaluation (which scores its samples through the same service) reaches the
/// log.
#[test]
fn qed_and_sa_from_a_reward_service_combine_with_the_actors_built_in_seh() {
    use gfn_common::reward::objectives::{DrugLikenessScorer, SaScorer, normalize_sa, normalize_seh};

    let table = pytools().join("rdkit/Contrib/SA_Score/fpscores.pkl.gz");
    let mut command = Command::new(binary("gfn-reward-server"));
    command.args(["--model", "properties", "--listen", "127.0.0.1:0", "--sa-fragment-scores"]).arg(&table);
    let mut server = Process::spawn(command);
    let (address, model) = server.wait_for(Duration::from_secs(60), |line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        if event["event"] != "listening" {
            return None;
        }
        Some((event["address"].as_str()?.to_string(), event["model"].as_str()?.to_string()))
    });
    assert!(model.starts_with("molecule-properties@"), "{model}");
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("molecules.sqlite");
    let log = dir.path().join("evaluation.jsonl");
    let config = write_config(
        dir.path(),
        "moo-service.toml",
        &format!(
            "seed = 4\n[env]\ntype = \"fragments\"\nvocabulary = {:?}\nproxy_weights = {:?}\nreward_exponent = 1.0\n\
             [policy]\nhidden = 64\nrounds = 2\n[objective]\ntype = \"trajectory_balance\"\n\
             [conditioning]\nobjectives = [\"seh\", \"qed\", \"sa\"]\nreward_exponent_range = [1.0, 32.0]\n\
             evaluation_divisions = 2\nevaluation_samples = 8\nevaluation_top_k = 2\n\
             [[conditioning.services]]\nname = \"props\"\nobjectives = [\"qed\", \"sa\"]\nendpoints = [{address:?}]\n\
             [training]\nupdates = 40\nbatch_size = 16\nexploration_epsilon = 0.05\n\
             [evaluation]\ninterval_updates = 20\nlog_path = {log:?}\nresults_db = {db:?}\n\
             [learner]\nlinger_seconds = 1.0\n[actor]\nrollout_batch = 16\nsubmit_batch = 16\n",
            vocabulary(),
            support::data::proxy_weights(),
        ),
    );
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let mut actors: Vec<_> =
        (0..2).map(|i| support::start_actor(&learner.address, &format!("p{i}"))).collect();
    assert!(learner.process.wait(Duration::from_secs(300)).success(), "{:?}", learner.process.output());
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
    }
    assert_eq!(
        evaluations_with_a_hypervolume(&log),
        2,
        "the learner's evaluation scored its samples through the service"
    );

    let connection = rusqlite::Connection::open(&db).unwrap();
    let rows: Vec<(String, String, String, String)> = connection
        .prepare("SELECT smiles, objectives, raw_objectives, objective_sources FROM molecules")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(rows.len() >= 40 * 16, "{} molecules", rows.len());
    let scorer = DrugLikenessScorer::new(SaScorer::load(&table).unwrap());
    let from_service = format!("props:{model}");
    for (smiles, normalized, raw, sources) in &rows {
        let sources: Vec<String> = serde_json::from_str(sources).unwrap();
        assert_eq!(sources, ["builtin", from_service.as_str(), from_service.as_str()], "{smiles}");
        let raw: Vec<f64> = serde_json::from_str(raw).unwrap();
        let normalized: Vec<f64> = serde_json::from_str(normalized).unwrap();
        let again = scorer.score(smiles).unwrap();
        // equal up to the order of floating-point sums (1 ulp seen)
        let close = |a: f64, b: f64| (a - b).abs() <= 1e-12 * b.abs().max(1.0);
        assert!(close(raw[1], again.qed) && close(raw[2], again.sa), "{smiles}: {raw:?} vs {again:?}");
        assert!(close(normalized[1], again.qed) && close(normalized[2], normalize_sa(again.sa)), "{smiles}");
        assert!(close(normalized[0], normalize_seh(raw[0])), "{smiles}: sEH built in");
    }
}

/// Objectives from a reward service over TLS, in the secure deployment: `gfn-reward-server
/// --model properties` with a certificate of the run CA, a learner serving TLS, actors given the
/// run CA (for the learner and the service alike), and the learner calling the service in its
/// evaluation with `security.service_ca`. Without a CA for the service the learner refuses to
/// start and says which key is missing, instead of failing each evaluation.
#[test]
fn objectives_from_a_reward_service_over_tls_reach_the_actors_and_the_learners_evaluation() {
    use support::tls::{certificate_authority, leaf};

    let dir = tempfile::tempdir().unwrap();
    let (ca, issuer) = certificate_authority(dir.path(), "run-ca");
    let server_pem = leaf(dir.path(), "props", &["localhost"], true, &issuer);
    let learner_pem = leaf(dir.path(), "learner", &["localhost"], true, &issuer);
    let table = pytools().join("rdkit/Contrib/SA_Score/fpscores.pkl.gz");
    let mut command = Command::new(binary("gfn-reward-server"));
    command.args(["--model", "properties", "--listen", "127.0.0.1:0", "--sa-fragment-scores"]).arg(&table);
    command.arg("--tls-cert").arg(&server_pem.cert).arg("--tls-key").arg(&server_pem.key);
    let mut server = Process::spawn(command);
    let address = server.wait_for(Duration::from_secs(60), |line| {
        let event: serde_json::Value = serde_json::from_str(line).ok()?;
        event["address"].as_str().map(str::to_string)
    });
    let port = address.rsplit_once(':').unwrap().1;
    let log = dir.path().join("evaluation.jsonl");
    let run = |security: &str| {
        format!(
            "seed = 5\n[env]\ntype = \"fragments\"\nvocabulary = {:?}\nproxy_weights = {:?}\nreward_exponent = 1.0\n\
             [policy]\nhidden = 64\nrounds = 2\n[objective]\ntype = \"trajectory_balance\"\n\
             [conditioning]\nobjectives = [\"seh\", \"qed\", \"sa\"]\nreward_exponent_range = [1.0, 32.0]\n\
             evaluation_divisions = 2\nevaluation_samples = 8\nevaluation_top_k = 2\n\
             [[conditioning.services]]\nname = \"props\"\nobjectives = [\"qed\", \"sa\"]\n\
             endpoints = [\"https://localhost:{port}\"]\n\
             [training]\nupdates = 20\nbatch_size = 16\nexploration_epsilon = 0.05\n\
             [evaluation]\ninterval_updates = 10\nlog_path = {log:?}\n\
             [learner]\nlinger_seconds = 1.0\n[actor]\nrollout_batch = 16\nsubmit_batch = 16\n\
             [security]\ntls_cert = {:?}\ntls_key = {:?}\n{security}",
            vocabulary(),
            support::data::proxy_weights(),
            learner_pem.cert,
            learner_pem.key,
        )
    };

    // no CA for the service: refused at start, naming the key
    let config = write_config(dir.path(), "no-ca.toml", &run(""));
    let mut command = Command::new(binary("gfn-learner"));
    command.arg("--config").arg(&config).args(["--listen", "127.0.0.1:0", "--metrics-listen", "127.0.0.1:0"]);
    let mut child = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("a learner without a CA for an https service started anyway");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut said = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut said).unwrap();
    assert!(!status.success());
    assert!(said.contains("\"props\"") && said.contains("security.service_ca"), "{said}");

    let config = write_config(dir.path(), "tls.toml", &run(&format!("service_ca = {:?}\n", ca.cert)));
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let mut actors: Vec<_> = (0..2)
        .map(|i| {
            let mut command = Command::new(binary("gfn-actor"));
            command.args([
                "--learner",
                &learner.address,
                "--name",
                &format!("t{i}"),
                "--tls-domain",
                "localhost",
            ]);
            command.arg("--tls-ca").arg(&ca.cert);
            Process::spawn(command)
        })
        .collect();
    assert!(learner.process.wait(Duration::from_secs(300)).success(), "{:?}", learner.process.output());
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
    }
    assert!(matches!(learner.finished(), Some(Event::LearnerFinished { updates: 20, .. })));
    assert_eq!(
        evaluations_with_a_hypervolume(&log),
        2,
        "the learner's evaluation scored its samples through the service over TLS"
    );
}

/// The evaluation records of the JSON-lines `log` with a positive hypervolume.
fn evaluations_with_a_hypervolume(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r.get("hypervolume").is_some_and(|hv| hv.as_f64().is_some_and(|hv| hv > 0.0)))
        .count()
}
