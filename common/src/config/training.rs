//! The `[training]`, `[evaluation]` and `[checkpoint]` sections: how the one training loop
//! samples, updates, evaluates and checkpoints, in every process that trains.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::validation::Scope;

/// Optimisation and sampling settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrainingConfig {
    /// Number of parameter updates.
    pub updates: u64,
    /// Trajectories per update.
    pub batch_size: usize,
    /// Adam learning rate.
    pub learning_rate: f64,
    /// Adam's ε (added to the square root of the second moment).
    pub adam_epsilon: f64,
    /// Probability of a uniformly random allowed action while sampling for training.
    pub exploration_epsilon: f64,
    /// Softmax temperature while sampling for training.
    pub temperature: f64,
    /// libtorch intra-op threads per process (1 is fastest for small networks).
    pub intra_op_threads: usize,
    /// `gfn train` only: sample on a second thread, one update ahead of the learner (a policy
    /// lag of exactly one update, deterministic), instead of alternating on one thread.
    pub pipelined_sampling: bool,
    /// The learner's replay buffer (off by default: `capacity = 0`).
    pub replay: crate::replay::ReplayConfig,
    /// Polyak averaging decay per update in `[0, 1)`: the policy that samples, is published and
    /// is evaluated is an exponential moving average of the trained weights; 0 turns it off.
    pub weight_averaging: f64,
    /// Probability in `[0, 1]` that a training rollout is forced to stop as soon as it may
    /// after a length drawn uniformly from the environment's range (fragments:
    /// `[min_blocks, max_blocks]` blocks): the paper's `early_stop_reg` (0.1); 0 turns it off.
    pub early_stop_probability: f64,
    /// Floating-point precision of the trained model (parameters, Adam's moments, the loss):
    /// `"float32"` (default) or `"float64"` (the paper's molecule runs). Weights sent to actors
    /// are float32 either way; checkpoints keep the model's precision.
    pub precision: Precision,
}

/// Floating-point precision of the trained model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    /// 32-bit floats.
    #[default]
    Float32,
    /// 64-bit floats: about half the update rate on CPU.
    Float64,
}

impl Precision {
    /// The libtorch element kind.
    pub fn kind(self) -> tch::Kind {
        match self {
            Self::Float32 => tch::Kind::Float,
            Self::Float64 => tch::Kind::Double,
        }
    }
}

impl Default for TrainingConfig {
    fn default() -> Self {
        Self {
            updates: 5_000,
            batch_size: 16,
            learning_rate: 1e-3,
            adam_epsilon: 1e-8,
            exploration_epsilon: 0.0,
            temperature: 1.0,
            intra_op_threads: 1,
            pipelined_sampling: true,
            replay: crate::replay::ReplayConfig::default(),
            weight_averaging: 0.99,
            early_stop_probability: 0.0,
            precision: Precision::Float32,
        }
    }
}

/// Evaluation settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvaluationConfig {
    /// Evaluate every this many updates (and after the last one).
    pub interval_updates: u64,
    /// Fresh on-policy samples for the empirical L1 (0 to skip).
    pub empirical_samples: usize,
    /// JSON-lines log of evaluation records; none if absent.
    pub log_path: Option<PathBuf>,
    /// SQLite database every generated molecule is stored in (fragment runs); none if absent.
    pub results_db: Option<PathBuf>,
    /// Fragment runs: every this many molecules generated, a milestone record with every
    /// statistic (top-k proxy, modes, scaffolds, diversity) goes to the log; 0 = none.
    pub milestone_molecules: u64,
}

impl Default for EvaluationConfig {
    fn default() -> Self {
        Self {
            interval_updates: 250,
            empirical_samples: 10_000,
            log_path: None,
            results_db: None,
            milestone_molecules: 10_000,
        }
    }
}

/// Checkpoint settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CheckpointConfig {
    /// Directory for checkpoints; none written if absent. A run resumes from the newest valid
    /// checkpoint found there.
    pub dir: Option<PathBuf>,
    /// Write a checkpoint every this many updates (0: not by count).
    pub interval_updates: u64,
    /// Write a checkpoint at least every this many seconds of training (0: not by time).
    pub interval_seconds: f64,
    /// Checkpoints kept in the directory (older ones are deleted).
    pub keep: usize,
    /// Distributed learner: journal every accepted trajectory durably in `<dir>/journal` before
    /// acknowledging it, and feed the journal from the checkpoint on into training after a
    /// restart, so that no accepted trajectory is lost (docs/RELIABILITY.md). Needs `dir`.
    pub journal: bool,
}

impl Default for CheckpointConfig {
    fn default() -> Self {
        Self { dir: None, interval_updates: 1_000, interval_seconds: 60.0, keep: 3, journal: true }
    }
}

impl TrainingConfig {
    /// Checks the section's values (keys `training.*`).
    pub fn check(&self, training: &mut Scope<'_>) {
        training.at_least("batch_size", self.batch_size, 1);
        training.positive_finite("learning_rate", self.learning_rate);
        training.positive_finite("adam_epsilon", self.adam_epsilon);
        training.check(
            (0.0..1.0).contains(&self.weight_averaging),
            "weight_averaging",
            "in [0, 1) (0 = off)",
            self.weight_averaging,
        );
        training.check(
            (0.0..=1.0).contains(&self.early_stop_probability),
            "early_stop_probability",
            "in [0, 1]",
            self.early_stop_probability,
        );
        training.check(
            (0.0..=1.0).contains(&self.exploration_epsilon),
            "exploration_epsilon",
            "in [0, 1]",
            self.exploration_epsilon,
        );
        training.positive_finite("temperature", self.temperature);
        training.at_least("intra_op_threads", self.intra_op_threads, 1);
        training.check(
            (0.0..1.0).contains(&self.replay.fraction),
            "replay.fraction",
            "in [0, 1)",
            self.replay.fraction,
        );
    }
}

impl EvaluationConfig {
    /// Checks the section's values (keys `evaluation.*`).
    pub fn check(&self, evaluation: &mut Scope<'_>) {
        evaluation.at_least("interval_updates", self.interval_updates, 1);
    }
}

impl CheckpointConfig {
    /// Checks the section's values (keys `checkpoint.*`).
    pub fn check(&self, checkpoint: &mut Scope<'_>) {
        checkpoint.at_least("keep", self.keep, 1);
        checkpoint.non_negative_finite("interval_seconds", self.interval_seconds);
    }
}
