//! Who may talk to the learner: with a run token, every RPC of `gfn.v1.Learner` without it or
//! with a wrong one is refused with UNAUTHENTICATED and counted by reason, while actors that
//! have the token (from a file or `GFN_RUN_TOKEN`) train normally and the health service stays
//! open to probes.

mod support;

use std::process::Command;
use std::time::Duration;

use gfn_proto::v1::{self, learner_client::LearnerClient};
use support::tls::{Pem, certificate_authority, leaf};
use support::{Event, LearnerProcess, Process, binary, write_config};
use tonic::Code;
use tonic::metadata::MetadataValue;

const TOKEN: &str = "9f2c4e1a7b3d5f608e1c2a4b6d8f0e2c";

async fn every_rpc_is_refused(address: &str, authorization: Option<&str>) {
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .expect("learner reachable");
    let header = authorization.map(|text| text.parse::<MetadataValue<_>>().unwrap());
    let mut client = LearnerClient::with_interceptor(channel, move |mut request: tonic::Request<()>| {
        if let Some(header) = &header {
            request.metadata_mut().insert("authorization", header.clone());
        }
        Ok(request)
    });
    let register = client.register(support::register_request("intruder")).await.unwrap_err();
    let submit = client
        .submit_trajectories(v1::TrajectoryBatch {
            run_id: "any".into(),
            actor_id: 1,
            trajectories: vec![],
            actor_instance: 0,
        })
        .await
        .unwrap_err();
    let watch = client
        .watch_weights(v1::WatchWeightsRequest { run_id: "any".into(), actor_id: 1, have_version: 0 })
        .await
        .unwrap_err();
    for (rpc, status) in [("Register", register), ("SubmitTrajectories", submit), ("WatchWeights", watch)] {
        assert_eq!(status.code(), Code::Unauthenticated, "{rpc} with {authorization:?}: {status:?}");
        assert!(!status.message().contains(TOKEN), "{rpc}: the status leaks the token");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_run_token_every_rpc_is_refused_and_actors_with_it_train() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    let config = write_config(
        dir.path(),
        "run.toml",
        &format!(
            "[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[training]\nupdates = 400\n\
             [evaluation]\ninterval_updates = 1000\nempirical_samples = 0\n[learner]\nlinger_seconds = 1.0\n\
             [security]\ntoken_file = {token_file:?}\n"
        ),
    );
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);

    every_rpc_is_refused(&learner.address, None).await;
    every_rpc_is_refused(&learner.address, Some("Bearer not-the-token-of-this-run")).await;
    every_rpc_is_refused(&learner.address, Some(TOKEN)).await; // no "Bearer " scheme
    let metrics = learner.scrape();
    assert_eq!(metrics.get("gfn_learner_unauthenticated_total{reason=\"missing_token\"}"), Some(&3.0));
    assert_eq!(metrics.get("gfn_learner_unauthenticated_total{reason=\"wrong_token\"}"), Some(&6.0));
    assert_eq!(learner.metric("gfn_learner_actors_registered_total"), 0.0);

    // the health service answers probes without a token
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", learner.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel);
    let reply = health
        .check(tonic_health::pb::HealthCheckRequest { service: "gfn.v1.Learner".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.status, tonic_health::pb::health_check_response::ServingStatus::Serving as i32);

    // one actor reads the token from a file, the other from the environment
    let mut from_file = Command::new(binary("gfn-actor"));
    from_file.args(["--learner", &learner.address, "--name", "file"]).arg("--token-file").arg(&token_file);
    let mut from_env = Command::new(binary("gfn-actor"));
    from_env.args(["--learner", &learner.address, "--name", "env"]).env("GFN_RUN_TOKEN", TOKEN);
    let mut actors = [Process::spawn_with_events(from_file), Process::spawn_with_events(from_env)];
    // an actor with a wrong token is refused and gives up with a clear error
    let mut wrong = Command::new(binary("gfn-actor"));
    wrong
        .args(["--learner", &learner.address, "--name", "wrong"])
        .env("GFN_RUN_TOKEN", "0000000000000000000000");
    let mut wrong = Process::spawn(wrong);

    assert!(learner.process.wait(Duration::from_secs(120)).success(), "{:?}", learner.process.output());
    for actor in &mut actors {
        assert!(actor.wait(Duration::from_secs(30)).success(), "{:?}", actor.output());
    }
    let refused = wrong.wait(Duration::from_secs(30));
    assert!(!refused.success(), "an actor with a wrong token must exit with an error");
    let learner_output = learner.process.output().join("\n");
    assert!(!learner_output.contains(TOKEN), "the learner printed the token");
    assert!(
        matches!(learner.finished(), Some(Event::LearnerFinished { updates: 400, .. })),
        "{learner_output}"
    );
    for actor in &actors {
        assert!(
            actor.events().iter().any(|e| matches!(e, Event::Registered { .. })),
            "both actors registered"
        );
    }
}

/// The admission limits answer RESOURCE_EXHAUSTED (and OUT_OF_RANGE for an oversized
/// message), count the refusal, and leave the learner serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_trigger_with_their_documented_status_codes() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "run.toml",
        "[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[training]\nupdates = 100000\n\
         [evaluation]\ninterval_updates = 100000\nempirical_samples = 0\n\
         [learner]\nmax_message_bytes = 65536\nweights_chunk_bytes = 16384\nmax_weight_streams_per_actor = 1\nmax_ingest_per_actor = 20\n",
    );
    let learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let mut client = LearnerClient::connect(format!("http://{}", learner.address)).await.unwrap();
    let registration = client.register(support::register_request("greedy")).await.unwrap().into_inner();
    let watch = v1::WatchWeightsRequest {
        run_id: registration.run_id.clone(),
        actor_id: registration.actor_id,
        have_version: 0,
    };
    let mut first = client.watch_weights(watch.clone()).await.expect("one stream is fine").into_inner();
    assert!(first.message().await.unwrap().is_some(), "the first stream delivers weights");
    let second = client.watch_weights(watch.clone()).await.unwrap_err();
    assert_eq!(second.code(), Code::ResourceExhausted, "{second:?}");
    assert!(second.message().contains("weight streams"), "{second:?}");
    drop(first);
    // the place is released when the stream ends
    let mut again = None;
    for _ in 0..50 {
        match client.watch_weights(watch.clone()).await {
            Ok(stream) => {
                again = Some(stream);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
    assert!(again.is_some(), "a new stream once the first one closed");

    // 2-D grid: [2] stops at the origin, a valid trajectory
    let stop = v1::Trajectory { actions: vec![2], log_reward: -1.0, ..Default::default() };
    let batch = |n: usize| v1::TrajectoryBatch {
        run_id: registration.run_id.clone(),
        actor_id: registration.actor_id,
        trajectories: vec![stop.clone(); n],
        actor_instance: 0,
    };
    assert_eq!(client.submit_trajectories(batch(16)).await.unwrap().into_inner().accepted, 16);
    let limited = client.submit_trajectories(batch(16)).await.unwrap_err();
    assert_eq!(limited.code(), Code::ResourceExhausted, "{limited:?}");
    assert!(limited.message().contains("ingest rate"), "{limited:?}");
    let oversized = client.submit_trajectories(batch(40_000)).await.unwrap_err();
    assert_eq!(oversized.code(), Code::OutOfRange, "{oversized:?}");

    let metrics = learner.scrape();
    // at least the refusal above (the retry loop may add some while the first stream closes)
    let streams_refused = metrics.get("gfn_learner_limited_total{limit=\"weight streams\",scope=\"actor\"}");
    assert!(streams_refused.is_some_and(|&n| n >= 1.0), "{metrics:?}");
    assert_eq!(metrics.get("gfn_learner_limited_total{limit=\"ingest rate\",scope=\"actor\"}"), Some(&1.0));
    // still serving: after a second the bucket has refilled
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(client.submit_trajectories(batch(16)).await.unwrap().into_inner().accepted, 16);
}

/// Registers over TLS with `identity` (or none); the status code of a failure.
async fn register_over_tls(address: &str, ca: &Pem, identity: Option<&Pem>) -> Result<(), String> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(std::fs::read(&ca.cert).unwrap()))
        .domain_name("localhost");
    if let Some(pem) = identity {
        tls = tls.identity(Identity::from_pem(
            std::fs::read(&pem.cert).unwrap(),
            std::fs::read(&pem.key).unwrap(),
        ));
    }
    let endpoint = Endpoint::from_shared(format!("https://{address}")).unwrap().tls_config(tls).unwrap();
    let channel = endpoint.connect().await.map_err(|e| format!("connect: {e:?}"))?;
    LearnerClient::new(channel)
        .register(support::register_request("tls"))
        .await
        .map(|_| ())
        .map_err(|status| format!("{:?}: {}", status.code(), status.message()))
}

/// A learner serving with `server` and requiring client certificates of `ca` (mutual TLS),
/// for 300 updates of a small grid.
fn start_tls_learner(dir: &std::path::Path, server: &Pem, ca: &Pem) -> LearnerProcess {
    let config = write_config(
        dir,
        "run.toml",
        &format!(
            "[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[training]\nupdates = 300\n\
             [evaluation]\ninterval_updates = 1000\nempirical_samples = 0\n[learner]\nlinger_seconds = 1.0\n\
             [security]\ntls_cert = {:?}\ntls_key = {:?}\ntls_client_ca = {:?}\n",
            server.cert, server.key, ca.cert
        ),
    );
    LearnerProcess::start(&config, "127.0.0.1:0", &[])
}

/// `gfn-actor` over mutual TLS (`ca` signed the learner's certificate, `actor` is its own)
/// trains `learner`'s run to its end.
fn train_over_tls(mut learner: LearnerProcess, ca: &Pem, actor: &Pem) {
    let mut command = Command::new(binary("gfn-actor"));
    command.args(["--learner", &learner.address, "--name", "tls-actor", "--tls-domain", "localhost"]);
    command.arg("--tls-ca").arg(&ca.cert).arg("--tls-cert").arg(&actor.cert).arg("--tls-key").arg(&actor.key);
    let mut actor_process = Process::spawn(command);
    assert!(learner.process.wait(Duration::from_secs(120)).success(), "{:?}", learner.process.output());
    assert!(actor_process.wait(Duration::from_secs(30)).success());
    assert!(matches!(learner.finished(), Some(Event::LearnerFinished { updates: 300, .. })));
}

/// Mutual TLS: the learner serves with a certificate of the run CA and requires clients to
/// present one too. A client certificate from another CA, no client certificate, or plain
/// HTTP/2 are refused; an actor with the run CA's certificate trains the run to its end.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_admits_only_clients_of_the_run_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (run_ca, run_issuer) = certificate_authority(dir.path(), "run-ca");
    let (_other_ca, other_issuer) = certificate_authority(dir.path(), "other-ca");
    let server = leaf(dir.path(), "learner", &["localhost", "127.0.0.1"], true, &run_issuer);
    let actor = leaf(dir.path(), "actor", &["actor-0"], false, &run_issuer);
    let stranger = leaf(dir.path(), "stranger", &["actor-x"], false, &other_issuer);
    let learner = start_tls_learner(dir.path(), &server, &run_ca);

    register_over_tls(&learner.address, &run_ca, Some(&actor)).await.expect("a client of the run CA");
    let refused = register_over_tls(&learner.address, &run_ca, Some(&stranger)).await;
    assert!(refused.is_err(), "a certificate from another CA must be refused");
    let refused = register_over_tls(&learner.address, &run_ca, None).await;
    assert!(refused.is_err(), "a client without a certificate must be refused");
    let mut plain = LearnerClient::connect(format!("http://{}", learner.address)).await.ok();
    if let Some(client) = plain.as_mut() {
        let status = client.register(support::register_request("plain")).await;
        assert!(status.is_err(), "plain HTTP/2 must be refused");
    }
    train_over_tls(learner, &run_ca, &actor);
}

/// The OpenSSL commands of docs/SECURITY.md, read from the page and run as shown by bash in a
/// fresh directory, make a CA and certificates that a learner and an actor train with.
#[test]
fn the_security_guide_certificates_work() {
    let page = std::fs::read_to_string(support::data::root().join("docs/SECURITY.md")).unwrap();
    let block = page.split("```sh\n").nth(1).and_then(|rest| rest.split("```").next()).unwrap();
    assert!(block.contains("openssl req -x509"), "{block}");
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", block])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let pem = |name: &str| Pem {
        cert: dir.path().join(format!("{name}.crt")),
        key: dir.path().join(format!("{name}.key")),
    };
    let (ca, server, actor) = (pem("ca"), pem("learner"), pem("actor"));
    let learner = start_tls_learner(dir.path(), &server, &ca);
    train_over_tls(learner, &ca, &actor);
}
