//! The bit-sequence task (Malkin et al. 2022, §5.3; [`crate::env::bit_sequences`]). Small
//! variants (at most [`EXACT_STATES`] states, e.g. n = 16, k = 4) are evaluated exactly; larger
//! ones as that paper does: how many members of the mode set have been found (a trained-on
//! sequence within `env.mode_distance` of them), and the Spearman correlation between the
//! policy's estimated `log p̂(x)` and `log R(x)` over a held-out test set.
//!
//! `p(x)` sums over the `m!` orders in which the words of `x` can be written; it is estimated
//! by importance sampling with the uniform backward policy: for `N` random orders `σ`,
//! `p̂(x) = m! · (1/N) Σ_σ P_F(τ_σ)`.

use rand::SeedableRng;
use rand::seq::{IndexedRandom, SliceRandom};
use serde::Serialize;

use crate::config::{NetworkKind, RunConfig};
use crate::env::Environment;
use crate::env::bit_sequences::{BitSequenceConfig, BitSequenceReward, BitSequences, BitState, EMPTY};
use crate::env::conditioned::RewardConditioned;
use crate::eval::TrainingCounters;
use crate::metrics::names as m;
use crate::model::Model;
use crate::policy::{Exploration, LogFlowNetwork, PolicyNetwork, action_probabilities};
use crate::reward::Reward;
use crate::task::evaluation::{BasicRecord, Evaluated, RunEvaluation};
use crate::task::{HookContext, RunHooks, Task, TaskError, TaskPlugin};
use crate::validation::Scope;
use gfn_proto::reward::v1::{BitString, RewardObject, reward_object};

/// Spearman correlation between estimated `log p(x)` and `log R(x)` on the test set.
pub const SPEARMAN: &str = "gfn_learner_log_probability_reward_spearman";

/// Variants with at most this many states are evaluated exactly (dynamic programming).
pub const EXACT_STATES: usize = 200_000;

/// Bit sequences and their Hamming reward.
#[derive(Clone)]
pub struct BitSequenceTask {
    config: BitSequenceConfig,
    env: BitSequences,
}

impl BitSequenceTask {
    /// The task of `config` (validated by the run configuration).
    pub fn new(config: &BitSequenceConfig) -> Self {
        Self { config: config.clone(), env: config.environment() }
    }

    fn enumerable(&self) -> bool {
        self.env.num_states().is_some_and(|n| n <= EXACT_STATES)
    }
}

impl TaskPlugin for BitSequenceTask {
    const NAME: &'static str = "bit_sequences";
    type Config = BitSequenceConfig;

    fn from_config(config: &BitSequenceConfig, _run: &RunConfig) -> Result<Self, TaskError> {
        Ok(Self::new(config))
    }

    fn check(config: &BitSequenceConfig, _run: &RunConfig, env: &mut Scope<'_>) {
        config.check(env);
    }

    fn network_kind(_config: &BitSequenceConfig) -> NetworkKind {
        NetworkKind::Mlp
    }

    fn metrics() -> Vec<crate::metrics::MetricDescription> {
        vec![crate::metrics::MetricDescription::gauge(
            SPEARMAN,
            "Spearman correlation of the estimated log p(x) and log R(x) over the test set.",
        )]
    }
}

impl Task for BitSequenceTask {
    type Env = BitSequences;
    type Reward = BitSequenceReward;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn environment(&self) -> &BitSequences {
        &self.env
    }

    fn reward(&self, _copies: usize) -> Result<BitSequenceReward, TaskError> {
        Ok(self.config.reward())
    }

    fn describe(&self) -> String {
        let c = &self.config;
        format!(
            "bit sequences n = {} in words of k = {}, {} modes, β = {}",
            c.n, c.k, c.num_modes, c.reward_exponent
        )
    }

    fn service_object(&self, state: &BitState) -> Result<RewardObject, TaskError> {
        let bits = self.env.describe(state);
        if bits.contains('.') {
            return Err(format!("not a complete bit sequence: {bits}").into());
        }
        Ok(RewardObject { object: Some(reward_object::Object::Bits(BitString { bits })) })
    }

    fn hooks(&self, context: &HookContext) -> Result<RunHooks<BitSequences>, TaskError> {
        if self.enumerable() {
            return RunHooks::exact(&self.env, self.config.reward(), context);
        }
        let evaluation = BitSequenceEvaluation::new(
            self.env.clone(),
            self.config.reward(),
            &self.config,
            context.config.seed,
        );
        Ok(RunHooks { evaluation: Box::new(evaluation), results: None })
    }

    fn conditioned_hooks(
        &self,
        env: &RewardConditioned<BitSequences>,
        context: &HookContext,
    ) -> Result<RunHooks<RewardConditioned<BitSequences>>, TaskError> {
        if self.enumerable() {
            let reward = crate::env::conditioned::ConditionedReward::new(
                self.config.reward(),
                env.exponents().to_vec(),
            );
            return RunHooks::exact(env, reward, context);
        }
        Ok(RunHooks::basic(env.clone()))
    }
}

/// One evaluation of a bit-sequence run.
#[derive(Debug, Clone, Serialize)]
pub struct BitSequenceRecord {
    /// Updates, trajectories, training time, loss and the learned `log Z`.
    #[serde(flatten)]
    pub training: BasicRecord,
    /// Members of the mode set found (a trained-on sequence within `env.mode_distance`).
    pub modes_found: usize,
    /// Size of the mode set.
    pub num_modes: usize,
    /// Distinct trained-on sequences within `env.mode_distance` of the mode set.
    pub near_mode_sequences: usize,
    /// Spearman correlation between `log p̂(x)` and `log R(x)` on the test set.
    pub spearman: f64,
    /// Test sequences.
    pub test_sequences: usize,
}

/// Modes found and the `log p̂`–`log R` correlation of a large bit-sequence variant.
pub struct BitSequenceEvaluation {
    env: BitSequences,
    reward: BitSequenceReward,
    found: Vec<bool>,
    test_set: Vec<BitState>,
    test_log_rewards: Vec<f64>,
    orders: usize,
    rng: rand_pcg::Pcg64Mcg,
}

impl BitSequenceEvaluation {
    /// Draws the test set (from `config.mode_seed`) and the generator of orders (from `seed`).
    pub fn new(env: BitSequences, reward: BitSequenceReward, config: &BitSequenceConfig, seed: u64) -> Self {
        let test_set = test_set(&env, reward.modes(), config.test_set_size, config.mode_seed ^ 0x7E57);
        let test_log_rewards =
            test_set.iter().map(|x| reward.log_reward(x).expect("test sequences are full")).collect();
        let found = vec![false; reward.modes().len()];
        let rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed ^ 0x0DE5);
        Self { env, reward, found, test_set, test_log_rewards, orders: config.test_orders, rng }
    }

    /// `log p̂(x)` of every test sequence under `network`'s on-policy forward policy.
    pub fn estimated_log_probabilities(&mut self, network: &PolicyNetwork) -> Vec<f64> {
        let words = self.env.words();
        let log_orders = (1..=words).map(|i| (i as f64).ln()).sum::<f64>();
        let chunk = (4096 / (self.orders * (words + 1))).max(1);
        let mut estimates = Vec::with_capacity(self.test_set.len());
        let tests = std::mem::take(&mut self.test_set);
        for sequences in tests.chunks(chunk) {
            let mut log_paths = Vec::with_capacity(sequences.len() * self.orders);
            let mut states = Vec::new();
            let mut actions = Vec::new();
            for x in sequences {
                for _ in 0..self.orders {
                    let mut order: Vec<usize> = (0..words).collect();
                    order.shuffle(&mut self.rng);
                    let mut state = self.env.initial_state();
                    for &slot in &order {
                        states.push(state.clone());
                        actions.push(slot * self.env.vocabulary() + x[slot] as usize);
                        state[slot] = x[slot];
                    }
                    states.push(state);
                    actions.push(self.env.stop_action() as usize);
                }
            }
            let log_probs = self.log_policy(network, &states, &actions);
            for path in log_probs.chunks(words + 1) {
                log_paths.push(path.iter().sum::<f64>());
            }
            for paths in log_paths.chunks(self.orders) {
                estimates.push(log_orders + log_mean_exp(paths));
            }
        }
        self.test_set = tests;
        estimates
    }

    /// `log π(action | state)` of each pair (masked softmax of the network's outputs).
    fn log_policy(&self, network: &PolicyNetwork, states: &[BitState], actions: &[usize]) -> Vec<f64> {
        let _no_grad = tch::no_grad_guard();
        let refs: Vec<&BitState> = states.iter().collect();
        let outputs = network.log_flows(&self.env.encode_batch(&refs, network.device()));
        let num_actions = self.env.num_actions();
        let flat: Vec<f32> =
            Vec::try_from(outputs.to_device(tch::Device::Cpu).to_kind(tch::Kind::Float).view([-1]))
                .expect("f32 outputs");
        let mut mask = vec![false; num_actions];
        let mut probabilities = vec![0.0; num_actions];
        states
            .iter()
            .zip(actions)
            .zip(flat.chunks_exact(num_actions))
            .map(|((state, &action), log_flows)| {
                self.env.forward_mask(state, &mut mask);
                action_probabilities(log_flows, &mask, Exploration::ON_POLICY, &mut probabilities);
                probabilities[action].ln()
            })
            .collect()
    }
}

impl RunEvaluation<BitSequences> for BitSequenceEvaluation {
    fn evaluate(&mut self, model: &Model, counters: TrainingCounters) -> Result<Evaluated, TaskError> {
        let training = BasicRecord::new(&counters, model.learned_log_z(&self.env));
        let estimates = self.estimated_log_probabilities(model.network());
        let spearman = spearman(&estimates, &self.test_log_rewards);
        let modes_found = self.found.iter().filter(|&&f| f).count();
        metrics::gauge!(m::MODES_FOUND).set(modes_found as f64);
        metrics::gauge!(SPEARMAN).set(spearman);
        let record = BitSequenceRecord {
            training,
            modes_found,
            num_modes: self.found.len(),
            near_mode_sequences: counters.modes_found,
            spearman,
            test_sequences: self.test_set.len(),
        };
        let line = format!(
            "update {:>6}  trajectories {:>8}  loss {:>9.5}  logZ {:.3}  modes {}/{}  spearman {:.3}",
            record.training.update,
            record.training.trajectories,
            record.training.loss,
            record.training.learned_log_z,
            record.modes_found,
            record.num_modes,
            record.spearman
        );
        Ok(Evaluated::new(line, &record))
    }

    /// Marks every mode of `M` within the mode distance as found; a mode itself when any is
    /// (the reward's `is_mode`, with each distance computed once).
    fn observe(&mut self, state: &BitState) -> bool {
        if !self.env.is_full(state) {
            return false;
        }
        let bits = self.env.to_bits(state);
        let mut near_a_mode = false;
        for (found, mode) in self.found.iter_mut().zip(self.reward.modes()) {
            if crate::env::bit_sequences::hamming(&bits, mode) <= self.reward.mode_distance() {
                *found = true;
                near_a_mode = true;
            }
        }
        near_a_mode
    }
}

/// The held-out test set: every member of `modes` with `c = 0, 1, …, n − 1` random bits
/// flipped (`|M| · n` sequences, as gfnx builds it), of which `size` are drawn.
pub fn test_set(env: &BitSequences, modes: &[Vec<bool>], size: usize, seed: u64) -> Vec<BitState> {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    let n = env.bits();
    let positions: Vec<usize> = (0..n).collect();
    let mut all = Vec::with_capacity(modes.len() * n);
    for mode in modes {
        for flips in 0..n {
            let mut bits = mode.clone();
            for &position in positions.sample(&mut rng, flips) {
                bits[position] = !bits[position];
            }
            all.push(env.from_bits(&bits));
        }
    }
    if size < all.len() {
        all.shuffle(&mut rng);
        all.truncate(size);
    }
    debug_assert!(all.iter().all(|x| x.iter().all(|&w| w != EMPTY)));
    all
}

/// `log((1/N) Σ exp(v_i))`, stable.
pub fn log_mean_exp(values: &[f64]) -> f64 {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return max;
    }
    max + (values.iter().map(|v| (v - max).exp()).sum::<f64>() / values.len() as f64).ln()
}

/// Spearman's rank correlation (ties get their average rank); NaN if either side is constant.
pub fn spearman(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "paired samples");
    let (ra, rb) = (ranks(a), ranks(b));
    let n = a.len() as f64;
    let (ma, mb) = (ra.iter().sum::<f64>() / n, rb.iter().sum::<f64>() / n);
    let cov: f64 = ra.iter().zip(&rb).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = ra.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = rb.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// Ranks from 1, ties averaged.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&i, &j| values[i].total_cmp(&values[j]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let average = (start + end) as f64 / 2.0 + 1.0;
        for &i in &order[start..=end] {
            ranks[i] = average;
        }
        start = end + 1;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spearman_by_hand_with_ties() {
        assert!((spearman(&[1.0, 2.0, 3.0], &[10.0, 20.0, 30.0]) - 1.0).abs() < 1e-12);
        assert!((spearman(&[1.0, 2.0, 3.0], &[3.0, 2.0, 1.0]) + 1.0).abs() < 1e-12);
        assert_eq!(ranks(&[5.0, 1.0, 5.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
        // ranks (1, 2.5, 2.5, 4) against (1, 2, 3, 4): Pearson of the ranks
        let rho = spearman(&[1.0, 2.0, 2.0, 3.0], &[1.0, 2.0, 3.0, 4.0]);
        assert!((rho - 4.5 / (4.5f64 * 5.0).sqrt()).abs() < 1e-12, "{rho}");
    }

    #[test]
    fn the_test_set_holds_modes_and_their_perturbations() {
        let env = BitSequences::new(16, 4);
        let modes = crate::env::bit_sequences::mode_set(16, 3, 0);
        let all = test_set(&env, &modes, usize::MAX, 1);
        assert_eq!(all.len(), 3 * 16);
        let reward = BitSequenceReward::new(env.clone(), modes.clone(), 1.0, 0);
        for (i, x) in all.iter().enumerate() {
            let distance = crate::env::bit_sequences::hamming(&env.to_bits(x), &modes[i / 16]);
            assert_eq!(distance, i % 16, "sequence {i}");
            assert!(reward.log_reward(x).is_ok());
        }
        assert_eq!(test_set(&env, &modes, 10, 1).len(), 10);
    }

    #[test]
    fn log_mean_exp_is_stable() {
        assert!((log_mean_exp(&[1000.0, 1000.0]) - 1000.0).abs() < 1e-12);
        assert!((log_mean_exp(&[0.0, (3.0f64).ln()]) - (2.0f64).ln()).abs() < 1e-12);
    }
}
