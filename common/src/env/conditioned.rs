//! Reward-exponent (temperature) conditioning: one policy for a set of exponents `β_k`, trained
//! on `R(x)^{β_k}` with `β_k` given as an input (as recursionpharma/gflownet does for molecules).
//!
//! The wrapper adds a root state whose only actions choose `k`; the sampler always takes that
//! first action from the prior (uniform over the `β_k`, [`Environment::forced_action`]), which
//! is valid off-policy for every objective here. Below the root, state `(s, k)` behaves as `s`
//! of the wrapped environment; the network sees the wrapped encoding plus a one-hot of `k`.
//! Objectives, rebuilding and transport are untouched: the root choice is an ordinary first action
//! of each trajectory. The learned root policy converges to `Z_k / Σ Z`, so the exact terminal
//! distribution over `(x, k)` of the whole DAG is `R(x)^{β_k} / Σ_k Z_k` — what the evaluation
//! of a conditioned hypergrid measures. Dense (MLP) environments only.

use serde::{Deserialize, Serialize};

use super::{Action, Enumerable, EnvError, Environment};
use crate::policy::input::{BlockGraphShape, InputShape, NetworkInput};
use crate::reward::{Reward, RewardError, Scored};

/// A state of the conditioned environment: the root (`exponent: None`) or a wrapped state with
/// the index of its exponent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConditionedState<S> {
    /// The wrapped state (the wrapped `s0` at the root).
    pub state: S,
    /// Index of `β` in the exponent list; `None` at the root.
    pub exponent: Option<u8>,
}

/// An environment conditioned on a reward exponent chosen at its root.
#[derive(Debug, Clone)]
pub struct RewardConditioned<E> {
    inner: E,
    exponents: Vec<f64>,
}

impl<E: Environment> RewardConditioned<E> {
    /// Wraps `inner` for the exponents `β_k` (1 to 255 of them).
    ///
    /// # Panics
    /// If `exponents` is empty or longer than 255 (validated by the configuration).
    pub fn new(inner: E, exponents: Vec<f64>) -> Self {
        assert!((1..=255).contains(&exponents.len()), "1 to 255 exponents");
        Self { inner, exponents }
    }

    /// The exponents.
    pub fn exponents(&self) -> &[f64] {
        &self.exponents
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    fn first_choice(&self) -> usize {
        self.inner.num_actions()
    }
}

impl<E: Environment> Environment for RewardConditioned<E> {
    type State = ConditionedState<E::State>;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn num_actions(&self) -> usize {
        self.inner.num_actions() + self.exponents.len()
    }

    fn stop_action(&self) -> Action {
        self.inner.stop_action()
    }

    fn initial_state(&self) -> Self::State {
        ConditionedState { state: self.inner.initial_state(), exponent: None }
    }

    fn forward_mask(&self, state: &Self::State, mask: &mut [bool]) {
        let split = self.first_choice();
        mask.fill(false);
        match state.exponent {
            None => mask[split..].fill(true),
            Some(_) => self.inner.forward_mask(&state.state, &mut mask[..split]),
        }
    }

    fn step(&self, state: &Self::State, action: Action) -> Result<Self::State, EnvError> {
        let num_actions = self.num_actions();
        if action as usize >= num_actions {
            return Err(EnvError::ActionOutOfRange { action, num_actions });
        }
        let split = self.first_choice();
        match state.exponent {
            None if action as usize >= split => Ok(ConditionedState {
                state: state.state.clone(),
                exponent: Some((action as usize - split) as u8),
            }),
            Some(k) if (action as usize) < split => {
                Ok(ConditionedState { state: self.inner.step(&state.state, action)?, exponent: Some(k) })
            }
            _ if action == self.stop_action() => Err(EnvError::StepOnStop),
            _ => Err(EnvError::ActionNotAllowed { action, state: format!("{state:?}") }),
        }
    }

    fn parents(&self, state: &Self::State) -> Vec<(Self::State, Action)> {
        let Some(k) = state.exponent else {
            return Vec::new();
        };
        if state.state == self.inner.initial_state() {
            return vec![(self.initial_state(), (self.first_choice() + k as usize) as Action)];
        }
        self.inner
            .parents(&state.state)
            .into_iter()
            .map(|(parent, action)| (ConditionedState { state: parent, exponent: Some(k) }, action))
            .collect()
    }

    fn max_trajectory_length(&self) -> usize {
        self.inner.max_trajectory_length() + 1
    }

    /// The inner environment's lengths, after the root's choice of a condition.
    fn early_stop_lengths(&self) -> std::ops::RangeInclusive<usize> {
        let inner = self.inner.early_stop_lengths();
        inner.start() + 1..=inner.end() + 1
    }

    fn input_shape(&self) -> InputShape {
        match self.inner.input_shape() {
            InputShape::Dense { feature_dim } => {
                InputShape::Dense { feature_dim: feature_dim + self.exponents.len() }
            }
            InputShape::BlockGraph(shape) => {
                assert_eq!(shape.conditions, 0, "an environment is conditioned once");
                InputShape::BlockGraph(BlockGraphShape { conditions: self.exponents.len(), ..shape })
            }
        }
    }

    fn encode_batch(&self, states: &[&Self::State], device: tch::Device) -> NetworkInput {
        let inner: Vec<&E::State> = states.iter().map(|s| &s.state).collect();
        let k = self.exponents.len();
        match self.inner.encode_batch(&inner, device) {
            NetworkInput::Dense(features) => {
                let mut one_hot = vec![0f32; states.len() * k];
                for (row, state) in states.iter().enumerate() {
                    if let Some(e) = state.exponent {
                        one_hot[row * k + e as usize] = 1.0;
                    }
                }
                let NetworkInput::Dense(one_hot) = NetworkInput::dense(&one_hot, k, device) else {
                    unreachable!("dense input")
                };
                NetworkInput::Dense(tch::Tensor::cat(&[features, one_hot], 1))
            }
            NetworkInput::BlockGraph(mut batch) => {
                let condition: Vec<i64> =
                    states.iter().map(|s| s.exponent.map_or(k as i64, i64::from)).collect();
                batch.condition = Some(tch::Tensor::from_slice(&condition).to_device(device));
                NetworkInput::BlockGraph(batch)
            }
        }
    }

    fn forced_action(&self, state: &Self::State, uniform: &mut dyn FnMut() -> f64) -> Option<Action> {
        if state.exponent.is_some() {
            return self.inner.forced_action(&state.state, uniform);
        }
        let k = ((uniform() * self.exponents.len() as f64) as usize).min(self.exponents.len() - 1);
        Some((self.first_choice() + k) as Action)
    }

    fn describe(&self, state: &Self::State) -> String {
        match state.exponent {
            Some(k) => format!("{} (β = {})", self.inner.describe(&state.state), self.exponents[k as usize]),
            None => "root".into(),
        }
    }
}

impl<E: Enumerable> Enumerable for RewardConditioned<E> {
    fn states_in_topological_order(&self) -> Vec<Self::State> {
        let inner = self.inner.states_in_topological_order();
        let mut states = Vec::with_capacity(1 + inner.len() * self.exponents.len());
        states.push(self.initial_state());
        for k in 0..self.exponents.len() {
            states
                .extend(inner.iter().map(|s| ConditionedState { state: s.clone(), exponent: Some(k as u8) }));
        }
        states
    }

    fn state_count(&self) -> usize {
        1 + self.exponents.len() * self.inner.state_count()
    }

    fn state_index(&self, state: &Self::State) -> usize {
        match state.exponent {
            None => 0,
            Some(k) => {
                let per_exponent = self.inner.state_count();
                1 + k as usize * per_exponent + self.inner.state_index(&state.state)
            }
        }
    }
}

/// `R(x)^{β_k}` for a conditioned terminal `(x, k)`: `log R = β_k · log R_inner(x)`.
#[derive(Debug, Clone)]
pub struct ConditionedReward<R> {
    inner: R,
    exponents: Vec<f64>,
}

impl<R> ConditionedReward<R> {
    /// Raises `inner` to the exponents of a [`RewardConditioned`] environment.
    pub fn new(inner: R, exponents: Vec<f64>) -> Self {
        Self { inner, exponents }
    }
}

impl<S, R: Reward<S>> Reward<ConditionedState<S>> for ConditionedReward<R> {
    fn log_reward(&self, state: &ConditionedState<S>) -> Result<f64, RewardError> {
        let k = state.exponent.ok_or(RewardError::Failed { reason: "the root is not an object".into() })?;
        Ok(self.exponents[k as usize] * self.inner.log_reward(&state.state)?)
    }

    fn is_mode(&self, state: &ConditionedState<S>) -> bool {
        self.inner.is_mode(&state.state)
    }

    fn score_batch(&self, states: &[&ConditionedState<S>]) -> Vec<Result<Scored, RewardError>> {
        let inner: Vec<&S> = states.iter().map(|s| &s.state).collect();
        self.inner
            .score_batch(&inner)
            .into_iter()
            .zip(states)
            .map(|(scored, state)| {
                let k = state
                    .exponent
                    .ok_or(RewardError::Failed { reason: "the root is not an object".into() })?;
                scored.map(|s| Scored { log_reward: self.exponents[k as usize] * s.log_reward, ..s })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::env::Hypergrid;
    use crate::reward::HypergridReward;

    #[test]
    fn root_choice_then_the_wrapped_grid() {
        let env = RewardConditioned::new(Hypergrid::new(2, 3), vec![1.0, 2.0]);
        assert_eq!(env.num_actions(), 3 + 2);
        let root = env.initial_state();
        let mut mask = vec![false; 5];
        env.forward_mask(&root, &mut mask);
        assert_eq!(mask, vec![false, false, false, true, true]);
        let mut draws = [0.7].into_iter();
        assert_eq!(env.forced_action(&root, &mut || draws.next().unwrap()), Some(4));
        let hot = env.step(&root, 4).unwrap();
        assert_eq!(hot, ConditionedState { state: vec![0, 0], exponent: Some(1) });
        assert_eq!(env.forced_action(&hot, &mut || panic!("no draw below the root")), None);
        assert!(env.step(&hot, 3).is_err(), "the choice is made once");
        assert_eq!(env.step(&hot, 2), Err(EnvError::StepOnStop));
        let moved = env.step(&hot, 0).unwrap();
        assert_eq!(env.parents(&moved), vec![(hot.clone(), 0)]);
        assert_eq!(env.parents(&hot), vec![(root.clone(), 4)]);
        // every state once; indices are a bijection onto 0..19
        let states = env.states_in_topological_order();
        assert_eq!(states.len(), 1 + 2 * 9);
        let mut indices: Vec<usize> = states.iter().map(|s| env.state_index(s)).collect();
        indices.sort_unstable();
        assert_eq!(indices, (0..19).collect::<Vec<_>>());
        // the encoding appends the one-hot of k (zeros at the root)
        let NetworkInput::Dense(features) = env.encode_batch(&[&root, &moved], tch::Device::Cpu) else {
            panic!("dense")
        };
        assert_eq!(features.size(), vec![2, 6 + 2]);
        assert_eq!(Vec::<f32>::try_from(features.get(1).narrow(0, 6, 2)).unwrap(), vec![0.0, 1.0]);
        assert_eq!(Vec::<f32>::try_from(features.get(0).narrow(0, 6, 2)).unwrap(), vec![0.0, 0.0]);
    }

    #[test]
    fn state_indices_are_a_bijection_counted_without_listing() {
        let env = RewardConditioned::new(Hypergrid::new(2, 3), vec![1.0, 2.0, 4.0]);
        let states = env.states_in_topological_order();
        assert_eq!(env.state_count(), states.len());
        let mut seen = vec![false; states.len()];
        for state in &states {
            let index = env.state_index(state);
            assert!(!seen[index], "index {index} twice");
            seen[index] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn the_reward_is_raised_to_the_chosen_exponent() {
        let reward = ConditionedReward::new(HypergridReward::new(3, 0.1, 0.5, 2.0), vec![1.0, 3.0]);
        let inner = HypergridReward::new(3, 0.1, 0.5, 2.0).log_reward(&vec![2, 2]).unwrap();
        let state = ConditionedState { state: vec![2, 2], exponent: Some(1) };
        assert!((reward.log_reward(&state).unwrap() - 3.0 * inner).abs() < 1e-12);
        let root = ConditionedState { state: vec![0, 0], exponent: None };
        assert!(reward.log_reward(&root).is_err());
    }
}
