//! Rewards from a reward service (`[reward] type = "service"`, protocol `gfn.reward.v1`): the
//! actor's reward workers hand their batches to [`ServiceReward`], which writes each terminal
//! object the way its task writes objects for services, calls the service through the
//! [`client::RewardClient`] (load-balanced endpoints, deadline, retries, ejection), checks the
//! reply object by object and applies gfn's reward transform to the raw scores.
//!
//! A failed, late, malformed or refused reply never becomes a reward: the objects of that
//! batch fail (their trajectories are dropped and counted by reason) and the actor rolls on.

pub mod client;
pub mod endpoints;
pub mod objectives;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use gfn_common::config::RewardServiceConfig;
use gfn_common::reward::service::ScoreTransform;
use gfn_common::reward::{Reward, RewardError, Scored};
use gfn_common::task::{Task, TaskState};
use gfn_proto::auth::RunToken;
use gfn_proto::reward::v1 as pb;
use tonic::transport::ClientTlsConfig;

use crate::error::ActorError;
use crate::metrics;
use client::{CallSettings, RewardClient};
use endpoints::{EndpointSet, EndpointSettings};

/// The reward of a task computed by a reward service.
pub struct ServiceReward<T> {
    task: T,
    client: Arc<RewardClient>,
    transform: ScoreTransform,
    runtime: tokio::runtime::Handle,
    rejections: Mutex<BTreeMap<&'static str, u64>>,
}

/// Connects to the service `config` names: its endpoints (and, with `dns`, a task on
/// `runtime` that resolves the name again every `resolve_seconds`).
pub fn connect(
    config: &RewardServiceConfig,
    token: Option<RunToken>,
    tls: Option<ClientTlsConfig>,
    run_id: &str,
    runtime: &tokio::runtime::Handle,
) -> Result<Arc<RewardClient>, ActorError> {
    // a name resolved to https endpoints later: refused now, as listed https endpoints are
    if config.tls
        && tls.is_none()
        && let Some(dns) = &config.dns
    {
        return Err(ActorError::NoCaForRewards(dns.clone()));
    }
    // lazily connecting channels start their background tasks on the runtime
    let _entered = runtime.enter();
    let endpoints = Arc::new(EndpointSet::new(EndpointSettings {
        token,
        tls,
        max_message_bytes: config.max_message_bytes,
        eject_after_failures: config.eject_after_failures,
        eject_for: Duration::from_secs_f64(config.eject_seconds),
    }));
    let scheme = if config.tls { "https" } else { "http" };
    let with_scheme = move |address: &str| {
        if address.contains("://") { address.to_string() } else { format!("{scheme}://{address}") }
    };
    let listed: Vec<String> = config.endpoints.iter().map(|a| with_scheme(a)).collect();
    endpoints.set(&listed)?;
    if let Some(dns) = config.dns.clone() {
        let endpoints = Arc::clone(&endpoints);
        let every = Duration::from_secs_f64(config.resolve_seconds);
        let listed = listed.clone();
        runtime.spawn(async move {
            let mut ticker = tokio::time::interval(every);
            loop {
                ticker.tick().await;
                match tokio::net::lookup_host(dns.as_str()).await {
                    Ok(addresses) => {
                        let mut all: Vec<String> = listed.clone();
                        let mut resolved: Vec<String> =
                            addresses.map(|a| with_scheme(&a.to_string())).collect();
                        resolved.sort();
                        resolved.dedup();
                        all.extend(resolved);
                        match endpoints.set(&all) {
                            Ok(true) => tracing::info!(%dns, endpoints = ?all, "reward endpoints resolved"),
                            Ok(false) => {}
                            Err(error) => tracing::warn!(%dns, %error, "reward endpoints not updated"),
                        }
                    }
                    Err(error) => tracing::warn!(%dns, %error, "resolving the reward service failed"),
                }
            }
        });
    }
    let settings = CallSettings {
        deadline: Duration::from_secs_f64(config.deadline_ms / 1e3),
        attempts: config.attempts,
        backoff_initial: Duration::from_secs_f64(config.backoff_initial_ms / 1e3),
        backoff_max: Duration::from_secs_f64(config.backoff_max_ms / 1e3),
        run_id: run_id.to_string(),
    };
    Ok(Arc::new(RewardClient::new(endpoints, settings)))
}

impl<T: Task> ServiceReward<T> {
    /// `task`'s objects scored by `client`, with `transform` turning scores into rewards;
    /// calls are made on `runtime` (the reward workers are plain threads).
    pub fn new(
        task: T,
        client: Arc<RewardClient>,
        transform: ScoreTransform,
        runtime: tokio::runtime::Handle,
    ) -> Self {
        Self { task, client, transform, runtime, rejections: Mutex::new(BTreeMap::new()) }
    }

    /// Objects dropped so far, by reason (also exported as
    /// `gfn_actor_reward_service_rejected_total{reason}`).
    pub fn rejections(&self) -> BTreeMap<&'static str, u64> {
        self.rejections.lock().expect("rejections lock").clone()
    }

    /// Counts an object dropped for `reason` and returns the error that drops it.
    fn rejected(&self, reason: &'static str, detail: String) -> RewardError {
        ::metrics::counter!(metrics::REWARDS_REJECTED, "reason" => reason).increment(1);
        *self.rejections.lock().expect("rejections lock").entry(reason).or_default() += 1;
        RewardError::Failed { reason: format!("{reason}: {detail}") }
    }

    /// The client (its endpoints and their health).
    pub fn client(&self) -> &Arc<RewardClient> {
        &self.client
    }
}

impl<T: Task> Reward<TaskState<T>> for ServiceReward<T> {
    fn log_reward(&self, state: &TaskState<T>) -> Result<f64, RewardError> {
        self.score_batch(&[state]).pop().expect("one result per state").map(|s| s.log_reward)
    }

    /// A service's modes are not known to gfn (the task's statistics count them from scores).
    fn is_mode(&self, _state: &TaskState<T>) -> bool {
        false
    }

    fn score_batch(&self, states: &[&TaskState<T>]) -> Vec<Result<Scored, RewardError>> {
        let written: Vec<Result<pb::RewardObject, RewardError>> = states
            .iter()
            .map(|state| {
                self.task.service_object(state).map_err(|e| self.rejected("unwritable", format!("{e:#}")))
            })
            .collect();
        let objects: Vec<pb::RewardObject> =
            written.iter().filter_map(|o| o.as_ref().ok()).cloned().collect();
        let reply =
            if objects.is_empty() { None } else { Some(self.runtime.block_on(self.client.score(objects))) };
        let mut results = match &reply {
            Some(Ok(reply)) => reply.results.iter(),
            _ => [].iter(),
        };
        written
            .into_iter()
            .map(|written| {
                written?;
                let reply = match reply.as_ref().expect("objects were sent") {
                    Ok(reply) => reply,
                    Err(failure) => {
                        return Err(self.rejected(
                            failure.reason(),
                            format!("the reward service call failed ({failure})"),
                        ));
                    }
                };
                let result = results.next().expect("checked: one result per object");
                let endpoint = &reply.endpoint;
                match &result.result {
                    None => Err(self
                        .rejected("missing_value", format!("{endpoint} set neither a value nor an error"))),
                    Some(pb::object_result::Result::Error(error)) => {
                        Err(self.rejected("object_error", format!("{endpoint}: {error}")))
                    }
                    Some(pb::object_result::Result::Values(_)) => Err(self.rejected(
                        "wrong_value_kind",
                        format!(
                            "{endpoint} returned named objective values; a [reward] service returns one \
                             score per object (objectives belong in [[conditioning.services]])"
                        ),
                    )),
                    Some(pb::object_result::Result::Value(value)) => {
                        match self.transform.apply(*value, reply.kind) {
                            Ok((log_reward, score)) => Ok(Scored {
                                score: Some(score),
                                reward_model: Some(reply.model.clone()),
                                ..Scored::of(log_reward)
                            }),
                            Err(error) => Err(self
                                .rejected(error.reason(), format!("{endpoint} returned {value}: {error}"))),
                        }
                    }
                }
            })
            .collect()
    }
}

/// TLS towards `https` reward endpoints: the actor's CA and client identity.
pub fn client_tls(tls: Option<&crate::connection::ClientTls>) -> Result<Option<ClientTlsConfig>, ActorError> {
    tls.map(|tls| tls.reward_config()).transpose()
}
