//! Periodic evaluation on the training thread. An evaluation computes a record and a
//! human-readable line and sets its Prometheus gauges; the training loop prints the line and
//! appends the record to the run's JSON-lines log (shared with a results recorder's
//! milestones, hence [`SharedLog`]).

use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::env::{Enumerable, Environment};
use crate::eval::EvaluationRecord;
use crate::eval::{Evaluator, TrainingCounters};
use crate::json_lines::JsonLinesLog;
use crate::metrics::names as m;
use crate::model::Model;
use crate::reward::Reward;
use crate::task::TaskError;

/// A JSON-lines log written by more than one thread (the training thread's evaluations and a
/// results recorder's milestones), a whole record at a time.
pub type SharedLog = Arc<Mutex<JsonLinesLog>>;

/// Opens `path` (if any) for appending as a [`SharedLog`].
pub fn open_shared_log(path: Option<&std::path::Path>) -> std::io::Result<Option<SharedLog>> {
    path.map(|path| JsonLinesLog::append(path).map(|log| Arc::new(Mutex::new(log)))).transpose()
}

/// Appends `record` to `log`, a whole line at a time.
pub fn write_shared<T: Serialize>(log: &SharedLog, record: &T) -> std::io::Result<()> {
    log.lock().unwrap_or_else(|p| p.into_inner()).write(record)
}

/// The outcome of one evaluation.
#[derive(Debug, Clone)]
pub struct Evaluated {
    /// One human-readable line (printed by the training loop).
    pub line: String,
    /// The record for the JSON-lines log.
    pub record: serde_json::Value,
    /// The exact evaluation of an enumerable environment, when there is one.
    pub exact: Option<EvaluationRecord>,
}

impl Evaluated {
    /// The outcome with `record` serialized.
    pub fn new<T: Serialize>(line: String, record: &T) -> Self {
        let record = serde_json::to_value(record).expect("evaluation records serialize");
        Self { line, record, exact: None }
    }

    /// The exact L1 of this evaluation, if the environment is enumerable.
    pub fn exact_l1(&self) -> Option<f64> {
        self.exact.as_ref().map(|r| r.exact_l1)
    }
}

/// What the training loop calls every `evaluation.interval_updates`.
pub trait RunEvaluation<E: Environment>: Send {
    /// Evaluates the current policy.
    fn evaluate(&mut self, model: &Model, counters: TrainingCounters) -> Result<Evaluated, TaskError>;

    /// Sees every trained-on terminal object (before the update that trains on it) and says
    /// whether it is a mode (distinct ones are counted and checkpointed by the training loop).
    fn observe(&mut self, _state: &E::State) -> bool {
        false
    }
}

/// Two evaluations as one: the line of each (the first's, then the second's on the next line)
/// and one record with the fields of both (the first's where both have a field).
pub struct Combined<E: Environment> {
    first: Box<dyn RunEvaluation<E>>,
    second: Box<dyn RunEvaluation<E>>,
}

impl<E: Environment> Combined<E> {
    /// `first`, then `second`.
    pub fn new(first: Box<dyn RunEvaluation<E>>, second: Box<dyn RunEvaluation<E>>) -> Self {
        Self { first, second }
    }
}

impl<E: Environment> RunEvaluation<E> for Combined<E> {
    fn evaluate(&mut self, model: &Model, counters: TrainingCounters) -> Result<Evaluated, TaskError> {
        let mut first = self.first.evaluate(model, counters)?;
        let second = self.second.evaluate(model, counters)?;
        first.line = format!("{}\n  {}", first.line, second.line);
        if let (Some(fields), serde_json::Value::Object(more)) = (first.record.as_object_mut(), second.record)
        {
            for (key, value) in more {
                fields.entry(key).or_insert(value);
            }
        }
        first.exact = first.exact.or(second.exact);
        Ok(first)
    }

    fn observe(&mut self, state: &E::State) -> bool {
        let first = self.first.observe(state);
        self.second.observe(state) || first
    }
}

/// Enumerable environments (the hypergrid and small bit sequences, conditioned or not): exact
/// and empirical L1, learned and true log Z.
pub struct ExactEvaluation<E: Enumerable, R> {
    evaluator: Evaluator<E>,
    reward: R,
}

impl<E: Enumerable + Clone, R: Reward<E::State>> ExactEvaluation<E, R> {
    /// Computes the target distribution once.
    pub fn new(env: &E, reward: R, empirical_samples: usize, seed: u64) -> Result<Self, TaskError> {
        let evaluator = Evaluator::new(env, &reward, empirical_samples, seed)?;
        Ok(Self { evaluator, reward })
    }
}

impl<E: Enumerable + Clone, R: Reward<E::State>> RunEvaluation<E> for ExactEvaluation<E, R> {
    fn evaluate(&mut self, model: &Model, counters: TrainingCounters) -> Result<Evaluated, TaskError> {
        let record = self.evaluator.evaluate_learner(model, counters);
        metrics::gauge!(m::EXACT_L1).set(record.exact_l1);
        if let Some(l1) = record.empirical_l1 {
            metrics::gauge!(m::EMPIRICAL_L1).set(l1);
        }
        metrics::gauge!(m::MODES_FOUND).set(record.modes_found as f64);
        metrics::gauge!(m::LEARNED_LOG_Z).set(record.learned_log_z.unwrap_or(f64::NAN));
        let mut evaluated = Evaluated::new(exact_line(&record), &record);
        evaluated.exact = Some(record);
        Ok(evaluated)
    }

    fn observe(&mut self, state: &E::State) -> bool {
        self.reward.is_mode(state)
    }
}

/// One human-readable line per exact evaluation, as printed by `gfn train` and `gfn-learner`.
pub fn exact_line(record: &EvaluationRecord) -> String {
    format!(
        "update {:>6}  trajectories {:>8}  loss {:>9.5}  exact L1 {:.4}{}  modes {}/{}  logZ {:.3} (true {:.3})",
        record.update,
        record.trajectories,
        record.loss,
        record.exact_l1,
        record.empirical_l1.map(|l| format!("  empirical L1 {l:.4}")).unwrap_or_default(),
        record.modes_found,
        record.num_modes,
        record.learned_log_z.unwrap_or(f64::NAN),
        record.true_log_z.unwrap_or(f64::NAN),
    )
}

/// The record of a [`BasicEvaluation`], and the first fields of every task's record.
#[derive(Debug, Clone, Serialize)]
pub struct BasicRecord {
    /// Updates applied.
    pub update: u64,
    /// Trajectories trained on.
    pub trajectories: u64,
    /// Seconds of training so far.
    pub training_seconds: f64,
    /// Mean loss since the previous evaluation.
    pub loss: f64,
    /// The objective's learned `log Z`.
    pub learned_log_z: f64,
}

impl BasicRecord {
    /// The training counters and the learned `log Z` (also set as its Prometheus gauge).
    pub fn new(counters: &TrainingCounters, learned_log_z: f64) -> Self {
        metrics::gauge!(m::LEARNED_LOG_Z).set(learned_log_z);
        Self {
            update: counters.update,
            trajectories: counters.trajectories,
            training_seconds: counters.training_seconds,
            loss: counters.mean_loss,
            learned_log_z,
        }
    }
}

/// Any environment: the mean loss and the learned `log Z`.
pub struct BasicEvaluation<E> {
    env: E,
}

impl<E: Environment> BasicEvaluation<E> {
    /// Evaluates the learner on `env`.
    pub fn new(env: E) -> Self {
        Self { env }
    }
}

impl<E: Environment> RunEvaluation<E> for BasicEvaluation<E> {
    fn evaluate(&mut self, model: &Model, counters: TrainingCounters) -> Result<Evaluated, TaskError> {
        let record = BasicRecord::new(&counters, model.learned_log_z(&self.env));
        let line = format!(
            "update {:>6}  trajectories {:>8}  loss {:>9.5}  logZ {:.3}",
            record.update, record.trajectories, record.loss, record.learned_log_z
        );
        Ok(Evaluated::new(line, &record))
    }
}
