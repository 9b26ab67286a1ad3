//! Statistics of the molecules a run has generated, as the paper reports them (Bengio et al.
//! 2021, §4.2 and its appendix), each against the number of molecules generated:
//!
//! * the average of the top 10/100/1000 distinct molecules, in proxy units
//!   (`max(proxy, R_min)`) and in the paper's reward units (`max(proxy, R_min) / norm`);
//! * modes at proxy thresholds 7, 7.5 and 8 (and at `env.mode_threshold`): a distinct molecule
//!   at or above the threshold whose ECFP4 Tanimoto similarity to every earlier mode of that
//!   threshold is below `env.mode_max_similarity` (0.7);
//! * distinct Bemis–Murcko scaffolds among the distinct molecules with proxy ≥ 7.5 and ≥ 8;
//! * the mean pairwise ECFP4 Tanimoto similarity of the top 1000 (a diversity measure: the
//!   paper reports 0.44 for its GFlowNet and 0.23 for a random agent).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use chematic::core::Molecule;
use chematic::fp::bitvec::BitVec2048;
use chematic::fp::ecfp::ecfp4;
use rustc_hash::FxHashSet;
use serde::Serialize;

use super::FragmentConfig;
use crate::env::molecule::canonical_smiles;
use crate::reward::SehRewardSettings;

/// Proxy thresholds at which modes are counted (the paper's figure uses 7 and up).
pub const MODE_THRESHOLDS: [f64; 3] = [7.0, 7.5, 8.0];
/// Proxy thresholds at which distinct scaffolds are counted.
pub const SCAFFOLD_THRESHOLDS: [f64; 2] = [7.5, 8.0];
/// The most molecules the top-k statistics rank.
pub const TOP: usize = 1000;

/// Running statistics over the molecules generated so far.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MoleculeStats {
    /// Molecules generated (every accepted trajectory).
    pub molecules: u64,
    /// Distinct molecules (canonical SMILES).
    pub distinct: u64,
    /// `distinct / molecules`.
    pub unique_fraction: f64,
    /// Average `max(proxy, R_min)/norm` of the 10 best distinct molecules (the paper's reward
    /// units; fewer than 10 count as 0).
    pub top10_reward: f64,
    /// … of the 100 best.
    pub top100_reward: f64,
    /// … of the 1000 best.
    pub top1000_reward: f64,
    /// Average `max(proxy, R_min)` of the 10 best distinct molecules (proxy units, the paper's
    /// table).
    pub top10_proxy: f64,
    /// … of the 100 best.
    pub top100_proxy: f64,
    /// … of the 1000 best.
    pub top1000_proxy: f64,
    /// Modes at `env.mode_threshold` (see the module docs).
    pub modes: u64,
    /// Modes at proxy ≥ 7.
    pub modes_proxy_7: u64,
    /// Modes at proxy ≥ 7.5.
    pub modes_proxy_7_5: u64,
    /// Modes at proxy ≥ 8.
    pub modes_proxy_8: u64,
    /// Distinct Bemis–Murcko scaffolds of the distinct molecules with proxy ≥ 7.5.
    pub scaffolds_proxy_7_5: u64,
    /// … with proxy ≥ 8.
    pub scaffolds_proxy_8: u64,
    /// Mean pairwise ECFP4 Tanimoto similarity of the top 1000 distinct molecules (of all
    /// of them while fewer); `None` until computed (see [`Tracker::refresh`]).
    pub top1000_similarity: Option<f64>,
    /// Best proxy value seen.
    pub best_proxy: f64,
}

/// Greedy mode finding at one threshold.
struct ModeSet {
    threshold: f64,
    fingerprints: Vec<BitVec2048>,
}

impl ModeSet {
    /// Counts `fingerprint` as a mode if `proxy` reaches the threshold and it is far from every
    /// earlier mode.
    fn offer(&mut self, proxy: f64, fingerprint: &BitVec2048, max_similarity: f64) {
        if proxy >= self.threshold
            && self.fingerprints.iter().all(|m| m.tanimoto(fingerprint) < max_similarity)
        {
            self.fingerprints.push(fingerprint.clone());
        }
    }
}

/// One of the best distinct molecules: its proxy and fingerprint.
#[derive(Debug, Clone)]
struct Ranked {
    proxy: f64,
    fingerprint: BitVec2048,
}
impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.proxy.total_cmp(&other.proxy).is_eq()
    }
}
impl Eq for Ranked {}
impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.proxy.total_cmp(&other.proxy)
    }
}

/// What the tracker needs of a molecule it has not seen before (computed lazily).
pub trait MoleculeView {
    /// The assembled molecule, or `None` if it cannot be had (a SMILES that does not parse).
    fn molecule(&mut self) -> Option<&Molecule>;
}

/// A molecule assembled already.
impl MoleculeView for &Molecule {
    fn molecule(&mut self) -> Option<&Molecule> {
        Some(self)
    }
}

/// A molecule known by its SMILES only (a run resumed from the database), parsed on demand.
pub struct FromSmiles<'a> {
    smiles: &'a str,
    parsed: Option<Option<Molecule>>,
}

impl<'a> FromSmiles<'a> {
    /// Wraps `smiles`.
    pub fn new(smiles: &'a str) -> Self {
        Self { smiles, parsed: None }
    }
}

impl MoleculeView for FromSmiles<'_> {
    fn molecule(&mut self) -> Option<&Molecule> {
        self.parsed.get_or_insert_with(|| chematic::smiles::parse(self.smiles).ok()).as_ref()
    }
}

/// The statistics' state.
pub struct Tracker {
    settings: SehRewardSettings,
    mode_max_similarity: f64,
    seen: FxHashSet<String>,
    /// The best `TOP` distinct molecules (a min-heap).
    best: BinaryHeap<Reverse<Ranked>>,
    /// Modes at `env.mode_threshold`, then at each of [`MODE_THRESHOLDS`].
    mode_sets: Vec<ModeSet>,
    /// Distinct scaffolds at each of [`SCAFFOLD_THRESHOLDS`].
    scaffolds: [FxHashSet<String>; 2],
    /// Lowest proxy at which a molecule can count as a mode or for a scaffold.
    candidate_threshold: f64,
    stats: MoleculeStats,
}

impl Tracker {
    /// An empty tracker for a run with `config`.
    pub fn new(config: &FragmentConfig) -> Self {
        let settings = config.reward_settings();
        let mode_sets: Vec<ModeSet> = std::iter::once(settings.mode_threshold)
            .chain(MODE_THRESHOLDS)
            .map(|threshold| ModeSet { threshold, fingerprints: Vec::new() })
            .collect();
        let candidate_threshold =
            mode_sets.iter().map(|s| s.threshold).fold(SCAFFOLD_THRESHOLDS[0], f64::min);
        Self {
            settings,
            mode_max_similarity: config.mode_max_similarity,
            seen: FxHashSet::default(),
            best: BinaryHeap::new(),
            mode_sets,
            scaffolds: Default::default(),
            candidate_threshold,
            stats: MoleculeStats::default(),
        }
    }

    /// Molecules counted so far.
    pub fn molecules(&self) -> u64 {
        self.stats.molecules
    }

    /// Whether the top-1000 similarity has been computed (it needs two molecules).
    pub fn has_similarity(&self) -> bool {
        self.stats.top1000_similarity.is_some()
    }

    /// Counts one molecule of canonical `smiles` and raw `proxy`.
    pub fn add(&mut self, smiles: &str, proxy: f64, mut view: impl MoleculeView) {
        self.stats.molecules += 1;
        if self.stats.molecules == 1 || proxy > self.stats.best_proxy {
            self.stats.best_proxy = proxy;
        }
        if self.seen.contains(smiles) {
            return;
        }
        self.seen.insert(smiles.to_string());
        self.stats.distinct += 1;
        let clipped = self.clipped(proxy);
        let enters_top =
            self.best.len() < TOP || self.best.peek().is_some_and(|Reverse(low)| clipped > low.proxy);
        let scores_high = proxy >= self.candidate_threshold;
        if !enters_top && !scores_high {
            return;
        }
        let Some(molecule) = view.molecule() else {
            return;
        };
        let fingerprint = ecfp4(molecule);
        for set in &mut self.mode_sets {
            set.offer(proxy, &fingerprint, self.mode_max_similarity);
        }
        if proxy >= SCAFFOLD_THRESHOLDS[0] {
            let scaffold = murcko_scaffold_smiles(molecule);
            for (set, &threshold) in self.scaffolds.iter_mut().zip(&SCAFFOLD_THRESHOLDS) {
                if proxy >= threshold {
                    set.insert(scaffold.clone());
                }
            }
        }
        if enters_top {
            self.best.push(Reverse(Ranked { proxy: clipped, fingerprint }));
            if self.best.len() > TOP {
                self.best.pop();
            }
        }
    }

    fn clipped(&self, proxy: f64) -> f64 {
        if proxy.is_nan() { self.settings.r_min } else { proxy.max(self.settings.r_min) }
    }

    /// The current statistics; with `diversity`, the mean pairwise similarity of the top 1000
    /// is recomputed (about 500,000 Tanimoto comparisons), else the last value is kept.
    pub fn refresh(&mut self, diversity: bool) -> MoleculeStats {
        let mut ranked: Vec<&Ranked> = self.best.iter().map(|Reverse(r)| r).collect();
        ranked.sort_by(|a, b| b.cmp(a));
        let top = |k: usize| ranked.iter().take(k).map(|r| r.proxy).sum::<f64>() / k as f64;
        let norm = self.settings.norm;
        let s = &mut self.stats;
        s.unique_fraction = if s.molecules == 0 { 0.0 } else { s.distinct as f64 / s.molecules as f64 };
        s.top10_proxy = top(10);
        s.top100_proxy = top(100);
        s.top1000_proxy = top(1000);
        s.top10_reward = s.top10_proxy / norm;
        s.top100_reward = s.top100_proxy / norm;
        s.top1000_reward = s.top1000_proxy / norm;
        let modes: Vec<u64> = self.mode_sets.iter().map(|m| m.fingerprints.len() as u64).collect();
        s.modes = modes[0];
        s.modes_proxy_7 = modes[1];
        s.modes_proxy_7_5 = modes[2];
        s.modes_proxy_8 = modes[3];
        s.scaffolds_proxy_7_5 = self.scaffolds[0].len() as u64;
        s.scaffolds_proxy_8 = self.scaffolds[1].len() as u64;
        if diversity {
            s.top1000_similarity = mean_pairwise_similarity(ranked.iter().map(|r| &r.fingerprint));
        }
        s.clone()
    }
}

/// Canonical SMILES of the Bemis–Murcko scaffold of `molecule` (RDKit's `GetScaffoldForMol`
/// rules, by chematic): ring systems, the linkers between them and atoms double-bonded to
/// those; the empty string for a molecule without rings.
pub fn murcko_scaffold_smiles(molecule: &Molecule) -> String {
    canonical_smiles(&chematic::chem::murcko_scaffold(molecule))
}

/// Mean Tanimoto similarity over all unordered pairs; `None` for fewer than two.
fn mean_pairwise_similarity<'a>(fingerprints: impl Iterator<Item = &'a BitVec2048>) -> Option<f64> {
    let fingerprints: Vec<&BitVec2048> = fingerprints.collect();
    let n = fingerprints.len();
    if n < 2 {
        return None;
    }
    let mut total = 0.0;
    for (i, a) in fingerprints.iter().enumerate() {
        for b in &fingerprints[i + 1..] {
            total += a.tanimoto(b);
        }
    }
    Some(total / (n * (n - 1) / 2) as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn add(tracker: &mut Tracker, smiles: &str, proxy: f64) {
        tracker.add(smiles, proxy, FromSmiles::new(smiles));
    }

    #[test]
    fn top_k_in_proxy_and_reward_units_modes_and_uniqueness() {
        let config = FragmentConfig { mode_threshold: 7.0, ..FragmentConfig::default() };
        let mut tracker = Tracker::new(&config);
        add(&mut tracker, "CCO", 8.0);
        add(&mut tracker, "CCO", 8.0); // duplicate: counted, not distinct
        add(&mut tracker, "CCCO", 7.5); // similar to CCO? ECFP4 decides
        add(&mut tracker, "c1ccccc1N", 9.0);
        add(&mut tracker, "C", -1.0);
        let stats = tracker.refresh(true);
        assert_eq!(stats.molecules, 5);
        assert_eq!(stats.distinct, 4);
        assert!((stats.unique_fraction - 0.8).abs() < 1e-12);
        // top 10 of 4 distinct: (9 + 8 + 7.5 + 0.1) / 10 in proxy units, / 8 in reward units
        assert!((stats.top10_proxy - (9.0 + 8.0 + 7.5 + 0.1) / 10.0).abs() < 1e-12);
        assert!((stats.top10_reward - (9.0 + 8.0 + 7.5 + 0.1) / 8.0 / 10.0).abs() < 1e-12);
        let similarity = ecfp4(&chematic::smiles::parse("CCO").unwrap())
            .tanimoto(&ecfp4(&chematic::smiles::parse("CCCO").unwrap()));
        let expected_modes = if similarity < 0.7 { 3 } else { 2 };
        assert_eq!(stats.modes, expected_modes, "Tanimoto(CCO, CCCO) = {similarity}");
        assert_eq!(stats.modes_proxy_7, expected_modes);
        // at 7.5: the same three candidates; at 8: CCO and the aniline
        assert_eq!(stats.modes_proxy_7_5, expected_modes);
        assert_eq!(stats.modes_proxy_8, 2);
        // scaffolds: CCO and CCCO have none (the empty scaffold), the aniline has benzene
        assert_eq!(stats.scaffolds_proxy_7_5, 2);
        assert_eq!(stats.scaffolds_proxy_8, 2);
        assert_eq!(stats.best_proxy, 9.0);
        assert!(stats.top1000_similarity.is_some_and(|s| (0.0..=1.0).contains(&s)));
    }

    #[test]
    fn scaffolds_count_distinct_ring_systems_with_their_linkers() {
        let config = FragmentConfig::default();
        let mut tracker = Tracker::new(&config);
        // toluene and phenol share benzene; biphenyl ether is another scaffold; ethanol has none
        for (smiles, proxy) in
            [("Cc1ccccc1", 8.1), ("Oc1ccccc1", 7.6), ("c1ccccc1Oc1ccccc1C", 8.2), ("CCO", 7.9)]
        {
            add(&mut tracker, smiles, proxy);
        }
        let stats = tracker.refresh(false);
        assert_eq!(stats.scaffolds_proxy_7_5, 3);
        assert_eq!(stats.scaffolds_proxy_8, 2);
        assert_eq!(stats.top1000_similarity, None, "not computed without diversity");
    }

    #[test]
    fn scaffolds_follow_rdkits_examples() {
        // rdkit.Chem.Scaffolds.MurckoScaffold's documented examples
        let scaffold = |s: &str| murcko_scaffold_smiles(&chematic::smiles::parse(s).unwrap());
        let canonical = |s: &str| canonical_smiles(&chematic::smiles::parse(s).unwrap());
        assert_eq!(scaffold("Cc1ccccc1"), canonical("c1ccccc1"));
        assert_eq!(scaffold("Cc1cc(Oc2nccc(CCC)c2)ccc1"), canonical("c1ccc(Oc2ccccn2)cc1"));
        assert_eq!(scaffold("CCO"), "");
    }

    #[test]
    fn pairwise_similarity_of_identical_and_disjoint_fingerprints() {
        let a = ecfp4(&chematic::smiles::parse("c1ccccc1").unwrap());
        let b = ecfp4(&chematic::smiles::parse("CCCCCCCCO").unwrap());
        assert_eq!(mean_pairwise_similarity([&a, &a].into_iter()), Some(1.0));
        let mixed = mean_pairwise_similarity([&a, &a, &b].into_iter()).unwrap();
        let ab = a.tanimoto(&b);
        assert!((mixed - (1.0 + 2.0 * ab) / 3.0).abs() < 1e-12);
        assert_eq!(mean_pairwise_similarity([&a].into_iter()), None);
    }
}
