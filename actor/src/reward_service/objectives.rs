//! A reward service of `[[conditioning.services]]` as the core's [`RemoteObjectives`]: the
//! objects go out through the same [`RewardClient`] as rewards (load balancing, deadline,
//! retries, ejection); the reply must carry named values (`value_kind = OBJECTIVES`) including
//! every objective the run asks this service for. A refused reply fails the whole batch; an
//! object without its values fails alone; each is counted by reason.

use std::sync::Arc;

use gfn_common::config::ObjectiveServiceConfig;
use gfn_common::reward::RewardError;
use gfn_common::reward::remote::{RemoteObjectives, RemoteValues};
use gfn_common::reward::service::ValueKind;
use gfn_proto::auth::RunToken;
use gfn_proto::reward::v1 as pb;
use tonic::transport::ClientTlsConfig;

use super::client::{CheckedReply, RewardClient};
use crate::error::ActorError;
use crate::metrics;

/// A service computing some of a run's objectives.
pub struct ServiceObjectives {
    name: String,
    objectives: Vec<String>,
    client: Arc<RewardClient>,
    runtime: tokio::runtime::Handle,
}

impl ServiceObjectives {
    /// Connects to the service `config` describes (calls are made on `runtime`).
    pub fn connect(
        config: &ObjectiveServiceConfig,
        token: Option<RunToken>,
        tls: Option<ClientTlsConfig>,
        run_id: &str,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Self, ActorError> {
        let client = super::connect(&config.connection, token, tls, run_id, runtime)?;
        Ok(Self {
            name: config.name.clone(),
            objectives: config.objectives.clone(),
            client,
            runtime: runtime.clone(),
        })
    }

    /// Connects to every service of `services`, in order.
    pub fn connect_all(
        services: &[ObjectiveServiceConfig],
        token: Option<&RunToken>,
        tls: Option<&ClientTlsConfig>,
        run_id: &str,
        runtime: &tokio::runtime::Handle,
    ) -> Result<Vec<Arc<dyn RemoteObjectives>>, ActorError> {
        services
            .iter()
            .map(|service| {
                let connected = Self::connect(service, token.cloned(), tls.cloned(), run_id, runtime)
                    .map_err(|source| ActorError::ObjectiveService {
                        service: service.name.clone(),
                        source: Box::new(source),
                    })?;
                tracing::info!(
                    service = %service.name,
                    objectives = service.objectives.join(", "),
                    "objectives from a reward service"
                );
                Ok(Arc::new(connected) as Arc<dyn RemoteObjectives>)
            })
            .collect()
    }

    /// Counts an object dropped for `reason` and returns the error that drops it.
    fn rejected(&self, reason: &'static str, detail: String) -> RewardError {
        ::metrics::counter!(metrics::REWARDS_REJECTED, "reason" => reason).increment(1);
        RewardError::Failed { reason: format!("{reason}: service {}: {detail}", self.name) }
    }

    /// Where each of this service's objectives is in `reply`'s values, or why it cannot be read.
    fn positions(&self, reply: &CheckedReply) -> Result<Vec<usize>, (&'static str, String)> {
        if reply.kind != ValueKind::Objectives {
            return Err((
                "wrong_value_kind",
                format!("{} replied with one score per object, not named objective values", reply.endpoint),
            ));
        }
        let mut names = reply.value_names.clone();
        names.sort();
        names.dedup();
        if names.len() != reply.value_names.len() {
            return Err(("bad_value_names", format!("{} repeats a value name", reply.endpoint)));
        }
        self.objectives
            .iter()
            .map(|name| {
                reply.value_names.iter().position(|n| n == name).ok_or_else(|| {
                    (
                        "bad_value_names",
                        format!("{} returns {:?}, not {name:?}", reply.endpoint, reply.value_names),
                    )
                })
            })
            .collect()
    }
}

impl RemoteObjectives for ServiceObjectives {
    fn service(&self) -> &str {
        &self.name
    }

    fn names(&self) -> &[String] {
        &self.objectives
    }

    fn evaluate(&self, objects: &[pb::RewardObject]) -> Vec<Result<RemoteValues, RewardError>> {
        let reply = match self.runtime.block_on(self.client.score(objects.to_vec())) {
            Ok(reply) => reply,
            Err(failure) => {
                let error = self.rejected(failure.reason(), format!("the call failed ({failure})"));
                return vec![Err(error); objects.len()];
            }
        };
        let positions = match self.positions(&reply) {
            Ok(positions) => positions,
            Err((reason, detail)) => return vec![Err(self.rejected(reason, detail)); objects.len()],
        };
        let source = format!("{}:{}", self.name, reply.model);
        let endpoint = &reply.endpoint;
        reply
            .results
            .iter()
            .map(|result| match &result.result {
                Some(pb::object_result::Result::Values(values)) => {
                    let raw: Option<Vec<f64>> = positions
                        .iter()
                        .map(|&i| values.values.get(i).copied().filter(|v| v.is_finite()))
                        .collect();
                    match raw {
                        Some(raw) if values.values.len() == reply.value_names.len() => {
                            Ok(RemoteValues { raw, source: source.clone() })
                        }
                        _ => Err(self.rejected(
                            "bad_values",
                            format!(
                                "{endpoint} returned {:?} for {:?} (one finite value per name)",
                                values.values, reply.value_names
                            ),
                        )),
                    }
                }
                Some(pb::object_result::Result::Error(error)) => {
                    Err(self.rejected("object_error", format!("{endpoint}: {error}")))
                }
                Some(pb::object_result::Result::Value(_)) | None => {
                    Err(self
                        .rejected("missing_value", format!("{endpoint} set no named values for an object")))
                }
            })
            .collect()
    }
}
