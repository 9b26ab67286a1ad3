//! Periodic evaluation on the training thread, per kind of environment: exact L1 against
//! `R/Z` for the hypergrid, generated-molecule statistics for fragment molecules. Each writes
//! its record to the console, the JSON-lines log and the Prometheus gauges.

use std::sync::{Arc, Mutex};

use serde::Serialize;

use gfn_common::env::{Enumerable, Environment};
use gfn_common::eval::{Evaluator, TrainingCounters};
use gfn_common::learner::Learner;
use gfn_common::metrics::JsonLinesLog;
use gfn_common::reward::Reward;

use crate::metrics as m;
use crate::molecule_stats::MoleculeStats;
use crate::progress::evaluation_line;

/// A JSON-lines log written by more than one thread (the training thread's evaluations and
/// the results recorder's milestones), a whole record at a time.
pub type SharedLog = Arc<Mutex<JsonLinesLog>>;

/// What the training thread calls every `evaluation.interval_updates`.
pub trait RunEvaluation<E: Environment>: Send {
    /// Evaluates the current policy and reports the result.
    fn evaluate(&mut self, learner: &Learner, counters: TrainingCounters) -> anyhow::Result<()>;

    /// Whether a trained-on terminal object is a mode (distinct ones are checkpointed).
    fn is_mode(&self, _state: &E::State) -> bool {
        false
    }
}

/// Enumerable environments (the hypergrid, conditioned or not): exact and empirical L1,
/// learned and true log Z.
pub struct GridEvaluation<E: Enumerable, R> {
    evaluator: Evaluator<E>,
    reward: R,
    log: Option<JsonLinesLog>,
}

impl<E: Enumerable + Clone, R: Reward<E::State>> GridEvaluation<E, R> {
    /// Computes the target distribution once.
    pub fn new(
        env: &E,
        reward: R,
        empirical_samples: usize,
        seed: u64,
        log: Option<JsonLinesLog>,
    ) -> anyhow::Result<Self> {
        let evaluator = Evaluator::new(env, &reward, empirical_samples, seed)?;
        Ok(Self { evaluator, reward, log })
    }
}

impl<E: Enumerable + Clone, R: Reward<E::State>> RunEvaluation<E> for GridEvaluation<E, R> {
    fn evaluate(&mut self, learner: &Learner, counters: TrainingCounters) -> anyhow::Result<()> {
        let record = self.evaluator.evaluate_learner(learner, counters);
        metrics::gauge!(m::EXACT_L1).set(record.exact_l1);
        if let Some(l1) = record.empirical_l1 {
            metrics::gauge!(m::EMPIRICAL_L1).set(l1);
        }
        metrics::gauge!(m::MODES_FOUND).set(record.modes_found as f64);
        metrics::gauge!(m::LEARNED_LOG_Z).set(record.learned_log_z.unwrap_or(f64::NAN));
        println!("{}", evaluation_line(&record));
        if let Some(log) = &mut self.log {
            log.write(&record)?;
        }
        Ok(())
    }

    fn is_mode(&self, state: &E::State) -> bool {
        self.reward.is_mode(state)
    }
}

/// One evaluation record of a fragment-molecule run.
#[derive(Debug, Clone, Serialize)]
pub struct MoleculeRecord {
    /// Updates applied.
    pub update: u64,
    /// Trajectories trained on.
    pub trajectories: u64,
    /// Seconds of training so far.
    pub training_seconds: f64,
    /// Mean loss since the previous evaluation.
    pub loss: f64,
    /// The learned log Z (the objective's: log out-flow of the empty state for flow matching).
    pub learned_log_z: f64,
    /// Statistics of the molecules generated so far.
    #[serde(flatten)]
    pub molecules: MoleculeStats,
}

/// Fragment molecules (plain or reward-conditioned, `E`): the results recorder's statistics and
/// the learned log Z.
pub struct MoleculeEvaluation<E> {
    env: E,
    stats: Arc<Mutex<MoleculeStats>>,
    log: Option<SharedLog>,
}

impl<E: Environment> MoleculeEvaluation<E> {
    /// Reads statistics from the recorder's shared snapshot.
    pub fn new(env: E, stats: Arc<Mutex<MoleculeStats>>, log: Option<SharedLog>) -> Self {
        Self { env, stats, log }
    }
}

impl<E: Environment> RunEvaluation<E> for MoleculeEvaluation<E> {
    fn evaluate(&mut self, learner: &Learner, counters: TrainingCounters) -> anyhow::Result<()> {
        let learned_log_z = learner.learned_log_z(&self.env);
        metrics::gauge!(m::LEARNED_LOG_Z).set(learned_log_z);
        let molecules = self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let record = MoleculeRecord {
            update: counters.update,
            trajectories: counters.trajectories,
            training_seconds: counters.training_seconds,
            loss: counters.mean_loss,
            learned_log_z,
            molecules,
        };
        let s = &record.molecules;
        println!(
            "update {:>6}  {:>8} molecules  loss {:.4}  log Z {:.2}  top-10/100/1000 reward {:.3}/{:.3}/{:.3} (proxy {:.2}/{:.2}/{:.2})  modes {}  unique {:.3}  best proxy {:.2}",
            record.update,
            s.molecules,
            record.loss,
            learned_log_z,
            s.top10_reward,
            s.top100_reward,
            s.top1000_reward,
            s.top10_proxy,
            s.top100_proxy,
            s.top1000_proxy,
            s.modes,
            s.unique_fraction,
            s.best_proxy
        );
        if let Some(log) = &self.log {
            log.lock().unwrap_or_else(|p| p.into_inner()).write(&record)?;
        }
        Ok(())
    }

    fn is_mode(&self, _state: &E::State) -> bool {
        false // modes of molecules are counted by the results recorder, from the actors' proxy values
    }
}
