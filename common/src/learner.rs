//! The learning side of training: a policy network, its optimizer and an objective. It takes
//! replayed trajectories and applies one update per batch; it never samples.

use tch::{Device, Tensor, nn};

use crate::checkpoint::NamedTensors;
use crate::config::{ObjectiveConfig, PolicyConfig, RunConfig};
use crate::env::Environment;
use crate::objective::FlowMatching;
use crate::optim::{Adam, AdamConfig};
use crate::policy::{LogFlowNetwork, PolicyNetwork};
use crate::trajectory::ReplayedTrajectory;

/// What one update did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UpdateStats {
    /// The loss before the update.
    pub loss: f64,
    /// Distinct states evaluated by the network (one forward and one backward pass each).
    pub states_evaluated: usize,
}

/// A flow-matching learner over an MLP policy.
pub struct FlowMatchingLearner {
    vs: nn::VarStore,
    network: PolicyNetwork,
    optimizer: Adam,
    objective: FlowMatching,
}

/// Prefix of the policy's tensors in checkpoints and weight snapshots.
const POLICY_PREFIX: &str = "policy.";

impl FlowMatchingLearner {
    /// A freshly initialised learner with the network `policy` describes for `env`.
    pub fn new<E: Environment>(
        device: Device,
        env: &E,
        policy: &PolicyConfig,
        adam: AdamConfig,
        objective: FlowMatching,
    ) -> Self {
        let vs = nn::VarStore::new(device);
        let network = PolicyNetwork::new(&vs.root(), env, policy);
        let optimizer = Adam::new(&vs, adam);
        Self { vs, network, optimizer, objective }
    }

    /// The learner a run configuration describes, for `env`.
    pub fn from_config<E: Environment>(device: Device, env: &E, config: &RunConfig) -> Self {
        let ObjectiveConfig::FlowMatching(fm) = &config.objective;
        let adam = AdamConfig {
            epsilon: config.training.adam_epsilon,
            ..AdamConfig::with_learning_rate(config.training.learning_rate)
        };
        Self::new(device, env, &config.policy, adam, fm.objective())
    }

    /// The policy network (for sampling in the same process and for evaluation).
    pub fn network(&self) -> &PolicyNetwork {
        &self.network
    }

    /// Number of updates applied so far.
    pub fn updates(&self) -> u64 {
        self.optimizer.steps()
    }

    /// One flow-matching update on `trajectories`: every distinct state is evaluated once, in
    /// a single forward pass.
    pub fn update<E: Environment>(
        &mut self,
        env: &E,
        trajectories: &[ReplayedTrajectory<E::State>],
    ) -> UpdateStats {
        let batch = self.objective.prepare(env, trajectories);
        let states: Vec<&E::State> = batch.states.iter().collect();
        let input = env.encode_batch(&states, self.vs.device());
        let log_flows = self.network.log_flows(&input);
        let loss = self.objective.loss(&log_flows, &batch);
        self.optimizer.backward_step(&loss);
        UpdateStats { loss: loss.double_value(&[]), states_evaluated: batch.states.len() }
    }

    /// The policy weights as named tensors (`policy.layer0.weight`, …).
    pub fn policy_tensors(&self) -> NamedTensors {
        let mut named: Vec<(String, Tensor)> =
            self.vs.variables().into_iter().map(|(name, t)| (format!("{POLICY_PREFIX}{name}"), t)).collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        named
    }

    /// A detached copy of the policy weights, safe to hand to another thread while training
    /// goes on.
    pub fn policy_copy(&self) -> NamedTensors {
        self.policy_tensors().into_iter().map(|(name, t)| (name, t.detach().copy())).collect()
    }

    /// Policy weights and optimizer state, as written to checkpoints.
    pub fn state_tensors(&self) -> NamedTensors {
        let mut named = self.policy_tensors();
        named.extend(self.optimizer.state());
        named
    }

    /// Restores weights and optimizer state from [`FlowMatchingLearner::state_tensors`]
    /// output; fails naming the first missing or mis-shaped tensor.
    pub fn load_state_tensors(&mut self, tensors: NamedTensors) -> Result<(), String> {
        let map: std::collections::HashMap<String, Tensor> = tensors.into_iter().collect();
        let lookup = |key: &str| map.get(key).map(Tensor::shallow_clone);
        load_policy(&self.vs, lookup)?;
        self.optimizer.load_state(lookup)
    }
}

/// Copies `policy.*` tensors found by `lookup` into the variables of `vs`.
pub fn load_policy(vs: &nn::VarStore, lookup: impl Fn(&str) -> Option<Tensor>) -> Result<(), String> {
    let _no_grad = tch::no_grad_guard();
    for (name, mut variable) in vs.variables() {
        let key = format!("{POLICY_PREFIX}{name}");
        let tensor = lookup(&key).ok_or_else(|| format!("missing tensor {key}"))?;
        if tensor.size() != variable.size() {
            return Err(format!(
                "tensor {key} has shape {:?}, expected {:?}",
                tensor.size(),
                variable.size()
            ));
        }
        variable.copy_(&tensor);
    }
    Ok(())
}
