//! The reward of a preference-conditioned run: a task's objectives of the terminal object
//! ([`ObjectiveModel`]), scalarised under the trajectory's preference and raised to its `β`
//! ([`PreferenceConditioning::log_reward`]).

use std::sync::Arc;

use super::scalarization::PreferenceConditioning;
use super::{Reward, RewardError, Scored};
use crate::env::preference::Preferred;

/// One object's objectives: raw values and their normalisation to [0, 1], in the order of the
/// run's `conditioning.objectives`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectiveValues {
    /// Raw values (the sEH proxy, QED, SA score, molecular weight, …).
    pub raw: Vec<f64>,
    /// Normalised values in [0, 1], higher is better.
    pub normalized: Vec<f64>,
    /// The task's usual raw score of the object (the sEH proxy for molecules), if it has one:
    /// it keeps the task's statistics and results meaningful.
    pub score: Option<f64>,
    /// Where each value came from (`"builtin"`, `"<service>:<model>@<version>"`), when some
    /// come from reward services; empty when all are built in.
    pub sources: Vec<String>,
}

/// A task's named objectives, computed for batches of terminal objects.
pub trait ObjectiveModel<S>: Send + Sync {
    /// The values of each of `states`.
    fn evaluate(&self, states: &[&S]) -> Vec<Result<ObjectiveValues, RewardError>>;

    /// Whether `state` counts as a mode of the task (the default: none do).
    fn is_mode(&self, _state: &S) -> bool {
        false
    }

    /// A set of features of `state` whose Tanimoto (Jaccard) similarity measures how alike two
    /// objects are (for molecules: Morgan radius-2 environment identifiers, as RDKit's
    /// `GetMorganFingerprint`), sorted and distinct; `None` (the default) when the task has none.
    fn fingerprint(&self, _state: &S) -> Option<Vec<u64>> {
        None
    }
}

impl<S, M: ObjectiveModel<S> + ?Sized> ObjectiveModel<S> for Box<M> {
    fn evaluate(&self, states: &[&S]) -> Vec<Result<ObjectiveValues, RewardError>> {
        (**self).evaluate(states)
    }

    fn is_mode(&self, state: &S) -> bool {
        (**self).is_mode(state)
    }

    fn fingerprint(&self, state: &S) -> Option<Vec<u64>> {
        (**self).fingerprint(state)
    }
}

/// The Tanimoto similarity of two sorted, distinct feature sets (1 for two empty sets).
pub fn tanimoto(a: &[u64], b: &[u64]) -> f64 {
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = a.len() + b.len() - common;
    if union == 0 { 1.0 } else { common as f64 / union as f64 }
}

/// `s(r(x); w)^β` for a preference-conditioned object `(x, [w, β])`.
pub struct PreferenceReward<S> {
    model: Box<dyn ObjectiveModel<S>>,
    conditioning: Arc<PreferenceConditioning>,
}

impl<S> PreferenceReward<S> {
    /// Scalarises `model`'s objectives as `conditioning` says.
    pub fn new(model: Box<dyn ObjectiveModel<S>>, conditioning: PreferenceConditioning) -> Self {
        Self { model, conditioning: Arc::new(conditioning) }
    }

    /// The objectives' model.
    pub fn model(&self) -> &dyn ObjectiveModel<S> {
        self.model.as_ref()
    }
}

impl<S: Send + Sync> Reward<Preferred<S>> for PreferenceReward<S> {
    fn log_reward(&self, state: &Preferred<S>) -> Result<f64, RewardError> {
        self.score_batch(&[state]).remove(0).map(|s| s.log_reward)
    }

    fn is_mode(&self, state: &Preferred<S>) -> bool {
        self.model.is_mode(&state.state)
    }

    fn score_batch(&self, states: &[&Preferred<S>]) -> Vec<Result<Scored, RewardError>> {
        let inner: Vec<&S> = states.iter().map(|s| &s.state).collect();
        let expected = self.conditioning.num_objectives();
        self.model
            .evaluate(&inner)
            .into_iter()
            .zip(states)
            .map(|(values, state)| {
                let values = values?;
                if values.normalized.len() != expected || values.raw.len() != expected {
                    return Err(RewardError::Failed {
                        reason: format!(
                            "{} objective values for {expected} objectives",
                            values.normalized.len()
                        ),
                    });
                }
                let log_reward = self.conditioning.log_reward(state.condition.values(), &values.normalized);
                Ok(Scored {
                    score: values.score,
                    objectives: values.normalized,
                    raw_objectives: values.raw,
                    objective_sources: values.sources,
                    ..Scored::of(log_reward)
                })
            })
            .collect()
    }
}
