//! The one training loop. Every process that trains runs it: `gfn train` with batches sampled
//! in the same process, the distributed learner with batches from its ingest queue. The loop
//! owns what is the same everywhere — mode tracking, the replay buffer, updates, loss
//! averaging, the evaluation and checkpoint cadence, and the time accounting — and leaves what
//! differs to its [`LoopHost`]: where batches come from, what happens with new weights and
//! evaluations, and what the host adds to a checkpoint.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustc_hash::FxHashSet;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::checkpoint::CheckpointError;
use crate::config::RunConfig;
use crate::env::Environment;
use crate::eval::TrainingCounters;
use crate::model::{Model, UpdateStats};
use crate::replay::ReplayBuffer;
use crate::reward::RewardError;
use crate::task::evaluation::Evaluated;
use crate::task::{RunEvaluation, TaskError};
use crate::trajectory::{RebuiltTrajectory, TrajectoryError};

use super::progress::{RunProgress, save_checkpoint};

/// Why training stopped early.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The reward failed on a sampled object.
    #[error("reward failed: {0}")]
    Reward(#[from] RewardError),
    /// A sampled trajectory did not rebuild (a bug in an environment).
    #[error("sampled trajectory did not rebuild: {0}")]
    Trajectory(#[from] TrajectoryError),
    /// Checkpoint I/O failed.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The evaluation record could not be written to the run's log.
    #[error("writing the evaluation log")]
    EvaluationLog(#[source] std::io::Error),
    /// The task's evaluation, reward model or results recorder, or the host, failed.
    #[error(transparent)]
    Failed(#[from] TaskError),
}

/// One batch to train on.
#[derive(Debug)]
pub struct Batch<S> {
    /// The trajectories, states rebuilt and validated.
    pub trajectories: Vec<RebuiltTrajectory<S>>,
    /// Time spent sampling and scoring them, where the host knows it (else zero).
    pub sampling: Duration,
    /// Network rows evaluated while sampling them, where the host knows it (else zero).
    pub sampler_rows: u64,
}

/// What an update did, as the host hears it.
#[derive(Debug, Clone, Copy)]
pub struct UpdateReport {
    /// The model's report.
    pub stats: UpdateStats,
    /// Fresh trajectories in the batch (replayed ones not counted).
    pub trajectories: usize,
    /// Time the update itself took (forward, backward, optimizer step).
    pub duration: Duration,
    /// Whether this was the run's last update.
    pub last: bool,
}

/// Whether training goes on after an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep training.
    Continue,
    /// Stop now (a checkpoint is still written on the way out).
    Stop,
}

/// The process around the loop: where batches come from and who hears about progress.
pub trait LoopHost<E: Environment, X> {
    /// The next batch, or `None` to stop (shutdown). `model` holds the current weights.
    fn next_batch(&mut self, model: &Model) -> Result<Option<Batch<E::State>>, TrainError>;
    /// After every update, with the progress already advanced; the host may update its own
    /// progress fields (`progress.host`).
    fn after_update(
        &mut self,
        model: &Model,
        progress: &mut RunProgress<E::State, X>,
        report: &UpdateReport,
    ) -> Result<(), TrainError>;
    /// After every evaluation.
    fn after_evaluation(&mut self, evaluated: &Evaluated) -> Result<Flow, TrainError>;
    /// Just before a checkpoint is written: the host's own progress fields.
    fn before_checkpoint(&mut self, _progress: &mut RunProgress<E::State, X>) {}
    /// After a checkpoint was written to `path`.
    fn after_checkpoint(&mut self, _path: &Path, _progress: &RunProgress<E::State, X>) {}
}

/// Where the wall time of a run went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeBreakdown {
    /// Rollouts and rewards, as the batches report it (on the sampler thread when sampling is
    /// pipelined; zero when batches come from elsewhere).
    pub sampling: Duration,
    /// Time the training thread waited for batches.
    pub waiting: Duration,
    /// Batch preparation, forward, backward, optimizer step and the host's `after_update`.
    pub learning: Duration,
    /// Evaluation.
    pub evaluation: Duration,
    /// Checkpoints written.
    pub checkpointing: Duration,
    /// Network rows evaluated by the learner (each one forward and one backward pass).
    pub learner_rows: u64,
    /// Network rows evaluated while sampling (forward only).
    pub sampler_rows: u64,
    /// Trajectories trained on in this invocation.
    pub trajectories: u64,
    /// Updates applied in this invocation.
    pub updates: u64,
    /// Of those, updates skipped for a NaN or infinite loss or gradient (weights kept).
    pub skipped_updates: u64,
}

impl TimeBreakdown {
    /// Wall time of training on the training thread: waiting for batches plus learning.
    pub fn training(&self) -> Duration {
        self.waiting + self.learning
    }
}

/// The loop and everything it starts from.
pub struct TrainingLoop<'a, E: Environment, X> {
    /// The environment trajectories live in.
    pub env: &'a E,
    /// The run's configuration (updates, cadences, replay).
    pub config: &'a RunConfig,
    /// The configuration as stored in checkpoints.
    pub config_toml: String,
    /// The network, optimizer and objective.
    pub model: Model,
    /// Where the run stands (restored from a checkpoint or new).
    pub progress: RunProgress<E::State, X>,
    /// The task's evaluation (and recognition of modes).
    pub evaluation: Box<dyn RunEvaluation<E>>,
}

/// How a loop ended.
pub struct LoopOutcome<E: Environment, X> {
    /// The model after the last update.
    pub model: Model,
    /// Where the run stands.
    pub progress: RunProgress<E::State, X>,
    /// The last evaluation of this invocation, if there was one.
    pub last: Option<Evaluated>,
    /// The evaluation, to evaluate once more if there was none.
    pub evaluation: Box<dyn RunEvaluation<E>>,
    /// Where time went.
    pub time: TimeBreakdown,
    /// Mean loss of the applied updates since the last evaluation (NaN if none).
    pub mean_loss: f64,
}

impl<E: Environment, X> LoopOutcome<E, X> {
    /// The counters an evaluation of the final state is given.
    pub fn counters(&self) -> TrainingCounters {
        counters(&self.progress, self.mean_loss, self.progress.modes_found.len())
    }
}

impl<'a, E, X> TrainingLoop<'a, E, X>
where
    E: Environment,
    E::State: Serialize + DeserializeOwned,
    X: Serialize,
{
    /// Trains until `training.updates`, a stop from the host, or the end of batches;
    /// checkpoints (when `checkpoint.dir` is set) every `checkpoint.interval_updates` updates,
    /// at least every `checkpoint.interval_seconds`, after the last update and on the way out.
    pub fn run(self, host: &mut dyn LoopHost<E, X>) -> Result<LoopOutcome<E, X>, TrainError> {
        let TrainingLoop { env, config, config_toml, mut model, mut progress, mut evaluation } = self;
        let mut modes_found: FxHashSet<E::State> = progress.modes_found.iter().cloned().collect();
        let mut replay_buffer = ReplayBuffer::new(config.training.replay, config.seed ^ 0x5EED);
        let mut time = TimeBreakdown::default();
        let mut loss = LossMean::default();
        let mut last = None;
        let session_start_seconds = progress.training_seconds;
        let checkpoints = config.checkpoint.dir.as_deref().map(|dir| Checkpoints {
            dir,
            config_toml: &config_toml,
            keep: config.checkpoint.keep,
            every_updates: config.checkpoint.interval_updates,
            every: Duration::from_secs_f64(config.checkpoint.interval_seconds),
            last_written: Instant::now(),
            last_update: progress.update,
        });
        let mut checkpoints = checkpoints;
        while progress.update < config.training.updates {
            let started = Instant::now();
            let batch = host.next_batch(&model)?;
            let received_at = Instant::now();
            time.waiting += received_at - started;
            let Some(batch) = batch else { break };
            time.sampling += batch.sampling;
            time.sampler_rows += batch.sampler_rows;
            for trajectory in &batch.trajectories {
                let terminal = trajectory.terminal();
                if evaluation.observe(terminal) {
                    modes_found.insert(terminal.clone());
                }
            }
            let update_started = Instant::now();
            let stats = model.update(env, &replay_buffer.mix(&batch.trajectories));
            let duration = update_started.elapsed();
            progress.update += 1;
            progress.trajectories += batch.trajectories.len() as u64;
            time.updates += 1;
            time.trajectories += batch.trajectories.len() as u64;
            time.learner_rows += stats.states_evaluated as u64;
            if stats.applied {
                loss.add(stats.loss);
            } else {
                time.skipped_updates += 1;
            }
            let last_update = progress.update == config.training.updates;
            let report =
                UpdateReport { stats, trajectories: batch.trajectories.len(), duration, last: last_update };
            host.after_update(&model, &mut progress, &report)?;
            time.learning += received_at.elapsed();
            progress.training_seconds = session_start_seconds + time.training().as_secs_f64();

            let mut flow = Flow::Continue;
            if progress.update.is_multiple_of(config.evaluation.interval_updates) || last_update {
                let evaluation_started = Instant::now();
                let evaluated =
                    evaluation.evaluate(&model, counters(&progress, loss.take(), modes_found.len()))?;
                time.evaluation += evaluation_started.elapsed();
                flow = host.after_evaluation(&evaluated)?;
                last = Some(evaluated);
            }
            if let Some(checkpoints) = &mut checkpoints
                && (checkpoints.due(progress.update) || last_update)
            {
                let started = Instant::now();
                checkpoints.write(&model, &mut progress, &modes_found, host)?;
                time.checkpointing += started.elapsed();
            }
            if flow == Flow::Stop {
                break;
            }
        }
        if let Some(checkpoints) = &mut checkpoints
            && progress.update != checkpoints.last_update
        {
            let started = Instant::now();
            checkpoints.write(&model, &mut progress, &modes_found, host)?;
            time.checkpointing += started.elapsed();
        }
        progress.modes_found = modes_found.into_iter().collect();
        Ok(LoopOutcome { model, progress, last, evaluation, time, mean_loss: loss.mean() })
    }
}

/// Checkpoint cadence and destination.
struct Checkpoints<'c> {
    dir: &'c Path,
    config_toml: &'c str,
    keep: usize,
    every_updates: u64,
    every: Duration,
    last_written: Instant,
    last_update: u64,
}

impl Checkpoints<'_> {
    fn due(&self, update: u64) -> bool {
        let by_count = self.every_updates > 0 && update.is_multiple_of(self.every_updates);
        let by_time = !self.every.is_zero() && self.last_written.elapsed() >= self.every;
        by_count || by_time
    }

    fn write<E: Environment, X: Serialize>(
        &mut self,
        model: &Model,
        progress: &mut RunProgress<E::State, X>,
        modes_found: &FxHashSet<E::State>,
        host: &mut dyn LoopHost<E, X>,
    ) -> Result<PathBuf, TrainError>
    where
        E::State: Serialize,
    {
        progress.modes_found = modes_found.iter().cloned().collect();
        host.before_checkpoint(progress);
        let path = save_checkpoint(self.dir, model, progress, self.config_toml, self.keep)?;
        self.last_written = Instant::now();
        self.last_update = progress.update;
        host.after_checkpoint(&path, progress);
        Ok(path)
    }
}

/// The mean loss of the applied updates since it was last taken.
#[derive(Default)]
struct LossMean {
    sum: f64,
    count: u64,
}

impl LossMean {
    fn add(&mut self, loss: f64) {
        self.sum += loss;
        self.count += 1;
    }

    fn mean(&self) -> f64 {
        if self.count == 0 { f64::NAN } else { self.sum / self.count as f64 }
    }

    /// The mean so far (0 when no update was applied), restarting the average.
    fn take(&mut self) -> f64 {
        let mean = self.sum / self.count.max(1) as f64;
        *self = Self::default();
        mean
    }
}

fn counters<S, X>(progress: &RunProgress<S, X>, mean_loss: f64, modes_found: usize) -> TrainingCounters {
    TrainingCounters {
        update: progress.update,
        trajectories: progress.trajectories,
        training_seconds: progress.training_seconds,
        mean_loss,
        modes_found,
    }
}
