//! The Prometheus series of fragment-molecule runs, set by the molecule recorder
//! ([`super::results`]) and described by the learner through [`all`].

use crate::metrics::MetricDescription;

/// Generated molecules recorded.
pub const MOLECULES_STORED: &str = "gfn_learner_molecules_recorded_total";
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

/// Every series of the task with its help text.
pub fn all() -> Vec<MetricDescription> {
    vec![
        MetricDescription::counter(MOLECULES_STORED, "Generated molecules recorded."),
        MetricDescription::gauge(MOLECULES_DISTINCT, "Distinct molecules generated so far."),
        MetricDescription::gauge(UNIQUE_FRACTION, "Distinct molecules divided by molecules generated."),
        MetricDescription::gauge(
            TOP_K_REWARD,
            "Average max(proxy, R_min)/norm of the top k distinct molecules.",
        ),
        MetricDescription::gauge(
            MOLECULE_MODES,
            "Distinct high-proxy molecules dissimilar (ECFP4 Tanimoto) to earlier ones.",
        ),
        MetricDescription::gauge(BEST_PROXY, "Best sEH proxy value generated so far."),
        MetricDescription::gauge(
            TOP_K_PROXY,
            "Average max(proxy, R_min) of the top k distinct molecules (proxy units).",
        ),
        MetricDescription::gauge(
            MODES_AT_PROXY,
            "Modes (ECFP4-dissimilar distinct molecules) at a proxy threshold.",
        ),
        MetricDescription::gauge(
            SCAFFOLDS_AT_PROXY,
            "Distinct Bemis-Murcko scaffolds among molecules at a proxy threshold.",
        ),
        MetricDescription::gauge(
            TOP1000_SIMILARITY,
            "Mean pairwise ECFP4 Tanimoto similarity of the top 1000 molecules.",
        ),
    ]
}
