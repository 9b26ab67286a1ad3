//! The wire protocol seen by an arbitrary client: malformed submissions get a clear gRPC status
//! and are counted while training goes on; a client that connects late gets current weights at
//! once.

mod support;

use std::time::{Duration, Instant};

use gfn_proto::v1::{self, learner_client::LearnerClient};
use nix::sys::signal::Signal;
use support::{LearnerProcess, start_actor, wait_until, write_config};
use tonic::Code;

fn grid_config(dir: &std::path::Path) -> std::path::PathBuf {
    write_config(
        dir,
        "run.toml",
        "[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[training]\nupdates = 100000\n\
         [evaluation]\ninterval_updates = 1000\nempirical_samples = 0\n[learner]\nmax_message_bytes = 65536\nweights_chunk_bytes = 16384\n",
    )
}

async fn connect(address: &str) -> LearnerClient<tonic::transport::Channel> {
    LearnerClient::connect(format!("http://{address}")).await.expect("learner reachable")
}

async fn register(client: &mut LearnerClient<tonic::transport::Channel>) -> v1::RegisterReply {
    client.register(support::register_request("test-client")).await.expect("registration").into_inner()
}

fn trajectory(actions: Vec<u32>, log_reward: f64) -> v1::Trajectory {
    v1::Trajectory { actions, log_reward, ..Default::default() }
}

/// (4) Invalid action, wrong length, NaN reward, unknown run and an oversized message each get a
/// clear status; the counters show them; training with a real actor is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_submissions_get_clear_statuses_and_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut learner = LearnerProcess::start(&grid_config(dir.path()), "127.0.0.1:0", &[]);
    let _actor = start_actor(&learner.address, "honest");
    let mut client = connect(&learner.address).await;
    let registration = register(&mut client).await;
    let run_id = registration.run_id.clone();
    let batch = |trajectories: Vec<v1::Trajectory>| v1::TrajectoryBatch {
        run_id: run_id.clone(),
        actor_id: registration.actor_id,
        trajectories,
        actor_instance: 0,
    };
    // 2-D grid: actions 0, 1 move, 2 stops; at most 2·7 moves + stop = 15 actions.
    let cases: Vec<(&str, v1::TrajectoryBatch, Code, &str)> = vec![
        ("invalid action", batch(vec![trajectory(vec![0, 9, 2], -1.0)]), Code::InvalidArgument, "action 9"),
        (
            "leaves the grid",
            batch(vec![trajectory(vec![0; 8].into_iter().chain([2]).collect(), -1.0)]),
            Code::InvalidArgument,
            "not allowed",
        ),
        (
            "too long",
            batch(vec![trajectory(vec![1; 40], -1.0)]),
            Code::InvalidArgument,
            "more than the maximum 15",
        ),
        (
            "no stop",
            batch(vec![trajectory(vec![0, 1], -1.0)]),
            Code::InvalidArgument,
            "does not end with the stop",
        ),
        ("NaN reward", batch(vec![trajectory(vec![0, 2], f64::NAN)]), Code::InvalidArgument, "not finite"),
        ("empty", batch(vec![trajectory(vec![], -1.0)]), Code::InvalidArgument, "no actions"),
        (
            "unknown run",
            v1::TrajectoryBatch {
                run_id: "run-nope".into(),
                actor_id: 1,
                trajectories: vec![trajectory(vec![2], -1.0)],
                actor_instance: 0,
            },
            Code::FailedPrecondition,
            "unknown run id",
        ),
        (
            "oversized",
            batch((0..3000).map(|_| trajectory(vec![0, 1, 0, 1, 0, 1, 0, 1, 2], -1.0)).collect()),
            Code::OutOfRange,
            "message length too large",
        ),
    ];
    for (name, request, code, message) in cases {
        let status = client.submit_trajectories(request).await.expect_err(name);
        assert_eq!(status.code(), code, "{name}: {status:?}");
        assert!(status.message().contains(message), "{name}: {:?}", status.message());
    }
    // A batch mixing one valid and one invalid trajectory: the valid one is kept, and the reply
    // says what became of each.
    let reply = client
        .submit_trajectories(batch(vec![trajectory(vec![0, 2], -1.0), trajectory(vec![7, 2], -1.0)]))
        .await
        .expect("a mixed batch is answered trajectory by trajectory")
        .into_inner();
    assert_eq!((reply.accepted, reply.rejected), (1, 1), "{reply:?}");
    use v1::trajectory_outcome::Kind;
    let kinds: Vec<i32> = reply.outcomes.iter().map(|o| o.kind).collect();
    assert_eq!(kinds, [Kind::Accepted as i32, Kind::Rejected as i32]);
    assert!(reply.outcomes[1].message.contains("trajectory 1"), "{reply:?}");
    assert_eq!(reply.outcomes[1].reason, "invalid_action");
    // A valid batch is accepted.
    let reply =
        client.submit_trajectories(batch(vec![trajectory(vec![1, 1, 2], -1.0)])).await.unwrap().into_inner();
    assert_eq!(reply.accepted, 1);

    let metrics = learner.scrape();
    let rejected = |reason: &str| {
        metrics
            .get(&format!("gfn_learner_trajectories_rejected_total{{reason=\"{reason}\"}}"))
            .copied()
            .unwrap_or(0.0)
    };
    assert_eq!(rejected("invalid_action"), 3.0, "{metrics:?}");
    assert_eq!(rejected("too_long"), 1.0);
    assert_eq!(rejected("missing_stop"), 1.0);
    assert_eq!(rejected("non_finite_reward"), 1.0);
    assert_eq!(rejected("empty"), 1.0);
    assert_eq!(metrics.get("gfn_learner_requests_rejected_total{reason=\"unknown_run\"}"), Some(&1.0));

    // Training carried on with the honest actor.
    let before = learner.metric("gfn_learner_updates_total");
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert!(learner.metric("gfn_learner_updates_total") > before + 20.0, "training stalled");
    learner.process.signal(Signal::SIGTERM);
    assert!(learner.process.wait(Duration::from_secs(30)).success());
}

/// (5) A client that subscribes late receives the current weights at once; trajectories older
/// than the maximum policy lag are dropped and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_subscriber_receives_current_weights_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let learner = LearnerProcess::start(&grid_config(dir.path()), "127.0.0.1:0", &[]);
    let _actor = start_actor(&learner.address, "early");
    wait_until(Duration::from_secs(30), "300 updates", || {
        learner.metric("gfn_learner_updates_total") >= 300.0
    });
    let mut client = connect(&learner.address).await;
    let registration = register(&mut client).await;
    let asked = Instant::now();
    let version_now = learner.metric("gfn_learner_weights_version") as u64;
    let registration_run_id = registration.run_id.clone();
    let mut stream = client
        .watch_weights(v1::WatchWeightsRequest {
            run_id: registration.run_id,
            actor_id: registration.actor_id,
            have_version: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let mut bytes = Vec::new();
    let first = loop {
        let chunk = stream.message().await.unwrap().expect("a chunk");
        bytes.extend_from_slice(&chunk.data);
        if chunk.chunk_index + 1 == chunk.chunk_count {
            break chunk;
        }
    };
    assert!(asked.elapsed() < Duration::from_secs(1), "weights took {:?}", asked.elapsed());
    assert!(
        first.version >= version_now,
        "got version {} while the learner was at {version_now}",
        first.version
    );
    assert_eq!(bytes.len() as u64, first.total_bytes);
    let tensors = gfn_common::weights::from_safetensors_bytes(&bytes).unwrap();
    assert!(tensors.iter().any(|(name, _)| name == "policy.layer0.weight"));
    // Newer versions keep coming while training runs.
    let next = stream.message().await.unwrap().expect("another chunk");
    assert!(next.version > first.version);

    // A trajectory sampled 300+ updates ago exceeds the maximum policy lag (64): dropped, counted.
    let stale =
        v1::Trajectory { actions: vec![2], log_reward: 0.6f64.ln(), sequence: 1, ..Default::default() };
    let fresh = v1::Trajectory {
        policy_version: learner.metric("gfn_learner_weights_version") as u64,
        ..stale.clone()
    };
    let reply = client
        .submit_trajectories(v1::TrajectoryBatch {
            run_id: registration_run_id,
            actor_id: 99,
            trajectories: vec![stale, fresh],
            actor_instance: 0,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.accepted, reply.dropped_stale), (1, 1), "{reply:?}");
    assert_eq!(learner.metric("gfn_learner_trajectories_stale_total"), 1.0);
}

/// The gRPC health checking protocol (what Kubernetes' readiness and liveness probes call): the
/// learner's service is SERVING while it trains, NOT_SERVING once the run is over (while it
/// lingers), the server as a whole is SERVING throughout, and an unknown service is NOT_FOUND.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_service_reports_the_learner_serving_then_not_serving_when_the_run_ends() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "run.toml",
        "[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[training]\nupdates = 300\n\
         [evaluation]\ninterval_updates = 1000\nempirical_samples = 0\n[learner]\nlinger_seconds = 3.0\n",
    );
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", learner.address))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = HealthClient::new(channel);
    let status = |service: &str| HealthCheckRequest { service: service.into() };
    let serving = ServingStatus::Serving as i32;
    assert_eq!(health.check(status("gfn.v1.Learner")).await.unwrap().into_inner().status, serving);
    assert_eq!(health.check(status("")).await.unwrap().into_inner().status, serving);
    let unknown = health.check(status("no.such.Service")).await.unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);

    // an actor trains the run to its end; then the learner is no longer ready but still live
    let mut actor = start_actor(&learner.address, "health");
    let started = Instant::now();
    loop {
        let reply = health.check(status("gfn.v1.Learner")).await.unwrap().into_inner();
        if reply.status == ServingStatus::NotServing as i32 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "still SERVING after 60 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    wait_until(Duration::from_secs(5), "the learner reports the run finished", || {
        learner.finished().is_some()
    });
    assert_eq!(health.check(status("")).await.unwrap().into_inner().status, serving);
    assert!(learner.process.wait(Duration::from_secs(30)).success());
    assert!(actor.wait(Duration::from_secs(30)).success());
}

/// Exactly once: a numbered batch sent again — after a lost reply, and after the learner was
/// SIGKILLed and restarted from its checkpoint and journal — is acknowledged as duplicates and
/// not taken again; new sequence numbers of the same instance, and other instances, are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_sent_again_is_recognised_even_across_a_learner_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "run.toml",
        &format!(
            "[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[training]\nupdates = 100000\nbatch_size = 4\n\
             [evaluation]\ninterval_updates = 100000\nempirical_samples = 0\n\
             [checkpoint]\ndir = {:?}\ninterval_updates = 1\n",
            dir.path().join("checkpoints")
        ),
    );
    let numbered = |instance: u64, first: u64, n: u64, run_id: &str, actor_id: u64| v1::TrajectoryBatch {
        run_id: run_id.to_string(),
        actor_id,
        trajectories: (first..first + n)
            .map(|sequence| v1::Trajectory { sequence, ..trajectory(vec![2], -1.0) })
            .collect(),
        actor_instance: instance,
    };
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let address = learner.address.clone();
    let mut client = connect(&address).await;
    let registration = register(&mut client).await;
    let (run, id) = (registration.run_id.clone(), registration.actor_id);
    let reply = client.submit_trajectories(numbered(7, 1, 8, &run, id)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.duplicates), (8, 0));
    // the reply was "lost": the same batch again
    let reply = client.submit_trajectories(numbered(7, 1, 8, &run, id)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.duplicates), (0, 8));
    // overlapping: 5..8 seen, 9..12 new; another instance with the same numbers is new
    let reply = client.submit_trajectories(numbered(7, 5, 8, &run, id)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.duplicates), (4, 4));
    let reply = client.submit_trajectories(numbered(9, 1, 4, &run, id)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.duplicates), (4, 0));
    assert_eq!(learner.metric("gfn_learner_trajectories_duplicate_total"), 12.0);
    // trained, and checkpointed after each of the 4 updates (a kill between an update and its
    // checkpoint would roll that update back and train its trajectories again from the journal:
    // once in the surviving lineage, which is what exactly-once means)
    wait_until(Duration::from_secs(10), "the accepted trajectories trained and checkpointed", || {
        learner.metric("gfn_learner_trajectories_trained_total") >= 16.0
            && learner.metric("gfn_learner_checkpoints_total") >= 4.0
    });

    // the learner dies; restarted, it still knows what each instance sent
    learner.process.signal(Signal::SIGKILL);
    learner.process.wait(Duration::from_secs(10));
    let learner = LearnerProcess::start(&config, &address, &[]);
    let mut client = connect(&address).await;
    let reply = client.submit_trajectories(numbered(7, 1, 12, &run, id)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.duplicates), (0, 12), "everything instance 7 sent before the crash");
    let reply = client.submit_trajectories(numbered(7, 13, 4, &run, id)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.duplicates), (4, 0));
    let reply = client.submit_trajectories(numbered(9, 4, 2, &run, id)).await.unwrap().into_inner();
    assert_eq!((reply.accepted, reply.duplicates), (1, 1));
    assert_eq!(learner.metric("gfn_learner_trajectories_duplicate_total"), 13.0, "this process: 12 + 1");
    // the 16 before the crash were all trained and checkpointed (a checkpoint every update):
    // after the restart only the 5 new ones are trained
    wait_until(Duration::from_secs(10), "the new trajectories trained", || {
        learner.metric("gfn_learner_trajectories_trained_total") >= 4.0
    });
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        learner.metric("gfn_learner_trajectories_trained_total"),
        4.0,
        "one update of 4; 1 waits for the next"
    );
}

/// (6) A preference-conditioned run: actors send each trajectory's condition and objectives and
/// the learner trains on them; a trajectory whose condition is missing or not one the run trains
/// on, whose objectives are missing or out of range, or whose log-reward is not what its
/// objectives give under its condition, is rejected with its reason and counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conditions_and_objectives_are_checked_and_bad_ones_counted() {
    use gfn_common::reward::grid_objectives::GridObjectives;
    use gfn_common::reward::scalarization::{PreferenceConditioning, Scalarization};

    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        "moo.toml",
        "[env]\ntype = \"hypergrid\"\nndim = 2\nheight = 8\n[objective]\ntype = \"trajectory_balance\"\n\
         [conditioning]\nobjectives = [\"branin\", \"currin\"]\nreward_exponent_range = [1.0, 16.0]\n\
         evaluation_divisions = 2\nevaluation_samples = 64\n[training]\nupdates = 100000\n\
         [evaluation]\ninterval_updates = 50\n",
    );
    let mut learner = LearnerProcess::start(&config, "127.0.0.1:0", &[]);
    let _actor = start_actor(&learner.address, "honest");
    // the actor's trajectories are trained on and the Pareto front is evaluated
    wait_until(Duration::from_secs(60), "an evaluation of the Pareto front", || {
        learner.scrape().get("gfn_learner_pareto_hypervolume").is_some_and(|&hv| hv > 0.0)
    });
    let mut client = connect(&learner.address).await;
    let registration = register(&mut client).await;

    let names = vec!["branin".to_string(), "currin".to_string()];
    let conditioning = PreferenceConditioning {
        objectives: names.clone(),
        concentration: 1.0,
        reward_exponent: (1.0, 16.0),
        exponent_bins: 32,
        scalarization: Scalarization::WeightedSum,
    };
    // a point whose two objectives differ, so that another preference gives another reward
    let grid = GridObjectives::new(8, &names).unwrap();
    let (point, values) = (0..8u16)
        .flat_map(|i| (0..8u16).map(move |j| vec![i, j]))
        .map(|point| (point.clone(), grid.values(&point).unwrap()))
        .find(|(_, v)| {
            v.normalized.iter().all(|r| (0.1..0.9).contains(r))
                && (v.normalized[0] - v.normalized[1]).abs() > 0.1
        })
        .expect("such a point");
    let actions: Vec<u32> = std::iter::repeat_n(0, point[0] as usize)
        .chain(std::iter::repeat_n(1, point[1] as usize))
        .chain([2])
        .collect();
    let condition = vec![0.25, 0.75, 4.0];
    let log_reward = conditioning.log_reward(&condition, &values.normalized);
    let good = v1::Trajectory {
        condition: condition.clone(),
        objectives: values.normalized.clone(),
        raw_objectives: values.raw.clone(),
        ..trajectory(actions, log_reward)
    };
    let cases = [
        ("bad_condition", v1::Trajectory { condition: vec![], ..good.clone() }),
        ("bad_condition", v1::Trajectory { condition: vec![0.5, 0.6, 4.0], ..good.clone() }),
        ("bad_condition", v1::Trajectory { condition: vec![0.25, 0.75, 40.0], ..good.clone() }),
        ("bad_objectives", v1::Trajectory { objectives: vec![], raw_objectives: vec![], ..good.clone() }),
        ("bad_objectives", v1::Trajectory { objectives: vec![1.5, 0.5], ..good.clone() }),
        ("reward_mismatch", v1::Trajectory { log_reward: log_reward + 0.5, ..good.clone() }),
        ("reward_mismatch", v1::Trajectory { condition: vec![0.75, 0.25, 4.0], ..good.clone() }),
    ];
    for (reason, bad) in &cases {
        // sampled by the current policy, so that the valid one is not stale
        let policy_version = learner.metric("gfn_learner_weights_version") as u64;
        let batch = v1::TrajectoryBatch {
            run_id: registration.run_id.clone(),
            actor_id: registration.actor_id,
            trajectories: vec![
                v1::Trajectory { policy_version, ..good.clone() },
                v1::Trajectory { policy_version, ..bad.clone() },
            ],
            actor_instance: 0,
        };
        let reply = client.submit_trajectories(batch).await.expect("a mixed batch is answered").into_inner();
        assert_eq!((reply.accepted, reply.rejected), (1, 1), "{reason}: {reply:?}");
        assert_eq!(reply.outcomes[1].reason, *reason, "{reply:?}");
    }
    let metrics = learner.scrape();
    let rejected = |reason: &str| {
        metrics.get(&format!("gfn_learner_trajectories_rejected_total{{reason=\"{reason}\"}}")).copied()
    };
    assert_eq!(rejected("bad_condition"), Some(3.0), "{metrics:?}");
    assert_eq!(rejected("bad_objectives"), Some(2.0));
    assert_eq!(rejected("reward_mismatch"), Some(2.0));
    learner.process.signal(Signal::SIGTERM);
    assert!(learner.process.wait(Duration::from_secs(30)).success());
}
