//! The actor's reward-service client against real gRPC servers on loopback that misbehave in
//! every way the protocol names: each malformed reply kind is rejected and counted (never a
//! reward), a hanging server is cut off by the deadline, a refused or dead endpoint is retried
//! elsewhere and ejected, and it returns once it answers again.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

use gfn_actor::reward_service::objectives::ServiceObjectives;
use gfn_actor::reward_service::{ServiceReward, connect};
use gfn_common::config::{ObjectiveServiceConfig, RewardServiceConfig};
use gfn_common::reward::Reward;
use gfn_common::reward::remote::RemoteObjectives;
use gfn_common::task::hypergrid::HypergridConfig;
use gfn_common::task::hypergrid::HypergridTask;
use gfn_proto::reward::v1::reward_model_server::{RewardModel, RewardModelServer};
use gfn_proto::reward::v1::{self as pb, object_result};

/// How the fake server answers.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Behaviour {
    /// score = 1 + sum of coordinates, as SCORE.
    Good,
    /// One result too few.
    WrongCount,
    /// NaN for every object.
    NotFinite,
    /// 0 for every object, as SCORE.
    NotPositive,
    /// An error for every object.
    ObjectError,
    /// Neither a value nor an error.
    MissingValue,
    /// value_kind not set.
    UnknownKind,
    /// RESOURCE_EXHAUSTED.
    Refused,
    /// Sleeps for a minute.
    Hangs,
    /// Named values (OBJECTIVES) `b` = sum of coordinates, `a` = 10 + sum, in that order.
    Named,
    /// Named values `b` and `c` only.
    NamedWithoutA,
    /// Named values `b`, `a` with one value missing for every object.
    NamedShort,
}

struct Fake {
    behaviour: Behaviour,
    calls: Arc<AtomicUsize>,
    /// The run token calls must carry, if any.
    token: Option<&'static str>,
}

fn coordinates(object: &pb::RewardObject) -> Vec<u32> {
    match &object.object {
        Some(pb::reward_object::Object::Grid(point)) => point.coordinates.clone(),
        other => panic!("a grid point, got {other:?}"),
    }
}

#[tonic::async_trait]
impl RewardModel for Fake {
    async fn score(&self, request: Request<pb::ScoreRequest>) -> Result<Response<pb::ScoreReply>, Status> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if let Some(token) = self.token {
            let sent = request.metadata().get("authorization").and_then(|v| v.to_str().ok());
            if sent != Some(format!("Bearer {token}").as_str()) {
                return Err(Status::unauthenticated("missing or wrong run token"));
            }
        }
        let objects = request.into_inner().objects;
        let value = |v: f64| pb::ObjectResult { result: Some(object_result::Result::Value(v)) };
        let mut results: Vec<pb::ObjectResult> = match self.behaviour {
            Behaviour::Good | Behaviour::WrongCount | Behaviour::UnknownKind => {
                objects.iter().map(|o| value(1.0 + coordinates(o).iter().sum::<u32>() as f64)).collect()
            }
            Behaviour::NotFinite => objects.iter().map(|_| value(f64::NAN)).collect(),
            Behaviour::NotPositive => objects.iter().map(|_| value(0.0)).collect(),
            Behaviour::ObjectError => objects
                .iter()
                .map(|_| pb::ObjectResult {
                    result: Some(object_result::Result::Error("cannot parse".into())),
                })
                .collect(),
            Behaviour::MissingValue => objects.iter().map(|_| pb::ObjectResult { result: None }).collect(),
            Behaviour::Refused => return Err(Status::resource_exhausted("busy")),
            Behaviour::Hangs => {
                tokio::time::sleep(Duration::from_secs(60)).await;
                Vec::new()
            }
            Behaviour::Named | Behaviour::NamedWithoutA | Behaviour::NamedShort => objects
                .iter()
                .map(|o| {
                    let sum = coordinates(o).iter().sum::<u32>() as f64;
                    let mut values = vec![sum, 10.0 + sum];
                    if self.behaviour == Behaviour::NamedShort {
                        values.pop();
                    }
                    pb::ObjectResult { result: Some(object_result::Result::Values(pb::Values { values })) }
                })
                .collect(),
        };
        if self.behaviour == Behaviour::WrongCount {
            results.pop();
        }
        let (value_kind, value_names) = match self.behaviour {
            Behaviour::UnknownKind => (pb::ValueKind::Unspecified, vec![]),
            Behaviour::Named | Behaviour::NamedShort => (pb::ValueKind::Objectives, vec!["b", "a"]),
            Behaviour::NamedWithoutA => (pb::ValueKind::Objectives, vec!["b", "c"]),
            _ => (pb::ValueKind::Score, vec![]),
        };
        Ok(Response::new(pb::ScoreReply {
            results,
            value_kind: value_kind as i32,
            model_name: "fake".into(),
            model_version: "7".into(),
            value_names: value_names.into_iter().map(String::from).collect(),
        }))
    }

    async fn describe(&self, _: Request<pb::DescribeRequest>) -> Result<Response<pb::ModelInfo>, Status> {
        Ok(Response::new(pb::ModelInfo {
            model_name: "fake".into(),
            model_version: "7".into(),
            object_kinds: vec!["grid".into()],
            max_batch: 0,
            value_names: Vec::new(),
        }))
    }
}

/// A fake server on a free port, on `runtime`; its call counter.
fn serve(runtime: &tokio::runtime::Runtime, behaviour: Behaviour) -> (SocketAddr, Arc<AtomicUsize>) {
    serve_with_token(runtime, behaviour, None)
}

/// The same, requiring `token` on every call.
fn serve_with_token(
    runtime: &tokio::runtime::Runtime,
    behaviour: Behaviour,
    token: Option<&'static str>,
) -> (SocketAddr, Arc<AtomicUsize>) {
    let calls = Arc::new(AtomicUsize::new(0));
    let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
    let address = listener.local_addr().unwrap();
    let service = RewardModelServer::new(Fake { behaviour, calls: calls.clone(), token });
    runtime.spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );
    (address, calls)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn settings(endpoints: &[SocketAddr]) -> RewardServiceConfig {
    RewardServiceConfig {
        endpoints: endpoints.iter().map(|a| a.to_string()).collect(),
        exponent: 2.0,
        min: 0.5,
        norm: 4.0,
        deadline_ms: 300.0,
        attempts: 1,
        backoff_initial_ms: 5.0,
        backoff_max_ms: 20.0,
        eject_after_failures: 2,
        eject_seconds: 0.5,
        ..RewardServiceConfig::default()
    }
}

fn reward(runtime: &tokio::runtime::Runtime, config: &RewardServiceConfig) -> ServiceReward<HypergridTask> {
    reward_with_token(runtime, config, None)
}

fn reward_with_token(
    runtime: &tokio::runtime::Runtime,
    config: &RewardServiceConfig,
    token: Option<&str>,
) -> ServiceReward<HypergridTask> {
    let task = HypergridTask::new(&HypergridConfig { ndim: 2, height: 4, ..HypergridConfig::default() });
    let token = token.map(|t| gfn_proto::auth::RunToken::new(t).unwrap());
    let client = connect(config, token, None, "run-test", runtime.handle()).unwrap();
    ServiceReward::new(task, client, config.transform(), runtime.handle().clone())
}

/// Scores the four points (0,0), (1,2), (3,3), (2,0) from a plain thread, as reward workers do.
fn score(reward: &ServiceReward<HypergridTask>) -> Vec<Result<gfn_common::reward::Scored, String>> {
    let states: Vec<Vec<u16>> = vec![vec![0, 0], vec![1, 2], vec![3, 3], vec![2, 0]];
    let refs: Vec<&Vec<u16>> = states.iter().collect();
    std::thread::scope(|s| {
        s.spawn(|| reward.score_batch(&refs).into_iter().map(|r| r.map_err(|e| e.to_string())).collect())
            .join()
            .unwrap()
    })
}

#[test]
fn a_good_reply_becomes_rewards_through_gfns_transform_with_the_model_recorded() {
    let runtime = runtime();
    let (address, calls) = serve(&runtime, Behaviour::Good);
    let reward = reward(&runtime, &settings(&[address]));
    let scored = score(&reward);
    let expected_scores = [1.0, 4.0, 7.0, 3.0];
    for (scored, expected) in scored.iter().zip(expected_scores) {
        let scored = scored.as_ref().unwrap();
        assert_eq!(scored.score, Some(expected));
        // log R = β · (ln max(s, min) − ln norm) with β = 2, min = 0.5, norm = 4
        let log_reward = 2.0 * (f64::max(expected, 0.5).ln() - 4f64.ln());
        assert!((scored.log_reward - log_reward).abs() < 1e-12);
        assert_eq!(scored.reward_model.as_deref(), Some("fake@7"));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one batched call for the four objects");
    assert!(reward.rejections().is_empty());
}

/// Every object of `behaviour`'s replies is rejected with `reason`, counted once per object.
fn rejected_with(behaviour: Behaviour, reason: &str) {
    let runtime = runtime();
    let (address, _) = serve(&runtime, behaviour);
    let reward = reward(&runtime, &settings(&[address]));
    for result in score(&reward) {
        let error = result.expect_err("never a reward");
        assert!(error.contains(reason), "{behaviour:?}: {error}");
    }
    assert_eq!(reward.rejections().get(reason), Some(&4), "{behaviour:?}: {:?}", reward.rejections());
    assert_eq!(reward.rejections().len(), 1, "{:?}", reward.rejections());
}

#[test]
fn a_reply_with_the_wrong_count_is_rejected() {
    rejected_with(Behaviour::WrongCount, "wrong_count");
}

#[test]
fn a_nan_value_is_rejected() {
    rejected_with(Behaviour::NotFinite, "not_finite");
}

#[test]
fn a_score_that_is_not_positive_is_rejected() {
    rejected_with(Behaviour::NotPositive, "not_positive");
}

#[test]
fn a_per_object_error_is_rejected() {
    rejected_with(Behaviour::ObjectError, "object_error");
}

#[test]
fn a_result_without_value_or_error_is_rejected() {
    rejected_with(Behaviour::MissingValue, "missing_value");
}

#[test]
fn a_reply_without_value_kind_is_rejected() {
    rejected_with(Behaviour::UnknownKind, "unknown_value_kind");
}

#[test]
fn a_refused_call_is_rejected() {
    rejected_with(Behaviour::Refused, "refused");
}

#[test]
fn a_hanging_server_is_cut_off_by_the_deadline() {
    let started = Instant::now();
    rejected_with(Behaviour::Hangs, "deadline");
    assert!(started.elapsed() < Duration::from_secs(5), "cut off at 300 ms, took {:?}", started.elapsed());
}

#[test]
fn a_failing_endpoint_is_retried_elsewhere_ejected_and_back_once_it_answers() {
    let runtime = runtime();
    let (good, good_calls) = serve(&runtime, Behaviour::Good);
    // a port with nothing listening: connection refused
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = RewardServiceConfig { attempts: 3, ..settings(&[dead, good]) };
    let reward = reward(&runtime, &config);
    for _ in 0..6 {
        assert!(score(&reward).iter().all(Result::is_ok), "every batch scored by the live endpoint");
    }
    assert!(reward.rejections().is_empty(), "{:?}", reward.rejections());
    assert_eq!(good_calls.load(Ordering::SeqCst), 6);
    let endpoints = &reward.client().endpoints;
    let dead_name = format!("http://{dead}");
    assert!(endpoints.is_ejected(&dead_name), "two failures in a row eject it");

    // the dead endpoint comes up (a server on its port): after the pause it gets calls again
    let calls_there = {
        let listener = runtime.block_on(TcpListener::bind(dead)).unwrap();
        let calls = Arc::new(AtomicUsize::new(0));
        let service =
            RewardModelServer::new(Fake { behaviour: Behaviour::Good, calls: calls.clone(), token: None });
        runtime.spawn(
            tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming(TcpListenerStream::new(listener)),
        );
        calls
    };
    std::thread::sleep(Duration::from_millis(600));
    let deadline = Instant::now() + Duration::from_secs(10);
    while calls_there.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        assert!(score(&reward).iter().all(Result::is_ok));
    }
    assert!(calls_there.load(Ordering::SeqCst) > 0, "the restarted endpoint is back in rotation");
    assert!(!endpoints.is_ejected(&dead_name));
}

#[test]
fn with_every_endpoint_down_the_objects_fail_and_nothing_stalls() {
    let runtime = runtime();
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = RewardServiceConfig { attempts: 2, ..settings(&[dead]) };
    let reward = reward(&runtime, &config);
    let started = Instant::now();
    for result in score(&reward) {
        assert!(result.unwrap_err().contains("unavailable"));
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(reward.rejections().get("unavailable"), Some(&4));
}

#[test]
fn reward_calls_carry_the_run_token() {
    let runtime = runtime();
    let (address, _) = serve_with_token(&runtime, Behaviour::Good, Some("token-of-this-run"));
    let without = reward(&runtime, &settings(&[address]));
    assert!(score(&without).iter().all(|r| r.as_ref().is_err_and(|e| e.contains("Unauthenticated"))));
    assert_eq!(without.rejections().get("refused"), Some(&4));
    let with = reward_with_token(&runtime, &settings(&[address]), Some("token-of-this-run"));
    assert!(score(&with).iter().all(Result::is_ok));
}

#[test]
fn a_reward_service_replying_with_named_values_is_rejected() {
    rejected_with(Behaviour::Named, "wrong_value_kind");
}

/// The objectives `a` and `b` of three grid points from an objective service answering as
/// `behaviour`, called from a plain thread as reward workers do.
fn objectives(behaviour: Behaviour) -> Vec<Result<gfn_common::reward::remote::RemoteValues, String>> {
    let runtime = runtime();
    let (address, calls) = serve(&runtime, behaviour);
    let config = ObjectiveServiceConfig {
        name: "props".into(),
        objectives: vec!["a".into(), "b".into()],
        scales: Default::default(),
        connection: settings(&[address]),
    };
    let service = ServiceObjectives::connect(&config, None, None, "run-test", runtime.handle()).unwrap();
    assert_eq!((service.service(), service.names()), ("props", &["a".to_string(), "b".to_string()][..]));
    let task = HypergridTask::new(&HypergridConfig { ndim: 2, height: 4, ..HypergridConfig::default() });
    let objects: Vec<pb::RewardObject> = [vec![0u16, 0], vec![1, 2], vec![3, 3]]
        .iter()
        .map(|point| gfn_common::task::Task::service_object(&task, point).unwrap())
        .collect();
    let values = std::thread::scope(|s| {
        s.spawn(|| service.evaluate(&objects).into_iter().map(|r| r.map_err(|e| e.to_string())).collect())
            .join()
            .unwrap()
    });
    assert_eq!(calls.load(Ordering::SeqCst), 1, "one batched call");
    values
}

#[test]
fn an_objective_service_s_named_values_are_read_by_name_with_their_source() {
    let values = objectives(Behaviour::Named);
    let raw: Vec<Vec<f64>> = values.iter().map(|v| v.as_ref().unwrap().raw.clone()).collect();
    // the reply names its values ["b", "a"]; the run asks for ["a", "b"]
    assert_eq!(raw, [vec![10.0, 0.0], vec![13.0, 3.0], vec![16.0, 6.0]]);
    assert!(values.iter().all(|v| v.as_ref().unwrap().source == "props:fake@7"));
}

#[test]
fn an_objective_service_missing_a_name_or_a_value_or_replying_with_scores_is_rejected() {
    for (behaviour, reason) in [
        (Behaviour::NamedWithoutA, "bad_value_names"),
        (Behaviour::NamedShort, "bad_values"),
        (Behaviour::Good, "wrong_value_kind"),
        (Behaviour::ObjectError, "wrong_value_kind"),
        (Behaviour::WrongCount, "wrong_count"),
    ] {
        for value in objectives(behaviour) {
            let error = value.expect_err("never a value");
            assert!(error.contains(reason) && error.contains("props"), "{behaviour:?}: {error}");
        }
    }
}
