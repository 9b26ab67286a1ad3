//! The evaluation of a preference-conditioned run, as Multi-Objective GFlowNets (Jain et al.
//! 2023) and recursionpharma/gflownet report it: for each evaluation preference (the simplex
//! grid, `conditioning.evaluation_divisions`; 35 for four objectives) the learner samples
//! `conditioning.evaluation_samples` objects from its policy under that preference and the
//! highest `β` of the run, and computes their objectives. Over all of them:
//!
//! - **hypervolume** of the normalised objective vectors, reference point 0 (exact);
//! - **R2** of their Pareto front over the evaluation preferences, utopian point 1 (lower is
//!   better);
//! - **Pareto front size**;
//! - per preference, the mean scalarised reward `s(r; w)` of its **top k** and their mean
//!   pairwise Tanimoto **diversity** (1 − similarity; tasks with a fingerprint), averaged over
//!   the preferences;
//! - **preference following**: the fraction of preferences `w` for which the objects sampled
//!   under `w` have the highest mean `s(r; w)` among the objects sampled under every evaluation
//!   preference (1 for a policy that follows every preference; about 1/P for one that ignores
//!   them);
//! - **following rank**: where the objects sampled under `w` rank by that mean among the `P`
//!   preferences' objects (1 = best), averaged over the preferences: 1 when every preference
//!   is followed, about `(P + 1) / 2` for a policy that ignores them. It separates a policy that
//!   follows the preference loosely (its neighbours' samples serve it about as well) from one
//!   that ignores it, where the strict fraction above reads near 0 for both.

use rand::SeedableRng;
use serde::Serialize;

use crate::config::RunConfig;
use crate::env::Environment;
use crate::env::preference::PreferenceConditioned;
use crate::eval::TrainingCounters;
use crate::model::Model;
use crate::pareto::{hypervolume, pareto_front, r2_indicator, simplex_grid};
use crate::policy::Exploration;
use crate::reward::preference::{ObjectiveModel, tanimoto};
use crate::reward::scalarization::Scalarization;
use crate::sampler::Sampler;
use crate::task::TaskError;
use crate::task::evaluation::{BasicRecord, Evaluated, RunEvaluation};

/// Names of the Prometheus gauges the evaluation sets.
pub mod metric_names {
    /// Hypervolume of the evaluation samples' objectives (reference point 0).
    pub const HYPERVOLUME: &str = "gfn_learner_pareto_hypervolume";
    /// R2 indicator of their Pareto front over the evaluation preferences.
    pub const R2: &str = "gfn_learner_pareto_r2";
    /// Points on their Pareto front.
    pub const FRONT_SIZE: &str = "gfn_learner_pareto_front_size";
    /// Mean over the evaluation preferences of the top-k mean scalarised reward.
    pub const TOP_K_REWARD: &str = "gfn_learner_preference_top_k_reward";
    /// Mean over the evaluation preferences of the top-k mean pairwise Tanimoto distance.
    pub const TOP_K_DIVERSITY: &str = "gfn_learner_preference_top_k_diversity";
    /// Fraction of evaluation preferences whose own samples score best under them.
    pub const PREFERENCE_FOLLOWING: &str = "gfn_learner_preference_following";
    /// Mean rank (1 = best) of each evaluation preference's own samples under it.
    pub const PREFERENCE_FOLLOWING_RANK: &str = "gfn_learner_preference_following_rank";
}

/// Every gauge of the evaluation with its help text.
pub fn metrics() -> Vec<crate::metrics::MetricDescription> {
    use crate::metrics::MetricDescription as D;
    use metric_names::*;
    vec![
        D::gauge(HYPERVOLUME, "Hypervolume of the evaluation samples' normalised objectives (reference 0)."),
        D::gauge(R2, "R2 indicator of the evaluation samples' Pareto front (lower is better)."),
        D::gauge(FRONT_SIZE, "Points on the evaluation samples' Pareto front."),
        D::gauge(TOP_K_REWARD, "Mean over evaluation preferences of the top-k mean scalarised reward."),
        D::gauge(TOP_K_DIVERSITY, "Mean over evaluation preferences of the top-k mean Tanimoto distance."),
        D::gauge(PREFERENCE_FOLLOWING, "Fraction of evaluation preferences whose own samples score best."),
        D::gauge(
            PREFERENCE_FOLLOWING_RANK,
            "Mean rank (1 = best) of each evaluation preference's own samples.",
        ),
    ]
}

/// The figures of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParetoFigures {
    /// Hypervolume of all evaluation samples' normalised objectives, reference point 0.
    pub hypervolume: f64,
    /// R2 indicator of their Pareto front over the evaluation preferences (lower is better).
    pub r2: f64,
    /// Points on their Pareto front (distinct objective vectors).
    pub pareto_front_size: usize,
    /// Mean over the preferences of the mean scalarised reward `s(r; w)` of each one's top k.
    pub top_k_reward: f64,
    /// Mean over the preferences of the mean pairwise Tanimoto distance of each one's top k.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k_diversity: Option<f64>,
    /// Fraction of preferences whose own samples have the highest mean `s(r; w)`.
    pub preference_following: f64,
    /// Mean over the preferences of the rank (1 = best) of their own samples' mean `s(r; w)`
    /// among every preference's samples; ties count in the own samples' favour.
    pub preference_following_rank: f64,
    /// Per preference, the mean scalarised reward of its top k (in the order of the grid).
    pub top_k_reward_per_preference: Vec<f64>,
}

/// The samples of one evaluation preference: each object's normalised objectives and, when the
/// task has one, its fingerprint.
#[derive(Debug, Clone, Default)]
pub struct PreferenceSamples {
    /// Normalised objective vectors.
    pub objectives: Vec<Vec<f64>>,
    /// Fingerprints, one per object (empty when the task has none).
    pub fingerprints: Vec<Vec<u64>>,
}

/// The figures of samples drawn under each of `preferences` (`samples[i]` under
/// `preferences[i]`).
pub fn pareto_figures(
    preferences: &[Vec<f64>],
    samples: &[PreferenceSamples],
    scalarization: Scalarization,
    top_k: usize,
) -> ParetoFigures {
    let all: Vec<Vec<f64>> = samples.iter().flat_map(|s| s.objectives.iter().cloned()).collect();
    let mut front: Vec<Vec<f64>> = pareto_front(&all).into_iter().map(|i| all[i].clone()).collect();
    front.sort_by(|a, b| a.partial_cmp(b).expect("finite objectives"));
    front.dedup();
    let n = preferences.first().map_or(0, Vec::len);
    let hypervolume = hypervolume(&front, &vec![0.0; n]);
    let r2 = r2_indicator(preferences, &front, &vec![1.0; n]);
    let mut top_rewards = Vec::with_capacity(preferences.len());
    let mut diversities = Vec::new();
    for (preference, drawn) in preferences.iter().zip(samples) {
        let mut order: Vec<(f64, usize)> = drawn
            .objectives
            .iter()
            .enumerate()
            .map(|(i, r)| (scalarization.apply(preference, r), i))
            .collect();
        order.sort_by(|a, b| b.0.total_cmp(&a.0));
        order.truncate(top_k);
        top_rewards.push(mean(order.iter().map(|(s, _)| *s)));
        if drawn.fingerprints.len() == drawn.objectives.len() && order.len() >= 2 {
            let top: Vec<&Vec<u64>> = order.iter().map(|&(_, i)| &drawn.fingerprints[i]).collect();
            let distances = top
                .iter()
                .enumerate()
                .flat_map(|(i, a)| top[i + 1..].iter().map(move |b| 1.0 - tanimoto(a, b)));
            diversities.push(mean(distances));
        }
    }
    // per preference: how many preferences' samples beat its own under it
    let beaten_by: Vec<usize> = preferences
        .iter()
        .enumerate()
        .map(|(i, preference)| {
            let under = |drawn: &PreferenceSamples| {
                mean(drawn.objectives.iter().map(|r| scalarization.apply(preference, r)))
            };
            let own = under(&samples[i]);
            samples.iter().filter(|drawn| under(drawn) > own).count()
        })
        .collect();
    let following = beaten_by.iter().filter(|&&beaten| beaten == 0).count();
    ParetoFigures {
        hypervolume,
        r2,
        pareto_front_size: front.len(),
        top_k_reward: mean(top_rewards.iter().copied()),
        top_k_diversity: (diversities.len() == preferences.len() && !diversities.is_empty())
            .then(|| mean(diversities.iter().copied())),
        preference_following: following as f64 / preferences.len().max(1) as f64,
        preference_following_rank: mean(beaten_by.iter().map(|&beaten| 1.0 + beaten as f64)),
        top_k_reward_per_preference: top_rewards,
    }
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) = values.fold((0.0, 0usize), |(s, c), v| (s + v, c + 1));
    if count == 0 { f64::NAN } else { sum / count as f64 }
}

/// The record of one evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct ParetoRecord {
    /// Updates, trajectories, training time, loss and `log Z` of the reference condition.
    #[serde(flatten)]
    pub training: BasicRecord,
    /// The Pareto figures.
    #[serde(flatten)]
    pub pareto: ParetoFigures,
    /// The `β` the evaluation samples under.
    pub evaluation_reward_exponent: f64,
    /// Sampled objects whose objectives could not be computed (left out).
    pub objects_failed: usize,
}

/// The evaluation of a preference-conditioned run.
pub struct ParetoEvaluation<E: Environment> {
    env: PreferenceConditioned<E>,
    model: Box<dyn ObjectiveModel<E::State>>,
    preferences: Vec<Vec<f64>>,
    samples: usize,
    top_k: usize,
    rng: rand_pcg::Pcg64Mcg,
}

impl<E: Environment> ParetoEvaluation<E> {
    /// Evaluates on `env` with the objectives of `model`, as `config.conditioning` says.
    pub fn new(
        env: PreferenceConditioned<E>,
        model: Box<dyn ObjectiveModel<E::State>>,
        config: &RunConfig,
    ) -> Self {
        let conditioning = &config.conditioning;
        let preferences =
            simplex_grid(env.conditioning().num_objectives(), conditioning.evaluation_divisions);
        Self {
            env,
            model,
            preferences,
            samples: conditioning.evaluation_samples,
            top_k: conditioning.evaluation_top_k,
            rng: rand_pcg::Pcg64Mcg::seed_from_u64(config.seed ^ 0x5eed_fa11),
        }
    }

    /// The evaluation preferences.
    pub fn preferences(&self) -> &[Vec<f64>] {
        &self.preferences
    }

    /// Samples under every evaluation preference from `model`'s policy and computes the
    /// objects' objectives; also returns how many failed.
    pub fn sample(&mut self, model: &Model) -> (Vec<PreferenceSamples>, usize) {
        let beta = self.env.conditioning().reward_exponent.1;
        let exploration = Exploration { temperature: 1.0, epsilon: 0.0 };
        let mut failed = 0;
        let mut all = Vec::with_capacity(self.preferences.len());
        for preference in &self.preferences {
            let condition =
                self.env.conditioning().condition(preference, beta).expect("grid preferences are valid");
            let mut sampler =
                Sampler::new(&self.env, exploration).with_condition(condition).expect("checked above");
            let drawn = sampler.sample(model.network(), self.samples, &mut self.rng);
            let terminals: Vec<&E::State> = drawn.iter().map(|d| &d.terminal.state).collect();
            let mut samples = PreferenceSamples::default();
            let mut fingerprints = Vec::new();
            for (terminal, values) in terminals.iter().zip(self.model.evaluate(&terminals)) {
                match values {
                    Ok(values) => {
                        samples.objectives.push(values.normalized);
                        fingerprints.push(self.model.fingerprint(terminal));
                    }
                    Err(_) => failed += 1,
                }
            }
            if fingerprints.iter().all(Option::is_some) {
                samples.fingerprints = fingerprints.into_iter().flatten().collect();
            }
            all.push(samples);
        }
        (all, failed)
    }
}

impl<E: Environment> RunEvaluation<PreferenceConditioned<E>> for ParetoEvaluation<E> {
    fn evaluate(&mut self, model: &Model, counters: TrainingCounters) -> Result<Evaluated, TaskError> {
        let training = BasicRecord::new(&counters, model.learned_log_z(&self.env));
        let (samples, objects_failed) = self.sample(model);
        let scalarization = self.env.conditioning().scalarization;
        let pareto = pareto_figures(&self.preferences, &samples, scalarization, self.top_k);
        {
            use metric_names::*;
            metrics::gauge!(HYPERVOLUME).set(pareto.hypervolume);
            metrics::gauge!(R2).set(pareto.r2);
            metrics::gauge!(FRONT_SIZE).set(pareto.pareto_front_size as f64);
            metrics::gauge!(TOP_K_REWARD).set(pareto.top_k_reward);
            if let Some(diversity) = pareto.top_k_diversity {
                metrics::gauge!(TOP_K_DIVERSITY).set(diversity);
            }
            metrics::gauge!(PREFERENCE_FOLLOWING).set(pareto.preference_following);
            metrics::gauge!(PREFERENCE_FOLLOWING_RANK).set(pareto.preference_following_rank);
        }
        let line = format!(
            "update {:>6}  trajectories {:>8}  loss {:>9.5}  HV {:.4}  R2 {:.3}  front {}  top-{} {:.3}{}  follows {:.2} (rank {:.1})",
            training.update,
            training.trajectories,
            training.loss,
            pareto.hypervolume,
            pareto.r2,
            pareto.pareto_front_size,
            self.top_k,
            pareto.top_k_reward,
            pareto.top_k_diversity.map(|d| format!("  diversity {d:.3}")).unwrap_or_default(),
            pareto.preference_following,
            pareto.preference_following_rank,
        );
        let record = ParetoRecord {
            training,
            pareto,
            evaluation_reward_exponent: self.env.conditioning().reward_exponent.1,
            objects_failed,
        };
        Ok(Evaluated::new(line, &record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_by_hand() {
        let preferences = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let samples = vec![
            PreferenceSamples {
                objectives: vec![vec![0.9, 0.1], vec![0.5, 0.5], vec![0.4, 0.4]],
                fingerprints: vec![vec![1, 2], vec![2, 3], vec![9]],
            },
            PreferenceSamples { objectives: vec![vec![0.1, 0.8], vec![0.2, 0.7]], fingerprints: vec![] },
        ];
        let figures = pareto_figures(&preferences, &samples, Scalarization::WeightedSum, 2);
        // front: (0.9,0.1), (0.5,0.5), (0.2,0.7), (0.1,0.8)
        assert_eq!(figures.pareto_front_size, 4);
        let hv = 0.1 * 0.8 + 0.1 * 0.7 + 0.3 * 0.5 + 0.4 * 0.1;
        assert!((figures.hypervolume - hv).abs() < 1e-12, "{}", figures.hypervolume);
        // top 2 under (1,0): 0.9, 0.5; under (0,1): 0.8, 0.7
        assert_eq!(figures.top_k_reward_per_preference, vec![0.7, 0.75]);
        assert!((figures.top_k_reward - 0.725).abs() < 1e-12);
        // only the first preference has fingerprints: no diversity figure
        assert_eq!(figures.top_k_diversity, None);
        assert_eq!(figures.preference_following, 1.0);
        assert_eq!(figures.preference_following_rank, 1.0);
        // R2 with utopian 1: (1,0) → min over front of |1 − a₀| = 0.1; (0,1) → 0.2; / ‖P‖ = √2
        assert!((figures.r2 - 0.3 / 2f64.sqrt()).abs() < 1e-12);
        // swapped samples: neither preference is followed, each ranks last of 2
        let swapped = vec![samples[1].clone(), samples[0].clone()];
        let figures = pareto_figures(&preferences, &swapped, Scalarization::WeightedSum, 2);
        assert_eq!(figures.preference_following, 0.0);
        assert_eq!(figures.preference_following_rank, 2.0);
        // diversity: top 2 of the first are {1,2} and {2,3}: Tanimoto 1/3
        let both = vec![samples[0].clone(), samples[0].clone()];
        let figures = pareto_figures(&preferences, &both, Scalarization::WeightedSum, 2);
        let d = figures.top_k_diversity.unwrap();
        // under (0,1) the top 2 are (0.5,0.5) and (0.4,0.4): {2,3} and {9}, distance 1
        assert!((d - (2.0 / 3.0 + 1.0) / 2.0).abs() < 1e-12, "{d}");
    }

    #[test]
    fn the_following_rank_counts_the_preferences_whose_samples_beat_a_preferences_own() {
        let preferences = vec![vec![1.0, 0.0], vec![0.5, 0.5], vec![0.0, 1.0]];
        let drawn =
            |objectives: Vec<f64>| PreferenceSamples { objectives: vec![objectives], fingerprints: vec![] };
        // under (1,0): 0.9, 0.2, 0.1 (own best); under (½,½): 0.5, 0.2, 0.5 (own last of 3);
        // under (0,1): 0.1, 0.2, 0.9 (own best)
        let samples = vec![drawn(vec![0.9, 0.1]), drawn(vec![0.2, 0.2]), drawn(vec![0.1, 0.9])];
        let figures = pareto_figures(&preferences, &samples, Scalarization::WeightedSum, 1);
        assert!((figures.preference_following - 2.0 / 3.0).abs() < 1e-12);
        assert!((figures.preference_following_rank - 5.0 / 3.0).abs() < 1e-12);
        // a tie with the own samples counts for them: every preference given the same samples
        let same = vec![drawn(vec![0.5, 0.5]); 3];
        let figures = pareto_figures(&preferences, &same, Scalarization::WeightedSum, 1);
        assert_eq!((figures.preference_following, figures.preference_following_rank), (1.0, 1.0));
    }
}
