//! Training objectives. Each turns a batch of rebuilt trajectories and the network's outputs
//! (log edge flows for flow matching; policy logits, state flows and backward logits for the
//! balance objectives) into a scalar loss. See `docs/OBJECTIVES.md`.

pub mod balance;
pub mod flow_matching;
pub mod log_reward_warmup;

pub use flow_matching::{FlowMatching, FlowMatchingBatch, TermWeighting};

pub use balance::{BackwardPolicy, Balance, BalanceObjective};
pub use log_reward_warmup::LogRewardWarmUp;

/// The training objective a learner optimises, picked by the run configuration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Objective {
    /// Flow matching: the network outputs log edge flows.
    FlowMatching(FlowMatching),
    /// Trajectory, detailed or sub-trajectory balance: the network outputs policy logits (and a
    /// state flow, and backward logits, as the objective needs).
    Balance(BalanceObjective),
}

impl Objective {
    /// Network outputs beyond one per action.
    pub fn extra_outputs(&self, num_actions: usize) -> usize {
        match self {
            Self::FlowMatching(_) => 0,
            Self::Balance(balance) => balance.extra_outputs(num_actions),
        }
    }

    /// The objective as it trains on `env`: on a conditioned environment (one root per
    /// condition, [`crate::env::preference`]) trajectory balance learns `log Z(c)` as the state
    /// flow of each trajectory's root instead of one scalar; the others are unchanged.
    pub fn for_environment<E: crate::env::Environment>(self, env: &E) -> Self {
        match self {
            Self::Balance(balance) if env.condition_len() > 0 => {
                Self::Balance(BalanceObjective { conditional_log_z: true, ..balance })
            }
            other => other,
        }
    }

    /// Whether a scalar `log Z` is learned (unconditional trajectory balance).
    pub fn learns_log_z(&self) -> bool {
        matches!(
            self,
            Self::Balance(BalanceObjective { balance: Balance::Trajectory, conditional_log_z: false, .. })
        )
    }

    /// Whether the network's column `num_actions` is a state log flow.
    pub fn has_state_flow(&self) -> bool {
        matches!(self, Self::Balance(b) if b.needs_state_flow())
    }
}
