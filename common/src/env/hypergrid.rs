//! The hypergrid of Bengio et al. 2021 (§4.1, "a simple domain with many modes").
//!
//! States are integer vectors `s ∈ {0..H-1}^n` starting at the origin. Action `d < n`
//! increments coordinate `d` (allowed while `s_d < H-1`); action `n` stops. Every state may
//! stop, so all `H^n` states are terminal candidates (the convention of torchgfn).
//! The network input is a one-hot encoding per coordinate, of length `n·H`.

use super::{Action, Enumerable, EnvError, Environment};
use crate::policy::input::{InputShape, NetworkInput};

/// A hypergrid state: one coordinate per dimension.
pub type GridState = Vec<u16>;

/// The `n`-dimensional hypergrid of side `H`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hypergrid {
    ndim: usize,
    height: usize,
}

impl Hypergrid {
    /// Length of the one-hot encoding: `ndim · height`.
    pub fn feature_dim(&self) -> usize {
        self.ndim * self.height
    }

    /// Writes the one-hot encoding of `state` (one block of `height` per dimension) into `out`.
    pub fn encode(&self, state: &GridState, out: &mut [f32]) {
        out.fill(0.0);
        for (d, &coordinate) in state.iter().enumerate() {
            out[d * self.height + coordinate as usize] = 1.0;
        }
    }

    /// A grid with `ndim ≥ 1` dimensions of side `height ≥ 2` (validated by the config layer).
    ///
    /// # Panics
    /// If `ndim == 0`, `height < 2` or `height > u16::MAX`: callers validate configuration first.
    pub fn new(ndim: usize, height: usize) -> Self {
        assert!(ndim >= 1, "hypergrid needs at least one dimension");
        assert!((2..=u16::MAX as usize).contains(&height), "hypergrid height out of range");
        Self { ndim, height }
    }

    /// Number of dimensions `n`.
    pub fn ndim(&self) -> usize {
        self.ndim
    }

    /// Side length `H`.
    pub fn height(&self) -> usize {
        self.height
    }

    /// Number of states, `H^n`.
    pub fn num_states(&self) -> usize {
        self.height.pow(self.ndim as u32)
    }

    /// The state with mixed-radix index `index` (coordinate 0 is the least significant digit).
    pub fn state_at(&self, mut index: usize) -> GridState {
        (0..self.ndim)
            .map(|_| {
                let coordinate = index % self.height;
                index /= self.height;
                coordinate as u16
            })
            .collect()
    }
}

impl Environment for Hypergrid {
    type State = GridState;

    fn name(&self) -> &'static str {
        "hypergrid"
    }

    fn num_actions(&self) -> usize {
        self.ndim + 1
    }

    fn stop_action(&self) -> Action {
        self.ndim as Action
    }

    fn initial_state(&self) -> GridState {
        vec![0; self.ndim]
    }

    fn forward_mask(&self, state: &GridState, mask: &mut [bool]) {
        let top = (self.height - 1) as u16;
        for (allowed, &coordinate) in mask.iter_mut().zip(state) {
            *allowed = coordinate < top;
        }
        mask[self.ndim] = true;
    }

    fn step(&self, state: &GridState, action: Action) -> Result<GridState, EnvError> {
        if action as usize == self.ndim {
            return Err(EnvError::StepOnStop);
        }
        self.check_action(state, action)?;
        let mut next = state.clone();
        next[action as usize] += 1;
        Ok(next)
    }

    fn parents(&self, state: &GridState) -> Vec<(GridState, Action)> {
        state
            .iter()
            .enumerate()
            .filter(|&(_, &coordinate)| coordinate > 0)
            .map(|(d, _)| {
                let mut parent = state.clone();
                parent[d] -= 1;
                (parent, d as Action)
            })
            .collect()
    }

    fn max_trajectory_length(&self) -> usize {
        self.ndim * (self.height - 1) + 1
    }

    fn input_shape(&self) -> InputShape {
        InputShape::Dense { feature_dim: self.feature_dim() }
    }

    fn encode_batch(&self, states: &[&GridState], device: tch::Device) -> NetworkInput {
        let dim = self.feature_dim();
        let mut features = vec![0f32; states.len() * dim];
        for (state, row) in states.iter().zip(features.chunks_exact_mut(dim)) {
            self.encode(state, row);
        }
        NetworkInput::dense(&features, dim, device)
    }

    /// Coordinates separated by spaces, e.g. `1 6 6 1`.
    fn describe(&self, state: &GridState) -> String {
        state.iter().map(u16::to_string).collect::<Vec<_>>().join(" ")
    }
}

impl Enumerable for Hypergrid {
    fn states_in_topological_order(&self) -> Vec<GridState> {
        let mut states: Vec<GridState> = (0..self.num_states()).map(|i| self.state_at(i)).collect();
        states.sort_by_key(|s| s.iter().map(|&c| c as usize).sum::<usize>());
        states
    }

    fn state_index(&self, state: &GridState) -> usize {
        state.iter().rev().fold(0, |index, &c| index * self.height + c as usize)
    }

    fn state_count(&self) -> usize {
        self.num_states()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parents_are_one_decrement_away_and_step_back_to_the_state() {
        let grid = Hypergrid::new(3, 4);
        let state = vec![2, 0, 3];
        let parents = grid.parents(&state);
        assert_eq!(parents, vec![(vec![1, 0, 3], 0), (vec![2, 0, 2], 2)]);
        for (parent, action) in parents {
            assert_eq!(grid.step(&parent, action).unwrap(), state);
        }
        assert!(grid.parents(&grid.initial_state()).is_empty());
    }

    #[test]
    fn every_state_with_k_nonzero_coordinates_has_k_parents() {
        let grid = Hypergrid::new(3, 3);
        for index in 0..grid.num_states() {
            let state = grid.state_at(index);
            let nonzero = state.iter().filter(|&&c| c > 0).count();
            assert_eq!(grid.parents(&state).len(), nonzero, "state {state:?}");
        }
    }

    #[test]
    fn mask_forbids_leaving_the_grid_and_always_allows_stop() {
        let grid = Hypergrid::new(2, 3);
        let mut mask = vec![false; 3];
        grid.forward_mask(&vec![2, 1], &mut mask);
        assert_eq!(mask, vec![false, true, true]);
        assert_eq!(
            grid.step(&vec![2, 1], 0),
            Err(EnvError::ActionNotAllowed { action: 0, state: "[2, 1]".into() })
        );
        assert_eq!(grid.step(&vec![0, 0], 2), Err(EnvError::StepOnStop));
        assert_eq!(grid.step(&vec![0, 0], 7), Err(EnvError::ActionOutOfRange { action: 7, num_actions: 3 }));
    }

    #[test]
    fn topological_order_puts_parents_first_and_indices_round_trip() {
        let grid = Hypergrid::new(3, 4);
        let order = grid.states_in_topological_order();
        assert_eq!(order.len(), 64);
        let position: Vec<usize> = {
            let mut position = vec![0; order.len()];
            for (i, s) in order.iter().enumerate() {
                position[grid.state_index(s)] = i;
            }
            position
        };
        for state in &order {
            assert_eq!(grid.state_at(grid.state_index(state)), *state);
            for (parent, _) in grid.parents(state) {
                assert!(position[grid.state_index(&parent)] < position[grid.state_index(state)]);
            }
        }
    }

    #[test]
    fn one_hot_encoding_marks_one_cell_per_dimension() {
        let grid = Hypergrid::new(2, 4);
        let mut features = vec![9.0; grid.feature_dim()];
        grid.encode(&vec![3, 1], &mut features);
        assert_eq!(features, vec![0., 0., 0., 1., 0., 1., 0., 0.]);
    }
}
