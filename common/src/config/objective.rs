//! The `[objective]` section: the training objective, tagged by `type`, with its settings.

use serde::{Deserialize, Serialize};

use crate::objective::{
    BackwardPolicy, Balance, BalanceObjective, FlowMatching, LogRewardWarmUp, Objective, TermWeighting,
};

use crate::validation::Scope;

/// The objective, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ObjectiveConfig {
    /// Flow matching (Bengio et al. 2021).
    FlowMatching(FlowMatchingConfig),
    /// Trajectory balance (Malkin et al. 2022).
    TrajectoryBalance(TrajectoryBalanceConfig),
    /// Detailed balance (Bengio et al., GFlowNet Foundations).
    DetailedBalance(DetailedBalanceConfig),
    /// Sub-trajectory balance (Madan et al. 2023).
    SubTrajectoryBalance(SubTrajectoryBalanceConfig),
}

/// Trajectory-balance settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrajectoryBalanceConfig {
    /// Adam learning rate of the scalar `log Z` (the network uses `training.learning_rate`).
    pub log_z_learning_rate: f64,
    /// `"uniform"` over the in-edges of each state, or `"learned"`.
    pub backward_policy: BackwardPolicy,
    /// The multiplier on `log R` of the first update when `log_reward_warmup_updates > 0`
    /// (then required, `> 0`): it rises linearly to 1 over the warm-up (as for flow matching).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_reward_scale_start: Option<f64>,
    /// Updates over which the `log R` multiplier rises from `log_reward_scale_start` to 1;
    /// 0 (default): none.
    pub log_reward_warmup_updates: u64,
}

impl Default for TrajectoryBalanceConfig {
    fn default() -> Self {
        Self {
            log_z_learning_rate: 0.1,
            backward_policy: BackwardPolicy::Uniform,
            log_reward_scale_start: None,
            log_reward_warmup_updates: 0,
        }
    }
}

/// Detailed-balance settings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetailedBalanceConfig {
    /// `"uniform"` over the in-edges of each state, or `"learned"`.
    pub backward_policy: BackwardPolicy,
    /// The multiplier on `log R` of the first update when `log_reward_warmup_updates > 0`
    /// (then required, `> 0`): it rises linearly to 1 over the warm-up (as for flow matching).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_reward_scale_start: Option<f64>,
    /// Updates over which the `log R` multiplier rises from `log_reward_scale_start` to 1;
    /// 0 (default): none.
    pub log_reward_warmup_updates: u64,
}

/// Sub-trajectory-balance settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubTrajectoryBalanceConfig {
    /// `λ`: a sub-trajectory of `k` transitions weighs `λ^k`.
    pub lambda: f64,
    /// `"uniform"` over the in-edges of each state, or `"learned"`.
    pub backward_policy: BackwardPolicy,
    /// The multiplier on `log R` of the first update when `log_reward_warmup_updates > 0`
    /// (then required, `> 0`): it rises linearly to 1 over the warm-up (as for flow matching).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_reward_scale_start: Option<f64>,
    /// Updates over which the `log R` multiplier rises from `log_reward_scale_start` to 1;
    /// 0 (default): none.
    pub log_reward_warmup_updates: u64,
}

impl Default for SubTrajectoryBalanceConfig {
    fn default() -> Self {
        Self {
            lambda: 0.9,
            backward_policy: BackwardPolicy::Uniform,
            log_reward_scale_start: None,
            log_reward_warmup_updates: 0,
        }
    }
}

impl ObjectiveConfig {
    /// The objective these settings describe.
    pub fn objective(&self) -> Objective {
        let (balance, backward) = match self {
            Self::FlowMatching(fm) => return Objective::FlowMatching(fm.objective()),
            Self::TrajectoryBalance(tb) => (Balance::Trajectory, tb.backward_policy),
            Self::DetailedBalance(db) => (Balance::Detailed, db.backward_policy),
            Self::SubTrajectoryBalance(subtb) => {
                (Balance::SubTrajectory { lambda: subtb.lambda }, subtb.backward_policy)
            }
        };
        let balance = BalanceObjective::new(balance, backward);
        let (start, updates) = self.log_reward_warmup_keys();
        Objective::Balance(balance.with_log_reward_warmup(LogRewardWarmUp::new(start, updates)))
    }

    /// The `log_reward_scale_start` and `log_reward_warmup_updates` of any objective.
    fn log_reward_warmup_keys(&self) -> (Option<f64>, u64) {
        match self {
            Self::FlowMatching(c) => (c.log_reward_scale_start, c.log_reward_warmup_updates),
            Self::TrajectoryBalance(c) => (c.log_reward_scale_start, c.log_reward_warmup_updates),
            Self::DetailedBalance(c) => (c.log_reward_scale_start, c.log_reward_warmup_updates),
            Self::SubTrajectoryBalance(c) => (c.log_reward_scale_start, c.log_reward_warmup_updates),
        }
    }

    /// The learning rate of `log Z`, for objectives that learn it.
    pub fn log_z_learning_rate(&self) -> Option<f64> {
        match self {
            Self::TrajectoryBalance(tb) => Some(tb.log_z_learning_rate),
            _ => None,
        }
    }

    /// The backward policy (uniform for flow matching, which has none).
    pub fn backward_policy(&self) -> BackwardPolicy {
        match self {
            Self::FlowMatching(_) => BackwardPolicy::Uniform,
            Self::TrajectoryBalance(c) => c.backward_policy,
            Self::DetailedBalance(c) => c.backward_policy,
            Self::SubTrajectoryBalance(c) => c.backward_policy,
        }
    }
}

/// Flow-matching settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowMatchingConfig {
    /// The `ε ≥ 0` inside the logarithms of in- and out-flows.
    pub epsilon: f64,
    /// How terms are averaged: `"balanced"` (interior mean + terminal mean) or `"transitions"`.
    pub weighting: TermWeighting,
    /// Weight of the terminal (leaf) terms against the interior ones, `> 0`: the paper's
    /// `leaf_coef` (10 in its molecule runs); 1 weighs both alike.
    pub leaf_weight: f64,
    /// Whether a terminal state where stop is the only allowed action (fragments: `max_blocks`
    /// reached or no free stem) is a sink whose in-flow is matched to the reward directly, as
    /// in the paper's molecule code, instead of an interior node followed by a learned stop
    /// edge. Same exact solutions; the reward reaches the parents' edges in one term.
    pub sink_forced_terminals: bool,
    /// The `ε` of the first update when `epsilon_warmup_updates > 0` (then required, `> 0`):
    /// the floor rises geometrically from it to `epsilon` over the warm-up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon_start: Option<f64>,
    /// Updates over which `ε` rises from `epsilon_start` to `epsilon`; 0 (default): none.
    pub epsilon_warmup_updates: u64,
    /// When set (`z₀`, finite), an update after one whose learned `log Z` fell below it uses
    /// the floor `ε · exp(log Z − z₀)`: the floor follows the total flow down instead of
    /// letting every flow sink under it. Unset (default): `ε` does not depend on `log Z`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epsilon_log_z_threshold: Option<f64>,
    /// The multiplier on `log R` of the first update when `log_reward_warmup_updates > 0`
    /// (then required, `> 0`): it rises linearly to 1 over the warm-up. For `R = s^β` the
    /// first update trains on `s^(mβ)` (0.25 with `β = 16`: `β = 4`), a flatter target whose
    /// early rewards stay above the floor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_reward_scale_start: Option<f64>,
    /// Updates over which the `log R` multiplier rises from `log_reward_scale_start` to 1;
    /// 0 (default): none.
    pub log_reward_warmup_updates: u64,
}

impl FlowMatchingConfig {
    /// The objective these settings describe.
    pub fn objective(&self) -> FlowMatching {
        FlowMatching {
            epsilon: self.epsilon,
            weighting: self.weighting,
            leaf_weight: self.leaf_weight,
            sink_forced_terminals: self.sink_forced_terminals,
            epsilon_start: self.epsilon_start.unwrap_or(self.epsilon),
            epsilon_warmup_updates: self.epsilon_warmup_updates,
            epsilon_log_z_threshold: self.epsilon_log_z_threshold,
            log_reward_scale: 1.0,
            log_reward_warmup: LogRewardWarmUp::new(
                self.log_reward_scale_start,
                self.log_reward_warmup_updates,
            ),
        }
    }
}

impl Default for FlowMatchingConfig {
    fn default() -> Self {
        Self {
            epsilon: 2.5e-5,
            weighting: TermWeighting::default(),
            leaf_weight: 1.0,
            sink_forced_terminals: false,
            epsilon_start: None,
            epsilon_warmup_updates: 0,
            epsilon_log_z_threshold: None,
            log_reward_scale_start: None,
            log_reward_warmup_updates: 0,
        }
    }
}

impl ObjectiveConfig {
    /// Checks the section's values (keys `objective.*`).
    pub fn check(&self, objective: &mut Scope<'_>) {
        match self {
            Self::FlowMatching(fm) => {
                objective.non_negative_finite("epsilon", fm.epsilon);
                objective.positive_finite("leaf_weight", fm.leaf_weight);
                let floor = WarmUp {
                    start_key: "epsilon_start",
                    updates_key: "epsilon_warmup_updates",
                    first: "the floor of the first update",
                };
                if floor.check(objective, fm.epsilon_start, fm.epsilon_warmup_updates) {
                    objective.check(
                        fm.epsilon > 0.0,
                        "epsilon",
                        "positive when epsilon_warmup_updates > 0 (the floor rises geometrically to it)",
                        fm.epsilon,
                    );
                }
                if let Some(threshold) = fm.epsilon_log_z_threshold {
                    objective.check(threshold.is_finite(), "epsilon_log_z_threshold", "finite", threshold);
                }
            }
            Self::TrajectoryBalance(tb) => {
                objective.positive_finite("log_z_learning_rate", tb.log_z_learning_rate)
            }
            Self::DetailedBalance(_) => {}
            Self::SubTrajectoryBalance(subtb) => objective.positive_finite("lambda", subtb.lambda),
        }
        let reward = WarmUp {
            start_key: "log_reward_scale_start",
            updates_key: "log_reward_warmup_updates",
            first: "the log-reward multiplier of the first update",
        };
        let (start, updates) = self.log_reward_warmup_keys();
        reward.check(objective, start, updates);
    }
}

/// The two keys of a warm-up: a start value, required exactly when its update count is `> 0`.
struct WarmUp {
    start_key: &'static str,
    updates_key: &'static str,
    /// What the start value is, for the message when it is missing.
    first: &'static str,
}

impl WarmUp {
    /// Checks the pair; true when the warm-up is on (`updates > 0` with a start value).
    fn check(&self, objective: &mut Scope<'_>, start: Option<f64>, updates: u64) -> bool {
        let (start_key, updates_key) = (self.start_key, self.updates_key);
        match (start, updates) {
            (Some(start), updates) if updates > 0 => {
                objective.positive_finite(start_key, start);
                true
            }
            (None, updates) if updates > 0 => {
                let expected = format!("set when {updates_key} > 0 ({})", self.first);
                objective.check(false, start_key, &expected, "nothing");
                false
            }
            (Some(start), _) => {
                let expected = format!("left out unless {updates_key} > 0");
                objective.check(false, start_key, &expected, start);
                false
            }
            (None, _) => false,
        }
    }
}
