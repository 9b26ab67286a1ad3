//! Evaluation that cannot be fooled: the policy's exact terminal distribution computed by
//! dynamic programming over the DAG, compared with the target `R(x)/Z`.

use rand::SeedableRng;
use serde::{Deserialize, Serialize};

use crate::env::Enumerable;
use crate::policy::{Exploration, LogFlowNetwork, action_probabilities};
use crate::reward::{Reward, RewardError};
use crate::sampler::Sampler;

/// One exact evaluation of the policy, written as one JSON line of the evaluation log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    /// Updates applied.
    pub update: u64,
    /// Trajectories trained on.
    pub trajectories: u64,
    /// Seconds spent sampling and learning so far (evaluation excluded).
    pub training_seconds: f64,
    /// Mean training loss since the previous evaluation.
    pub loss: f64,
    /// `Σ_x |p_θ(x) − R(x)/Z|` with `p_θ` computed exactly by dynamic programming.
    pub exact_l1: f64,
    /// The same distance with `p_θ` estimated from fresh on-policy samples.
    pub empirical_l1: Option<f64>,
    /// Distinct modes visited as terminal objects during training.
    pub modes_found: usize,
    /// Number of modes of the reward.
    pub num_modes: usize,
    /// The learned `log Z` (log total flow out of `s0`).
    pub learned_log_z: Option<f64>,
    /// The true `log Σ_x R(x)`.
    pub true_log_z: Option<f64>,
}

/// Training counters an evaluation record reports next to its measurements.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainingCounters {
    /// Updates applied.
    pub update: u64,
    /// Trajectories trained on.
    pub trajectories: u64,
    /// Seconds of training so far (evaluation excluded).
    pub training_seconds: f64,
    /// Mean loss since the previous evaluation.
    pub mean_loss: f64,
    /// Distinct modes visited so far.
    pub modes_found: usize,
}

/// Evaluates policies of an enumerable environment against `R/Z`: exact L1 by dynamic
/// programming, empirical L1 from fresh samples, learned vs. true `log Z`.
pub struct Evaluator<E: Enumerable> {
    env: E,
    target: Vec<f64>,
    true_log_z: f64,
    num_modes: usize,
    empirical_samples: usize,
    rng: rand_pcg::Pcg64Mcg,
}

impl<E: Enumerable + Clone> Evaluator<E> {
    /// Computes the target distribution once; `seed` drives the empirical samples only.
    pub fn new<R: Reward<E::State>>(
        env: &E,
        reward: &R,
        empirical_samples: usize,
        seed: u64,
    ) -> Result<Self, RewardError> {
        let (target, true_log_z) = target_distribution(env, reward)?;
        let num_modes = env.states_in_topological_order().iter().filter(|s| reward.is_mode(s)).count();
        let rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
        Ok(Self { env: env.clone(), target, true_log_z, num_modes, empirical_samples, rng })
    }

    /// `log Z = log Σ_x R(x)`.
    pub fn true_log_z(&self) -> f64 {
        self.true_log_z
    }

    /// Number of modes of the reward.
    pub fn num_modes(&self) -> usize {
        self.num_modes
    }

    /// Evaluates a learner's policy, reporting the `log Z` its objective learns.
    pub fn evaluate_learner(
        &mut self,
        model: &crate::model::Model,
        counters: TrainingCounters,
    ) -> EvaluationRecord {
        let mut record = self.evaluate(model.network(), counters);
        record.learned_log_z = Some(model.learned_log_z(&self.env));
        record
    }

    /// Evaluates `network` (a flow network: its `log Z` is the log out-flow of `s0`).
    pub fn evaluate<N: LogFlowNetwork>(
        &mut self,
        network: &N,
        counters: TrainingCounters,
    ) -> EvaluationRecord {
        let env = &self.env;
        let exact = exact_terminal_distribution(env, network);
        let exact_l1 = l1_distance(&exact, &self.target);
        let empirical_l1 = (self.empirical_samples > 0).then(|| {
            let mut sampler = Sampler::new(env, Exploration::ON_POLICY);
            let samples = sampler.sample(network, self.empirical_samples, &mut self.rng);
            let indices = samples.iter().map(|s| env.state_index(&s.terminal));
            l1_distance(&empirical_distribution(indices, self.target.len()), &self.target)
        });
        EvaluationRecord {
            update: counters.update,
            trajectories: counters.trajectories,
            training_seconds: counters.training_seconds,
            loss: counters.mean_loss,
            exact_l1,
            empirical_l1,
            modes_found: counters.modes_found,
            num_modes: self.num_modes,
            learned_log_z: Some(flow_log_partition(env, network)),
            true_log_z: Some(self.true_log_z),
        }
    }
}

/// Log flows of every state of an enumerable environment, in topological order.
fn log_flows_of_all_states<E: Enumerable, N: LogFlowNetwork>(
    env: &E,
    network: &N,
    states: &[E::State],
) -> Vec<f32> {
    let _no_grad = tch::no_grad_guard();
    let refs: Vec<&E::State> = states.iter().collect();
    let input = env.encode_batch(&refs, network.device());
    let output = network.log_flows(&input).to_device(tch::Device::Cpu).to_kind(tch::Kind::Float);
    let mut log_flows = vec![0.0f32; states.len() * env.num_actions()];
    let len = log_flows.len();
    output.copy_data(&mut log_flows, len);
    log_flows
}

/// The probability that the on-policy sampler (`T = 1`, `ε = 0`) ends in each state, indexed
/// by [`Enumerable::state_index`]. Exact up to floating point: reach probabilities are pushed
/// through the DAG in topological order, and `P(x) = P(reach x)·π(stop | x)`.
pub fn exact_terminal_distribution<E: Enumerable, N: LogFlowNetwork>(env: &E, network: &N) -> Vec<f64> {
    let states = env.states_in_topological_order();
    let num_actions = env.num_actions();
    let stop = env.stop_action() as usize;
    let log_flows = log_flows_of_all_states(env, network, &states);
    let mut reach = vec![0.0f64; states.len()];
    let mut terminal = vec![0.0f64; states.len()];
    reach[env.state_index(&env.initial_state())] = 1.0;
    let mut mask = vec![false; num_actions];
    let mut probabilities = vec![0.0; num_actions];
    for (row, state) in states.iter().enumerate() {
        let index = env.state_index(state);
        let p_reach = reach[index];
        if p_reach == 0.0 {
            continue;
        }
        env.forward_mask(state, &mut mask);
        action_probabilities(
            &log_flows[row * num_actions..][..num_actions],
            &mask,
            Exploration::ON_POLICY,
            &mut probabilities,
        );
        terminal[index] = p_reach * probabilities[stop];
        for action in (0..num_actions).filter(|&a| a != stop && mask[a]) {
            let child = env.step(state, action as u32).expect("masked-in action is valid");
            reach[env.state_index(&child)] += p_reach * probabilities[action];
        }
    }
    terminal
}

/// The target distribution `R(x)/Z` over all states and `log Z`, indexed by state index;
/// states that cannot stop (not objects, e.g. a conditioning root) get probability 0.
pub fn target_distribution<E: Enumerable, R: Reward<E::State>>(
    env: &E,
    reward: &R,
) -> Result<(Vec<f64>, f64), RewardError> {
    let states = env.states_in_topological_order();
    let mut rewards = vec![0.0f64; states.len()];
    let mut mask = vec![false; env.num_actions()];
    let stop = env.stop_action() as usize;
    for state in &states {
        env.forward_mask(state, &mut mask);
        if mask[stop] {
            rewards[env.state_index(state)] = reward.log_reward(state)?.exp();
        }
    }
    let partition: f64 = rewards.iter().sum();
    rewards.iter_mut().for_each(|r| *r /= partition);
    Ok((rewards, partition.ln()))
}

/// `Σ_x |p(x) − q(x)|`.
pub fn l1_distance(p: &[f64], q: &[f64]) -> f64 {
    assert_eq!(p.len(), q.len(), "distributions over different supports");
    p.iter().zip(q).map(|(a, b)| (a - b).abs()).sum()
}

/// The empirical distribution of `indices` over `num_states` states.
pub fn empirical_distribution(indices: impl IntoIterator<Item = usize>, num_states: usize) -> Vec<f64> {
    let mut counts = vec![0.0f64; num_states];
    let mut total = 0.0;
    for index in indices {
        counts[index] += 1.0;
        total += 1.0;
    }
    if total > 0.0 {
        counts.iter_mut().for_each(|c| *c /= total);
    }
    counts
}

pub use crate::policy::flow_log_partition;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::{Environment, Hypergrid};
    use crate::policy::Mlp;
    use crate::reward::HypergridReward;
    use tch::{Device, nn};

    #[test]
    fn exact_distribution_sums_to_one_and_matches_sampling() {
        tch::manual_seed(7);
        let grid = Hypergrid::new(2, 4);
        let vs = nn::VarStore::new(Device::Cpu);
        let mlp = Mlp::new(&vs.root(), grid.feature_dim(), 16, 2, grid.num_actions());
        let exact = exact_terminal_distribution(&grid, &mlp);
        assert!((exact.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        let mut sampler = Sampler::new(&grid, Exploration::ON_POLICY);
        let samples = sampler.sample(&mlp, 40_000, &mut rng);
        let empirical =
            empirical_distribution(samples.iter().map(|s| grid.state_index(&s.terminal)), grid.num_states());
        let distance = l1_distance(&exact, &empirical);
        // 16 states, 40k samples: sampling noise alone gives L1 ≈ 0.02.
        assert!(distance < 0.05, "L1 between exact and sampled distributions: {distance}");
    }

    #[test]
    fn target_distribution_is_normalised_reward() {
        let grid = Hypergrid::new(2, 8);
        let reward = HypergridReward::new(8, 0.1, 0.5, 2.0);
        let (target, log_z) = target_distribution(&grid, &reward).unwrap();
        assert!((target.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        // 4 modes at 2.6, 16 - 4 = 12 outer states at 0.6, 64 - 16 = 48 at 0.1
        let z: f64 = 4.0 * 2.6 + 12.0 * 0.6 + 48.0 * 0.1;
        assert!((log_z - z.ln()).abs() < 1e-12);
        assert!((target[grid.state_index(&vec![1, 6])] - 2.6 / z).abs() < 1e-12);
        assert_eq!(l1_distance(&target, &target), 0.0);
    }
}
