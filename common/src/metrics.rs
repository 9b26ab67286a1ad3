//! Training metrics: the evaluation record written as one JSON line per evaluation, and the
//! names of the Prometheus series that evaluations and result recorders set.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};

/// One evaluation of the policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluationRecord {
    /// Updates applied.
    pub update: u64,
    /// Trajectories trained on.
    pub trajectories: u64,
    /// Seconds spent sampling and learning so far (evaluation excluded).
    pub training_seconds: f64,
    /// Mean training loss since the previous evaluation.
    pub loss: f64,
    /// `Σ_x |p_θ(x) − R(x)/Z|` with `p_θ` computed exactly by dynamic programming.
    pub exact_l1: f64,
    /// The same distance with `p_θ` estimated from fresh on-policy samples.
    pub empirical_l1: Option<f64>,
    /// Distinct modes visited as terminal objects during training.
    pub modes_found: usize,
    /// Number of modes of the reward.
    pub num_modes: usize,
    /// The learned `log Z` (log total flow out of `s0`).
    pub learned_log_z: Option<f64>,
    /// The true `log Σ_x R(x)`.
    pub true_log_z: Option<f64>,
}

/// Appends records to a JSON-lines file, flushing after each one.
pub struct JsonLinesLog {
    writer: BufWriter<File>,
}

impl JsonLinesLog {
    /// Opens `path` for appending, creating it and its directory.
    pub fn append(path: &Path) -> io::Result<Self> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Self { writer: BufWriter::new(file) })
    }

    /// Writes one record as a line.
    pub fn write<T: Serialize>(&mut self, record: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.writer, record)?;
        self.writer.write_all(b"\n")?;
        self.writer.flush()
    }
}

/// Names of the Prometheus series set by evaluations and result recorders (the learner
/// process exports them; in a process without a recorder they cost nothing).
pub mod names {
    /// Exact L1 of the latest evaluation.
    pub const EXACT_L1: &str = "gfn_learner_exact_l1";
    /// Empirical L1 of the latest evaluation.
    pub const EMPIRICAL_L1: &str = "gfn_learner_empirical_l1";
    /// Distinct modes found so far.
    pub const MODES_FOUND: &str = "gfn_learner_modes_found";
    /// Learned log Z of the latest evaluation.
    pub const LEARNED_LOG_Z: &str = "gfn_learner_learned_log_z";
    /// Spearman correlation between estimated `log p(x)` and `log R(x)` on a test set.
    pub const SPEARMAN: &str = "gfn_learner_log_probability_reward_spearman";
    /// Generated molecules recorded (fragment runs).
    pub const MOLECULES_STORED: &str = "gfn_learner_molecules_recorded_total";
    /// Generated molecules not recorded because the recorder fell behind.
    pub const RESULTS_DROPPED: &str = "gfn_learner_results_dropped_total";
    /// Distinct molecules generated so far.
    pub const MOLECULES_DISTINCT: &str = "gfn_learner_molecules_distinct";
    /// Distinct molecules / molecules generated.
    pub const UNIQUE_FRACTION: &str = "gfn_learner_unique_fraction";
    /// Average reward `max(proxy, R_min)/norm` of the top `k` distinct molecules (`k` = 10, 100, 1000).
    pub const TOP_K_REWARD: &str = "gfn_learner_top_k_reward";
    /// Modes: distinct molecules above the proxy threshold, dissimilar (ECFP4) to earlier modes.
    pub const MOLECULE_MODES: &str = "gfn_learner_molecule_modes";
    /// Best proxy value generated so far.
    pub const BEST_PROXY: &str = "gfn_learner_best_proxy";
    /// Average `max(proxy, R_min)` of the top `k` distinct molecules (proxy units; `k` = 10, 100, 1000).
    pub const TOP_K_PROXY: &str = "gfn_learner_top_k_proxy";
    /// Modes at a proxy `threshold` (7, 7.5, 8): ECFP4 Tanimoto < `env.mode_max_similarity` to earlier ones.
    pub const MODES_AT_PROXY: &str = "gfn_learner_modes_at_proxy";
    /// Distinct Bemis–Murcko scaffolds of the distinct molecules at a proxy `threshold` (7.5, 8).
    pub const SCAFFOLDS_AT_PROXY: &str = "gfn_learner_scaffolds_at_proxy";
    /// Mean pairwise ECFP4 Tanimoto similarity of the top 1000 distinct molecules.
    pub const TOP1000_SIMILARITY: &str = "gfn_learner_top1000_similarity";
}
