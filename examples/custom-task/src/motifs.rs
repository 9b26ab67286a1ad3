//! The motif task: DNA sequences of `length` letters (A, C, G, T) written left to right, one
//! letter per action, rewarded for each occurrence of a binding motif:
//!
//! `R(x) = r0 + bonus · #{i : x[i..i + |motif|] = motif}`.
//!
//! Everything gfn needs to know about the task is here: its `[env]` section and its checks
//! ([`MotifConfig`]), the environment ([`Motifs`]: states, masks, steps, parents, the network's
//! input), the reward ([`MotifReward`]) and the task itself ([`MotifTask`]), which tells gfn how
//! to build them, which network reads its states and how a run is evaluated: the `4^length`
//! sequences are few enough to evaluate the policy exactly (L1 distance to `R/Z`).

use gfn::core::config::{NetworkKind, RunConfig};
use gfn::core::env::{Action, Enumerable, EnvError, Environment};
use gfn::core::policy::input::{InputShape, NetworkInput};
use gfn::core::reward::{Reward, RewardError, checked_log};
use gfn::core::task::{HookContext, RewardObject, RunHooks, Task, TaskError, TaskPlugin, encoded_object};
use gfn::core::validation::Scope;
use serde::{Deserialize, Serialize};

/// The letters, in action order.
const ALPHABET: &[u8; 4] = b"ACGT";

/// The `[env]` section of `type = "motifs"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MotifConfig {
    /// Letters per sequence.
    pub length: usize,
    /// The motif rewarded, in the letters A, C, G, T.
    pub motif: String,
    /// Reward of a sequence without the motif (positive).
    pub r0: f64,
    /// Reward added per occurrence of the motif.
    pub bonus: f64,
}

impl Default for MotifConfig {
    fn default() -> Self {
        Self { length: 6, motif: "GATA".into(), r0: 0.05, bonus: 1.0 }
    }
}

impl MotifConfig {
    /// The motif as letter indices (`None` if it has a letter outside A, C, G, T).
    fn motif_letters(&self) -> Option<Vec<u8>> {
        self.motif.bytes().map(|b| ALPHABET.iter().position(|&a| a == b).map(|i| i as u8)).collect()
    }
}

/// A sequence being written: letter indices, at most `length` of them.
pub type Sequence = Vec<u8>;

/// The DAG of sequences: append a letter until `length` letters are written, then stop.
#[derive(Debug, Clone)]
pub struct Motifs {
    length: usize,
}

impl Environment for Motifs {
    type State = Sequence;

    fn name(&self) -> &'static str {
        "motifs"
    }

    fn num_actions(&self) -> usize {
        ALPHABET.len() + 1
    }

    fn stop_action(&self) -> Action {
        ALPHABET.len() as Action
    }

    fn initial_state(&self) -> Sequence {
        Vec::new()
    }

    fn forward_mask(&self, state: &Sequence, mask: &mut [bool]) {
        let complete = state.len() == self.length;
        mask[..ALPHABET.len()].fill(!complete);
        mask[ALPHABET.len()] = complete;
    }

    fn step(&self, state: &Sequence, action: Action) -> Result<Sequence, EnvError> {
        if action == self.stop_action() {
            return Err(EnvError::StepOnStop);
        }
        self.check_action(state, action)?;
        let mut next = state.clone();
        next.push(action as u8);
        Ok(next)
    }

    fn parents(&self, state: &Sequence) -> Vec<(Sequence, Action)> {
        match state.split_last() {
            Some((&last, parent)) => vec![(parent.to_vec(), Action::from(last))],
            None => Vec::new(),
        }
    }

    fn max_trajectory_length(&self) -> usize {
        self.length + 1
    }

    /// One-hot letters by position (unwritten positions all zero).
    fn input_shape(&self) -> InputShape {
        InputShape::Dense { feature_dim: self.length * ALPHABET.len() }
    }

    fn encode_batch(&self, states: &[&Sequence], device: tch::Device) -> NetworkInput {
        let dim = self.length * ALPHABET.len();
        let mut features = vec![0f32; states.len() * dim];
        for (state, row) in states.iter().zip(features.chunks_exact_mut(dim)) {
            for (position, &letter) in state.iter().enumerate() {
                row[position * ALPHABET.len() + letter as usize] = 1.0;
            }
        }
        NetworkInput::dense(&features, dim, device)
    }

    fn describe(&self, state: &Sequence) -> String {
        state.iter().map(|&letter| ALPHABET[letter as usize] as char).collect()
    }
}

impl Enumerable for Motifs {
    /// Shorter sequences first (every parent is one letter shorter).
    fn states_in_topological_order(&self) -> Vec<Sequence> {
        let mut states = vec![Vec::new()];
        let mut layer = vec![Vec::new()];
        for _ in 0..self.length {
            layer = layer
                .iter()
                .flat_map(|prefix: &Sequence| {
                    (0..ALPHABET.len() as u8).map(move |letter| [prefix.as_slice(), &[letter]].concat())
                })
                .collect();
            states.extend(layer.iter().cloned());
        }
        states
    }

    /// The sequences shorter than `state` come first, then `state` read as a base-4 number.
    fn state_index(&self, state: &Sequence) -> usize {
        let shorter: usize = (0..state.len()).map(|l| ALPHABET.len().pow(l as u32)).sum();
        shorter + state.iter().fold(0, |index, &letter| index * ALPHABET.len() + letter as usize)
    }

    fn state_count(&self) -> usize {
        (0..=self.length).map(|l| ALPHABET.len().pow(l as u32)).sum()
    }
}

/// `R(x) = r0 + bonus · (occurrences of the motif in x)`.
#[derive(Debug, Clone)]
pub struct MotifReward {
    length: usize,
    motif: Vec<u8>,
    r0: f64,
    bonus: f64,
}

impl MotifReward {
    fn occurrences(&self, state: &Sequence) -> usize {
        state.windows(self.motif.len()).filter(|window| *window == self.motif.as_slice()).count()
    }
}

impl Reward<Sequence> for MotifReward {
    fn log_reward(&self, state: &Sequence) -> Result<f64, RewardError> {
        checked_log(self.r0 + self.bonus * self.occurrences(state) as f64)
    }

    /// A mode is a complete sequence that holds the motif.
    fn is_mode(&self, state: &Sequence) -> bool {
        state.len() == self.length && self.occurrences(state) > 0
    }
}

/// The task: what gfn builds from `[env] type = "motifs"`.
#[derive(Debug, Clone)]
pub struct MotifTask {
    config: MotifConfig,
    env: Motifs,
}

impl MotifTask {
    fn reward_model(&self) -> MotifReward {
        let motif = self.config.motif_letters().expect("checked with the configuration");
        MotifReward { length: self.config.length, motif, r0: self.config.r0, bonus: self.config.bonus }
    }
}

impl TaskPlugin for MotifTask {
    const NAME: &'static str = "motifs";
    type Config = MotifConfig;

    fn from_config(config: &MotifConfig, _run: &RunConfig) -> Result<Self, TaskError> {
        Ok(Self { config: config.clone(), env: Motifs { length: config.length } })
    }

    fn check(config: &MotifConfig, _run: &RunConfig, env: &mut Scope<'_>) {
        env.between("length", config.length, 1, 8);
        env.check(
            config.motif_letters().is_some_and(|m| !m.is_empty() && m.len() <= config.length),
            "motif",
            "1 to env.length letters of A, C, G, T",
            format!("{:?}", config.motif),
        );
        env.positive_finite("r0", config.r0);
        env.non_negative_finite("bonus", config.bonus);
    }

    fn network_kind(_config: &MotifConfig) -> NetworkKind {
        NetworkKind::Mlp
    }
}

impl Task for MotifTask {
    type Env = Motifs;
    type Reward = MotifReward;

    fn name(&self) -> &'static str {
        Self::NAME
    }

    fn environment(&self) -> &Motifs {
        &self.env
    }

    fn reward(&self, _copies: usize) -> Result<MotifReward, TaskError> {
        Ok(self.reward_model())
    }

    fn describe(&self) -> String {
        format!("DNA sequences of {} letters, motif {}", self.config.length, self.config.motif)
    }

    /// Exact evaluation: L1 between the policy's distribution over sequences and `R/Z`.
    fn hooks(&self, context: &HookContext) -> Result<RunHooks<Motifs>, TaskError> {
        RunHooks::exact(&self.env, self.reward_model(), context)
    }

    /// For a reward service (`[reward] type = "service"`): the sequence as text, kind `"dna"`.
    fn service_object(&self, state: &Sequence) -> Result<RewardObject, TaskError> {
        Ok(encoded_object("dna", self.env.describe(state)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gfn::Tasks;

    fn task(length: usize, motif: &str) -> MotifTask {
        let config = MotifConfig { length, motif: motif.into(), ..MotifConfig::default() };
        MotifTask::from_config(&config, &RunConfig::default()).unwrap()
    }

    #[test]
    fn sequences_are_written_letter_by_letter_and_stop_when_full() {
        let task = task(3, "GA");
        let env = task.environment();
        let mut state = env.initial_state();
        for letter in [2, 0, 2] {
            state = env.step(&state, letter).unwrap();
        }
        assert_eq!(env.describe(&state), "GAG");
        assert_eq!(env.parents(&state), vec![(vec![2, 0], 2)]);
        let mut mask = vec![false; env.num_actions()];
        env.forward_mask(&state, &mut mask);
        assert_eq!(mask, [false, false, false, false, true]);
        assert!(env.step(&state, 0).is_err());
        // one occurrence of GA: r0 + bonus
        let reward = task.reward(1).unwrap();
        assert!((reward.log_reward(&state).unwrap() - 1.05f64.ln()).abs() < 1e-12);
        assert!(reward.is_mode(&state) && !reward.is_mode(&vec![1, 1, 1]) && !reward.is_mode(&vec![2, 0]));
    }

    #[test]
    fn every_state_has_its_own_index_after_its_parents() {
        let env = Motifs { length: 3 };
        let states = env.states_in_topological_order();
        assert_eq!(states.len(), env.state_count());
        let mut seen = vec![false; states.len()];
        for state in &states {
            let index = env.state_index(state);
            assert!(!seen[index], "index {index} twice");
            seen[index] = true;
            for (parent, _) in env.parents(state) {
                assert!(seen[env.state_index(&parent)], "parent after child");
            }
        }
    }

    #[test]
    fn the_section_is_checked_by_the_task() {
        let tasks = gfn::BuiltinTasks::default().with::<MotifTask>();
        let bad = "[env]\ntype = \"motifs\"\nlength = 3\nmotif = \"GATTACA\"\nr0 = 0\n";
        let error = tasks.config_from_str(bad, None, &[]).unwrap_err().to_string();
        assert!(error.contains("env.motif") && error.contains("env.r0"), "{error}");
        let typo = "[env]\ntype = \"motifs\"\nmotiv = \"GA\"\n";
        assert!(tasks.config_from_str(typo, None, &[]).unwrap_err().to_string().contains("motiv"));
        let good = tasks.config_from_str(include_str!("../motifs.toml"), None, &[]).unwrap();
        assert_eq!(good.env.task(), "motifs");
    }
}
