//! Rewards the learner can trust: an actor whose reward files differ from the run's refuses to
//! start, naming the file; an actor reporting wrong rewards is caught by the learner's audit and
//! quarantined, while correct actors, audited on every trajectory, never are.

mod support;

use std::process::Command;
use std::time::Duration;

use gfn_proto::v1::{self, learner_client::LearnerClient};
use support::data::{proxy_weights, vocabulary};
use support::{LearnerProcess, binary, start_actor, wait_until, write_config};
use tonic::Code;

#[test]
fn an_actor_whose_proxy_weights_differ_from_the_runs_refuses_to_start() {
    // the learner and the actor resolve the same relative paths in different folders: the
    // learner's copies are the real files, the actor's proxy weights have one byte changed
    let learner_dir = tempfile::tempdir().unwrap();
    let actor_dir = tempfile::tempdir().unwrap();
    for dir in [&learner_dir, &actor_dir] {
        std::fs::copy(vocabulary(), dir.path().join("blocks.json")).unwrap();
        std::fs::copy(proxy_weights(), dir.path().join("proxy.safetensors")).unwrap();
    }
    let tampered = actor_dir.path().join("proxy.safetensors");
    let mut bytes = std::fs::read(&tampered).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&tampered, bytes).unwrap();
    let config = write_config(
        learner_dir.path(),
        "run.toml",
        "[env]\ntype = \"fragments\"\nvocabulary = \"blocks.json\"\nproxy_weights = \"proxy.safetensors\"\n\
         [policy]\nhidden = 32\nrounds = 1\n[training]\nupdates = 100000\n[learner]\nlinger_seconds = 0.0\n",
    );
    let mut command = Command::new(binary("gfn-learner"));
    command.current_dir(learner_dir.path()).arg("--config").arg(&config).args([
        "--listen",
        "127.0.0.1:0",
        "--metrics-listen",
        "127.0.0.1:0",
    ]);
    let mut learner = support::Process::spawn_with_events(command);
    let address = learner.wait_for_event(Duration::from_secs(30), |event| match event {
        support::Event::Listening { address, .. } => Some(address.clone()),
        _ => None,
    });
    let metrics = learner.wait_for_event(Duration::from_secs(5), |event| match event {
        support::Event::Metrics { address } => Some(address.clone()),
        _ => None,
    });
    let output = Command::new(binary("gfn-actor"))
        .current_dir(actor_dir.path())
        .args(["--learner", &address, "--name", "mismatched"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "the actor must refuse: {stderr}");
    assert!(
        stderr.contains("env.proxy_weights")
            && stderr.contains("proxy.safetensors")
            && stderr.contains("differs"),
        "{stderr}"
    );
    // with the same files, an actor starts and submits
    std::fs::copy(proxy_weights(), &tampered).unwrap();
    let mut command = Command::new(binary("gfn-actor"));
    command.current_dir(actor_dir.path()).args(["--learner", &address, "--name", "matching"]);
    let _actor = support::Process::spawn_with_events(command);
    wait_until(Duration::from_secs(60), "trajectories from the matching actor", || {
        support::scrape(&metrics).get("gfn_learner_trajectories_accepted_total").copied().unwrap_or(0.0) > 0.0
    });
}

/// Two honest actors audited on every trajectory for 2,000 updates, and a client that reports
/// wrong grid rewards: the client's trajectories are rejected and it is quarantined after three
/// disagreements; the honest actors are never.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_grid_rewards_are_caught_and_quarantined_and_honest_actors_never() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "run.toml",
        "[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[training]\nupdates = 2000\n\
         [evaluation]\ninterval_updates = 1000\nempirical_samples = 0\n\
         [learner]\nlinger_seconds = 1.0\nreward_audit_fraction = 1.0\nreward_audit_quarantine_after = 3\n",
    );
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let mut honest: Vec<_> = (0..2).map(|i| start_actor(&learner.address, &format!("honest{i}"))).collect();

    let mut client = LearnerClient::connect(format!("http://{}", learner.address)).await.unwrap();
    let registration = client.register(support::register_request("liar")).await.unwrap().into_inner();
    // (2, 3) → stop in the 2-D grid with H = 8: actions 0 (x+1), 1 (y+1), 2 stop
    let lie = |sequence: u64| v1::TrajectoryBatch {
        run_id: registration.run_id.clone(),
        actor_id: registration.actor_id,
        trajectories: vec![v1::Trajectory {
            actions: vec![0, 0, 1, 1, 1, 2],
            log_reward: 3.0, // R = e³: not the grid's reward anywhere
            sequence,
            ..Default::default()
        }],
        actor_instance: 4242,
    };
    for sequence in 1..=3 {
        let refused = client.submit_trajectories(lie(sequence)).await.unwrap_err();
        assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
        assert!(refused.message().contains("disagrees"), "{}", refused.message());
    }
    let quarantined = client.submit_trajectories(lie(4)).await.unwrap_err();
    assert_eq!(quarantined.code(), Code::PermissionDenied, "{quarantined:?}");
    assert!(quarantined.message().contains("quarantined"), "{}", quarantined.message());
    assert_eq!(learner.metric("gfn_learner_actors_quarantined_total"), 1.0);

    wait_until(Duration::from_secs(300), "most of the run", || {
        learner.metric("gfn_learner_updates_total") >= 1900.0
    });
    let audited = learner.metric("gfn_learner_rewards_audited_total");
    assert!(audited > 25_000.0, "every honest trajectory audited: {audited}");
    assert_eq!(learner.metric("gfn_learner_rewards_disagreeing_total"), 3.0, "only the liar's");
    assert_eq!(learner.metric("gfn_learner_actors_quarantined_total"), 1.0, "only the liar");
    assert!(learner.process.wait(Duration::from_secs(300)).success(), "{:?}", learner.process.output());
    for actor in &mut honest {
        assert!(actor.wait(Duration::from_secs(30)).success(), "honest actors finish: {:?}", actor.output());
    }
}
