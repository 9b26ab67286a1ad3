//! The `[env]` section: which environment, with its reward constants, tagged by `type`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::validation::Scope;

/// The environment, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum EnvConfig {
    /// The paper's hypergrid.
    Hypergrid(HypergridConfig),
    /// Fragment-based molecules scored by the sEH proxy.
    Fragments(FragmentConfig),
    /// Bit sequences written word by word in any order (Malkin et al. 2022, §5.3).
    BitSequences(crate::env::bit_sequences::BitSequenceConfig),
}

/// The fragment-molecule environment and its sEH proxy reward
/// (`R = (max(proxy, r_min) / reward_norm)^reward_exponent`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FragmentConfig {
    /// Block vocabulary file (pandas JSON with `block_name`, `block_smi`, `block_r`).
    pub vocabulary: PathBuf,
    /// sEH proxy weights converted to safetensors by `scripts/convert_seh_proxy.py` (read by
    /// the actors, which compute the reward).
    pub proxy_weights: PathBuf,
    /// Fewest blocks before stop is allowed (unless no stem is left).
    pub min_blocks: usize,
    /// Most blocks per molecule.
    pub max_blocks: usize,
    /// `β`, the reward exponent.
    pub reward_exponent: f64,
    /// `R_min`: proxy values below it are clipped.
    pub r_min: f64,
    /// The proxy is divided by this.
    pub reward_norm: f64,
    /// A distinct molecule with proxy ≥ this can count as a mode.
    pub mode_threshold: f64,
    /// … if its ECFP4 Tanimoto similarity to every earlier mode is below this.
    pub mode_max_similarity: f64,
    /// Mark the open attachment atoms in the proxy's stem-mask input, as the paper's own code
    /// (GFNOrg/gflownet `model_atom.mol2graph`) does; `false` leaves that column 0, as
    /// recursionpharma/gflownet and the golden data do. See docs/BENCHMARKS.md.
    pub proxy_stem_mask: bool,
    /// Apply the proxy's NNConv root weight as the paper's PyTorch Geometric 1.x did
    /// (`x · root`); `false` (default) transposes it as recursionpharma/gflownet's port, which
    /// produced the golden data, does. With `proxy_stem_mask`, the paper's exact proxy.
    pub proxy_original_root: bool,
}

impl Default for FragmentConfig {
    fn default() -> Self {
        Self {
            vocabulary: "../shared/data/fragments/blocks_PDB_105.json".into(),
            proxy_weights: ".cache/seh_proxy.safetensors".into(),
            min_blocks: 2,
            max_blocks: 8,
            reward_exponent: 10.0,
            r_min: 0.1,
            reward_norm: 8.0,
            mode_threshold: 7.5,
            mode_max_similarity: 0.7,
            proxy_stem_mask: false,
            proxy_original_root: false,
        }
    }
}

impl FragmentConfig {
    /// The block-count limits.
    pub fn limits(&self) -> crate::env::fragments::FragmentLimits {
        crate::env::fragments::FragmentLimits { min_blocks: self.min_blocks, max_blocks: self.max_blocks }
    }

    /// Loads the vocabulary into the environment.
    pub fn environment(
        &self,
    ) -> Result<crate::env::FragmentEnvironment, crate::env::blocks::VocabularyError> {
        crate::env::FragmentEnvironment::load(&self.vocabulary, self.limits())
    }

    /// The reward constants.
    pub fn reward_settings(&self) -> crate::reward::SehRewardSettings {
        crate::reward::SehRewardSettings {
            exponent: self.reward_exponent,
            r_min: self.r_min,
            norm: self.reward_norm,
            mode_threshold: self.mode_threshold,
            stem_mask: self.proxy_stem_mask,
            original_root: self.proxy_original_root,
        }
    }
}

/// Hypergrid size and reward constants (`R = R0 + R1·… + R2·…`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HypergridConfig {
    /// Number of dimensions `n ≥ 1`.
    pub ndim: usize,
    /// Side length `H ≥ 2`.
    pub height: usize,
    /// Base reward `R0 > 0`.
    pub r0: f64,
    /// Outer-region bonus `R1 ≥ 0`.
    pub r1: f64,
    /// Mode-band bonus `R2 ≥ 0`.
    pub r2: f64,
}

impl Default for HypergridConfig {
    fn default() -> Self {
        Self { ndim: 4, height: 8, r0: 0.1, r1: 0.5, r2: 2.0 }
    }
}

impl HypergridConfig {
    /// The environment these settings describe.
    pub fn environment(&self) -> crate::env::Hypergrid {
        crate::env::Hypergrid::new(self.ndim, self.height)
    }

    /// The reward these settings describe.
    pub fn reward(&self) -> crate::reward::HypergridReward {
        crate::reward::HypergridReward::new(self.height, self.r0, self.r1, self.r2)
    }
}

impl EnvConfig {
    /// Checks the section's values (keys `env.*`).
    pub fn check(&self, env: &mut Scope<'_>) {
        match self {
            Self::Hypergrid(grid) => grid.check(env),
            Self::Fragments(fragments) => fragments.check(env),
            Self::BitSequences(bits) => bits.check(env),
        }
    }
}

impl HypergridConfig {
    fn check(&self, env: &mut Scope<'_>) {
        env.at_least("ndim", self.ndim, 1);
        env.check(self.ndim <= 16, "ndim", "at most 16", self.ndim);
        env.check(self.height >= 2, "height", "at least 2", self.height);
        env.check(self.height <= 1024, "height", "at most 1024", self.height);
        env.positive_finite("r0", self.r0);
        env.non_negative_finite("r1", self.r1);
        env.non_negative_finite("r2", self.r2);
    }
}

impl FragmentConfig {
    fn check(&self, env: &mut Scope<'_>) {
        env.at_least("min_blocks", self.min_blocks, 1);
        env.check(
            self.max_blocks >= self.min_blocks.max(1),
            "max_blocks",
            "at least env.min_blocks",
            self.max_blocks,
        );
        env.check(self.max_blocks <= 40, "max_blocks", "at most 40", self.max_blocks);
        env.positive_finite("reward_exponent", self.reward_exponent);
        env.positive_finite("r_min", self.r_min);
        env.positive_finite("reward_norm", self.reward_norm);
        env.check(self.mode_threshold.is_finite(), "mode_threshold", "finite", self.mode_threshold);
        env.check(
            (0.0..=1.0).contains(&self.mode_max_similarity),
            "mode_max_similarity",
            "in [0, 1]",
            self.mode_max_similarity,
        );
    }
}
