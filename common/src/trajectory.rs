//! The trajectory record: one type from the sampler (an actor) to the results database.
//!
//! A [`Trajectory`] carries only the action sequence, the terminal log-reward, the policy
//! version that produced it and what the reward model reported. The learner rebuilds the states
//! by taking the actions in its own copy of the environment ([`rebuild`]), which recomputes
//! every state and validates the record; the states travel beside the record
//! ([`RebuiltTrajectory`]), which is never copied field by field. A new field is added here (and
//! on the wire, `gfn_daemon::wire`).

use serde::{Deserialize, Serialize};

use crate::env::{Action, EnvError, Environment};
use crate::reward::Scored;
use crate::reward::scalarization::ConditionError;

/// A complete trajectory `s0 → … → x → stop` as a plain record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trajectory {
    /// Actions in order; the last one is the stop action.
    pub actions: Vec<Action>,
    /// `log R(x)` of the terminal object `x`.
    pub log_reward: f64,
    /// Version of the policy weights that sampled the actions.
    pub policy_version: u64,
    /// The reward model's raw output (e.g. the sEH proxy), if it has one.
    #[serde(default)]
    pub score: Option<f64>,
    /// The reward model that scored it (`name@version`), when not gfn's built-in reward.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reward_model: Option<String>,
    /// The condition the trajectory was sampled under (a preference, then `β`; empty when the
    /// environment is not conditioned on one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub condition: Vec<f64>,
    /// The terminal object's objectives, normalised to [0, 1] (multi-objective runs; empty
    /// otherwise), in the order of the run's `conditioning.objectives`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objectives: Vec<f64>,
    /// The same objectives' raw values (the sEH proxy, QED, SA score, molecular weight, …).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub raw_objectives: Vec<f64>,
    /// Where each objective's value came from, one per objective: `"builtin"`, or
    /// `"<service>:<model>@<version>"` for a reward service (empty: not recorded).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objective_sources: Vec<String>,
}

impl Trajectory {
    /// The record of `actions`, sampled under `condition` by policy version `policy_version`, as
    /// the reward `scored` it.
    pub fn scored(actions: Vec<Action>, condition: Vec<f64>, policy_version: u64, scored: Scored) -> Self {
        Self {
            actions,
            log_reward: scored.log_reward,
            policy_version,
            score: scored.score,
            reward_model: scored.reward_model,
            condition,
            objectives: scored.objectives,
            raw_objectives: scored.raw_objectives,
            objective_sources: scored.objective_sources,
        }
    }
}

/// Why a trajectory record was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrajectoryError {
    /// No actions at all.
    #[error("trajectory has no actions")]
    Empty,
    /// More actions than the environment's longest trajectory.
    #[error("trajectory has {len} actions, more than the maximum {max}")]
    TooLong { len: usize, max: usize },
    /// The last action is not stop.
    #[error("trajectory does not end with the stop action")]
    MissingStop,
    /// A stop action before the end.
    #[error("stop action at position {position} before the end of the trajectory")]
    EarlyStop { position: usize },
    /// An action that the rebuilt state does not allow.
    #[error("invalid action at position {position}: {source}")]
    InvalidAction {
        position: usize,
        #[source]
        source: EnvError,
    },
    /// The log-reward is NaN or infinite.
    #[error("log-reward {value} is not finite")]
    NonFiniteLogReward { value: f64 },
    /// The reward model's score is NaN or infinite.
    #[error("score {value} is not finite")]
    NonFiniteScore { value: f64 },
    /// The reward model's name is longer than [`MAX_REWARD_MODEL_BYTES`].
    #[error("reward model name of {len} bytes, more than {MAX_REWARD_MODEL_BYTES}")]
    RewardModelName { len: usize },
    /// A condition the run does not train on, objectives out of range, or a log-reward that is
    /// not what the objectives give under the condition.
    #[error(transparent)]
    Condition(#[from] ConditionError),
    /// A condition or objective list longer than [`MAX_CONDITION_VALUES`].
    #[error("{len} values in {field}, more than {MAX_CONDITION_VALUES}")]
    TooManyValues { field: &'static str, len: usize },
    /// Raw objective values that are not one finite number per objective.
    #[error("{raw} raw objective values for {normalised} objectives, or one not finite")]
    RawObjectives { raw: usize, normalised: usize },
    /// Objective sources that are not one per objective, or one longer than
    /// [`MAX_REWARD_MODEL_BYTES`].
    #[error("{sources} objective sources for {objectives} objectives, or one too long")]
    ObjectiveSources { sources: usize, objectives: usize },
}

/// Longest reward model name (`name@version`) a trajectory may carry.
pub const MAX_REWARD_MODEL_BYTES: usize = 256;

/// Most values a trajectory's condition, objectives or raw objectives may have.
pub const MAX_CONDITION_VALUES: usize = 64;

impl TrajectoryError {
    /// A short, fixed label for metrics (`reason="too_long"`), never the error text.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Empty => "empty",
            Self::TooLong { .. } => "too_long",
            Self::MissingStop => "missing_stop",
            Self::EarlyStop { .. } => "early_stop",
            Self::InvalidAction { .. } => "invalid_action",
            Self::NonFiniteLogReward { .. } => "non_finite_reward",
            Self::NonFiniteScore { .. } => "non_finite_score",
            Self::RewardModelName { .. } => "reward_model_name",
            Self::Condition(error) => error.reason(),
            Self::RawObjectives { .. } | Self::ObjectiveSources { .. } => "bad_objectives",
            Self::TooManyValues { .. } => "too_many_values",
        }
    }
}

/// A validated record with every visited state recomputed beside it. It reads as its record
/// (`rebuilt.log_reward`, `rebuilt.actions`: it dereferences to [`Trajectory`]).
#[derive(Debug, Clone, PartialEq)]
pub struct RebuiltTrajectory<S> {
    /// The record as sampled and scored.
    pub record: Trajectory,
    /// `s0, s1, …, x`: one more than the non-stop actions; the last state is the terminal object.
    pub states: Vec<S>,
}

impl<S> std::ops::Deref for RebuiltTrajectory<S> {
    type Target = Trajectory;

    fn deref(&self) -> &Trajectory {
        &self.record
    }
}

impl<S> RebuiltTrajectory<S> {
    /// The terminal object `x`.
    pub fn terminal(&self) -> &S {
        self.states.last().expect("a rebuilt trajectory has at least s0")
    }
}

/// Rebuilds the states of `trajectory` through `env` from the root of its condition, checking
/// the condition, every action, and the objectives and reward against the condition.
pub fn rebuild<E: Environment>(
    env: &E,
    trajectory: &Trajectory,
) -> Result<RebuiltTrajectory<E::State>, TrajectoryError> {
    let actions = &trajectory.actions;
    if actions.is_empty() {
        return Err(TrajectoryError::Empty);
    }
    let max = env.max_trajectory_length();
    if actions.len() > max {
        return Err(TrajectoryError::TooLong { len: actions.len(), max });
    }
    if !trajectory.log_reward.is_finite() {
        return Err(TrajectoryError::NonFiniteLogReward { value: trajectory.log_reward });
    }
    let stop = env.stop_action();
    let (&last, moves) = actions.split_last().expect("non-empty");
    if last != stop {
        return Err(TrajectoryError::MissingStop);
    }
    let objectives = (&trajectory.objectives, &trajectory.raw_objectives);
    if objectives.0.len() != objectives.1.len() || objectives.1.iter().any(|v| !v.is_finite()) {
        return Err(TrajectoryError::RawObjectives {
            raw: objectives.1.len(),
            normalised: objectives.0.len(),
        });
    }
    let sources = &trajectory.objective_sources;
    if !(sources.is_empty() || sources.len() == objectives.0.len())
        || sources.iter().any(|s| s.is_empty() || s.len() > MAX_REWARD_MODEL_BYTES)
    {
        return Err(TrajectoryError::ObjectiveSources {
            sources: sources.len(),
            objectives: objectives.0.len(),
        });
    }
    let mut states = Vec::with_capacity(actions.len());
    states.push(env.conditioned_initial_state(&trajectory.condition)?);
    env.check_outcome(&trajectory.condition, &trajectory.objectives, trajectory.log_reward)?;
    for (position, &action) in moves.iter().enumerate() {
        if action == stop {
            return Err(TrajectoryError::EarlyStop { position });
        }
        let next = env
            .step(states.last().expect("non-empty"), action)
            .map_err(|source| TrajectoryError::InvalidAction { position, source })?;
        states.push(next);
    }
    let terminal = states.last().expect("non-empty");
    env.check_action(terminal, stop)
        .map_err(|source| TrajectoryError::InvalidAction { position: moves.len(), source })?;
    Ok(RebuiltTrajectory { record: trajectory.clone(), states })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Hypergrid;

    fn record(actions: Vec<Action>, log_reward: f64) -> Trajectory {
        Trajectory { actions, log_reward, policy_version: 3, ..Trajectory::default() }
    }

    #[test]
    fn a_valid_trajectory_rebuilds_to_its_states() {
        let grid = Hypergrid::new(2, 3);
        let rebuilt = rebuild(&grid, &record(vec![0, 1, 0, 2], -1.0)).unwrap();
        assert_eq!(rebuilt.states, vec![vec![0, 0], vec![1, 0], vec![1, 1], vec![2, 1]]);
        assert_eq!(rebuilt.terminal(), &vec![2, 1]);
        assert_eq!(rebuilt.policy_version, 3);
    }

    #[test]
    fn malformed_trajectories_are_rejected_with_a_reason() {
        let grid = Hypergrid::new(2, 3);
        let cases = [
            (record(vec![], 0.0), "empty"),
            (record(vec![0, 0, 0, 2], 0.0), "invalid_action"),
            (record(vec![5, 2], 0.0), "invalid_action"),
            (record(vec![0, 1], 0.0), "missing_stop"),
            (record(vec![0, 2, 2], 0.0), "early_stop"),
            (record(vec![2], f64::NAN), "non_finite_reward"),
            (record(vec![0; 9], 0.0), "too_long"),
        ];
        for (trajectory, reason) in cases {
            let error = rebuild(&grid, &trajectory).unwrap_err();
            assert_eq!(error.reason(), reason, "{trajectory:?}: {error}");
        }
    }
}
