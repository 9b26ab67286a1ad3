//! The hypergrid reward of Bengio et al. 2021, eq. in §4.1:
//!
//! `ax_d = |s_d/(H-1) - 0.5|`,
//! `R(s) = R0 + R1·∏_d 1[ax_d > 0.25] + R2·∏_d 1[0.3 < ax_d < 0.4]`.
//!
//! The band tests are evaluated in exact integer arithmetic: with `a = |2·s_d - (H-1)|`,
//! `ax_d = a / (2(H-1))`, so `ax_d > 0.25 ⇔ 2a > H-1` and `0.3 < ax_d < 0.4 ⇔ 3(H-1) < 5a < 4(H-1)`.
//! Values on a band edge (e.g. `ax = 0.25` for `H = 5`, `ax = 0.3` for `H = 16`) are therefore
//! decided exactly as the formula says, with no floating-point surprises.

use super::{Reward, RewardError, checked_log};
use crate::env::hypergrid::GridState;

/// Reward constants `R0`, `R1`, `R2` and the grid side `H`.
#[derive(Debug, Clone, PartialEq)]
pub struct HypergridReward {
    height: usize,
    r0: f64,
    r1: f64,
    r2: f64,
}

impl HypergridReward {
    /// The reward for a grid of side `height` (validated upstream: `R0 > 0`, `R1, R2 ≥ 0`).
    pub fn new(height: usize, r0: f64, r1: f64, r2: f64) -> Self {
        Self { height, r0, r1, r2 }
    }

    /// `|2·s_d - (H-1)|`, the coordinate's distance from the centre in units of `1/(2(H-1))`.
    fn scaled_distance(&self, coordinate: u16) -> i64 {
        (2 * coordinate as i64 - (self.height as i64 - 1)).abs()
    }

    /// `ax_d > 0.25`, exactly.
    fn in_outer_region(&self, coordinate: u16) -> bool {
        2 * self.scaled_distance(coordinate) > self.height as i64 - 1
    }

    /// `0.3 < ax_d < 0.4`, exactly.
    fn in_mode_band(&self, coordinate: u16) -> bool {
        let a5 = 5 * self.scaled_distance(coordinate);
        let h1 = self.height as i64 - 1;
        3 * h1 < a5 && a5 < 4 * h1
    }

    /// `R(s)`.
    pub fn reward(&self, state: &GridState) -> f64 {
        let mut value = self.r0;
        if state.iter().all(|&c| self.in_outer_region(c)) {
            value += self.r1;
        }
        if state.iter().all(|&c| self.in_mode_band(c)) {
            value += self.r2;
        }
        value
    }
}

impl Reward<GridState> for HypergridReward {
    fn log_reward(&self, state: &GridState) -> Result<f64, RewardError> {
        checked_log(self.reward(state))
    }

    /// Modes are the states where every coordinate lies in the `R2` band (for `H = 8`: every
    /// coordinate in {1, 6}, so `2^n` modes).
    fn is_mode(&self, state: &GridState) -> bool {
        state.iter().all(|&c| self.in_mode_band(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_reward(height: usize) -> HypergridReward {
        HypergridReward::new(height, 0.1, 0.5, 2.0)
    }

    #[test]
    fn height_8_rewards_per_coordinate_class() {
        let reward = default_reward(8);
        // every coordinate in {1, 6}: R0 + R1 + R2
        assert!((reward.reward(&vec![1, 6, 6, 1]) - 2.6).abs() < 1e-12);
        // every coordinate in {0, 1, 6, 7} but not all in the band: R0 + R1
        assert!((reward.reward(&vec![0, 7, 1, 6]) - 0.6).abs() < 1e-12);
        // one coordinate in the middle: R0
        assert!((reward.reward(&vec![0, 7, 3, 6]) - 0.1).abs() < 1e-12);
        assert!((reward.reward(&vec![0, 0, 0, 0]) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn height_8_has_two_to_the_n_modes_at_coordinates_1_and_6() {
        let reward = default_reward(8);
        let band: Vec<u16> = (0..8).filter(|&c| reward.in_mode_band(c)).collect();
        assert_eq!(band, vec![1, 6]);
        let outer: Vec<u16> = (0..8).filter(|&c| reward.in_outer_region(c)).collect();
        assert_eq!(outer, vec![0, 1, 6, 7]);
    }

    #[test]
    fn height_16_band_edge_at_exactly_0_3_is_excluded() {
        let reward = default_reward(16);
        // s = 3: ax = |3/15 - 0.5| = 0.3 exactly, which is not > 0.3.
        assert!(!reward.in_mode_band(3));
        assert!(!reward.in_mode_band(12));
        let band: Vec<u16> = (0..16).filter(|&c| reward.in_mode_band(c)).collect();
        assert_eq!(band, vec![2, 13]);
        let outer: Vec<u16> = (0..16).filter(|&c| reward.in_outer_region(c)).collect();
        assert_eq!(outer, vec![0, 1, 2, 3, 12, 13, 14, 15]);
        assert!((reward.reward(&vec![2, 13]) - 2.6).abs() < 1e-12);
        assert!((reward.reward(&vec![3, 13]) - 0.6).abs() < 1e-12);
    }

    #[test]
    fn edge_at_exactly_0_25_is_excluded() {
        // H = 5: s = 1 gives ax = |1/4 - 0.5| = 0.25 exactly, which is not > 0.25.
        let reward = default_reward(5);
        assert!(!reward.in_outer_region(1));
        assert!(reward.in_outer_region(0));
        // H = 11, s = 1: ax = 0.4 exactly, not < 0.4; s = 2: ax = 0.3, not > 0.3.
        let reward = default_reward(11);
        assert!(!reward.in_mode_band(1));
        assert!(!reward.in_mode_band(2));
    }

    #[test]
    fn log_reward_is_the_log_of_the_reward() {
        let reward = HypergridReward::new(8, 0.001, 0.5, 2.0);
        let log = reward.log_reward(&vec![3, 3]).unwrap();
        assert!((log - 0.001f64.ln()).abs() < 1e-12);
        assert!(reward.is_mode(&vec![1, 6]));
        assert!(!reward.is_mode(&vec![0, 6]));
    }
}
