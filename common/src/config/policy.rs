//! The `[policy]` section (the network) and `[conditioning]` (reward-exponent conditioning of
//! that network).

use serde::{Deserialize, Serialize};

use crate::validation::Scope;

/// The policy network. `hidden` is the width of either network; the other keys belong to one
/// network each, and setting one the environment's network does not have is an error:
/// - dense inputs (grids, bit sequences): an MLP of `hidden_layers` layers;
/// - fragment molecules: the block-graph network, `rounds` rounds of message passing with the
///   `message_passing` core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PolicyConfig {
    /// Units per hidden layer (block-graph network: embedding width).
    pub hidden: usize,
    /// MLP only: the number of hidden layers (default 2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hidden_layers: Option<usize>,
    /// Block-graph network only: message-passing rounds over the junction tree (default 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rounds: Option<usize>,
    /// Block-graph network only: `"residual"` (separate weights per round, residual updates;
    /// the default) or `"gru"` (the paper's: one shared edge-conditioned convolution and GRU
    /// cell).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_passing: Option<MessagePassing>,
}

/// The message-passing core of the block-graph network (see `policy::block_graph`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MessagePassing {
    /// Separate weights per round, residual updates.
    #[default]
    Residual,
    /// The paper's: one shared NNConv (rank-one edge matrices) and GRU cell for every step.
    Gru,
}

/// Which network a policy section configures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetworkKind {
    /// The MLP of dense inputs.
    Mlp,
    /// The block-graph message-passing network of fragment molecules.
    BlockGraph,
}

/// Hidden layers of the MLP when `policy.hidden_layers` is not given.
pub const DEFAULT_HIDDEN_LAYERS: usize = 2;
/// Message-passing rounds of the block-graph network when `policy.rounds` is not given.
pub const DEFAULT_ROUNDS: usize = 3;

impl Default for PolicyConfig {
    fn default() -> Self {
        Self { hidden: 256, hidden_layers: None, rounds: None, message_passing: None }
    }
}

impl PolicyConfig {
    /// An MLP `hidden` wide with `hidden_layers` layers.
    pub fn mlp(hidden: usize, hidden_layers: usize) -> Self {
        Self { hidden, hidden_layers: Some(hidden_layers), ..Self::default() }
    }

    /// A block-graph network `hidden` wide with `rounds` rounds of `message_passing`.
    pub fn block_graph(hidden: usize, rounds: usize, message_passing: MessagePassing) -> Self {
        Self { hidden, rounds: Some(rounds), message_passing: Some(message_passing), ..Self::default() }
    }

    /// The MLP's hidden layers.
    pub fn mlp_hidden_layers(&self) -> usize {
        self.hidden_layers.unwrap_or(DEFAULT_HIDDEN_LAYERS)
    }

    /// The block-graph network's message-passing rounds.
    pub fn rounds(&self) -> usize {
        self.rounds.unwrap_or(DEFAULT_ROUNDS)
    }

    /// The block-graph network's message-passing core.
    pub fn message_passing(&self) -> MessagePassing {
        self.message_passing.unwrap_or_default()
    }

    /// Checks the section's values (keys `policy.*`) for the network the environment uses.
    pub fn check(&self, network: NetworkKind, policy: &mut Scope<'_>) {
        policy.at_least("hidden", self.hidden, 1);
        match network {
            NetworkKind::Mlp => {
                for (key, set) in
                    [("rounds", self.rounds.is_some()), ("message_passing", self.message_passing.is_some())]
                {
                    policy.check(
                        !set,
                        key,
                        "left out: it configures the block-graph network of fragment molecules, and this                          environment's policy is an MLP (policy.hidden, policy.hidden_layers)",
                        "a value",
                    );
                }
                let layers = self.mlp_hidden_layers();
                policy.between("hidden_layers", layers, 1, 64);
            }
            NetworkKind::BlockGraph => {
                policy.check(
                    self.hidden_layers.is_none(),
                    "hidden_layers",
                    "left out: it configures the MLP of dense environments; the block-graph network of                      fragment molecules takes policy.rounds (message-passing rounds) and policy.message_passing",
                    "a value",
                );
                let rounds = self.rounds();
                policy.between("rounds", rounds, 1, 64);
            }
        }
    }
}

/// Reward-exponent (temperature) conditioning: one policy trained on `R^β` for every `β` listed,
/// `β` drawn uniformly per trajectory and given to the network (docs/OBJECTIVES.md).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConditioningConfig {
    /// The exponents `β_k`; empty turns conditioning off.
    pub reward_exponents: Vec<f64>,
}

impl ConditioningConfig {
    /// Whether the policy is conditioned.
    pub fn enabled(&self) -> bool {
        !self.reward_exponents.is_empty()
    }
}

impl ConditioningConfig {
    /// Checks the section's values (keys `conditioning.*`).
    pub fn check(&self, conditioning: &mut Scope<'_>) {
        let exponents = &self.reward_exponents;
        conditioning.check(
            exponents.len() <= 255 && exponents.iter().all(|b| b.is_finite() && *b > 0.0),
            "reward_exponents",
            "at most 255 positive finite values",
            format!("{exponents:?}"),
        );
    }
}
