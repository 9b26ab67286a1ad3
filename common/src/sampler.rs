//! Vectorised rollouts: `B` environments stepped in lockstep, one batched forward pass per
//! step, inference only (no autograd). This is the actor side of training.

use rand::{Rng, RngExt};

use crate::config::TrainingConfig;
use crate::env::{Action, Environment};
use crate::policy::{Exploration, LogFlowNetwork, action_probabilities};

/// A finished rollout: the actions (ending with stop) and the terminal object they built.
#[derive(Debug, Clone, PartialEq)]
pub struct SampledTrajectory<S> {
    /// Actions in order, the final stop included.
    pub actions: Vec<Action>,
    /// The terminal object `x`.
    pub terminal: S,
    /// The condition it was sampled under (empty for an unconditioned environment).
    pub condition: Vec<f64>,
}

/// Samples trajectories from a log-flow network; reuses its buffers between calls.
pub struct Sampler<'e, E: Environment> {
    env: &'e E,
    exploration: Exploration,
    early_stop_probability: f64,
    log_flows: Vec<f32>,
    mask: Vec<bool>,
    probabilities: Vec<f64>,
    condition: Option<Vec<f64>>,
}

impl<'e, E: Environment> Sampler<'e, E> {
    /// The training sampler `training` describes: its temperature and random-action
    /// probability, plus early-stop regularisation.
    pub fn for_training(env: &'e E, training: &TrainingConfig) -> Self {
        let exploration =
            Exploration { temperature: training.temperature, epsilon: training.exploration_epsilon };
        Self::new(env, exploration).with_early_stop(training.early_stop_probability)
    }

    /// A sampler for `env` that follows `exploration`.
    pub fn new(env: &'e E, exploration: Exploration) -> Self {
        let num_actions = env.num_actions();
        Self {
            env,
            exploration,
            early_stop_probability: 0.0,
            log_flows: Vec::new(),
            mask: vec![false; num_actions],
            probabilities: vec![0.0; num_actions],
            condition: None,
        }
    }

    /// Samples every trajectory under `condition` (checked by the environment) instead of
    /// conditions drawn from the training prior: inference with a chosen trade-off.
    pub fn with_condition(
        mut self,
        condition: Vec<f64>,
    ) -> Result<Self, crate::reward::scalarization::ConditionError> {
        self.env.conditioned_initial_state(&condition)?;
        self.condition = Some(condition);
        Ok(self)
    }

    /// With probability `probability` a trajectory is forced to stop at the first step where
    /// stop is allowed after a number of actions drawn uniformly from
    /// [`Environment::early_stop_lengths`] (the paper's `early_stop_reg`); 0 turns it off.
    /// Every objective here is valid off-policy, so the forced stops do not bias training.
    pub fn with_early_stop(mut self, probability: f64) -> Self {
        self.early_stop_probability = probability;
        self
    }

    /// Rolls out `count` trajectories in lockstep from `s0` until every one has stopped; each
    /// from the root of its condition, drawn from the environment's prior unless fixed
    /// ([`Sampler::with_condition`]).
    pub fn sample<N: LogFlowNetwork, R: Rng>(
        &mut self,
        network: &N,
        count: usize,
        rng: &mut R,
    ) -> Vec<SampledTrajectory<E::State>> {
        let _no_grad = tch::no_grad_guard();
        let env = self.env;
        let num_actions = env.num_actions();
        let stop = env.stop_action();
        let conditions: Vec<Vec<f64>> = (0..count)
            .map(|_| match &self.condition {
                Some(condition) => condition.clone(),
                None => env.draw_condition(rng),
            })
            .collect();
        let mut states: Vec<E::State> = conditions
            .iter()
            .map(|c| env.conditioned_initial_state(c).expect("drawn and fixed conditions are checked"))
            .collect();
        let mut actions: Vec<Vec<Action>> = vec![Vec::new(); count];
        let mut active: Vec<usize> = (0..count).collect();
        // Per trajectory: the length after which it stops as soon as it may (early stop).
        let lengths = env.early_stop_lengths();
        let stop_after: Vec<Option<usize>> = (0..count)
            .map(|_| {
                (self.early_stop_probability > 0.0 && rng.random::<f64>() < self.early_stop_probability)
                    .then(|| rng.random_range(lengths.clone()))
            })
            .collect();
        while !active.is_empty() {
            let batch: Vec<&E::State> = active.iter().map(|&i| &states[i]).collect();
            let input = env.encode_batch(&batch, network.device());
            let output = network.log_flows(&input).to_device(tch::Device::Cpu).to_kind(tch::Kind::Float);
            self.log_flows.resize(active.len() * num_actions, 0.0);
            output.copy_data(&mut self.log_flows, active.len() * num_actions);
            for (row, &i) in active.iter().enumerate() {
                if let Some(action) = env.forced_action(&states[i], &mut || rng.random::<f64>()) {
                    actions[i].push(action);
                    states[i] = env.step(&states[i], action).expect("a forced action is allowed");
                    continue;
                }
                env.forward_mask(&states[i], &mut self.mask);
                if let Some(length) = stop_after[i]
                    && actions[i].len() >= length
                    && self.mask[stop as usize]
                {
                    actions[i].push(stop);
                    continue;
                }
                action_probabilities(
                    &self.log_flows[row * num_actions..][..num_actions],
                    &self.mask,
                    self.exploration,
                    &mut self.probabilities,
                );
                let action = draw(&self.probabilities, rng.random::<f64>());
                actions[i].push(action);
                if action != stop {
                    states[i] = env.step(&states[i], action).expect("sampled a masked action");
                }
            }
            active.retain(|&i| actions[i].last() != Some(&stop));
        }
        actions
            .into_iter()
            .zip(states)
            .zip(conditions)
            .map(|((actions, terminal), condition)| SampledTrajectory { actions, terminal, condition })
            .collect()
    }
}

/// Inverse-CDF draw from `probabilities` with a uniform `u ∈ [0, 1)`; never returns an
/// action of probability zero.
fn draw(probabilities: &[f64], u: f64) -> Action {
    let mut cumulative = 0.0;
    let mut last_possible = 0;
    for (a, &p) in probabilities.iter().enumerate() {
        if p > 0.0 {
            cumulative += p;
            last_possible = a;
            if u < cumulative {
                return a as Action;
            }
        }
    }
    last_possible as Action
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Hypergrid;
    use crate::policy::Mlp;
    use rand::SeedableRng;

    /// A 1-D grid of height 40 under a network that never chooses stop (all weights 0, stop's
    /// bias −50): every plain rollout walks to the far wall (39 increments, then stop).
    #[test]
    fn early_stop_cuts_the_chosen_share_of_trajectories_at_uniform_lengths() {
        let env = Hypergrid::new(1, 40);
        let vs = tch::nn::VarStore::new(tch::Device::Cpu);
        let network = Mlp::new(&vs.root(), 40, 8, 1, 2);
        tch::no_grad(|| {
            for (name, mut variable) in vs.variables() {
                let _ = variable.zero_();
                if name == "layer1.bias" {
                    let _ = variable.get(1).fill_(-50.0);
                }
            }
        });
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let count = 4000;
        let mut lengths = |probability: f64| -> Vec<usize> {
            let mut sampler = Sampler::new(&env, Exploration::ON_POLICY).with_early_stop(probability);
            let sampled = sampler.sample(&network, count, &mut rng);
            assert!(sampled.iter().all(|t| *t.actions.last().unwrap() == env.stop_action()));
            sampled.iter().map(|t| t.actions.len() - 1).collect()
        };
        assert!(lengths(0.0).iter().all(|&n| n == 39));
        assert_eq!(env.early_stop_lengths(), 1..=39);
        let all_early = lengths(1.0);
        let mut seen = [0usize; 40];
        for &n in &all_early {
            seen[n] += 1;
        }
        // uniform over 1..=39: each length ~103 times of 4000
        assert_eq!(seen[0], 0);
        assert!(seen[1..].iter().all(|&c| (50..170).contains(&c)), "{seen:?}");
        let half = lengths(0.5);
        let walked = half.iter().filter(|&&n| n == 39).count() as f64 / count as f64;
        // half walk to the wall, and 1/39 of the early-stopped half stops there too
        assert!((walked - (0.5 + 0.5 / 39.0)).abs() < 0.04, "{walked}");
    }

    #[test]
    fn draw_follows_the_cumulative_distribution_and_skips_zeros() {
        let p = [0.0, 0.25, 0.0, 0.75, 0.0];
        assert_eq!(draw(&p, 0.0), 1);
        assert_eq!(draw(&p, 0.2499), 1);
        assert_eq!(draw(&p, 0.25), 3);
        // rounding can leave the total just under 1: the last possible action is returned
        assert_eq!(draw(&p, 0.999_999_999_999), 3);
        assert_eq!(draw(&[0.5, 0.4999999, 0.0], 0.9999999999), 1);
    }
}
