//! Training in one process (`gfn train`): batches are sampled in this process — inline on
//! the training thread or one update ahead on a sampler thread — and exchanged as plain
//! [`crate::trajectory::Trajectory`] records exactly as an actor and a learner do over the
//! network, then trained on by the one [`super::TrainingLoop`]. It trains any task
//! ([`train_task`]): evaluation and results recording are the task's hooks, as in the
//! distributed learner. [`train`] is the shortcut for an enumerable environment evaluated
//! exactly, the reference for quality.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use tch::Device;

use crate::config::RunConfig;
use crate::env::{Enumerable, Environment};
use crate::eval::EvaluationRecord;
use crate::model::Model;
use crate::reward::Reward;
use crate::task::evaluation::Evaluated;
use crate::task::results::{Generated, unix_seconds};
use crate::task::{HookContext, ResultsSink, RunHooks, Task, TaskError};
use crate::trajectory::rebuild;

use super::batch_source::{BatchSource, InlineSource, spawn_pipelined};
use super::progress::{RunProgress, resume};
use super::run_loop::{Batch, Flow, LoopHost, TimeBreakdown, TrainError, TrainingLoop, UpdateReport};

/// Receives progress while a run trains.
pub trait TrainingObserver {
    /// After every update.
    fn on_update(&mut self, _update: u64, _loss: f64) {}
    /// After every evaluation.
    fn on_evaluation(&mut self, _evaluated: &Evaluated) {}
    /// When a checkpoint was written.
    fn on_checkpoint(&mut self, _path: &Path) {}
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
    let hooks = RunHooks::exact(
        env,
        reward.clone(),
        &HookContext { config, run_id: "local", log: None, remote: &[] },
    )?;
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
    let mut progress: RunProgress<E::State> = RunProgress::new();
    let mut resumed_from = None;
    if let Some(dir) = &config.checkpoint.dir
        && let Some((path, restored)) = resume(dir, &mut model)?
    {
        tracing::info!(path = %path.display(), update = restored.update, "resumed from checkpoint");
        progress = restored;
        resumed_from = Some(path);
    }
    let seed = config.seed ^ progress.update.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let start_version = progress.update;
    let RunHooks { evaluation, results } = hooks;
    let (sink, recorder) = match results {
        Some(recorder) => (Some(recorder.sink), Some(recorder.thread)),
        None => (None, None),
    };
    let training =
        TrainingLoop { env, config, config_toml: config.to_toml_string(), model, progress, evaluation };
    let outcome = if config.training.pipelined_sampling {
        std::thread::scope(|scope| {
            let source = spawn_pipelined(scope, env, reward, config, seed, &training.model, start_version);
            let mut host = LocalHost { env, source, sink, observer, options };
            training.run(&mut host)
        })
    } else {
        let source = InlineSource::new(env, reward, config, seed, start_version);
        let mut host = LocalHost { env, source, sink, observer, options };
        training.run(&mut host)
    };
    // the host dropped the sink: the recorder drains its queue and stops
    if let Some(thread) = recorder {
        thread.join().map_err(|_| TaskError::from("the results recorder panicked"))??;
    }
    let mut outcome = outcome?;
    let last = match outcome.last.take() {
        Some(evaluated) => evaluated,
        None => {
            let counters = outcome.counters();
            outcome.evaluation.evaluate(&outcome.model, counters)?
        }
    };
    Ok(TrainSummary {
        last,
        time: outcome.time,
        resumed_from,
        macs_per_row: outcome.model.network().macs_per_row().unwrap_or(0),
        pipelined: config.training.pipelined_sampling,
    })
}

/// The single process around the loop: batches from a sampler, results to the task's
/// recorder, progress to an observer.
struct LocalHost<'o, 'e, E: Environment, B> {
    env: &'e E,
    source: B,
    sink: Option<ResultsSink<E::State>>,
    observer: &'o mut dyn TrainingObserver,
    options: &'o TrainOptions,
}

impl<E, B> LoopHost<E, ()> for LocalHost<'_, '_, E, B>
where
    E: Environment,
    B: BatchSource<E::State>,
{
    fn next_batch(&mut self, model: &Model) -> Result<Option<Batch<E::State>>, TrainError> {
        let scored = self.source.next_batch(model)?;
        let mut trajectories = Vec::with_capacity(scored.records.len());
        for (terminal, record) in scored.terminals.into_iter().zip(&scored.records) {
            if let Some(sink) = &self.sink {
                sink(Generated {
                    record: record.clone(),
                    terminal,
                    actor_id: 0,
                    received_at: unix_seconds(),
                    reward_exponent: None,
                });
            }
            trajectories.push(rebuild(self.env, record)?);
        }
        Ok(Some(Batch { trajectories, sampling: scored.sampling, sampler_rows: scored.rows }))
    }

    fn after_update(
        &mut self,
        model: &Model,
        progress: &mut RunProgress<E::State>,
        report: &UpdateReport,
    ) -> Result<(), TrainError> {
        self.source.weights_updated(model, progress.update);
        self.observer.on_update(progress.update, report.stats.loss);
        if report.last {
            // nothing more is sampled: the recorder may finish while the last evaluation runs
            self.sink = None;
        }
        Ok(())
    }

    fn after_evaluation(&mut self, evaluated: &Evaluated) -> Result<Flow, TrainError> {
        self.observer.on_evaluation(evaluated);
        let reached = self.options.stop_at_l1.zip(evaluated.exact_l1()).is_some_and(|(goal, l1)| l1 <= goal);
        Ok(if reached { Flow::Stop } else { Flow::Continue })
    }

    fn after_checkpoint(&mut self, path: &Path, _progress: &RunProgress<E::State>) {
        self.observer.on_checkpoint(path);
    }
}
