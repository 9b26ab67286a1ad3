//! The single-process trainer: sampling and learning alternate in one thread, exchanging plain
//! [`crate::trajectory::Trajectory`] records exactly as an actor and a learner do over the
//! network. It trains any task ([`train_task`]): its evaluation and results recorder are the
//! task's hooks, as in the distributed learner. [`train`] is the shortcut for an enumerable
//! environment evaluated exactly, the reference for quality.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rustc_hash::FxHashSet;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tch::Device;

use crate::checkpoint::{self, CheckpointError};
use crate::config::RunConfig;
use crate::env::{Enumerable, Environment};
use crate::eval::TrainingCounters;
use crate::model::Model;
use crate::metrics::EvaluationRecord;
use crate::replay::ReplayBuffer;
use crate::task::evaluation::Evaluated;
use crate::task::results::{Generated, unix_seconds};
use crate::task::{HookContext, RunHooks, Task};

use crate::batch_source::{BatchSource, InlineSource, spawn_pipelined};
use crate::reward::{Reward, RewardError};
use crate::trajectory::{TrajectoryError, rebuild};

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
    /// The task's evaluation, reward model or results recorder failed.
    #[error("{0:#}")]
    Task(#[from] anyhow::Error),
}

/// Progress that survives a restart, stored in checkpoints as JSON.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(serialize = "S: Serialize", deserialize = "S: DeserializeOwned"))]
pub struct TrainerProgress<S> {
    /// Updates applied.
    pub update: u64,
    /// Trajectories trained on.
    pub trajectories: u64,
    /// Training seconds so far (excluding evaluation).
    pub training_seconds: f64,
    /// Distinct modes visited as terminal objects so far.
    pub modes_found: Vec<S>,
    /// The distributed run's id (absent for single-process runs).
    #[serde(default)]
    pub run_id: Option<String>,
    /// Actor ids handed out so far (distributed runs): a restarted learner continues after them,
    /// so ids stay unique within a run (they label stored results).
    #[serde(default)]
    pub actors_registered: u64,
    /// Accepted trajectories trained on so far, in the order of the learner's ingest journal
    /// (distributed runs): a restarted learner feeds the journal from here on into training.
    #[serde(default)]
    pub journal_consumed: u64,
}

impl<S> TrainerProgress<S> {
    /// Progress of a run that has not started.
    pub fn new() -> Self {
        Self {
            update: 0,
            trajectories: 0,
            training_seconds: 0.0,
            modes_found: Vec::new(),
            run_id: None,
            actors_registered: 0,
            journal_consumed: 0,
        }
    }
}

impl<S> Default for TrainerProgress<S> {
    fn default() -> Self {
        Self::new()
    }
}

/// Where the wall time of a run went.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TimeBreakdown {
    /// Rollouts and rewards (on the sampler thread when sampling is pipelined).
    pub sampling: Duration,
    /// Time the training thread waited for batches (equal to `sampling` when inline).
    pub waiting: Duration,
    /// Replay, batch preparation, forward, backward and optimizer step.
    pub learning: Duration,
    /// Exact and empirical evaluation.
    pub evaluation: Duration,
    /// Network rows evaluated by the learner (each one forward and one backward pass).
    pub learner_rows: u64,
    /// Network rows evaluated while sampling (forward only).
    pub sampler_rows: u64,
    /// Trajectories sampled and trained on in this invocation.
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

/// Receives progress while a run trains.
pub trait TrainingObserver {
    /// After every update.
    fn on_update(&mut self, _update: u64, _loss: f64) {}
    /// After every evaluation.
    fn on_evaluation(&mut self, _evaluated: &Evaluated) {}
    /// When a checkpoint was written.
    fn on_checkpoint(&mut self, _path: &std::path::Path) {}
}

/// An observer that ignores everything.
pub struct Silent;
impl TrainingObserver for Silent {}

/// Options that are about this invocation rather than the run.
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    /// Stop as soon as an evaluation reaches this exact L1.
    pub stop_at_l1: Option<f64>,
}

/// The outcome of [`train_task`] (`L` = [`Evaluated`]) or [`train`] (`L` = the exact
/// [`EvaluationRecord`]).
#[derive(Debug, Clone)]
pub struct TrainSummary<L = EvaluationRecord> {
    /// The last evaluation.
    pub last: L,
    /// Where time went in this invocation.
    pub time: TimeBreakdown,
    /// Checkpoint the run resumed from, if any.
    pub resumed_from: Option<PathBuf>,
    /// Multiply–adds per network row (for FLOP rates).
    pub macs_per_row: u64,
    /// Whether sampling ran on its own thread.
    pub pipelined: bool,
}

/// Trains an enumerable `env`/`reward` as `config` says, evaluated exactly; resumes from the
/// newest valid checkpoint in `config.checkpoint.dir` if there is one.
pub fn train<E, R>(
    env: &E,
    reward: &R,
    config: &RunConfig,
    options: &TrainOptions,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainSummary, TrainError>
where
    E: Enumerable + Clone + 'static,
    E::State: Serialize + DeserializeOwned,
    R: Reward<E::State> + Clone + 'static,
{
    let hooks = RunHooks::exact(env, reward.clone(), &HookContext { config, run_id: "local", log: None })?;
    let summary = train_with_hooks(env, reward, hooks, config, options, observer)?;
    let TrainSummary { last, time, resumed_from, macs_per_row, pipelined } = summary;
    let last = last.exact.expect("an exact evaluation");
    Ok(TrainSummary { last, time, resumed_from, macs_per_row, pipelined })
}

/// Trains `task` in this process as `config` says: its reward scores the samples, its hooks
/// evaluate and record; resumes from the newest valid checkpoint in `config.checkpoint.dir`.
pub fn train_task<T: Task>(
    task: &T,
    config: &RunConfig,
    options: &TrainOptions,
    observer: &mut dyn TrainingObserver,
    hooks: RunHooks<T::Env>,
) -> Result<TrainSummary<Evaluated>, TrainError> {
    let reward = task.reward(1)?;
    train_with_hooks(task.environment(), &reward, hooks, config, options, observer)
}

/// Trains `env`/`reward` with `hooks` evaluating and recording.
pub fn train_with_hooks<E, R>(
    env: &E,
    reward: &R,
    hooks: RunHooks<E>,
    config: &RunConfig,
    options: &TrainOptions,
    observer: &mut dyn TrainingObserver,
) -> Result<TrainSummary<Evaluated>, TrainError>
where
    E: Environment + Clone,
    E::State: Serialize + DeserializeOwned,
    R: Reward<E::State>,
{
    tch::set_num_threads(config.training.intra_op_threads as i32);
    tch::manual_seed(config.seed as i64);
    let mut model = Model::from_config(Device::Cpu, env, config);
    let mut progress = TrainerProgress::new();
    let mut resumed_from = None;
    if let Some(dir) = &config.checkpoint.dir {
        let found = checkpoint::newest_valid(dir, |_, tensors, metadata| {
            let json = metadata.get(checkpoint::PROGRESS).ok_or("no progress record")?;
            let restored: TrainerProgress<E::State> =
                serde_json::from_str(json).map_err(|e| e.to_string())?;
            model.load_state_tensors(tensors)?;
            Ok(restored)
        })?;
        if let Some((path, restored)) = found {
            tracing::info!(path = %path.display(), update = restored.update, "resumed from checkpoint");
            progress = restored;
            resumed_from = Some(path);
        }
    }
    let seed = config.seed ^ progress.update.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let start_version = progress.update;
    let RunHooks { evaluation, results } = hooks;
    let (sink, recorder) = match results {
        Some(recorder) => (Some(recorder.sink), Some(recorder.thread)),
        None => (None, None),
    };
    let state = LoopState { model, progress, resumed_from, evaluation, sink };
    let outcome = if config.training.pipelined_sampling {
        std::thread::scope(|scope| {
            let mut source = spawn_pipelined(scope, env, reward, config, seed, &state.model, start_version);
            training_loop(env, config, options, observer, state, &mut source)
        })
    } else {
        let mut source = InlineSource::new(env, reward, config, seed, start_version);
        training_loop(env, config, options, observer, state, &mut source)
    };
    // the loop dropped the sink: the recorder drains its queue and stops
    if let Some(thread) = recorder {
        thread.join().map_err(|_| anyhow::anyhow!("the results recorder panicked"))??;
    }
    outcome
}

/// What the training loop starts from.
struct LoopState<E: Environment> {
    model: Model,
    progress: TrainerProgress<E::State>,
    resumed_from: Option<PathBuf>,
    evaluation: Box<dyn crate::task::RunEvaluation<E>>,
    sink: Option<crate::task::ResultsSink<E::State>>,
}

fn training_loop<E>(
    env: &E,
    config: &RunConfig,
    options: &TrainOptions,
    observer: &mut dyn TrainingObserver,
    state: LoopState<E>,
    source: &mut dyn BatchSource<E::State>,
) -> Result<TrainSummary<Evaluated>, TrainError>
where
    E: Environment + Clone,
    E::State: Serialize + DeserializeOwned,
{
    let LoopState { mut model, mut progress, resumed_from, mut evaluation, sink } = state;
    let mut modes_found: FxHashSet<E::State> = progress.modes_found.iter().cloned().collect();
    let mut replay_buffer = ReplayBuffer::new(config.training.replay, config.seed ^ 0x5EED);
    let mut time = TimeBreakdown::default();
    let mut loss_sum = 0.0;
    let mut loss_count = 0u64;
    let evaluate_every = config.evaluation.interval_updates;
    let checkpoint_every = config.checkpoint.interval_updates;
    let mut last = None;
    let session_start_seconds = progress.training_seconds;
    while progress.update < config.training.updates {
        let started = Instant::now();
        let batch = source.next_batch(&model)?;
        let received_at = Instant::now();
        time.waiting += received_at - started;
        time.sampling += batch.sampling;
        time.sampler_rows += batch.rows;
        for (terminal, record) in batch.terminals.iter().zip(&batch.records) {
            evaluation.observe(terminal);
            if evaluation.is_mode(terminal) {
                modes_found.insert(terminal.clone());
            }
            if let Some(sink) = &sink {
                sink(Generated {
                    terminal: terminal.clone(),
                    score: record.score,
                    log_reward: record.log_reward,
                    policy_version: record.policy_version,
                    actor_id: 0,
                    received_at: unix_seconds(),
                    reward_exponent: None,
                });
            }
        }
        let rebuilt = batch.records.iter().map(|r| rebuild(env, r)).collect::<Result<Vec<_>, _>>()?;
        let stats = model.update(env, &replay_buffer.mix(&rebuilt));
        progress.update += 1;
        source.weights_updated(&model, progress.update);
        time.learning += received_at.elapsed();
        time.learner_rows += stats.states_evaluated as u64;
        progress.trajectories += batch.records.len() as u64;
        time.updates += 1;
        time.trajectories += batch.records.len() as u64;
        if stats.applied {
            loss_sum += stats.loss;
            loss_count += 1;
        } else {
            time.skipped_updates += 1;
        }
        observer.on_update(progress.update, stats.loss);

        let final_update = progress.update == config.training.updates;
        if progress.update.is_multiple_of(evaluate_every) || final_update {
            progress.training_seconds = session_start_seconds + time.training().as_secs_f64();
            let eval_started = Instant::now();
            let evaluated = evaluation.evaluate(
                &model,
                counters(&progress, loss_sum / loss_count.max(1) as f64, modes_found.len()),
            )?;
            time.evaluation += eval_started.elapsed();
            loss_sum = 0.0;
            loss_count = 0;
            observer.on_evaluation(&evaluated);
            let reached = options.stop_at_l1.zip(evaluated.exact_l1()).is_some_and(|(goal, l1)| l1 <= goal);
            last = Some(evaluated);
            if reached {
                break;
            }
        }
        let checkpoint_due =
            (checkpoint_every > 0 && progress.update.is_multiple_of(checkpoint_every)) || final_update;
        if let Some(dir) = &config.checkpoint.dir
            && checkpoint_due
        {
            progress.training_seconds = session_start_seconds + time.training().as_secs_f64();
            progress.modes_found = modes_found.iter().cloned().collect();
            let metadata = checkpoint::Metadata::from([
                (
                    checkpoint::PROGRESS.to_string(),
                    serde_json::to_string(&progress).expect("progress serializes"),
                ),
                (checkpoint::CONFIG.to_string(), config.to_toml_string()),
            ]);
            let path = checkpoint::save(
                dir,
                progress.update,
                &model.state_tensors(),
                &metadata,
                config.checkpoint.keep,
            )?;
            observer.on_checkpoint(&path);
        }
    }
    drop(sink);
    let last = match last {
        Some(evaluated) => evaluated,
        None => evaluation.evaluate(&model, counters(&progress, f64::NAN, modes_found.len()))?,
    };
    Ok(TrainSummary {
        last,
        time,
        resumed_from,
        macs_per_row: model.network().macs_per_row().unwrap_or(0),
        pipelined: config.training.pipelined_sampling,
    })
}

fn counters<S>(progress: &TrainerProgress<S>, mean_loss: f64, modes_found: usize) -> TrainingCounters {
    TrainingCounters {
        update: progress.update,
        trajectories: progress.trajectories,
        training_seconds: progress.training_seconds,
        mean_loss,
        modes_found,
    }
}
