//! Environments: the DAG a GFlowNet samples from.
//!
//! An [`Environment`] describes states, a fixed-size action space with per-state masks (the
//! stop action included), forward steps and parent enumeration (which flow matching needs).
//! Rewards are not part of an environment: they live in [`crate::reward`], so that the same
//! environment can be scored by a cheap closed form or an expensive proxy computed elsewhere.

pub mod bit_sequences;
pub mod blocks;
pub mod conditioned;
pub mod fragments;
pub mod hypergrid;
pub mod junction_tree;
pub mod molecule;
pub mod preference;

use std::fmt::Debug;
use std::hash::Hash;

pub use bit_sequences::BitSequences;
pub use fragments::FragmentEnvironment;
pub use hypergrid::Hypergrid;

use crate::policy::input::{InputShape, NetworkInput};
use crate::reward::scalarization::ConditionError;

/// An action id: an index into the environment's action space `0..num_actions()`.
pub type Action = u32;

/// Why a step or a rebuild was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvError {
    /// The action id is outside `0..num_actions`.
    #[error("action {action} is out of range (the action space has {num_actions} actions)")]
    ActionOutOfRange { action: Action, num_actions: usize },
    /// The action exists but is masked out in this state.
    #[error("action {action} is not allowed in state {state}")]
    ActionNotAllowed { action: Action, state: String },
    /// `step` was asked to apply the stop action, which ends an episode instead.
    #[error("the stop action has no successor state")]
    StepOnStop,
}

/// A GFlowNet environment: a DAG of states with a single initial state.
///
/// Every state may offer the stop action (see [`Environment::forward_mask`]); stopping in
/// state `s` terminates the episode with object `s`. Implementations must be cheap to share
/// between threads (`Send + Sync`); states are plain values.
pub trait Environment: Send + Sync {
    /// A state of the DAG. Equal states must compare equal and hash equally (this is the
    /// canonical key used to de-duplicate states within a batch).
    type State: Clone + Eq + Hash + Debug + Send + Sync;

    /// Short name used in logs and checkpoints, e.g. `"hypergrid"`.
    fn name(&self) -> &'static str;

    /// Size of the action space, stop included. Network heads have this many outputs.
    fn num_actions(&self) -> usize;

    /// The id of the stop action.
    fn stop_action(&self) -> Action;

    /// The initial state `s0`.
    fn initial_state(&self) -> Self::State;

    /// Writes the forward mask of `state` into `mask` (length `num_actions()`):
    /// `true` where the action is allowed.
    fn forward_mask(&self, state: &Self::State, mask: &mut [bool]);

    /// Applies a non-stop action. Fails if the action is out of range, masked out or stop.
    fn step(&self, state: &Self::State, action: Action) -> Result<Self::State, EnvError>;

    /// Every `(parent, action)` pair with `step(parent, action) == state`. Empty for `s0`.
    fn parents(&self, state: &Self::State) -> Vec<(Self::State, Action)>;

    /// Longest possible trajectory, counted in actions and including the final stop.
    fn max_trajectory_length(&self) -> usize;

    /// The kind and size of network input this environment produces (fixes the architecture).
    fn input_shape(&self) -> InputShape;

    /// Encodes `states` as one network input batch on `device`.
    fn encode_batch(&self, states: &[&Self::State], device: tch::Device) -> NetworkInput;

    /// An action the sampler must take in `state` instead of drawing from the policy (e.g. a
    /// conditioning value drawn from its prior at the root), using `uniform` for any randomness
    /// (each call returns a fresh `u ∈ [0, 1)`); `None` (the default) lets the policy choose.
    /// Every objective here is valid off-policy, so forced actions do not bias training.
    fn forced_action(&self, _state: &Self::State, _uniform: &mut dyn FnMut() -> f64) -> Option<Action> {
        None
    }

    /// Numbers of actions (non-stop, counted from `s0`) among which an early-stopped training
    /// rollout draws where to stop, uniformly (see [`crate::sampler::Sampler::with_early_stop`]).
    /// The default is every length a trajectory can have.
    fn early_stop_lengths(&self) -> std::ops::RangeInclusive<usize> {
        1..=self.max_trajectory_length().saturating_sub(1).max(1)
    }

    /// A human-readable rendering of a terminal object (for CSV output and logs).
    fn describe(&self, state: &Self::State) -> String {
        format!("{state:?}")
    }

    /// Values in the condition each trajectory carries (a conditional GFlowNet: one DAG per
    /// condition, the condition fixed from `s0` on); 0, the default, for an unconditioned
    /// environment.
    fn condition_len(&self) -> usize {
        0
    }

    /// The initial state of a trajectory conditioned on `condition`, checked. The default (an
    /// unconditioned environment) takes only the empty condition.
    fn conditioned_initial_state(&self, condition: &[f64]) -> Result<Self::State, ConditionError> {
        if condition.is_empty() {
            Ok(self.initial_state())
        } else {
            Err(ConditionError::Length { expected: 0, got: condition.len() })
        }
    }

    /// A condition drawn from the training prior (the default: the empty one).
    fn draw_condition(&self, _rng: &mut dyn rand::Rng) -> Vec<f64> {
        Vec::new()
    }

    /// The condition `state` carries (the default: the empty one).
    fn condition_of(&self, _state: &Self::State) -> Vec<f64> {
        Vec::new()
    }

    /// Checks a trajectory's normalised objective values and its log-reward against its
    /// (checked) `condition`. The default: an unconditioned trajectory carries no objectives.
    fn check_outcome(
        &self,
        _condition: &[f64],
        objectives: &[f64],
        _log_reward: f64,
    ) -> Result<(), ConditionError> {
        if objectives.is_empty() {
            Ok(())
        } else {
            Err(ConditionError::Objectives { values: objectives.to_vec(), expected: 0 })
        }
    }

    /// Checks that `action` is allowed in `state`, with a descriptive error if not.
    fn check_action(&self, state: &Self::State, action: Action) -> Result<(), EnvError> {
        let num_actions = self.num_actions();
        if action as usize >= num_actions {
            return Err(EnvError::ActionOutOfRange { action, num_actions });
        }
        let mut mask = vec![false; num_actions];
        self.forward_mask(state, &mut mask);
        if mask[action as usize] {
            Ok(())
        } else {
            Err(EnvError::ActionNotAllowed { action, state: format!("{state:?}") })
        }
    }
}

/// An environment whose states can all be listed, so that exact distributions can be computed.
pub trait Enumerable: Environment {
    /// All states, in a topological order of the DAG (every parent before its children).
    fn states_in_topological_order(&self) -> Vec<Self::State>;

    /// A dense index of `state`: a bijection from the states onto `0..number of states` (not
    /// necessarily the position in [`Enumerable::states_in_topological_order`]).
    fn state_index(&self, state: &Self::State) -> usize;

    /// The number of states. The default lists them; environments with a closed form say so
    /// (wrappers such as the reward-conditioned one call this per state index).
    fn state_count(&self) -> usize {
        self.states_in_topological_order().len()
    }
}
