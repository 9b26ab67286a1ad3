//! The fragment-molecule reward of Bengio et al. 2021: the sEH proxy of the assembled molecule,
//! `R(x) = (max(proxy(x), R_min) / norm)^β` with the paper's `R_min = 0.1`, `norm = 8` and the
//! exponent `β` (10 in the paper's runs).
//!
//! Scoring is batched: a batch of junction trees is assembled, featurized and evaluated in one
//! forward pass of the proxy. The proxy's tensors are not shareable between threads, so the
//! reward holds one proxy copy per worker thread.

use std::path::Path;
use std::sync::{Mutex, MutexGuard, TryLockError};

use super::molecule_features::featurize_molecule;
use super::seh_proxy::{MoleculeGraph, ProxyError, SehProxy};
use super::{Reward, RewardError, Scored};
use crate::env::FragmentEnvironment;
use crate::env::junction_tree::BlockTree;
use crate::env::molecule::atom_offsets;

/// The constants of the reward transform.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SehRewardSettings {
    /// `β`: the reward is raised to this power.
    pub exponent: f64,
    /// `R_min`: proxy values below it are clipped to it.
    pub r_min: f64,
    /// The normalisation the clipped proxy is divided by.
    pub norm: f64,
    /// Proxy value from which a molecule counts as a high-reward mode.
    pub mode_threshold: f64,
    /// Mark the molecule's open attachment atoms in the proxy's stem-mask input column, as the
    /// paper's code (GFNOrg/gflownet) does; off, the column is 0 as in recursionpharma/gflownet
    /// and the golden data of `../shared/data/seh`.
    pub stem_mask: bool,
    /// Apply the proxy's NNConv root weight as the paper's code did (PyTorch Geometric 1.x:
    /// `x · root`); off, transposed as recursionpharma/gflownet's port and the golden data.
    pub original_root: bool,
}

impl Default for SehRewardSettings {
    fn default() -> Self {
        Self {
            exponent: 10.0,
            r_min: 0.1,
            norm: 8.0,
            mode_threshold: 7.5,
            stem_mask: false,
            original_root: false,
        }
    }
}

impl SehRewardSettings {
    /// `max(proxy, R_min) / norm`: the reward before the exponent (the paper's reported scale).
    pub fn normalized_reward(&self, proxy: f64) -> f64 {
        proxy.max(self.r_min) / self.norm
    }

    /// `log R = β · log(max(proxy, R_min) / norm)`.
    pub fn log_reward(&self, proxy: f64) -> f64 {
        self.exponent * self.normalized_reward(proxy).ln()
    }
}

/// The sEH proxy reward over fragment junction trees.
pub struct SehReward {
    env: FragmentEnvironment,
    proxies: Vec<Mutex<SehProxy>>,
    settings: SehRewardSettings,
}

impl SehReward {
    /// Loads `copies` (≥ 1) copies of the proxy weights at `weights`.
    pub fn load(
        env: FragmentEnvironment,
        weights: &Path,
        copies: usize,
        settings: SehRewardSettings,
    ) -> Result<Self, ProxyError> {
        let proxies = (0..copies.max(1))
            .map(|_| {
                SehProxy::load(weights).map(|p| Mutex::new(p.with_original_root(settings.original_root)))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { env, proxies, settings })
    }

    /// The reward constants.
    pub fn settings(&self) -> &SehRewardSettings {
        &self.settings
    }

    fn proxy(&self) -> MutexGuard<'_, SehProxy> {
        for proxy in &self.proxies {
            match proxy.try_lock() {
                Ok(guard) => return guard,
                Err(TryLockError::Poisoned(poisoned)) => return poisoned.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.proxies[0].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Atom indices, in the assembled molecule, of `tree`'s open stems (an atom carrying
    /// several stems appears once per stem).
    pub fn stem_atoms(&self, tree: &BlockTree) -> Vec<usize> {
        let offsets = atom_offsets(self.env.vocabulary(), tree.blocks.iter().map(|&block| block as usize));
        self.env
            .stems(tree)
            .into_iter()
            .map(|(position, atom)| offsets[position as usize] + atom as usize)
            .collect()
    }

    /// Raw proxy values of `trees` (one batched forward pass for those that assemble).
    pub fn proxy_values(&self, trees: &[&BlockTree]) -> Vec<Result<f64, RewardError>> {
        let graphs: Vec<Result<MoleculeGraph, RewardError>> = trees
            .iter()
            .map(|tree| {
                let molecule =
                    self.env.molecule(tree).map_err(|e| RewardError::Failed { reason: e.to_string() })?;
                let mut graph = featurize_molecule(&molecule)
                    .map_err(|e| RewardError::Failed { reason: e.to_string() })?;
                if self.settings.stem_mask {
                    graph.mark_stems(&self.stem_atoms(tree));
                }
                Ok(graph)
            })
            .collect();
        let valid: Vec<MoleculeGraph> = graphs.iter().filter_map(|g| g.as_ref().ok().cloned()).collect();
        let mut values = self.proxy().predict(&valid).into_iter();
        graphs
            .into_iter()
            .map(|graph| {
                graph.map(|_| values.next().expect("one value per valid graph") as f64).and_then(|value| {
                    if value.is_finite() { Ok(value) } else { Err(RewardError::NotPositiveFinite { value }) }
                })
            })
            .collect()
    }
}

impl Reward<BlockTree> for SehReward {
    fn log_reward(&self, state: &BlockTree) -> Result<f64, RewardError> {
        self.score_batch(&[state]).remove(0).map(|s| s.log_reward)
    }

    fn is_mode(&self, state: &BlockTree) -> bool {
        self.proxy_values(&[state])[0].as_ref().is_ok_and(|&p| p >= self.settings.mode_threshold)
    }

    fn score_batch(&self, states: &[&BlockTree]) -> Vec<Result<Scored, RewardError>> {
        self.proxy_values(states)
            .into_iter()
            .map(|value| {
                value
                    .map(|proxy| Scored { score: Some(proxy), ..Scored::of(self.settings.log_reward(proxy)) })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reward_transform_clips_normalises_and_exponentiates() {
        let settings = SehRewardSettings::default();
        assert_eq!(settings.normalized_reward(-3.0), 0.1 / 8.0);
        assert!((settings.log_reward(8.0)).abs() < 1e-12);
        assert!((settings.log_reward(4.0) - 10.0 * 0.5f64.ln()).abs() < 1e-12);
        let flat = SehRewardSettings { exponent: 1.0, ..settings };
        assert!((flat.log_reward(0.05) - (0.1f64 / 8.0).ln()).abs() < 1e-12);
    }
}
