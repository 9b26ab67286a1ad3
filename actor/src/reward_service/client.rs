//! One scoring call as the actor makes it: an endpoint picked by the [`EndpointSet`], a
//! deadline, the reply checked as a whole, and on failure another attempt on another endpoint
//! after a jittered exponential back-off. A reply that fails any check never yields a value.

use std::sync::Arc;
use std::time::{Duration, Instant};

use gfn_common::reward::service::ValueKind;
use gfn_proto::reward::v1 as pb;

use super::endpoints::{EndpointSet, InFlight};
use crate::backoff::Backoff;
use crate::metrics;

/// Why a call gave no usable reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallFailure {
    /// No reply within the deadline.
    #[error("no reply within the deadline")]
    Deadline,
    /// The server answered with a non-OK status.
    #[error("refused: {code:?}: {message}")]
    Refused { code: tonic::Code, message: String },
    /// The connection failed (server down, reset, unreachable).
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The reply does not carry one result per object.
    #[error("{got} results for {sent} objects")]
    WrongCount { sent: usize, got: usize },
    /// The reply does not say what its values are.
    #[error("the reply's value_kind is not set")]
    UnknownValueKind,
    /// There is no endpoint at all (DNS gave no address).
    #[error("no reward endpoint")]
    NoEndpoint,
}

impl CallFailure {
    /// A short label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Deadline => "deadline",
            Self::Refused { .. } => "refused",
            Self::Unavailable(_) => "unavailable",
            Self::WrongCount { .. } => "wrong_count",
            Self::UnknownValueKind => "unknown_value_kind",
            Self::NoEndpoint => "no_endpoint",
        }
    }
}

/// A checked reply: one result per object sent.
#[derive(Debug, Clone)]
pub struct CheckedReply {
    /// The results, in the order of the objects.
    pub results: Vec<pb::ObjectResult>,
    /// What the values are.
    pub kind: ValueKind,
    /// The names of the values of an `Objectives` reply (empty otherwise).
    pub value_names: Vec<String>,
    /// `name@version` of the model.
    pub model: String,
    /// The endpoint that answered.
    pub endpoint: String,
}

/// Attempts, deadline and back-off of calls.
#[derive(Debug, Clone)]
pub struct CallSettings {
    /// Deadline per attempt.
    pub deadline: Duration,
    /// Attempts per batch.
    pub attempts: usize,
    /// First back-off.
    pub backoff_initial: Duration,
    /// Longest back-off.
    pub backoff_max: Duration,
    /// The run id sent with requests.
    pub run_id: String,
}

/// The actor's client of a reward service.
pub struct RewardClient {
    /// The endpoints and their health.
    pub endpoints: Arc<EndpointSet>,
    settings: CallSettings,
}

impl RewardClient {
    /// A client over `endpoints`.
    pub fn new(endpoints: Arc<EndpointSet>, settings: CallSettings) -> Self {
        Self { endpoints, settings }
    }

    /// Scores `objects`: up to `attempts` calls, each on an endpoint not tried yet for this
    /// batch while there is one, with a jittered exponential back-off between them.
    pub async fn score(&self, objects: Vec<pb::RewardObject>) -> Result<CheckedReply, CallFailure> {
        let sent = objects.len();
        let request = pb::ScoreRequest { objects, run_id: self.settings.run_id.clone() };
        let mut tried: Vec<String> = Vec::new();
        let mut last = CallFailure::NoEndpoint;
        let mut backoff = Backoff::starting_at(self.settings.backoff_initial, self.settings.backoff_max);
        for attempt in 0..self.settings.attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff.next_pause()).await;
            }
            let call = match self.endpoints.pick(&tried) {
                Some(call) => call,
                None => {
                    // every endpoint tried once: start over among all of them
                    tried.clear();
                    match self.endpoints.pick(&tried) {
                        Some(call) => call,
                        None => return Err(CallFailure::NoEndpoint),
                    }
                }
            };
            tried.push(call.endpoint().name.clone());
            match self.attempt(&call, request.clone(), sent).await {
                Ok(reply) => {
                    self.endpoints.succeeded(call.endpoint());
                    return Ok(reply);
                }
                Err(failure) => {
                    let endpoint = &call.endpoint().name;
                    ::metrics::counter!(
                        metrics::REWARD_CALL_FAILURES,
                        "endpoint" => endpoint.clone(),
                        "reason" => failure.reason()
                    )
                    .increment(1);
                    tracing::warn!(%endpoint, attempt = attempt + 1, %failure, "reward call failed");
                    self.endpoints.failed(call.endpoint());
                    last = failure;
                }
            }
        }
        Err(last)
    }

    async fn attempt(
        &self,
        call: &InFlight,
        request: pb::ScoreRequest,
        sent: usize,
    ) -> Result<CheckedReply, CallFailure> {
        let endpoint = call.endpoint();
        let mut client = endpoint.client.clone();
        let mut request = tonic::Request::new(request);
        request.set_timeout(self.settings.deadline);
        let started = Instant::now();
        ::metrics::counter!(metrics::REWARD_CALLS, "endpoint" => endpoint.name.clone()).increment(1);
        let outcome = tokio::time::timeout(self.settings.deadline, client.score(request)).await;
        ::metrics::histogram!(metrics::REWARD_CALL_LATENCY, "endpoint" => endpoint.name.clone())
            .record(started.elapsed().as_secs_f64());
        let reply = match outcome {
            Err(_) => return Err(CallFailure::Deadline),
            Ok(Err(status)) => return Err(from_status(status)),
            Ok(Ok(reply)) => reply.into_inner(),
        };
        let kind = match pb::ValueKind::try_from(reply.value_kind) {
            Ok(pb::ValueKind::Score) => ValueKind::Score,
            Ok(pb::ValueKind::LogScore) => ValueKind::LogScore,
            Ok(pb::ValueKind::Objectives) => ValueKind::Objectives,
            _ => return Err(CallFailure::UnknownValueKind),
        };
        if reply.results.len() != sent {
            return Err(CallFailure::WrongCount { sent, got: reply.results.len() });
        }
        ::metrics::counter!(metrics::REWARD_OBJECTS, "endpoint" => endpoint.name.clone())
            .increment(sent as u64);
        Ok(CheckedReply {
            results: reply.results,
            kind,
            value_names: reply.value_names,
            model: format!("{}@{}", reply.model_name, reply.model_version),
            endpoint: endpoint.name.clone(),
        })
    }
}

fn from_status(status: tonic::Status) -> CallFailure {
    match status.code() {
        tonic::Code::DeadlineExceeded => CallFailure::Deadline,
        // the client's own grpc-timeout fired
        tonic::Code::Cancelled if status.message().contains("Timeout expired") => CallFailure::Deadline,
        tonic::Code::Unavailable | tonic::Code::Unknown if status.message().contains("transport") => {
            CallFailure::Unavailable(status.message().to_string())
        }
        tonic::Code::Unavailable => CallFailure::Unavailable(status.message().to_string()),
        code => CallFailure::Refused { code, message: status.message().to_string() },
    }
}
