//! The `gfn.v1.Learner` gRPC service: registration, trajectory ingestion, weight broadcast.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use gfn_common::env::Environment;
use gfn_common::trajectory::rebuild;
use gfn_proto::v1::{self, learner_server::Learner};

use crate::metrics as m;
use crate::state::{RunState, WeightsSnapshot};
use gfn_common::task::Generated;
use gfn_service::wire::trajectory_from_wire;

use crate::audit::Verdict;
use crate::journal::{Delivered, Origin, deliver};

/// The service over a shared [`RunState`].
pub struct LearnerService<E: Environment> {
    state: Arc<RunState<E>>,
}

impl<E: Environment> LearnerService<E> {
    /// A service answering for `state`.
    pub fn new(state: Arc<RunState<E>>) -> Self {
        Self { state }
    }

    fn check_run(&self, run_id: &str) -> Result<(), Status> {
        if run_id == self.state.run_id {
            Ok(())
        } else {
            metrics::counter!(m::REQUESTS_REJECTED, "reason" => "unknown_run").increment(1);
            Err(Status::failed_precondition(format!(
                "unknown run id {run_id:?}: this learner runs {:?}; register again",
                self.state.run_id
            )))
        }
    }
}

#[tonic::async_trait]
impl<E> Learner for LearnerService<E>
where
    E: Environment + 'static,
    E::State: 'static,
{
    async fn register(
        &self,
        request: Request<v1::RegisterRequest>,
    ) -> Result<Response<v1::RegisterReply>, Status> {
        let request = request.into_inner();
        if request.protocol_version != gfn_proto::PROTOCOL_VERSION {
            return Err(Status::failed_precondition(format!(
                "protocol version {} is not supported; this learner speaks {}",
                request.protocol_version,
                gfn_proto::PROTOCOL_VERSION
            )));
        }
        let task = self.state.config.env.task();
        if let Some(capabilities) = &request.capabilities
            && !capabilities.environments.is_empty()
            && !capabilities.environments.iter().any(|name| name == task)
        {
            return Err(Status::failed_precondition(format!(
                "this run trains task {task:?}, which actor {:?} was not built with (it has: {}); \
                 start actors of a program that registers {task:?}",
                request.actor_name,
                capabilities.environments.join(", ")
            )));
        }
        let actor_id = self.state.next_actor_id.fetch_add(1, Ordering::Relaxed);
        self.state.liveness.heard(actor_id);
        metrics::counter!(m::ACTORS_REGISTERED).increment(1);
        tracing::info!(actor = %request.actor_name, actor_id, "actor registered");
        Ok(Response::new(v1::RegisterReply {
            run_id: self.state.run_id.clone(),
            actor_id,
            config_toml: self.state.config_toml.clone(),
            weights_version: self.state.weights.borrow().version,
        }))
    }

    async fn submit_trajectories(
        &self,
        request: Request<v1::TrajectoryBatch>,
    ) -> Result<Response<v1::SubmitReply>, Status> {
        let batch = request.into_inner();
        metrics::counter!(m::BYTES_RECEIVED).increment(batch.encoded_len() as u64);
        self.check_run(&batch.run_id)?;
        let state = &self.state;
        state.liveness.heard(batch.actor_id);
        // quarantine follows the actor process (its instance) across re-registrations
        let audited_as = if batch.actor_instance != 0 { batch.actor_instance } else { batch.actor_id };
        if let Some(auditor) = &state.auditor
            && auditor.is_quarantined(audited_as)
        {
            metrics::counter!(m::REQUESTS_REJECTED, "reason" => "quarantined").increment(1);
            return Err(Status::permission_denied(format!(
                "actor {} is quarantined: its rewards kept disagreeing with the learner's recomputation \
                 (learner.reward_audit_quarantine_after = {}); check its reward files and code",
                batch.actor_id, state.config.learner.reward_audit_quarantine_after
            )));
        }
        let _submission = state.limits.submission(batch.actor_id)?;
        state.limits.ingest(batch.actor_id, batch.trajectories.len())?;
        let finished_reply = |accepted, dropped_stale, duplicates| v1::SubmitReply {
            accepted,
            dropped_stale,
            learner_version: state.version(),
            run_finished: state.is_finished(),
            duplicates,
        };
        if state.is_finished() {
            return Ok(Response::new(finished_reply(0, 0, 0)));
        }
        metrics::counter!(m::TRAJECTORIES_RECEIVED).increment(batch.trajectories.len() as u64);
        let max_lag = state.config.learner.max_policy_lag;
        let mut rejected = Vec::new();
        let mut valid = Vec::with_capacity(batch.trajectories.len());
        let mut origins = Vec::with_capacity(batch.trajectories.len());
        let mut stale = 0u32;
        for (index, wire) in batch.trajectories.into_iter().enumerate() {
            let origin = Origin { instance: batch.actor_instance, sequence: wire.sequence };
            match trajectory_from_wire(wire).and_then(|t| rebuild(&state.env, &t)) {
                Ok(rebuilt)
                    if let Some(auditor) = &state.auditor
                        && let Verdict::Disagrees { recomputed } =
                            auditor.audit(audited_as, rebuilt.terminal(), rebuilt.log_reward) =>
                {
                    metrics::counter!(m::TRAJECTORIES_REJECTED, "reason" => "reward_mismatch").increment(1);
                    rejected.push(format!(
                        "trajectory {index}: log-reward {} disagrees with the learner's {recomputed}",
                        rebuilt.log_reward
                    ));
                }
                Ok(rebuilt) => {
                    let lag = state.version().saturating_sub(rebuilt.policy_version);
                    metrics::histogram!(m::POLICY_LAG).record(lag as f64);
                    if lag > max_lag {
                        stale += 1;
                    } else {
                        valid.push(rebuilt);
                        origins.push(origin);
                    }
                }
                Err(error) => {
                    metrics::counter!(m::TRAJECTORIES_REJECTED, "reason" => error.reason()).increment(1);
                    rejected.push(format!("trajectory {index}: {error}"));
                }
            }
        }
        if stale > 0 {
            metrics::counter!(m::TRAJECTORIES_STALE).increment(stale as u64);
        }
        // Journal first (durable before the reply), then record and enqueue in the journal's
        // order. Under the journal's lock (or the delivered map's, without a journal),
        // trajectories already accepted from this actor instance — a batch sent again after a
        // lost reply or a learner restart — are acknowledged but not taken again; the map only
        // advances once the batch is durable.
        let mut journal = match &state.journal {
            Some(journal) => Some(journal.clone().lock_owned().await),
            None => None,
        };
        let before = valid.len();
        let (valid, origins, advanced) = {
            let mut delivered = state.delivered.lock().expect("delivered lock");
            // a batch comes from one instance: only its mark can move; with a journal it moves
            // in the shared map once the batch is durable, without one at once
            let mut mark = Delivered::new();
            if let Some(&highest) = delivered.get(&batch.actor_instance) {
                mark.insert(batch.actor_instance, highest);
            }
            let mut fresh = Vec::with_capacity(before);
            let mut fresh_origins = Vec::with_capacity(before);
            for (rebuilt, origin) in valid.into_iter().zip(origins) {
                if deliver(&mut mark, origin) {
                    fresh.push(rebuilt);
                    fresh_origins.push(origin);
                }
            }
            if journal.is_none() {
                delivered.extend(mark);
                mark = Delivered::new();
            }
            (fresh, fresh_origins, mark)
        };
        let duplicates = (before - valid.len()) as u32;
        if duplicates > 0 {
            metrics::counter!(m::TRAJECTORIES_DUPLICATE).increment(duplicates as u64);
            tracing::info!(
                actor_id = batch.actor_id,
                duplicates,
                "trajectories sent again recognised: not taken twice"
            );
        }
        if let Some(journal) = journal.as_mut() {
            tokio::task::block_in_place(|| journal.append(&valid, &origins)).map_err(|error| {
                tracing::error!(%error, "ingest journal write failed");
                Status::unavailable(format!("the learner could not journal the batch: {error}"))
            })?;
            state.delivered.lock().expect("delivered lock").extend(advanced);
        }
        metrics::counter!(m::TRAJECTORIES_ACCEPTED).increment(valid.len() as u64);
        let accepted = valid.len() as u32;
        if let Some(results) = &state.results {
            let received_at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            for rebuilt in &valid {
                let generated = Generated {
                    terminal: rebuilt.terminal().clone(),
                    score: rebuilt.score,
                    log_reward: rebuilt.log_reward,
                    policy_version: rebuilt.policy_version,
                    actor_id: batch.actor_id,
                    received_at,
                    reward_exponent: None,
                    reward_model: rebuilt.reward_model.clone(),
                };
                if !results(generated) {
                    metrics::counter!(m::RESULTS_DROPPED).increment(1);
                }
            }
        }
        let _journal = journal;
        for rebuilt in valid {
            tokio::select! {
                sent = state.queue.send(rebuilt) => {
                    if sent.is_err() {
                        return Err(Status::unavailable("the learner is shutting down"));
                    }
                }
                _ = state.shutdown.cancelled() => return Err(Status::unavailable("the learner is shutting down")),
            }
        }
        if !rejected.is_empty() {
            tracing::warn!(
                actor_id = batch.actor_id,
                rejected = rejected.len(),
                "malformed trajectories rejected"
            );
            return Err(Status::invalid_argument(format!(
                "{} of {} trajectories rejected ({}); the other {} were accepted",
                rejected.len(),
                rejected.len() + accepted as usize + stale as usize,
                rejected.join("; "),
                accepted as usize + stale as usize,
            )));
        }
        Ok(Response::new(finished_reply(accepted, stale, duplicates)))
    }

    type WatchWeightsStream = ReceiverStream<Result<v1::WeightsChunk, Status>>;

    async fn watch_weights(
        &self,
        request: Request<v1::WatchWeightsRequest>,
    ) -> Result<Response<Self::WatchWeightsStream>, Status> {
        let request = request.into_inner();
        self.check_run(&request.run_id)?;
        let permit = self.state.limits.weight_stream(request.actor_id)?;
        let (sender, receiver) = mpsc::channel(4);
        let mut weights = self.state.weights.clone();
        let shutdown = self.state.shutdown.clone();
        let chunk_bytes = self.state.config.learner.weights_chunk_bytes;
        // "0 for none": a client with version 0 simply receives version 0 again.
        let mut have = (request.have_version > 0).then_some(request.have_version);
        let actor_id = request.actor_id;
        let liveness = Arc::clone(&self.state.liveness);
        let stall_limit = std::time::Duration::from_secs_f64(self.state.config.learner.actor_timeout_seconds);
        tokio::spawn(async move {
            let _permit = permit; // the stream's place, released when it ends
            let mut gone = liveness.heard(actor_id);
            // While the stream waits for new weights, its open connection (HTTP/2 keepalive
            // closes a dead one) is the actor's sign of life.
            let mut idle = tokio::time::interval(std::time::Duration::from_secs(1));
            loop {
                let snapshot: Arc<WeightsSnapshot> = weights.borrow_and_update().clone();
                if have.is_none_or(|have| snapshot.version > have) {
                    // A reader that stopped reading fills the flow-control window and the send
                    // waits; it may hold one snapshot for at most the actor timeout.
                    let sent = tokio::select! {
                        sent = tokio::time::timeout(stall_limit, send_snapshot(&sender, &snapshot, chunk_bytes)) => sent,
                        _ = gone.cancelled() => break,
                    };
                    match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(())) => break,
                        Err(_) => {
                            metrics::counter!(m::STALLED_STREAMS).increment(1);
                            tracing::warn!(actor_id, "weights stream stalled (reader not reading): closed");
                            break;
                        }
                    }
                    have = Some(snapshot.version);
                }
                gone = liveness.heard(actor_id);
                tokio::select! {
                    changed = weights.changed() => if changed.is_err() { break },
                    _ = idle.tick() => {}
                    _ = sender.closed() => break,
                    _ = gone.cancelled() => break,
                    _ = shutdown.cancelled() => break,
                }
            }
            tracing::debug!(actor_id, "weights stream closed");
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }
}

/// Sends one snapshot as chunks; fails if the client went away.
async fn send_snapshot(
    sender: &mpsc::Sender<Result<v1::WeightsChunk, Status>>,
    snapshot: &WeightsSnapshot,
    chunk_bytes: usize,
) -> Result<(), ()> {
    let chunks: Vec<&[u8]> = snapshot.bytes.chunks(chunk_bytes).collect();
    let chunk_count = chunks.len() as u32;
    for (index, data) in chunks.into_iter().enumerate() {
        let chunk = v1::WeightsChunk {
            version: snapshot.version,
            chunk_index: index as u32,
            chunk_count,
            total_bytes: snapshot.bytes.len() as u64,
            data: data.to_vec(),
        };
        sender.send(Ok(chunk)).await.map_err(|_| ())?;
        metrics::counter!(m::WEIGHTS_BYTES_SENT).increment(data.len() as u64);
    }
    Ok(())
}
