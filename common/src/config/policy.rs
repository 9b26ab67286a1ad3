//! The `[policy]` section (the network) and `[conditioning]` (reward-exponent conditioning of
//! that network).

use serde::{Deserialize, Serialize};

use super::reward::ObjectiveServiceConfig;
use crate::reward::scalarization::{PreferenceConditioning, Scalarization};
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

/// Conditioning of the policy, one of two kinds (docs/OBJECTIVES.md, docs/MULTI_OBJECTIVE.md):
/// - reward-exponent conditioning: one policy trained on `R^β` for every `β` in
///   `reward_exponents`, `β` drawn uniformly per trajectory and given to the network;
/// - preference conditioning (multi-objective, MOGFN-PC): a preference over `objectives` drawn
///   from a Dirichlet and `β` drawn uniformly from `reward_exponent_range` per trajectory, the
///   reward the scalarised objectives raised to `β`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConditioningConfig {
    /// The exponents `β_k`; empty turns reward-exponent conditioning off.
    pub reward_exponents: Vec<f64>,
    /// The objectives a preference weighs, by the task's names (e.g. `["seh", "qed", "sa",
    /// "mw"]`); empty turns preference conditioning off.
    pub objectives: Vec<String>,
    /// Concentration of the symmetric Dirichlet preferences are drawn from (1: uniform on the
    /// simplex).
    pub preference_concentration: f64,
    /// `[min, max]`: `β` is drawn uniformly from this range (equal ends: a fixed `β`).
    pub reward_exponent_range: [f64; 2],
    /// Bins of the thermometer code the policy reads `β` through.
    pub reward_exponent_bins: usize,
    /// `"weighted_sum"` (MOGFN-PC) or `"tchebycheff"` (reaches concave parts of a front).
    pub scalarization: Scalarization,
    /// Evaluation preferences: the simplex grid with this many divisions (4: 35 preferences for
    /// four objectives, as recursionpharma/gflownet and MOGFN evaluate).
    pub evaluation_divisions: usize,
    /// Objects sampled per evaluation preference.
    pub evaluation_samples: usize,
    /// The top `k` per evaluation preference whose reward and diversity are reported.
    pub evaluation_top_k: usize,
    /// Reward services that compute some of `objectives` (`[[conditioning.services]]`); the
    /// others are the task's built-in ones.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ObjectiveServiceConfig>,
}

impl Default for ConditioningConfig {
    fn default() -> Self {
        Self {
            reward_exponents: Vec::new(),
            objectives: Vec::new(),
            preference_concentration: 1.0,
            reward_exponent_range: [1.0, 1.0],
            reward_exponent_bins: 32,
            scalarization: Scalarization::WeightedSum,
            evaluation_divisions: 4,
            evaluation_samples: 128,
            evaluation_top_k: 10,
            services: Vec::new(),
        }
    }
}

impl ConditioningConfig {
    /// Whether the policy is conditioned on a reward exponent from a list.
    pub fn enabled(&self) -> bool {
        !self.reward_exponents.is_empty()
    }

    /// The preference conditioning, when `objectives` are given.
    pub fn preference(&self) -> Option<PreferenceConditioning> {
        (!self.objectives.is_empty()).then(|| PreferenceConditioning {
            objectives: self.objectives.clone(),
            concentration: self.preference_concentration,
            reward_exponent: (self.reward_exponent_range[0], self.reward_exponent_range[1]),
            exponent_bins: self.reward_exponent_bins,
            scalarization: self.scalarization,
        })
    }

    /// Checks the section's values (keys `conditioning.*`).
    pub fn check(&self, conditioning: &mut Scope<'_>) {
        let exponents = &self.reward_exponents;
        conditioning.check(
            exponents.len() <= 255 && exponents.iter().all(|b| b.is_finite() && *b > 0.0),
            "reward_exponents",
            "at most 255 positive finite values",
            format!("{exponents:?}"),
        );
        conditioning.check(
            self.objectives.is_empty() || exponents.is_empty(),
            "objectives",
            "left out with reward_exponents (a preference-conditioned run draws β from reward_exponent_range)",
            format!("{:?}", self.objectives),
        );
        let mut names = self.objectives.clone();
        names.sort();
        names.dedup();
        conditioning.check(
            names.len() == self.objectives.len() && self.objectives.len() <= 16,
            "objectives",
            "at most 16 distinct names",
            format!("{:?}", self.objectives),
        );
        conditioning.positive_finite("preference_concentration", self.preference_concentration);
        let [min, max] = self.reward_exponent_range;
        conditioning.check(
            min.is_finite() && max.is_finite() && min > 0.0 && max >= min,
            "reward_exponent_range",
            "[min, max] with 0 < min <= max",
            format!("{:?}", self.reward_exponent_range),
        );
        conditioning.between("reward_exponent_bins", self.reward_exponent_bins, 2, 256);
        conditioning.between("evaluation_divisions", self.evaluation_divisions, 1, 16);
        conditioning.between("evaluation_samples", self.evaluation_samples, 1, 100_000);
        conditioning.between("evaluation_top_k", self.evaluation_top_k, 1, self.evaluation_samples.max(1));
        let mut served: Vec<&String> = Vec::new();
        for (i, service) in self.services.iter().enumerate() {
            let mut entry = conditioning.nested(&format!("services[{i}]"));
            service.check(&mut entry);
            for name in &service.objectives {
                entry.check(
                    self.objectives.contains(name) && !served.contains(&name),
                    "objectives",
                    "among conditioning.objectives, each from one service only",
                    format!("{name:?}"),
                );
                served.push(name);
            }
        }
        let mut names: Vec<&str> = self.services.iter().map(|s| s.name.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        conditioning.check(
            names.len() == self.services.len(),
            "services",
            "services with distinct names",
            format!("{:?}", self.services.iter().map(|s| &s.name).collect::<Vec<_>>()),
        );
    }
}
