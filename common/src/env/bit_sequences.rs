//! Bit sequences built word by word in any order: the non-autoregressive bit-sequence task of
//! Malkin et al. 2022 (*Trajectory Balance*, §5.3), as gfnx implements it.
//!
//! An object is a sequence of `n` bits made of `m = n/k` words of `k` bits. A state fills some
//! of the `m` word slots; action `slot · 2^k + word` writes `word` into an empty `slot`, and stop
//! (action `m · 2^k`) is the only action of a full sequence and is not allowed before. Parents
//! empty any one filled slot, so a sequence is reached by `m!` orders: a DAG with many paths,
//! like molecules. The network input is a one-hot encoding per slot over `2^k` words plus
//! "empty", of length `m · (2^k + 1)`.
//!
//! The reward ([`BitSequenceReward`]) is `R(x) = exp(−β · d(x, M) / n)`, `d(x, M)` the Hamming
//! distance from `x` to the nearest sequence of a mode set `M`. The usual mode set has 60
//! sequences, each a concatenation of blocks drawn uniformly from five 8-bit blocks
//! (`00000000`, `11111111`, `11110000`, `00001111`, `00111100`), drawn with a fixed seed.

use rand::SeedableRng;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};

use super::{Action, Enumerable, EnvError, Environment};
use crate::policy::input::{InputShape, NetworkInput};
use crate::reward::{Reward, RewardError};
use crate::validation::Scope;

/// A word slot not yet written.
pub const EMPTY: u16 = u16::MAX;

/// A state: one entry per word slot, the word's value (`0..2^k`) or [`EMPTY`].
pub type BitState = Vec<u16>;

/// The five 8-bit blocks the usual mode set is built from (most significant bit first).
pub const MODE_BLOCKS: [u8; 5] = [0b0000_0000, 0b1111_1111, 0b1111_0000, 0b0000_1111, 0b0011_1100];

/// Bits per block of the mode set.
pub const MODE_BLOCK_BITS: usize = 8;

/// Sequences of `n = words · k` bits written `k` bits at a time in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BitSequences {
    words: usize,
    word_bits: usize,
}

impl BitSequences {
    /// `n` bits in words of `k` bits (`k` divides `n`, `1 ≤ k ≤ 12`; validated by the
    /// configuration).
    ///
    /// # Panics
    /// If `k` does not divide `n`, `n == 0` or `k` is outside `1..=12`.
    pub fn new(n: usize, k: usize) -> Self {
        assert!((1..=12).contains(&k) && n > 0 && n.is_multiple_of(k), "n = {n} bits in words of k = {k}");
        Self { words: n / k, word_bits: k }
    }

    /// Bits per sequence, `n`.
    pub fn bits(&self) -> usize {
        self.words * self.word_bits
    }

    /// Word slots per sequence, `m = n/k`.
    pub fn words(&self) -> usize {
        self.words
    }

    /// Bits per word, `k`.
    pub fn word_bits(&self) -> usize {
        self.word_bits
    }

    /// Distinct words, `2^k`.
    pub fn vocabulary(&self) -> usize {
        1 << self.word_bits
    }

    /// Length of the one-hot encoding, `m · (2^k + 1)`.
    pub fn feature_dim(&self) -> usize {
        self.words * (self.vocabulary() + 1)
    }

    /// Number of states (`(2^k + 1)^m`), `None` beyond `usize`.
    pub fn num_states(&self) -> Option<usize> {
        (self.vocabulary() + 1).checked_pow(self.words as u32)
    }

    /// The bits of a full sequence, most significant bit of each word first.
    pub fn to_bits(&self, state: &BitState) -> Vec<bool> {
        let k = self.word_bits;
        state
            .iter()
            .flat_map(|&word| (0..k).rev().map(move |bit| word != EMPTY && (word >> bit) & 1 == 1))
            .collect()
    }

    /// The state of a full sequence of bits (`n` of them).
    pub fn from_bits(&self, bits: &[bool]) -> BitState {
        assert_eq!(bits.len(), self.bits(), "a sequence of n bits");
        bits.chunks(self.word_bits).map(|word| word.iter().fold(0u16, |v, &b| (v << 1) | b as u16)).collect()
    }

    /// Whether every slot is written.
    pub fn is_full(&self, state: &BitState) -> bool {
        state.iter().all(|&w| w != EMPTY)
    }

    /// The state with mixed-radix index `index` (slot 0 least significant; digit 0 = empty).
    pub fn state_at(&self, mut index: usize) -> BitState {
        let radix = self.vocabulary() + 1;
        (0..self.words)
            .map(|_| {
                let digit = index % radix;
                index /= radix;
                if digit == 0 { EMPTY } else { (digit - 1) as u16 }
            })
            .collect()
    }

    fn stop(&self) -> usize {
        self.words * self.vocabulary()
    }
}

impl Environment for BitSequences {
    type State = BitState;

    fn name(&self) -> &'static str {
        "bit_sequences"
    }

    fn num_actions(&self) -> usize {
        self.stop() + 1
    }

    fn stop_action(&self) -> Action {
        self.stop() as Action
    }

    fn initial_state(&self) -> BitState {
        vec![EMPTY; self.words]
    }

    fn forward_mask(&self, state: &BitState, mask: &mut [bool]) {
        let vocabulary = self.vocabulary();
        for (slot, &word) in state.iter().enumerate() {
            mask[slot * vocabulary..][..vocabulary].fill(word == EMPTY);
        }
        mask[self.stop()] = self.is_full(state);
    }

    fn step(&self, state: &BitState, action: Action) -> Result<BitState, EnvError> {
        if action as usize == self.stop() {
            return Err(EnvError::StepOnStop);
        }
        self.check_action(state, action)?;
        let (slot, word) = (action as usize / self.vocabulary(), action as usize % self.vocabulary());
        let mut next = state.clone();
        next[slot] = word as u16;
        Ok(next)
    }

    fn parents(&self, state: &BitState) -> Vec<(BitState, Action)> {
        let vocabulary = self.vocabulary();
        state
            .iter()
            .enumerate()
            .filter(|&(_, &word)| word != EMPTY)
            .map(|(slot, &word)| {
                let mut parent = state.clone();
                parent[slot] = EMPTY;
                (parent, (slot * vocabulary + word as usize) as Action)
            })
            .collect()
    }

    fn max_trajectory_length(&self) -> usize {
        self.words + 1
    }

    fn input_shape(&self) -> InputShape {
        InputShape::Dense { feature_dim: self.feature_dim() }
    }

    fn encode_batch(&self, states: &[&BitState], device: tch::Device) -> NetworkInput {
        let dim = self.feature_dim();
        let radix = self.vocabulary() + 1;
        let mut features = vec![0f32; states.len() * dim];
        for (state, row) in states.iter().zip(features.chunks_exact_mut(dim)) {
            for (slot, &word) in state.iter().enumerate() {
                let digit = if word == EMPTY { 0 } else { word as usize + 1 };
                row[slot * radix + digit] = 1.0;
            }
        }
        NetworkInput::dense(&features, dim, device)
    }

    /// The bits, `.` for an empty word's bits, e.g. `0110....1111`.
    fn describe(&self, state: &BitState) -> String {
        let k = self.word_bits;
        state
            .iter()
            .flat_map(|&word| {
                (0..k).rev().map(move |bit| match word {
                    EMPTY => '.',
                    w if (w >> bit) & 1 == 1 => '1',
                    _ => '0',
                })
            })
            .collect()
    }
}

impl Enumerable for BitSequences {
    /// Every state, by number of written words.
    ///
    /// # Panics
    /// If the states do not fit in memory's index space (`(2^k + 1)^m` beyond `usize`); only
    /// small variants are enumerable in practice (n = 16, k = 4: 83,521 states).
    fn states_in_topological_order(&self) -> Vec<BitState> {
        let count = self.num_states().expect("too many states to enumerate");
        let mut states: Vec<BitState> = (0..count).map(|i| self.state_at(i)).collect();
        states.sort_by_key(|s| s.iter().filter(|&&w| w != EMPTY).count());
        states
    }

    fn state_index(&self, state: &BitState) -> usize {
        let radix = self.vocabulary() + 1;
        state.iter().rev().fold(0, |index, &w| index * radix + if w == EMPTY { 0 } else { w as usize + 1 })
    }

    fn state_count(&self) -> usize {
        self.num_states().expect("too many states to count")
    }
}

/// Hamming distance between two bit vectors of equal length.
pub fn hamming(a: &[bool], b: &[bool]) -> usize {
    a.iter().zip(b).filter(|(x, y)| x != y).count()
}

/// The usual mode set: `size` sequences of `n` bits (a multiple of 8), each a concatenation of
/// blocks drawn uniformly from [`MODE_BLOCKS`] with the generator seeded by `seed`.
pub fn mode_set(n: usize, size: usize, seed: u64) -> Vec<Vec<bool>> {
    assert!(n.is_multiple_of(MODE_BLOCK_BITS), "mode sequences are made of 8-bit blocks");
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(seed);
    (0..size)
        .map(|_| {
            (0..n / MODE_BLOCK_BITS)
                .flat_map(|_| {
                    let block = *MODE_BLOCKS.choose(&mut rng).expect("five blocks");
                    (0..MODE_BLOCK_BITS).rev().map(move |bit| (block >> bit) & 1 == 1)
                })
                .collect()
        })
        .collect()
}

/// `R(x) = exp(−β · d(x, M) / n)` over full sequences; a sequence within `mode_distance` of a
/// member of `M` is a mode.
#[derive(Debug, Clone)]
pub struct BitSequenceReward {
    env: BitSequences,
    modes: Vec<Vec<bool>>,
    beta: f64,
    mode_distance: usize,
}

impl BitSequenceReward {
    /// The reward of `env` towards `modes` (each `n` bits) with exponent `beta`.
    pub fn new(env: BitSequences, modes: Vec<Vec<bool>>, beta: f64, mode_distance: usize) -> Self {
        assert!(modes.iter().all(|m| m.len() == env.bits()), "mode sequences of n bits");
        assert!(!modes.is_empty(), "at least one mode");
        Self { env, modes, beta, mode_distance }
    }

    /// The mode set `M`.
    pub fn modes(&self) -> &[Vec<bool>] {
        &self.modes
    }

    /// Within this Hamming distance of a member of `M`, a sequence is a mode.
    pub fn mode_distance(&self) -> usize {
        self.mode_distance
    }

    /// `d(x, M)` and the index of the nearest member of `M` (the first on ties).
    pub fn nearest_mode(&self, bits: &[bool]) -> (usize, usize) {
        self.modes
            .iter()
            .enumerate()
            .map(|(i, mode)| (hamming(bits, mode), i))
            .min()
            .expect("at least one mode")
    }

    /// `log R` of a full sequence of bits.
    pub fn log_reward_of_bits(&self, bits: &[bool]) -> f64 {
        -self.beta * self.nearest_mode(bits).0 as f64 / self.env.bits() as f64
    }
}

impl Reward<BitState> for BitSequenceReward {
    fn log_reward(&self, state: &BitState) -> Result<f64, RewardError> {
        if !self.env.is_full(state) || state.len() != self.env.words() {
            return Err(RewardError::Failed {
                reason: format!("not a full sequence: {}", self.env.describe(state)),
            });
        }
        Ok(self.log_reward_of_bits(&self.env.to_bits(state)))
    }

    fn is_mode(&self, state: &BitState) -> bool {
        self.env.is_full(state) && self.nearest_mode(&self.env.to_bits(state)).0 <= self.mode_distance
    }
}

/// The bit-sequence task's configuration section (`env.type = "bit_sequences"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BitSequenceConfig {
    /// Bits per sequence `n` (a multiple of `k` and of 8).
    pub n: usize,
    /// Bits per word `k` (1 to 12; `2^k` actions per slot).
    pub k: usize,
    /// `β` in `R(x) = exp(−β · d(x, M)/n)` (gfnx 0.0.1's `reward_exponent` is this `β`).
    pub reward_exponent: f64,
    /// Sequences in the mode set `M`.
    pub num_modes: usize,
    /// Seed of the mode set (the same seed gives the same `M` everywhere).
    pub mode_seed: u64,
    /// A sequence within this Hamming distance of a member of `M` counts as finding it.
    pub mode_distance: usize,
    /// Held-out test sequences for the correlation between `log p̂(x)` and `log R(x)`: each
    /// member of `M` with `c` random bits flipped, `c = 1, 2, …` (at most this many in all).
    pub test_set_size: usize,
    /// Orders (backward trajectories) sampled per test sequence to estimate `log p̂(x)`.
    pub test_orders: usize,
}

impl Default for BitSequenceConfig {
    fn default() -> Self {
        Self {
            n: 120,
            k: 8,
            reward_exponent: 240.0,
            num_modes: 60,
            mode_seed: 0,
            mode_distance: 10,
            test_set_size: 1000,
            test_orders: 10,
        }
    }
}

impl BitSequenceConfig {
    /// Checks the section's values (keys `env.*`).
    pub fn check(&self, env: &mut Scope<'_>) {
        env.between("k", self.k, 1, 12);
        env.check(
            self.n > 0 && self.n.is_multiple_of(self.k.max(1)) && self.n.is_multiple_of(MODE_BLOCK_BITS),
            "n",
            &format!("a positive multiple of env.k = {} and of {MODE_BLOCK_BITS}", self.k),
            self.n,
        );
        env.check(
            self.n / self.k.max(1) <= 255,
            "n",
            "at most 255 words of env.k bits (env.n / env.k word slots)",
            self.n,
        );
        env.positive_finite("reward_exponent", self.reward_exponent);
        env.at_least("num_modes", self.num_modes, 1);
        env.check(
            self.mode_distance < self.n,
            "mode_distance",
            &format!("below env.n = {}", self.n),
            self.mode_distance,
        );
        env.at_least("test_orders", self.test_orders, 1);
    }

    /// The environment.
    pub fn environment(&self) -> BitSequences {
        BitSequences::new(self.n, self.k)
    }

    /// The reward, with the mode set drawn from `mode_seed`.
    pub fn reward(&self) -> BitSequenceReward {
        let modes = mode_set(self.n, self.num_modes, self.mode_seed);
        BitSequenceReward::new(self.environment(), modes, self.reward_exponent, self.mode_distance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validation::Problems;

    fn small() -> BitSequences {
        BitSequences::new(16, 4)
    }

    #[test]
    fn parents_empty_one_written_slot_and_step_back() {
        let env = small();
        let state = vec![3, EMPTY, 15, 0];
        let parents = env.parents(&state);
        assert_eq!(
            parents,
            vec![
                (vec![EMPTY, EMPTY, 15, 0], 3),
                (vec![3, EMPTY, EMPTY, 0], 2 * 16 + 15),
                (vec![3, EMPTY, 15, EMPTY], 3 * 16)
            ]
        );
        for (parent, action) in parents {
            assert_eq!(env.step(&parent, action).unwrap(), state);
        }
        assert!(env.parents(&env.initial_state()).is_empty());
    }

    #[test]
    fn masks_allow_empty_slots_only_and_stop_only_when_full() {
        let env = small();
        let mut mask = vec![false; env.num_actions()];
        env.forward_mask(&vec![3, EMPTY, 15, 0], &mut mask);
        let allowed: Vec<usize> = (0..mask.len()).filter(|&a| mask[a]).collect();
        assert_eq!(allowed, (16..32).collect::<Vec<_>>());
        env.forward_mask(&vec![3, 1, 15, 0], &mut mask);
        assert_eq!(
            (0..mask.len()).filter(|&a| mask[a]).collect::<Vec<_>>(),
            vec![env.stop_action() as usize]
        );
        assert_eq!(
            env.step(&vec![3, EMPTY, 15, 0], 0),
            Err(EnvError::ActionNotAllowed { action: 0, state: format!("{:?}", vec![3, EMPTY, 15, 0]) })
        );
        assert_eq!(env.step(&env.initial_state(), env.stop_action()), Err(EnvError::StepOnStop));
    }

    #[test]
    fn bits_round_trip_and_describe_most_significant_bit_first() {
        let env = small();
        let state = vec![0b0011, 0b1000, EMPTY, 0b1111];
        assert_eq!(env.describe(&state), "00111000....1111");
        let full = vec![0b0011, 0b1000, 0b0101, 0b1111];
        assert_eq!(env.from_bits(&env.to_bits(&full)), full);
        assert_eq!(env.max_trajectory_length(), 5);
    }

    #[test]
    fn reward_by_hand() {
        let env = small();
        let modes = vec![vec![false; 16], vec![true; 16]];
        let reward = BitSequenceReward::new(env.clone(), modes, 8.0, 2);
        // 0000 0000 0000 0111: 3 bits from all-zeros, 13 from all-ones
        let x = vec![0, 0, 0, 0b0111];
        assert!((reward.log_reward(&x).unwrap() - (-8.0 * 3.0 / 16.0)).abs() < 1e-12);
        assert!(!reward.is_mode(&x));
        assert!(reward.is_mode(&vec![0, 0, 0, 0b0011]));
        assert_eq!(reward.log_reward(&vec![15, 15, 15, 15]).unwrap(), 0.0);
        assert!(reward.log_reward(&vec![0, EMPTY, 0, 0]).is_err());
    }

    #[test]
    fn the_mode_set_is_made_of_the_five_blocks_and_fixed_by_its_seed() {
        let modes = mode_set(120, 60, 0);
        assert_eq!(modes.len(), 60);
        for mode in &modes {
            assert_eq!(mode.len(), 120);
            for block in mode.chunks(8) {
                let value = block.iter().fold(0u8, |v, &b| (v << 1) | b as u8);
                assert!(MODE_BLOCKS.contains(&value), "block {value:08b}");
            }
        }
        assert_eq!(modes, mode_set(120, 60, 0));
        assert_ne!(modes, mode_set(120, 60, 1));
    }

    #[test]
    fn topological_order_puts_parents_first_and_indices_round_trip() {
        let env = BitSequences::new(8, 4);
        let order = env.states_in_topological_order();
        assert_eq!(order.len(), 17 * 17);
        let mut position = vec![0; order.len()];
        for (i, s) in order.iter().enumerate() {
            position[env.state_index(s)] = i;
        }
        for state in &order {
            assert_eq!(env.state_at(env.state_index(state)), *state);
            for (parent, _) in env.parents(state) {
                assert!(position[env.state_index(&parent)] < position[env.state_index(state)]);
            }
        }
    }

    #[test]
    fn the_encoding_is_one_hot_per_slot_with_empty_first() {
        let env = BitSequences::new(8, 2);
        let input = env.encode_batch(&[&vec![EMPTY, 3, 0, EMPTY]], tch::Device::Cpu);
        let NetworkInput::Dense(features) = input else { panic!("dense") };
        let row: Vec<f32> = Vec::try_from(features.view([-1])).unwrap();
        assert_eq!(row, vec![1., 0., 0., 0., 0., 0., 0., 0., 0., 1., 0., 1., 0., 0., 0., 1., 0., 0., 0., 0.]);
    }

    fn problems(config: &BitSequenceConfig) -> Vec<String> {
        let mut problems = Problems::default();
        config.check(&mut problems.section("env"));
        problems.into_lines()
    }

    #[test]
    fn the_configuration_names_what_is_wrong() {
        let mut config = BitSequenceConfig { n: 20, k: 4, ..Default::default() };
        assert_eq!(problems(&config), ["env.n must be a positive multiple of env.k = 4 and of 8 (got 20)"]);
        config.n = 16;
        config.k = 13;
        assert!(
            problems(&config).iter().any(|p| p.starts_with("env.k must be between 1 and 12")),
            "{:?}",
            problems(&config)
        );
        config.k = 4;
        config.mode_distance = 16;
        assert_eq!(problems(&config), ["env.mode_distance must be below env.n = 16 (got 16)"]);
        config.mode_distance = 2;
        assert!(problems(&config).is_empty());
    }
}
