//! Turning several objectives into one reward under a preference, and the conditioning a
//! preference-conditioned policy reads: Multi-Objective GFlowNets (Jain et al., ICML 2023,
//! MOGFN-PC) draw a preference `w` from a Dirichlet and a reward exponent `β` per trajectory and
//! train on `R(x | w, β) = s(r(x); w)^β`, with the policy given `w` and an encoding of `β`.
//!
//! - [`Scalarization::WeightedSum`]: `s = Σ wᵢ rᵢ` (MOGFN-PC's default). Only the convex hull
//!   of the Pareto front maximises it for some `w`.
//! - [`Scalarization::Tchebycheff`]: `s = 1 − maxᵢ wᵢ (1 − rᵢ)`, the weighted Tchebycheff
//!   distance to the utopian point 1 of normalised objectives, turned into a positive reward.
//!   Every point of a front, concave parts included, is the best for some `w`.
//!
//! The objectives `rᵢ` are normalised to [0, 1] (`reward::objectives`), so both are in [0, 1].

use rand::{Rng, RngExt};
use rand_distr::Distribution;
use rand_distr::multi::Dirichlet;

/// How a preference weighs the objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scalarization {
    /// `Σ wᵢ rᵢ`.
    WeightedSum,
    /// `1 − maxᵢ wᵢ (1 − rᵢ)`.
    Tchebycheff,
}

impl Scalarization {
    /// The scalar reward of the normalised objectives `objectives` under `preference`.
    pub fn apply(self, preference: &[f64], objectives: &[f64]) -> f64 {
        debug_assert_eq!(preference.len(), objectives.len());
        match self {
            Self::WeightedSum => preference.iter().zip(objectives).map(|(w, r)| w * r).sum(),
            Self::Tchebycheff => {
                1.0 - preference.iter().zip(objectives).map(|(w, r)| w * (1.0 - r)).fold(0.0, f64::max)
            }
        }
    }
}

/// A preference over `objectives` objectives drawn from a symmetric Dirichlet with
/// concentration `alpha` (1: uniform on the simplex, MOGFN's choice).
pub fn draw_preference<R: Rng + ?Sized>(objectives: usize, alpha: f64, rng: &mut R) -> Vec<f64> {
    if objectives == 1 {
        return vec![1.0];
    }
    Dirichlet::new(&vec![alpha; objectives]).expect("a positive concentration").sample(rng)
}

/// The thermometer encoding of `value` over `bins` evenly spaced thresholds from `min` to `max`
/// (recursionpharma/gflownet's encoding of β): component `k` is how far `value` has passed
/// threshold `k`, in units of the spacing, clipped to [0, 1]. Nearby values get nearby codes and
/// the code is monotone in `value`, unlike a one-hot of a bin.
pub fn thermometer(value: f64, bins: usize, min: f64, max: f64) -> Vec<f32> {
    assert!(bins >= 2 && max > min, "at least two bins over a range");
    let gap = (max - min) / (bins - 1) as f64;
    (0..bins)
        .map(|k| {
            let threshold = min + gap * k as f64;
            ((value - threshold).clamp(0.0, gap) / gap) as f32
        })
        .collect()
}

/// The smallest scalarised reward: `s` is clipped to it before the logarithm, so that an object
/// scoring 0 on every weighted objective keeps a finite log-reward (`β · ln 1e-4`), as
/// recursionpharma/gflownet clips its objectives to 1e-4.
pub const SCALAR_FLOOR: f64 = 1e-4;

/// How far the preference of a condition may be from summing to 1 (senders in `f32` included).
const SIMPLEX_TOLERANCE: f64 = 1e-6;

/// Preference-and-exponent conditioning (MOGFN-PC): each trajectory carries a condition
/// `[w₁, …, wₙ, β]` — a preference over the `n` objectives drawn from a symmetric Dirichlet and a
/// reward exponent drawn uniformly from a range — and is trained on `s(r(x); w)^β`. The policy
/// reads the preference as it is and `β` through a [`thermometer`] code.
#[derive(Debug, Clone, PartialEq)]
pub struct PreferenceConditioning {
    /// The objectives' names, in the order of the preference.
    pub objectives: Vec<String>,
    /// The Dirichlet concentration of the preference prior (1: uniform on the simplex).
    pub concentration: f64,
    /// `β` is drawn uniformly from `[min, max]` (equal: a fixed exponent).
    pub reward_exponent: (f64, f64),
    /// Thermometer bins encoding `β` (unused when the exponent is fixed).
    pub exponent_bins: usize,
    /// How the preference weighs the objectives.
    pub scalarization: Scalarization,
}

/// Why a trajectory's condition is not one this run trains on.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConditionError {
    /// Not `objectives + 1` numbers.
    #[error("a condition of {got} values; this run's conditions have {expected} (a preference, then β)")]
    Length {
        /// Values this run's conditions have (0: the run is not conditioned).
        expected: usize,
        /// Values received.
        got: usize,
    },
    /// A weight that is negative or not finite, or weights that do not sum to 1.
    #[error("the preference {preference:?} is not on the simplex (non-negative weights summing to 1)")]
    NotOnSimplex {
        /// The weights received.
        preference: Vec<f64>,
    },
    /// `β` outside the run's range.
    #[error("reward exponent {beta} is outside this run's range [{min}, {max}]")]
    Exponent {
        /// The exponent received.
        beta: f64,
        /// The range's ends.
        min: f64,
        /// The range's ends.
        max: f64,
    },
    /// Objective values that are not `objectives` numbers in [0, 1].
    #[error("objective values {values:?}: expected {expected} normalised values in [0, 1]")]
    Objectives {
        /// The values received.
        values: Vec<f64>,
        /// How many the run has.
        expected: usize,
    },
    /// A log-reward that is not the scalarised objectives raised to `β`.
    #[error("log-reward {claimed} disagrees with the objectives under the condition ({recomputed})")]
    LogReward {
        /// The trajectory's log-reward.
        claimed: f64,
        /// What the objectives and the condition give.
        recomputed: f64,
    },
}

impl ConditionError {
    /// A short, fixed label for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Length { .. } | Self::NotOnSimplex { .. } | Self::Exponent { .. } => "bad_condition",
            Self::Objectives { .. } => "bad_objectives",
            Self::LogReward { .. } => "reward_mismatch",
        }
    }
}

impl PreferenceConditioning {
    /// Number of objectives.
    pub fn num_objectives(&self) -> usize {
        self.objectives.len()
    }

    /// Values in a condition: the preference, then `β`.
    pub fn condition_len(&self) -> usize {
        self.num_objectives() + 1
    }

    fn exponent_varies(&self) -> bool {
        self.reward_exponent.1 > self.reward_exponent.0
    }

    /// Features the policy reads per condition: the preference, then the thermometer code of `β`
    /// (none when `β` is fixed).
    pub fn encoded_len(&self) -> usize {
        self.num_objectives() + if self.exponent_varies() { self.exponent_bins } else { 0 }
    }

    /// A condition drawn from the training prior.
    pub fn draw<R: Rng + ?Sized>(&self, rng: &mut R) -> Vec<f64> {
        let mut condition = draw_preference(self.num_objectives(), self.concentration, rng);
        let (min, max) = self.reward_exponent;
        let beta = if self.exponent_varies() { rng.random_range(min..=max) } else { min };
        condition.push(beta);
        condition
    }

    /// The condition that trains on `preference` with exponent `beta` (for sampling with a chosen
    /// trade-off), checked.
    pub fn condition(&self, preference: &[f64], beta: f64) -> Result<Vec<f64>, ConditionError> {
        let mut condition = preference.to_vec();
        condition.push(beta);
        self.check(&condition)?;
        Ok(condition)
    }

    /// Checks that `condition` is one this run trains on.
    pub fn check(&self, condition: &[f64]) -> Result<(), ConditionError> {
        let n = self.num_objectives();
        if condition.len() != n + 1 {
            return Err(ConditionError::Length { expected: n + 1, got: condition.len() });
        }
        let (preference, beta) = (&condition[..n], condition[n]);
        let on_simplex = preference.iter().all(|w| w.is_finite() && *w >= 0.0)
            && (preference.iter().sum::<f64>() - 1.0).abs() <= SIMPLEX_TOLERANCE;
        if !on_simplex {
            return Err(ConditionError::NotOnSimplex { preference: preference.to_vec() });
        }
        let (min, max) = self.reward_exponent;
        if !(beta >= min && beta <= max) {
            return Err(ConditionError::Exponent { beta, min, max });
        }
        Ok(())
    }

    /// Appends the network features of a checked `condition` to `features`.
    pub fn encode(&self, condition: &[f64], features: &mut Vec<f32>) {
        let n = self.num_objectives();
        features.extend(condition[..n].iter().map(|&w| w as f32));
        if self.exponent_varies() {
            let (min, max) = self.reward_exponent;
            features.extend(thermometer(condition[n], self.exponent_bins, min, max));
        }
    }

    /// `β · ln max(s(r; w), SCALAR_FLOOR)`: the log-reward of normalised objectives `objectives`
    /// under a checked `condition`.
    pub fn log_reward(&self, condition: &[f64], objectives: &[f64]) -> f64 {
        let n = self.num_objectives();
        let scalar = self.scalarization.apply(&condition[..n], objectives);
        condition[n] * scalar.max(SCALAR_FLOOR).ln()
    }

    /// Checks a trajectory's normalised `objectives` and that `log_reward` is what they give under
    /// `condition` (checked before).
    pub fn check_outcome(
        &self,
        condition: &[f64],
        objectives: &[f64],
        log_reward: f64,
    ) -> Result<(), ConditionError> {
        let valid =
            objectives.len() == self.num_objectives() && objectives.iter().all(|r| (0.0..=1.0).contains(r));
        if !valid {
            return Err(ConditionError::Objectives {
                values: objectives.to_vec(),
                expected: self.num_objectives(),
            });
        }
        let recomputed = self.log_reward(condition, objectives);
        if (log_reward - recomputed).abs() > 1e-9 * recomputed.abs().max(1.0) {
            return Err(ConditionError::LogReward { claimed: log_reward, recomputed });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    #[test]
    fn weighted_sum_and_tchebycheff_by_hand() {
        let r = [0.8, 0.2];
        assert!((Scalarization::WeightedSum.apply(&[0.5, 0.5], &r) - 0.5).abs() < 1e-12);
        // 1 − max(0.5·0.2, 0.5·0.8) = 0.6
        assert!((Scalarization::Tchebycheff.apply(&[0.5, 0.5], &r) - 0.6).abs() < 1e-12);
        assert_eq!(Scalarization::Tchebycheff.apply(&[0.3, 0.7], &[1.0, 1.0]), 1.0);
    }

    #[test]
    fn only_tchebycheff_reaches_the_concave_part_of_a_front() {
        // a concave front: the middle point is Pareto-optimal but under the line between the ends
        let front = [[1.0, 0.0], [0.4, 0.4], [0.0, 1.0]];
        let best = |s: Scalarization, w: [f64; 2]| {
            (0..3).max_by(|&a, &b| s.apply(&w, &front[a]).total_cmp(&s.apply(&w, &front[b]))).unwrap()
        };
        let weights: Vec<[f64; 2]> = (0..=100).map(|i| [i as f64 / 100.0, 1.0 - i as f64 / 100.0]).collect();
        assert!(weights.iter().all(|&w| best(Scalarization::WeightedSum, w) != 1));
        assert!(weights.iter().any(|&w| best(Scalarization::Tchebycheff, w) == 1));
    }

    #[test]
    fn dirichlet_preferences_lie_on_the_simplex_with_the_right_mean() {
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(3);
        let draws: Vec<Vec<f64>> = (0..20_000).map(|_| draw_preference(4, 1.0, &mut rng)).collect();
        assert!(
            draws.iter().all(|w| (w.iter().sum::<f64>() - 1.0).abs() < 1e-9 && w.iter().all(|&x| x >= 0.0))
        );
        for i in 0..4 {
            let mean = draws.iter().map(|w| w[i]).sum::<f64>() / draws.len() as f64;
            assert!((mean - 0.25).abs() < 0.01, "component {i}: mean {mean}");
        }
        assert_eq!(draw_preference(1, 1.0, &mut rng), vec![1.0]);
    }

    #[test]
    fn the_thermometer_fills_up_with_the_value() {
        assert_eq!(thermometer(0.0, 5, 0.0, 4.0), vec![0.0; 5]);
        assert_eq!(thermometer(2.5, 5, 0.0, 4.0), vec![1.0, 1.0, 0.5, 0.0, 0.0]);
        assert_eq!(thermometer(9.0, 5, 0.0, 4.0), vec![1.0; 5]);
        let (low, high) = (thermometer(1.0, 32, 1.0, 192.0), thermometer(96.0, 32, 1.0, 192.0));
        assert!(low.iter().zip(&high).all(|(a, b)| a <= b));
    }

    fn moo() -> PreferenceConditioning {
        PreferenceConditioning {
            objectives: vec!["a".into(), "b".into()],
            concentration: 1.0,
            reward_exponent: (1.0, 16.0),
            exponent_bins: 4,
            scalarization: Scalarization::WeightedSum,
        }
    }

    #[test]
    fn drawn_conditions_pass_their_own_check_and_bad_ones_are_named() {
        let conditioning = moo();
        let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(1);
        for _ in 0..1000 {
            let condition = conditioning.draw(&mut rng);
            assert_eq!(condition.len(), 3);
            conditioning.check(&condition).unwrap();
            assert!((1.0..=16.0).contains(&condition[2]));
        }
        let reasons = [
            (vec![0.5, 0.5], "bad_condition"),
            (vec![0.7, 0.7, 2.0], "bad_condition"),
            (vec![-0.5, 1.5, 2.0], "bad_condition"),
            (vec![f64::NAN, 1.0, 2.0], "bad_condition"),
            (vec![0.5, 0.5, 32.0], "bad_condition"),
            (vec![0.5, 0.5, 0.5], "bad_condition"),
        ];
        for (condition, reason) in reasons {
            assert_eq!(conditioning.check(&condition).unwrap_err().reason(), reason, "{condition:?}");
        }
    }

    #[test]
    fn the_log_reward_is_the_scalarised_objectives_to_the_exponent_and_is_checked() {
        let conditioning = moo();
        let condition = conditioning.condition(&[0.25, 0.75], 4.0).unwrap();
        let log_reward = conditioning.log_reward(&condition, &[0.8, 0.4]);
        assert!((log_reward - 4.0 * 0.5f64.ln()).abs() < 1e-12);
        conditioning.check_outcome(&condition, &[0.8, 0.4], log_reward).unwrap();
        let wrong = conditioning.check_outcome(&condition, &[0.8, 0.4], log_reward + 0.01).unwrap_err();
        assert_eq!(wrong.reason(), "reward_mismatch");
        let outside = conditioning.check_outcome(&condition, &[1.2, 0.4], log_reward).unwrap_err();
        assert_eq!(outside.reason(), "bad_objectives");
        assert_eq!(
            conditioning.check_outcome(&condition, &[0.8], log_reward).unwrap_err().reason(),
            "bad_objectives"
        );
        // zero on every objective: the floor keeps it finite
        assert_eq!(conditioning.log_reward(&condition, &[0.0, 0.0]), 4.0 * SCALAR_FLOOR.ln());
        // features: the preference, then β's thermometer code
        let mut features = Vec::new();
        conditioning.encode(&condition, &mut features);
        assert_eq!(features, vec![0.25, 0.75, 0.6, 0.0, 0.0, 0.0]);
        let fixed = PreferenceConditioning { reward_exponent: (8.0, 8.0), ..moo() };
        assert_eq!(fixed.encoded_len(), 2);
        assert_eq!(fixed.draw(&mut rand_pcg::Pcg64Mcg::seed_from_u64(2))[2], 8.0);
    }
}
