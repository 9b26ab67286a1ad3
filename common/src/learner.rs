//! The learning side of training: a policy network, its optimizer and an objective (flow
//! matching, trajectory, detailed or sub-trajectory balance, picked by the run configuration).
//! It takes replayed trajectories and applies one update per batch; it never samples.

use tch::{Device, Tensor, nn};

use crate::checkpoint::NamedTensors;
use crate::config::{PolicyConfig, RunConfig};
use crate::env::Environment;
use crate::eval::flow_log_partition;
use crate::objective::{Objective, balance};
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

/// A learner: the policy network (and trajectory balance's `log Z`), Adam and an objective.
pub struct Learner {
    vs: nn::VarStore,
    network: PolicyNetwork,
    optimizer: Adam,
    objective: Objective,
    log_z: Option<Tensor>,
}

/// Name of trajectory balance's `log Z` variable (saved as `policy.log_z`).
const LOG_Z: &str = "log_z";

/// Prefix of the policy's tensors in checkpoints and weight snapshots.
const POLICY_PREFIX: &str = "policy.";

impl Learner {
    /// A freshly initialised learner with the network `policy` describes for `env` and the
    /// outputs `objective` needs; `log_z_learning_rate` is used if the objective learns `log Z`.
    pub fn new<E: Environment>(
        device: Device,
        env: &E,
        policy: &PolicyConfig,
        adam: AdamConfig,
        objective: Objective,
        log_z_learning_rate: f64,
    ) -> Self {
        let vs = nn::VarStore::new(device);
        let extra = objective.extra_outputs(env.num_actions());
        let network = PolicyNetwork::new(&vs.root(), env, policy, extra);
        let log_z = objective.learns_log_z().then(|| vs.root().zeros(LOG_Z, &[1]));
        let mut optimizer = Adam::new(&vs, adam);
        if log_z.is_some() {
            optimizer.set_learning_rate(LOG_Z, log_z_learning_rate);
        }
        Self { vs, network, optimizer, objective, log_z }
    }

    /// The learner a run configuration describes, for `env`.
    pub fn from_config<E: Environment>(device: Device, env: &E, config: &RunConfig) -> Self {
        let adam = AdamConfig {
            epsilon: config.training.adam_epsilon,
            ..AdamConfig::with_learning_rate(config.training.learning_rate)
        };
        let log_z_learning_rate = config.objective.log_z_learning_rate().unwrap_or(adam.learning_rate);
        Self::new(device, env, &config.policy, adam, config.objective.objective(), log_z_learning_rate)
    }

    /// The policy network (for sampling in the same process and for evaluation).
    pub fn network(&self) -> &PolicyNetwork {
        &self.network
    }

    /// Number of updates applied so far.
    pub fn updates(&self) -> u64 {
        self.optimizer.steps()
    }

    /// The objective.
    pub fn objective(&self) -> Objective {
        self.objective
    }

    /// One update on `trajectories`: every distinct state the loss needs is evaluated once, in
    /// a single forward pass.
    pub fn update<E: Environment>(
        &mut self,
        env: &E,
        trajectories: &[ReplayedTrajectory<E::State>],
    ) -> UpdateStats {
        let device = self.vs.device();
        let (loss, states_evaluated) = match self.objective {
            Objective::FlowMatching(fm) => {
                let batch = fm.prepare(env, trajectories);
                let states: Vec<&E::State> = batch.states.iter().collect();
                let log_flows = self.network.log_flows(&env.encode_batch(&states, device));
                (fm.loss(&log_flows, &batch), batch.states.len())
            }
            Objective::Balance(objective) => {
                let batch = balance::prepare(env, trajectories);
                let states: Vec<&E::State> = batch.states.iter().collect();
                let outputs = self.network.outputs(&env.encode_batch(&states, device));
                (objective.loss(&outputs, &batch, self.log_z.as_ref()), batch.states.len())
            }
        };
        self.optimizer.backward_step(&loss);
        UpdateStats { loss: loss.double_value(&[]), states_evaluated }
    }

    /// The learned `log Z`: trajectory balance's scalar, the state flow of `s0` for detailed and
    /// sub-trajectory balance, the total out-flow of `s0` for flow matching.
    pub fn learned_log_z<E: Environment>(&self, env: &E) -> f64 {
        let _no_grad = tch::no_grad_guard();
        if let Some(log_z) = &self.log_z {
            return log_z.double_value(&[0]);
        }
        if self.objective.has_state_flow() {
            let s0 = env.initial_state();
            let outputs = self.network.outputs(&env.encode_batch(&[&s0], self.vs.device()));
            return outputs.double_value(&[0, env.num_actions() as i64]);
        }
        flow_log_partition(env, &self.network)
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

    /// Restores weights and optimizer state from [`Learner::state_tensors`]
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
