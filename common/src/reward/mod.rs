//! Rewards: the positive function `R(x)` a GFlowNet learns to sample proportionally to.
//!
//! A reward is separate from its environment so that it can run where it is cheapest (in an
//! actor's reward worker pool, for an expensive proxy) while the environment is shared.

pub mod grid_objectives;
pub mod hypergrid;
pub mod molecule_features;
pub mod objectives;
pub mod preference;
pub mod remote;
pub mod scalarization;
pub mod seh_proxy;
pub mod seh_reward;
pub mod service;

pub use hypergrid::HypergridReward;
pub use seh_reward::{SehReward, SehRewardSettings};

/// Why a reward could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RewardError {
    /// The reward is not a positive finite number.
    #[error("reward {value} is not positive and finite")]
    NotPositiveFinite { value: f64 },
    /// The reward model failed on this object.
    #[error("reward evaluation failed: {reason}")]
    Failed { reason: String },
}

/// A strictly positive reward over the terminal states of an environment.
pub trait Reward<S>: Send + Sync {
    /// `log R(x)`, finite. Implementations return an error rather than a non-finite value.
    fn log_reward(&self, state: &S) -> Result<f64, RewardError>;

    /// Whether `state` is one of the reward's modes (used to count modes found).
    fn is_mode(&self, state: &S) -> bool;

    /// Scores a batch of terminal objects (an expensive model evaluates them together).
    /// The default scores one at a time and reports no raw score.
    fn score_batch(&self, states: &[&S]) -> Vec<Result<Scored, RewardError>> {
        states.iter().map(|s| self.log_reward(s).map(Scored::of)).collect()
    }
}

/// A terminal object's reward and, for reward models, their raw output.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// `log R(x)`, finite.
    pub log_reward: f64,
    /// The model's raw output (e.g. the sEH proxy value), if the reward has one.
    pub score: Option<f64>,
    /// The model that scored it, `name@version`, when it is not gfn's built-in reward (a reward
    /// service names itself in every reply).
    pub reward_model: Option<String>,
    /// Normalised objective values in [0, 1] (multi-objective rewards; empty otherwise).
    pub objectives: Vec<f64>,
    /// The same objectives' raw values.
    pub raw_objectives: Vec<f64>,
    /// Where each objective's value came from (`"builtin"`, or `"<service>:<model>@<version>"`);
    /// empty when not recorded.
    pub objective_sources: Vec<String>,
}

impl Scored {
    /// A log-reward alone: no raw score, no objectives, gfn's built-in reward.
    pub fn of(log_reward: f64) -> Self {
        Self {
            log_reward,
            score: None,
            reward_model: None,
            objectives: Vec::new(),
            raw_objectives: Vec::new(),
            objective_sources: Vec::new(),
        }
    }
}

/// Turns a raw reward value into a checked log-reward.
pub fn checked_log(value: f64) -> Result<f64, RewardError> {
    if value.is_finite() && value > 0.0 {
        Ok(value.ln())
    } else {
        Err(RewardError::NotPositiveFinite { value })
    }
}
