//! Preference conditioning (Multi-Objective GFlowNets, Jain et al. 2023, MOGFN-PC): a conditional
//! GFlowNet whose every trajectory carries a condition `c = [w₁, …, wₙ, β]` — a preference over
//! the objectives and a reward exponent — fixed from `s0` on and given to the policy as input.
//!
//! State `(s, c)` behaves as `s` of the wrapped environment; the DAG of each condition has its own
//! root `(s0, c)`, so the partition function is a function of `c`: trajectory balance learns
//! `log Z(c)` as the state flow of the root ([`crate::objective::balance`]), detailed and
//! sub-trajectory balance have it in their state flows, flow matching in the out-flow of the root.
//! The condition travels with the trajectory record (`Trajectory::condition`); the learner checks
//! it ([`Environment::conditioned_initial_state`]) and that the log-reward is the scalarised
//! objectives raised to `β` ([`Environment::check_outcome`]).

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Action, EnvError, Environment};
use crate::policy::input::{BlockGraphShape, InputShape, NetworkInput};
use crate::reward::scalarization::{ConditionError, PreferenceConditioning};

/// A checked condition `[w₁, …, wₙ, β]`, shared between the states of one trajectory. Equal and
/// hashed by the bits of its values (conditions are drawn, never computed twice).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(from = "Vec<f64>", into = "Vec<f64>")]
pub struct Condition(Arc<[f64]>);

impl From<Vec<f64>> for Condition {
    fn from(values: Vec<f64>) -> Self {
        Self(values.into())
    }
}

impl From<Condition> for Vec<f64> {
    fn from(condition: Condition) -> Self {
        condition.0.to_vec()
    }
}

impl Condition {
    /// The values: the preference, then `β`.
    pub fn values(&self) -> &[f64] {
        &self.0
    }

    /// The preference.
    pub fn preference(&self) -> &[f64] {
        &self.0[..self.0.len() - 1]
    }

    /// The reward exponent `β`.
    pub fn reward_exponent(&self) -> f64 {
        self.0[self.0.len() - 1]
    }
}

impl PartialEq for Condition {
    fn eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len()
            && self.0.iter().zip(other.0.iter()).all(|(a, b)| a.to_bits() == b.to_bits())
    }
}

impl Eq for Condition {}

impl Hash for Condition {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for value in self.0.iter() {
            value.to_bits().hash(state);
        }
    }
}

/// A state of the wrapped environment under a condition.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Preferred<S> {
    /// The wrapped state.
    pub state: S,
    /// The trajectory's condition.
    pub condition: Condition,
}

/// An environment conditioned on a preference over objectives and a reward exponent.
#[derive(Debug, Clone)]
pub struct PreferenceConditioned<E> {
    inner: E,
    conditioning: Arc<PreferenceConditioning>,
    reference: Condition,
}

impl<E: Environment> PreferenceConditioned<E> {
    /// Wraps `inner` for `conditioning`.
    pub fn new(inner: E, conditioning: PreferenceConditioning) -> Self {
        let n = conditioning.num_objectives();
        let mut reference = vec![1.0 / n as f64; n];
        reference.push(conditioning.reward_exponent.0);
        Self { inner, conditioning: Arc::new(conditioning), reference: Condition(reference.into()) }
    }

    /// The conditioning.
    pub fn conditioning(&self) -> &PreferenceConditioning {
        &self.conditioning
    }

    /// The wrapped environment.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    fn wrap(&self, state: E::State, condition: &Condition) -> Preferred<E::State> {
        Preferred { state, condition: condition.clone() }
    }

    fn condition_features(&self, states: &[&Preferred<E::State>]) -> Vec<f32> {
        let mut features = Vec::with_capacity(states.len() * self.conditioning.encoded_len());
        for state in states {
            self.conditioning.encode(state.condition.values(), &mut features);
        }
        features
    }
}

impl<E: Environment> Environment for PreferenceConditioned<E> {
    type State = Preferred<E::State>;

    fn name(&self) -> &'static str {
        self.inner.name()
    }

    fn num_actions(&self) -> usize {
        self.inner.num_actions()
    }

    fn stop_action(&self) -> Action {
        self.inner.stop_action()
    }

    /// `s0` under the reference condition: the uniform preference and the lowest `β` (what a
    /// learned `log Z` is reported for).
    fn initial_state(&self) -> Self::State {
        self.wrap(self.inner.initial_state(), &self.reference)
    }

    fn forward_mask(&self, state: &Self::State, mask: &mut [bool]) {
        self.inner.forward_mask(&state.state, mask)
    }

    fn step(&self, state: &Self::State, action: Action) -> Result<Self::State, EnvError> {
        Ok(self.wrap(self.inner.step(&state.state, action)?, &state.condition))
    }

    fn parents(&self, state: &Self::State) -> Vec<(Self::State, Action)> {
        self.inner
            .parents(&state.state)
            .into_iter()
            .map(|(parent, action)| (self.wrap(parent, &state.condition), action))
            .collect()
    }

    fn max_trajectory_length(&self) -> usize {
        self.inner.max_trajectory_length()
    }

    fn early_stop_lengths(&self) -> std::ops::RangeInclusive<usize> {
        self.inner.early_stop_lengths()
    }

    fn input_shape(&self) -> InputShape {
        let extra = self.conditioning.encoded_len();
        match self.inner.input_shape() {
            InputShape::Dense { feature_dim } => InputShape::Dense { feature_dim: feature_dim + extra },
            InputShape::BlockGraph(shape) => {
                assert_eq!(shape.condition_features, 0, "an environment is conditioned once");
                InputShape::BlockGraph(BlockGraphShape { condition_features: extra, ..shape })
            }
        }
    }

    fn encode_batch(&self, states: &[&Self::State], device: tch::Device) -> NetworkInput {
        let inner: Vec<&E::State> = states.iter().map(|s| &s.state).collect();
        let width = self.conditioning.encoded_len();
        let features = self.condition_features(states);
        let NetworkInput::Dense(features) = NetworkInput::dense(&features, width, device) else {
            unreachable!("dense input")
        };
        match self.inner.encode_batch(&inner, device) {
            NetworkInput::Dense(encoded) => NetworkInput::Dense(tch::Tensor::cat(&[encoded, features], 1)),
            NetworkInput::BlockGraph(mut batch) => {
                batch.condition_features = Some(features);
                NetworkInput::BlockGraph(batch)
            }
        }
    }

    fn forced_action(&self, state: &Self::State, uniform: &mut dyn FnMut() -> f64) -> Option<Action> {
        self.inner.forced_action(&state.state, uniform)
    }

    fn describe(&self, state: &Self::State) -> String {
        self.inner.describe(&state.state)
    }

    fn condition_len(&self) -> usize {
        self.conditioning.condition_len()
    }

    fn conditioned_initial_state(&self, condition: &[f64]) -> Result<Self::State, ConditionError> {
        self.conditioning.check(condition)?;
        Ok(self.wrap(self.inner.initial_state(), &Condition(condition.into())))
    }

    fn draw_condition(&self, rng: &mut dyn rand::Rng) -> Vec<f64> {
        self.conditioning.draw(rng)
    }

    fn condition_of(&self, state: &Self::State) -> Vec<f64> {
        state.condition.values().to_vec()
    }

    fn check_outcome(
        &self,
        condition: &[f64],
        objectives: &[f64],
        log_reward: f64,
    ) -> Result<(), ConditionError> {
        self.conditioning.check_outcome(condition, objectives, log_reward)
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;
    use crate::env::Hypergrid;
    use crate::reward::scalarization::Scalarization;

    fn grid() -> PreferenceConditioned<Hypergrid> {
        PreferenceConditioned::new(
            Hypergrid::new(2, 4),
            PreferenceConditioning {
                objectives: vec!["branin".into(), "currin".into()],
                concentration: 1.0,
                reward_exponent: (1.0, 8.0),
                exponent_bins: 3,
                scalarization: Scalarization::WeightedSum,
            },
        )
    }

    #[test]
    fn the_condition_is_fixed_at_the_root_and_read_by_the_network() {
        let env = grid();
        assert_eq!(env.condition_len(), 3);
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
        let condition = env.draw_condition(&mut rng);
        let root = env.conditioned_initial_state(&condition).unwrap();
        let next = env.step(&root, 1).unwrap();
        assert_eq!(env.condition_of(&next), condition);
        assert_eq!(env.parents(&next), vec![(root.clone(), 1)]);
        assert_ne!(root, env.initial_state(), "another condition, another root");
        assert_eq!(env.input_shape(), InputShape::Dense { feature_dim: 2 * 4 + 2 + 3 });
        let NetworkInput::Dense(features) = env.encode_batch(&[&next], tch::Device::Cpu) else {
            panic!("dense")
        };
        let tail = Vec::<f32>::try_from(features.get(0).narrow(0, 8, 2)).unwrap();
        assert_eq!(tail, vec![condition[0] as f32, condition[1] as f32]);
        let bad = env.conditioned_initial_state(&[0.9, 0.9, 2.0]).unwrap_err();
        assert_eq!(bad.reason(), "bad_condition");
        assert_eq!(
            Hypergrid::new(2, 4).conditioned_initial_state(&condition).unwrap_err().reason(),
            "bad_condition"
        );
    }
}
