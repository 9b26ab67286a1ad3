//! The training thread of the learner: it hosts the core's one training loop
//! (`gfn_common::training::TrainingLoop`) with the ingest queue as its batch source. Around
//! the loop it publishes weights (a `watch` send of an `Arc`: it never waits for actors),
//! reports evaluations (stdout, the JSON-lines log, events), exports metrics, and keeps the
//! learner's own progress — run id, actor ids, journal position — in every checkpoint.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};

use gfn_common::env::Environment;
use gfn_common::events::{Event, Events};
use gfn_common::model::Model;
use gfn_common::task::evaluation::{Evaluated, write_shared};
use gfn_common::task::{RunEvaluation, SharedLog};
use gfn_common::training::{Batch, Flow, LoopHost, RunProgress, TrainError, TrainingLoop, UpdateReport};
use gfn_common::trajectory::RebuiltTrajectory;
use gfn_common::weights::{WeightsError, to_safetensors_bytes};

use crate::metrics as m;
use crate::state::{RunState, WeightsSnapshot};

/// What the distributed learner keeps across restarts besides the loop's own progress
/// (flattened into the same checkpoint record).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LearnerProgress {
    /// The run's id (kept across restarts, so the actors carry on).
    pub run_id: Option<String>,
    /// Actor ids handed out so far: a restarted learner continues after them, so ids stay
    /// unique within a run (they label stored results).
    pub actors_registered: u64,
    /// Accepted trajectories trained on so far, in the order of the ingest journal: a
    /// restarted learner feeds the journal from here on into training.
    pub journal_consumed: u64,
    /// The highest trajectory sequence number accepted per actor instance, as `(instance,
    /// sequence)` pairs: with the journal after the checkpoint, what tells a trajectory sent
    /// again after a restart. (Pairs, not a JSON object: integer keys do not survive the
    /// flattening into the progress record.)
    pub delivered: Vec<(u64, u64)>,
}

/// The learner's progress record.
pub type Progress<S> = RunProgress<S, LearnerProgress>;

/// Everything the training thread owns.
pub struct TrainingThread<E: Environment> {
    /// Shared with the service.
    pub state: Arc<RunState<E>>,
    /// Periodic evaluation (and recognition of modes).
    pub evaluation: Box<dyn RunEvaluation<E>>,
    /// The network and optimizer.
    pub model: Model,
    /// Where training stands (restored from a checkpoint or new).
    pub progress: Progress<E::State>,
    /// Validated trajectories from the service.
    pub queue: mpsc::Receiver<RebuiltTrajectory<E::State>>,
    /// Where new weights are published.
    pub weights: Arc<watch::Sender<Arc<WeightsSnapshot>>>,
    /// Runtime used to wait on the queue from this thread.
    pub runtime: Handle,
    /// The run's JSON-lines log (evaluation records).
    pub log: Option<SharedLog>,
    /// Machine-readable events (evaluations).
    pub events: Events,
}

/// Serializes the policy of `model` as a weights snapshot of `version`.
pub fn snapshot(model: &Model, version: u64) -> Result<Arc<WeightsSnapshot>, WeightsError> {
    let bytes = to_safetensors_bytes(&model.policy_tensors())?;
    Ok(Arc::new(WeightsSnapshot { version, bytes }))
}

impl<E> TrainingThread<E>
where
    E: Environment,
    E::State: Serialize + DeserializeOwned,
{
    /// Trains until `training.updates` or until shutdown; checkpoints on the way out.
    pub fn run(self) -> Result<Progress<E::State>, TrainError> {
        let TrainingThread { state, evaluation, model, progress, queue, weights, runtime, log, events } =
            self;
        let config = &state.config;
        let mut host = LearnerHost {
            batch: Vec::with_capacity(config.training.batch_size),
            journal_marks: VecDeque::from([progress.host.journal_consumed]),
            state: Arc::clone(&state),
            queue,
            weights,
            runtime,
            log,
            events,
        };
        let training = TrainingLoop {
            env: &state.env,
            config,
            config_toml: state.config_toml.clone(),
            model,
            progress,
            evaluation,
        };
        Ok(training.run(&mut host)?.progress)
    }
}

/// The learner around the loop.
struct LearnerHost<E: Environment> {
    state: Arc<RunState<E>>,
    queue: mpsc::Receiver<RebuiltTrajectory<E::State>>,
    batch: Vec<RebuiltTrajectory<E::State>>,
    weights: Arc<watch::Sender<Arc<WeightsSnapshot>>>,
    runtime: Handle,
    log: Option<SharedLog>,
    events: Events,
    /// `journal_consumed` of the checkpoints kept, oldest first.
    journal_marks: VecDeque<u64>,
}

impl<E: Environment> LearnerHost<E> {
    /// Copies the weights (cheap, on this thread) and serializes and publishes them on a
    /// blocking-pool thread, so that training never waits for serialization or for actors.
    fn publish(&self, model: &Model, version: u64) {
        let tensors = model.policy_copy();
        let weights = Arc::clone(&self.weights);
        self.runtime.spawn_blocking(move || match to_safetensors_bytes(&tensors) {
            Ok(bytes) => {
                let snapshot = Arc::new(WeightsSnapshot { version, bytes });
                // Serializations may finish out of order: only ever move forward.
                let published = weights.send_if_modified(|current| {
                    let newer = snapshot.version > current.version;
                    if newer {
                        *current = Arc::clone(&snapshot);
                    }
                    newer
                });
                if published {
                    metrics::gauge!(m::WEIGHTS_VERSION).set(version as f64);
                }
            }
            Err(error) => tracing::error!(%error, version, "weights serialization failed"),
        });
    }
}

impl<E: Environment> LoopHost<E, LearnerProgress> for LearnerHost<E> {
    fn next_batch(&mut self, _model: &Model) -> Result<Option<Batch<E::State>>, TrainError> {
        let batch_size = self.state.config.training.batch_size;
        let shutdown = self.state.shutdown.clone();
        while self.batch.len() < batch_size {
            let next = self.runtime.block_on(async {
                tokio::select! {
                    next = self.queue.recv() => next,
                    _ = shutdown.cancelled() => None,
                }
            });
            match next {
                Some(trajectory) => self.batch.push(trajectory),
                None => return Ok(None), // shutting down
            }
        }
        metrics::gauge!(m::QUEUE_DEPTH).set(self.queue.len() as f64);
        let trajectories = std::mem::replace(&mut self.batch, Vec::with_capacity(batch_size));
        Ok(Some(Batch { trajectories, sampling: Default::default(), sampler_rows: 0 }))
    }

    fn after_update(
        &mut self,
        model: &Model,
        progress: &mut Progress<E::State>,
        report: &UpdateReport,
    ) -> Result<(), TrainError> {
        metrics::histogram!(m::UPDATE_DURATION).record(report.duration.as_secs_f64());
        progress.host.journal_consumed += report.trajectories as u64;
        self.state.version.store(progress.update, Ordering::Release);
        metrics::counter!(m::UPDATES).increment(1);
        metrics::counter!(m::TRAJECTORIES_TRAINED).increment(report.trajectories as u64);
        if report.stats.applied {
            metrics::gauge!(m::LOSS).set(report.stats.loss);
        } else {
            // the weights stay as they were; the version still advances (same weights)
            metrics::counter!(m::UPDATES_SKIPPED).increment(1);
            tracing::warn!(
                update = progress.update,
                loss = report.stats.loss,
                "non-finite loss or gradient: update skipped"
            );
        }
        if progress.update.is_multiple_of(self.state.config.learner.weights_interval_updates) || report.last {
            self.publish(model, progress.update);
        }
        Ok(())
    }

    fn after_evaluation(&mut self, evaluated: &Evaluated) -> Result<Flow, TrainError> {
        if let Some(log) = &self.log {
            write_shared(log, &evaluated.record).map_err(TrainError::EvaluationLog)?;
        }
        self.events
            .emit(Event::Evaluation { record: evaluated.record.clone(), summary: evaluated.line.clone() });
        Ok(Flow::Continue)
    }

    fn before_checkpoint(&mut self, progress: &mut Progress<E::State>) {
        progress.host.actors_registered = self.state.next_actor_id.load(Ordering::Relaxed).saturating_sub(1);
        progress.host.delivered =
            self.state.delivered.lock().expect("delivered lock").iter().map(|(&i, &s)| (i, s)).collect();
    }

    fn after_checkpoint(&mut self, path: &Path, progress: &Progress<E::State>) {
        metrics::counter!(m::CHECKPOINTS).increment(1);
        tracing::info!(path = %path.display(), update = progress.update, "checkpoint written");
        // The journal keeps what the oldest kept checkpoint may need after a fallback.
        self.journal_marks.push_back(progress.host.journal_consumed);
        while self.journal_marks.len() > self.state.config.checkpoint.keep.max(1) {
            self.journal_marks.pop_front();
        }
        if let (Some(journal), Some(&oldest)) = (&self.state.journal, self.journal_marks.front()) {
            // On the runtime, never here: a submission holding the journal's lock may be
            // waiting for this thread to take from the full queue.
            let journal = Arc::clone(journal);
            self.runtime.spawn(async move {
                let mut journal = journal.lock().await;
                if let Err(error) = tokio::task::block_in_place(|| journal.discard_before(oldest)) {
                    tracing::warn!(%error, "could not delete consumed journal segments");
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learners_progress_round_trips_through_the_checkpoint_record() {
        let progress: Progress<Vec<u16>> = RunProgress {
            update: 12,
            trajectories: 192,
            training_seconds: 3.5,
            modes_found: vec![vec![1, 2]],
            host: LearnerProgress {
                run_id: Some("run-1".into()),
                actors_registered: 3,
                journal_consumed: 190,
                delivered: vec![(7, 120), (u64::MAX, 1)],
            },
        };
        let json = serde_json::to_string(&progress).unwrap();
        let back: Progress<Vec<u16>> = serde_json::from_str(&json).unwrap();
        assert_eq!(back.host, progress.host);
        assert_eq!((back.update, back.modes_found), (12, vec![vec![1, 2]]));
        // a record written before de-duplication existed still loads
        let old = r#"{"update":1,"trajectories":16,"training_seconds":0.1,"modes_found":[],"run_id":"r","actors_registered":1,"journal_consumed":16}"#;
        let old: Progress<Vec<u16>> = serde_json::from_str(old).unwrap();
        assert!(old.host.delivered.is_empty());
    }
}
