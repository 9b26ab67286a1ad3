//! Policy networks (tch). A network maps encoded states to one log edge flow `log F(s, a)` per
//! action; the forward policy is the softmax of the masked log flows, optionally tempered and
//! mixed with a uniform distribution over allowed actions for exploration.

pub mod block_graph;
pub mod input;
pub mod mlp;

use serde::{Deserialize, Serialize};
use tch::{Tensor, nn};

pub use block_graph::BlockGraphNet;
pub use input::{InputShape, NetworkInput};
pub use mlp::Mlp;

use crate::checkpoint::NamedTensors;
use crate::config::{PolicyConfig, RunConfig};
use crate::env::Environment;
use crate::weights::LoadError;

/// An inference copy of a policy on the CPU (an actor's, a sampler thread's, `gfn sample`'s),
/// refreshed from named `policy.*` tensors.
pub struct PolicyCopy {
    vs: tch::nn::VarStore,
    network: PolicyNetwork,
}

impl PolicyCopy {
    /// A freshly initialised network of the shape `config` describes for `env`.
    pub fn new<E: Environment>(env: &E, config: &RunConfig) -> Self {
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let extra = config.objective.objective().for_environment(env).extra_outputs(env.num_actions());
        let network = PolicyNetwork::new(&vs.root(), env, &config.policy, extra);
        Self { vs, network }
    }

    /// Copies `policy.*` tensors in; fails naming the first missing or mis-shaped one.
    pub fn load(&mut self, tensors: NamedTensors) -> Result<(), LoadError> {
        let map: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
        load_policy(&self.vs, |key| map.get(key).map(Tensor::shallow_clone))
    }

    /// The network.
    pub fn network(&self) -> &PolicyNetwork {
        &self.network
    }
}

/// A network producing log edge flows: encoded states → `[batch, num_actions]`.
pub trait LogFlowNetwork {
    /// Log edge flows `log F(s, a)` for each encoded state (inputs on [`LogFlowNetwork::device`]).
    fn log_flows(&self, input: &NetworkInput) -> Tensor;

    /// Where the network's parameters live; inputs must be moved there.
    fn device(&self) -> tch::Device;
}

/// The policy network an environment's input calls for: an MLP for dense features, the
/// block-graph network for junction trees. Its outputs are one per action (log edge flows, or
/// policy logits), then any extra outputs the objective needs (a state log flow, backward
/// logits); [`LogFlowNetwork::log_flows`] returns the first part only.
#[derive(Debug)]
pub struct PolicyNetwork {
    kind: Network,
    num_actions: i64,
    extra_outputs: i64,
}

#[derive(Debug)]
enum Network {
    Mlp(Mlp),
    BlockGraph(Box<BlockGraphNet>),
}

impl PolicyNetwork {
    /// A freshly initialised network for `env` under `path`, with `extra_outputs` outputs
    /// beyond one per action.
    ///
    /// # Panics
    /// If a block-graph network is asked for more than one extra output (configuration
    /// validation rules that out).
    pub fn new<E: Environment>(
        path: &nn::Path,
        env: &E,
        config: &PolicyConfig,
        extra_outputs: usize,
    ) -> Self {
        let num_actions = env.num_actions();
        let kind = match env.input_shape() {
            InputShape::Dense { feature_dim } => Network::Mlp(Mlp::new(
                path,
                feature_dim,
                config.hidden,
                config.mlp_hidden_layers(),
                num_actions + extra_outputs,
            )),
            InputShape::BlockGraph(shape) => {
                assert!(extra_outputs <= 1, "a block-graph network has at most a state-flow output");
                Network::BlockGraph(Box::new(BlockGraphNet::new(
                    path,
                    shape,
                    config.hidden,
                    config.rounds(),
                    extra_outputs == 1,
                    config.message_passing(),
                )))
            }
        };
        Self { kind, num_actions: num_actions as i64, extra_outputs: extra_outputs as i64 }
    }

    /// Every output: `[batch, num_actions + extra]`.
    pub fn outputs(&self, input: &NetworkInput) -> Tensor {
        match (&self.kind, input) {
            (Network::Mlp(mlp), NetworkInput::Dense(features)) => mlp.forward(features),
            (Network::BlockGraph(net), NetworkInput::BlockGraph(batch)) => net.forward(batch),
            _ => panic!("the network does not match the environment's input"),
        }
    }

    /// Multiply–add operations per input row of the MLP (`None` for graph networks, whose cost
    /// depends on the graph).
    pub fn macs_per_row(&self) -> Option<u64> {
        match &self.kind {
            Network::Mlp(mlp) => Some(mlp.macs_per_row()),
            Network::BlockGraph(_) => None,
        }
    }
}

impl LogFlowNetwork for PolicyNetwork {
    fn log_flows(&self, input: &NetworkInput) -> Tensor {
        let outputs = self.outputs(input);
        if self.extra_outputs == 0 { outputs } else { outputs.narrow(1, 0, self.num_actions).contiguous() }
    }

    fn device(&self) -> tch::Device {
        match &self.kind {
            Network::Mlp(mlp) => mlp.device(),
            Network::BlockGraph(net) => net.device(),
        }
    }
}

impl LogFlowNetwork for Mlp {
    fn log_flows(&self, input: &NetworkInput) -> Tensor {
        match input {
            NetworkInput::Dense(features) => self.forward(features),
            NetworkInput::BlockGraph(_) => panic!("an MLP reads dense features"),
        }
    }

    fn device(&self) -> tch::Device {
        self.device()
    }
}

/// How a sampler departs from the learned policy: `π = (1-ε)·softmax(log F / T) + ε·uniform`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exploration {
    /// Softmax temperature `T > 0` (1 = the learned policy).
    pub temperature: f64,
    /// Probability `ε ∈ [0, 1]` of taking a uniformly random allowed action.
    pub epsilon: f64,
}

impl Exploration {
    /// The learned policy itself: `T = 1`, `ε = 0`.
    pub const ON_POLICY: Self = Self { temperature: 1.0, epsilon: 0.0 };
}

impl Default for Exploration {
    fn default() -> Self {
        Self::ON_POLICY
    }
}

/// Writes the action probabilities of one state into `probabilities`.
///
/// `log_flows` and `mask` have one entry per action; masked-out actions get probability 0.
/// The softmax is computed after subtracting the maximum, so large log flows cannot overflow.
pub fn action_probabilities(
    log_flows: &[f32],
    mask: &[bool],
    exploration: Exploration,
    probabilities: &mut [f64],
) {
    let inverse_temperature = 1.0 / exploration.temperature;
    let max = log_flows
        .iter()
        .zip(mask)
        .filter(|&(_, &allowed)| allowed)
        .map(|(&l, _)| l as f64)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut total = 0.0;
    let mut allowed_count = 0usize;
    for ((p, &l), &allowed) in probabilities.iter_mut().zip(log_flows).zip(mask) {
        *p = if allowed {
            allowed_count += 1;
            ((l as f64 - max) * inverse_temperature).exp()
        } else {
            0.0
        };
        total += *p;
    }
    let uniform = exploration.epsilon / allowed_count as f64;
    let scale = (1.0 - exploration.epsilon) / total;
    for (p, &allowed) in probabilities.iter_mut().zip(mask) {
        if allowed {
            *p = *p * scale + uniform;
        }
    }
}

/// Prefix of the policy network's tensors in weights and checkpoints (`policy.layer0.weight`).
pub const POLICY_PREFIX: &str = "policy.";

/// Copies `policy.*` tensors found by `lookup` into the variables of `vs`.
pub fn load_policy(vs: &nn::VarStore, lookup: impl Fn(&str) -> Option<Tensor>) -> Result<(), LoadError> {
    load_prefixed(vs, POLICY_PREFIX, lookup)
}

/// Copies `{prefix}{name}` tensors found by `lookup` into the variables of `vs`.
pub fn load_prefixed(
    vs: &nn::VarStore,
    prefix: &str,
    lookup: impl Fn(&str) -> Option<Tensor>,
) -> Result<(), LoadError> {
    let _no_grad = tch::no_grad_guard();
    for (name, mut variable) in vs.variables() {
        let key = format!("{prefix}{name}");
        let tensor = LoadError::check(&key, lookup(&key), &variable.size())?;
        variable.copy_(&tensor);
    }
    Ok(())
}

/// The learned `log Z` of a flow network: the log total out-flow of `s0`,
/// `log Σ_{a ∈ A(s0)} F(s0, a)`.
pub fn flow_log_partition<E: Environment, N: LogFlowNetwork>(env: &E, network: &N) -> f64 {
    let _no_grad = tch::no_grad_guard();
    let s0 = env.initial_state();
    let input = env.encode_batch(&[&s0], network.device());
    let output = network.log_flows(&input).to_device(tch::Device::Cpu).to_kind(tch::Kind::Float);
    let mut log_flows = vec![0.0f32; env.num_actions()];
    let len = log_flows.len();
    output.copy_data(&mut log_flows, len);
    let mut mask = vec![false; env.num_actions()];
    env.forward_mask(&s0, &mut mask);
    let allowed: Vec<f64> =
        log_flows.iter().zip(&mask).filter(|(_, m)| **m).map(|(&l, _)| l as f64).collect();
    let max = allowed.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    max + allowed.iter().map(|l| (l - max).exp()).sum::<f64>().ln()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masked_softmax_with_temperature_and_exploration() {
        let log_flows = [0.0f32, (2.0f32).ln(), 100.0, (1.0f32).ln()];
        let mask = [true, true, false, true];
        let mut p = [0.0; 4];
        action_probabilities(&log_flows, &mask, Exploration::ON_POLICY, &mut p);
        let expected = [0.25, 0.5, 0.0, 0.25];
        for (a, b) in p.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{p:?}");
        }
        let explore = Exploration { temperature: 1.0, epsilon: 0.3 };
        action_probabilities(&log_flows, &mask, explore, &mut p);
        assert!((p[1] - (0.7 * 0.5 + 0.1)).abs() < 1e-6);
        assert_eq!(p[2], 0.0);
        let hot = Exploration { temperature: 1e6, epsilon: 0.0 };
        action_probabilities(&log_flows, &mask, hot, &mut p);
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-5);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }
}
