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

use rand::Rng;
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
}
