//! The training thread: owns the network and optimizer (tch is not async), pulls validated
//! trajectories from the bounded queue, applies updates, publishes weights, evaluates and
//! checkpoints. Publishing is a `watch` send of an `Arc`: it never waits for actors.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use rustc_hash::FxHashSet;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::runtime::Handle;
use tokio::sync::{mpsc, watch};

use gfn_common::checkpoint::{self, Metadata};
use gfn_common::env::Environment;
use gfn_common::eval::TrainingCounters;
use gfn_common::events::{Event, Events};
use gfn_common::model::Model;
use gfn_common::replay::ReplayBuffer;
use gfn_common::trainer::TrainerProgress;
use gfn_common::trajectory::RebuiltTrajectory;
use gfn_common::weights::to_safetensors_bytes;

use gfn_common::task::evaluation::write_shared;
use gfn_common::task::{RunEvaluation, SharedLog};

use crate::metrics as m;
use crate::state::{RunState, WeightsSnapshot};

/// Everything the training thread owns.
pub struct TrainingLoop<E: Environment> {
    /// Shared with the service.
    pub state: Arc<RunState<E>>,
    /// Periodic evaluation (and recognition of modes).
    pub evaluation: Box<dyn RunEvaluation<E>>,
    /// The network and optimizer.
    pub learner: Model,
    /// Where training stands (restored from a checkpoint or new).
    pub progress: TrainerProgress<E::State>,
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
    /// `journal_consumed` of the checkpoints kept, oldest first.
    pub journal_marks: std::collections::VecDeque<u64>,
}

/// Serializes the policy of `learner` as a weights snapshot of `version`.
pub fn snapshot(learner: &Model, version: u64) -> anyhow::Result<Arc<WeightsSnapshot>> {
    let bytes = to_safetensors_bytes(&learner.policy_tensors())?;
    Ok(Arc::new(WeightsSnapshot { version, bytes }))
}

impl<E> TrainingLoop<E>
where
    E: Environment,
    E::State: Serialize + DeserializeOwned,
{
    /// Trains until `training.updates` or until shutdown; checkpoints on the way out.
    pub fn run(mut self) -> anyhow::Result<TrainerProgress<E::State>> {
        let config = self.state.config.clone();
        let state = Arc::clone(&self.state);
        let env = &state.env;
        let mut modes_found: FxHashSet<E::State> = self.progress.modes_found.iter().cloned().collect();
        let session_start_seconds = self.progress.training_seconds;
        let started = Instant::now();
        let mut last_checkpoint = Instant::now();
        let mut last_checkpointed_update = self.progress.update;
        let mut loss_sum = 0.0;
        let mut loss_count = 0u64;
        // Evaluation time is not training time.
        let mut evaluation_time = Duration::ZERO;
        let training_seconds = |evaluation_time: Duration| {
            session_start_seconds + (started.elapsed() - evaluation_time).as_secs_f64()
        };
        let batch_size = config.training.batch_size;
        let mut replay_buffer = ReplayBuffer::new(config.training.replay, config.seed ^ 0x5EED);
        let mut batch = Vec::with_capacity(batch_size);
        while self.progress.update < config.training.updates {
            batch.clear();
            while batch.len() < batch_size {
                let shutdown = self.state.shutdown.clone();
                let next = self.runtime.block_on(async {
                    tokio::select! {
                        next = self.queue.recv() => next,
                        _ = shutdown.cancelled() => None,
                    }
                });
                match next {
                    Some(trajectory) => batch.push(trajectory),
                    None => break,
                }
            }
            if batch.len() < batch_size {
                break; // shutting down
            }
            metrics::gauge!(m::QUEUE_DEPTH).set(self.queue.len() as f64);
            for trajectory in &batch {
                self.evaluation.observe(trajectory.terminal());
                if self.evaluation.is_mode(trajectory.terminal()) {
                    modes_found.insert(trajectory.terminal().clone());
                }
            }
            let update_started = Instant::now();
            let stats = self.learner.update(env, &replay_buffer.mix(&batch));
            metrics::histogram!(m::UPDATE_DURATION).record(update_started.elapsed().as_secs_f64());
            self.progress.update += 1;
            self.progress.trajectories += batch.len() as u64;
            self.progress.journal_consumed += batch.len() as u64;
            self.state.version.store(self.progress.update, Ordering::Release);
            metrics::counter!(m::UPDATES).increment(1);
            metrics::counter!(m::TRAJECTORIES_TRAINED).increment(batch.len() as u64);
            if stats.applied {
                metrics::gauge!(m::LOSS).set(stats.loss);
                loss_sum += stats.loss;
                loss_count += 1;
            } else {
                // the weights stay as they were; the version still advances (same weights)
                metrics::counter!(m::UPDATES_SKIPPED).increment(1);
                tracing::warn!(
                    update = self.progress.update,
                    loss = stats.loss,
                    "non-finite loss or gradient: update skipped"
                );
            }
            let last_update = self.progress.update == config.training.updates;
            if self.progress.update.is_multiple_of(config.learner.weights_interval_updates) || last_update {
                self.publish()?;
            }
            if self.progress.update.is_multiple_of(config.evaluation.interval_updates) || last_update {
                let evaluation_started = Instant::now();
                self.progress.training_seconds = training_seconds(evaluation_time);
                let evaluated = self.evaluation.evaluate(
                    &self.learner,
                    TrainingCounters {
                        update: self.progress.update,
                        trajectories: self.progress.trajectories,
                        training_seconds: self.progress.training_seconds,
                        mean_loss: loss_sum / loss_count.max(1) as f64,
                        modes_found: modes_found.len(),
                    },
                )?;
                println!("{}", evaluated.line);
                if let Some(log) = &self.log {
                    write_shared(log, &evaluated.record)?;
                }
                self.events.emit(Event::Evaluation { record: evaluated.record });
                loss_sum = 0.0;
                loss_count = 0;
                evaluation_time += evaluation_started.elapsed();
            }
            let by_count = config.checkpoint.interval_updates > 0
                && self.progress.update.is_multiple_of(config.checkpoint.interval_updates);
            let by_time = config.checkpoint.interval_seconds > 0.0
                && last_checkpoint.elapsed() >= Duration::from_secs_f64(config.checkpoint.interval_seconds);
            if by_count || by_time || last_update {
                self.progress.training_seconds = training_seconds(evaluation_time);
                self.checkpoint(&modes_found)?;
                last_checkpoint = Instant::now();
                last_checkpointed_update = self.progress.update;
            }
        }
        if self.progress.update != last_checkpointed_update {
            self.progress.training_seconds = training_seconds(evaluation_time);
            self.checkpoint(&modes_found)?;
        }
        Ok(self.progress)
    }

    /// Copies the weights (cheap, on this thread) and serializes and publishes them on a
    /// blocking-pool thread, so that training never waits for serialization or for actors.
    fn publish(&self) -> anyhow::Result<()> {
        let version = self.progress.update;
        let tensors = self.learner.policy_copy();
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
        Ok(())
    }

    fn checkpoint(&mut self, modes_found: &FxHashSet<E::State>) -> anyhow::Result<()> {
        let Some(dir) = self.state.config.checkpoint.dir.clone() else {
            return Ok(());
        };
        self.progress.modes_found = modes_found.iter().cloned().collect();
        self.progress.actors_registered = self.state.next_actor_id.load(Ordering::Relaxed).saturating_sub(1);
        let metadata = Metadata::from([
            (checkpoint::PROGRESS.to_string(), serde_json::to_string(&self.progress)?),
            (checkpoint::CONFIG.to_string(), self.state.config_toml.clone()),
        ]);
        let path = checkpoint::save(
            &dir,
            self.progress.update,
            &self.learner.state_tensors(),
            &metadata,
            self.state.config.checkpoint.keep,
        )?;
        metrics::counter!(m::CHECKPOINTS).increment(1);
        tracing::info!(path = %path.display(), update = self.progress.update, "checkpoint written");
        // The journal keeps what the oldest kept checkpoint may need after a fallback.
        self.journal_marks.push_back(self.progress.journal_consumed);
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
        Ok(())
    }
}
