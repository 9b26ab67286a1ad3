//! Batches scored trajectories and submits them to the learner. A batch that cannot be
//! delivered (learner restarting) is retried with back-off rather than dropped; a learner that
//! no longer knows the run makes the actor register again.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::connection::LearnerRpc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use gfn_common::trajectory::Trajectory;
use gfn_daemon::wire::trajectory_to_wire;
use gfn_proto::v1;

use crate::backoff::Backoff;
use crate::connection::{Registration, register};
use crate::metrics;

/// What the submitter did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SubmitStats {
    /// Trajectories the learner accepted.
    pub accepted: u64,
    /// Trajectories the learner dropped as stale.
    pub stale: u64,
    /// Trajectories the learner rejected (malformed, or a reward its audit disagreed with).
    pub rejected: u64,
    /// Trajectories of batches the learner refused as a whole, or that could not be delivered
    /// before shutdown.
    pub lost: u64,
    /// Trajectories sent again that the learner recognised as already accepted.
    pub duplicates: u64,
    /// Set when the learner quarantined this actor (its rewards disagreed with the learner's).
    pub quarantined: Option<String>,
}

impl SubmitStats {
    /// Counts a reply of the learner — what became of each trajectory of the batch — here and
    /// in the actor's metrics.
    pub fn record_reply(&mut self, reply: &v1::SubmitReply) {
        let (accepted, stale) = (u64::from(reply.accepted), u64::from(reply.dropped_stale));
        let (duplicates, rejected) = (u64::from(reply.duplicates), u64::from(reply.rejected));
        self.accepted += accepted;
        self.stale += stale;
        // sent again after a lost reply: the learner already had them
        self.duplicates += duplicates;
        self.rejected += rejected;
        ::metrics::counter!(metrics::TRAJECTORIES_ACCEPTED).increment(accepted);
        ::metrics::counter!(metrics::TRAJECTORIES_STALE).increment(stale);
        ::metrics::counter!(metrics::TRAJECTORIES_DUPLICATE).increment(duplicates);
        ::metrics::counter!(metrics::TRAJECTORIES_REJECTED).increment(rejected);
        for outcome in &reply.outcomes {
            if outcome.kind == v1::trajectory_outcome::Kind::Rejected as i32 {
                tracing::warn!(reason = %outcome.reason, message = %outcome.message, "the learner rejected a trajectory");
            }
        }
    }

    /// Counts trajectories rejected or given up on, here and in the actor's metrics.
    fn record_lost(&mut self, lost: u64) {
        self.lost += lost;
        ::metrics::counter!(metrics::TRAJECTORIES_LOST).increment(lost);
    }
}

/// Settings of the submitter.
#[derive(Debug, Clone)]
pub struct SubmitterSettings {
    /// Trajectories per call.
    pub batch: usize,
    /// Longest wait for a batch to fill before sending what there is.
    pub linger: Duration,
    /// Back-off cap.
    pub max_backoff: Duration,
    /// After shutdown, how long to keep retrying undelivered trajectories.
    pub shutdown_grace: Duration,
    /// Re-registration request (after the learner forgot the run).
    pub register_request: v1::RegisterRequest,
    /// Deadline of each call.
    pub rpc_deadline: Duration,
    /// This actor process's instance number (random, non-zero): with the trajectories'
    /// sequence numbers, lets the learner recognise a batch sent again.
    pub instance: u64,
}

/// Submits everything received on `results` until the channel closes. Cancels `shutdown`
/// when the learner reports that the run is finished.
pub async fn run_submitter(
    mut client: LearnerRpc,
    registration: Arc<RwLock<Registration>>,
    mut results: mpsc::Receiver<Trajectory>,
    settings: SubmitterSettings,
    shutdown: CancellationToken,
) -> SubmitStats {
    let mut stats = SubmitStats::default();
    let mut backoff = Backoff::new(settings.max_backoff);
    let mut sequence = 0u64;
    let mut shutdown_started: Option<Instant> = None;
    loop {
        let Some(first) = results.recv().await else { break };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + settings.linger;
        while batch.len() < settings.batch {
            match tokio::time::timeout_at(deadline, results.recv()).await {
                Ok(Some(trajectory)) => batch.push(trajectory),
                _ => break,
            }
        }
        let trajectories: Vec<v1::Trajectory> = batch
            .iter()
            .map(|t| {
                sequence += 1;
                v1::Trajectory { sequence, ..trajectory_to_wire(t) }
            })
            .collect();
        loop {
            let request = {
                let registration = registration.read().expect("registration lock");
                v1::TrajectoryBatch {
                    run_id: registration.run_id.clone(),
                    actor_id: registration.actor_id,
                    trajectories: trajectories.clone(),
                    actor_instance: settings.instance,
                }
            };
            let mut call = tonic::Request::new(request);
            call.set_timeout(settings.rpc_deadline);
            match client.submit_trajectories(call).await {
                Ok(reply) => {
                    backoff.reset();
                    let reply = reply.into_inner();
                    stats.record_reply(&reply);
                    if reply.run_finished && !shutdown.is_cancelled() {
                        tracing::info!("the learner finished the run");
                        shutdown.cancel();
                    }
                    break;
                }
                Err(status) => match status.code() {
                    tonic::Code::PermissionDenied => {
                        tracing::error!(
                            message = status.message(),
                            "the learner quarantined this actor: stopping"
                        );
                        stats.record_lost(trajectories.len() as u64);
                        stats.quarantined = Some(status.message().to_string());
                        shutdown.cancel();
                        break;
                    }
                    tonic::Code::InvalidArgument | tonic::Code::OutOfRange => {
                        tracing::error!(message = status.message(), "learner refused the whole batch");
                        stats.record_lost(trajectories.len() as u64);
                        break;
                    }
                    tonic::Code::FailedPrecondition => {
                        tracing::warn!(
                            message = status.message(),
                            "learner does not know this run; registering again"
                        );
                        let mut register_backoff = Backoff::new(settings.max_backoff);
                        match register(
                            &mut client,
                            settings.register_request.clone(),
                            &mut register_backoff,
                            settings.rpc_deadline,
                            &shutdown,
                        )
                        .await
                        {
                            Ok(fresh) => *registration.write().expect("registration lock") = fresh,
                            Err(error) => {
                                tracing::error!(%error, "re-registration failed");
                                stats.record_lost(trajectories.len() as u64);
                                break;
                            }
                        }
                    }
                    _ => {
                        if shutdown.is_cancelled() {
                            let started = *shutdown_started.get_or_insert_with(Instant::now);
                            if started.elapsed() >= settings.shutdown_grace {
                                stats.record_lost(trajectories.len() as u64);
                                break;
                            }
                        }
                        ::metrics::counter!(metrics::SUBMIT_RETRIES).increment(1);
                        let pause = backoff.next_pause();
                        tracing::debug!(code = ?status.code(), ?pause, "submit failed, retrying");
                        tokio::time::sleep(pause).await;
                    }
                },
            }
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;
    use v1::trajectory_outcome::Kind;

    fn outcome(kind: Kind, reason: &str) -> v1::TrajectoryOutcome {
        v1::TrajectoryOutcome { kind: kind as i32, reason: reason.into(), message: String::new() }
    }

    #[test]
    fn the_counters_follow_the_reply_trajectory_by_trajectory() {
        let reply = v1::SubmitReply {
            accepted: 2,
            dropped_stale: 1,
            learner_version: 7,
            run_finished: false,
            duplicates: 1,
            rejected: 1,
            outcomes: vec![
                outcome(Kind::Accepted, ""),
                outcome(Kind::Duplicate, ""),
                outcome(Kind::Rejected, "invalid_action"),
                outcome(Kind::Stale, ""),
                outcome(Kind::Accepted, ""),
            ],
        };
        let mut stats = SubmitStats::default();
        stats.record_reply(&reply);
        stats.record_reply(&reply);
        let expected =
            SubmitStats { accepted: 4, stale: 2, rejected: 2, lost: 0, duplicates: 2, quarantined: None };
        assert_eq!(stats, expected);
        // a partly rejected batch no longer counts as lost
        assert_eq!(stats.lost, 0);
    }
}
