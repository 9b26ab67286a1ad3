//! The `gfn.v1.Learner` gRPC service: registration, trajectory ingestion, weight broadcast.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use prost::Message;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use gfn_common::env::Environment;
use gfn_proto::v1::{self, learner_server::Learner};

use crate::metrics as m;
use crate::state::{RunState, WeightsSnapshot};
use gfn_common::task::Generated;

use crate::admission;
use crate::journal::Delivered;

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
        let _submission = state.limits.submission(batch.actor_id)?;
        state.limits.ingest(batch.actor_id, batch.trajectories.len())?;
        if state.is_finished() {
            return Ok(Response::new(admission::Admission::<E::State>::after_the_end(state.version())));
        }
        metrics::counter!(m::TRAJECTORIES_RECEIVED).increment(batch.trajectories.len() as u64);
        let sender = admission::Sender { actor_id: batch.actor_id, instance: batch.actor_instance };
        // decoding, rebuilding and auditing are CPU work: off the async runtime
        let checked = {
            let state = Arc::clone(state);
            tokio::task::spawn_blocking(move || {
                let gate = admission::Gate {
                    env: &state.env,
                    auditor: state.auditor.as_ref(),
                    version: state.version(),
                    max_policy_lag: state.config.learner.max_policy_lag,
                    quarantine_after: state.config.learner.reward_audit_quarantine_after,
                };
                admission::check(&gate, sender, batch.trajectories)
            })
            .await
            .map_err(|error| Status::internal(format!("admission failed: {error}")))?
            .map_err(|refusal| Status::permission_denied(refusal.to_string()))?
        };
        // Journal first (durable before the reply), then record and enqueue in the journal's
        // order. Under the journal's lock (or the delivered map's, without a journal),
        // trajectories already accepted from this actor instance are recognised; the map only
        // advances once the batch is durable.
        let mut journal = match &state.journal {
            Some(journal) => Some(journal.clone().lock_owned().await),
            None => None,
        };
        // The run finished (and closed the journal with its final count) while this batch was
        // checked: none of it is taken, as for a batch that arrives after the end.
        if journal.as_ref().is_some_and(|journal| journal.is_closed()) {
            return Ok(Response::new(admission::Admission::<E::State>::after_the_end(state.version())));
        }
        let (admitted, advanced) = {
            let mut delivered = state.delivered.lock().expect("delivered lock");
            // a batch comes from one instance: only its mark can move
            let mut mark = Delivered::new();
            if let Some(&highest) = delivered.get(&sender.instance) {
                mark.insert(sender.instance, highest);
            }
            let admitted = admission::deduplicate(checked, &mut mark);
            if journal.is_none() {
                delivered.extend(std::mem::take(&mut mark));
            }
            (admitted, mark)
        };
        if admitted.all_rejected() {
            tracing::warn!(actor_id = sender.actor_id, "a batch of malformed trajectories rejected");
            return Err(Status::invalid_argument(format!(
                "all {} trajectories rejected ({})",
                admitted.outcomes.len(),
                admitted.rejections()
            )));
        }
        if let Some(journal) = journal.as_mut() {
            tokio::task::block_in_place(|| journal.append(&admitted.accepted, &admitted.origins)).map_err(
                |error| {
                    tracing::error!(%error, "ingest journal write failed");
                    Status::unavailable(format!("the learner could not journal the batch: {error}"))
                },
            )?;
            state.delivered.lock().expect("delivered lock").extend(advanced);
        }
        let reply = admitted.reply(state.version(), state.is_finished());
        if reply.duplicates > 0 {
            tracing::info!(
                actor_id = sender.actor_id,
                duplicates = reply.duplicates,
                "trajectories sent again recognised: not taken twice"
            );
        }
        if reply.rejected > 0 {
            tracing::warn!(
                actor_id = sender.actor_id,
                rejected = reply.rejected,
                "malformed trajectories rejected"
            );
        }
        metrics::counter!(m::TRAJECTORIES_ACCEPTED).increment(admitted.accepted.len() as u64);
        if let Some(results) = &state.results {
            let received_at = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            for rebuilt in &admitted.accepted {
                let generated = Generated {
                    record: rebuilt.record.clone(),
                    terminal: rebuilt.terminal().clone(),
                    actor_id: sender.actor_id,
                    received_at,
                    reward_exponent: None,
                };
                if !results(generated) {
                    metrics::counter!(m::RESULTS_DROPPED).increment(1);
                }
            }
        }
        let _journal = journal;
        for rebuilt in admitted.accepted {
            tokio::select! {
                sent = state.queue.send(rebuilt) => {
                    if sent.is_err() {
                        return Err(Status::unavailable("the learner is shutting down"));
                    }
                }
                _ = state.shutdown.cancelled() => return Err(Status::unavailable("the learner is shutting down")),
            }
        }
        Ok(Response::new(reply))
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
