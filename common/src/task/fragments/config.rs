//! The `[env]` section of fragment molecules (`type = "fragments"`): block vocabulary, proxy
//! weights, block limits and the reward constants.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::env::FragmentEnvironment;
use crate::env::blocks::VocabularyError;
use crate::env::fragments::FragmentLimits;
use crate::reward::SehRewardSettings;
use crate::validation::Scope;

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
    /// RDKit's SA fragment table (`Contrib/SA_Score/fpscores.pkl.gz` of an RDKit
    /// installation; never copied into gfn), read when a multi-objective run's
    /// `conditioning.objectives` include `"sa"`.
    pub sa_fragment_scores: PathBuf,
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
            sa_fragment_scores: ".pytools/rdkit/Contrib/SA_Score/fpscores.pkl.gz".into(),
        }
    }
}

impl FragmentConfig {
    /// The block-count limits.
    pub fn limits(&self) -> FragmentLimits {
        FragmentLimits { min_blocks: self.min_blocks, max_blocks: self.max_blocks }
    }

    /// Loads the vocabulary into the environment.
    pub fn environment(&self) -> Result<FragmentEnvironment, VocabularyError> {
        FragmentEnvironment::load(&self.vocabulary, self.limits())
    }

    /// The reward constants.
    pub fn reward_settings(&self) -> SehRewardSettings {
        SehRewardSettings {
            exponent: self.reward_exponent,
            r_min: self.r_min,
            norm: self.reward_norm,
            mode_threshold: self.mode_threshold,
            stem_mask: self.proxy_stem_mask,
            original_root: self.proxy_original_root,
        }
    }
}

impl FragmentConfig {
    /// Checks the values (keys `env.*`), and those that depend on `[conditioning]`.
    pub fn check(&self, run: &RunConfig, env: &mut Scope<'_>) {
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
        env.check(
            run.conditioning.objectives.is_empty() || self.reward_exponent == 1.0,
            "reward_exponent",
            "1 when conditioning.objectives is set (β is drawn from conditioning.reward_exponent_range)",
            self.reward_exponent,
        );
        env.check(
            !run.conditioning.enabled() || self.reward_exponent == 1.0,
            "reward_exponent",
            "1 when conditioning.reward_exponents is set (each listed β is then the exponent of \
             max(proxy, r_min) / reward_norm)",
            self.reward_exponent,
        );
    }
}
