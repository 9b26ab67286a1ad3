//! The objectives of fragment molecules for multi-objective runs: any of `seh`, `qed`, `sa`, `mw`
//! ([`super::NAMES`]) of the assembled molecule, raw and normalised as the module says. sEH runs
//! as one batched forward pass of the proxy; QED, SA and MW are computed per molecule from its
//! canonical SMILES (RDKit-identical, `tests/tests/objectives_parity.rs`).

use std::path::Path;

use cosmolkit::Molecule;

use super::{SaScorer, normalize_mw, normalize_sa, normalize_seh};
use crate::env::FragmentEnvironment;
use crate::env::junction_tree::BlockTree;
use crate::env::molecule::canonical_smiles;
use crate::reward::RewardError;
use crate::reward::SehReward;
use crate::reward::preference::{ObjectiveModel, ObjectiveValues};

/// One of the molecule objectives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Objective {
    Seh,
    Qed,
    Sa,
    Mw,
}

impl Objective {
    fn named(name: &str) -> Option<Self> {
        match name {
            "seh" => Some(Self::Seh),
            "qed" => Some(Self::Qed),
            "sa" => Some(Self::Sa),
            "mw" => Some(Self::Mw),
            _ => None,
        }
    }
}

/// Computes the chosen objectives of junction trees.
pub struct MoleculeObjectives {
    env: FragmentEnvironment,
    objectives: Vec<Objective>,
    /// The sEH proxy: always loaded (its value is the task's score and decides modes).
    seh: SehReward,
    /// The SA fragment table, when `sa` is among the objectives.
    sa: Option<SaScorer>,
}

impl MoleculeObjectives {
    /// The objectives `names` of `env`'s molecules: `seh` from the proxy `seh`, `sa` from the
    /// fragment table at `sa_fragment_scores` (read only when `sa` is named).
    pub fn new(
        env: FragmentEnvironment,
        names: &[String],
        seh: SehReward,
        sa_fragment_scores: &Path,
    ) -> Result<Self, String> {
        let objectives = names
            .iter()
            .map(|name| {
                Objective::named(name)
                    .ok_or_else(|| format!("no molecule objective {name:?} (known: {:?})", super::NAMES))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let sa = if objectives.contains(&Objective::Sa) {
            let table = SaScorer::load(sa_fragment_scores).map_err(|error| {
                format!(
                    "reading the SA fragment table {} (env.sa_fragment_scores; RDKit's \
                     Contrib/SA_Score/fpscores.pkl.gz, scripts/molecule-data.sh installs it): {error}",
                    sa_fragment_scores.display()
                )
            })?;
            Some(table)
        } else {
            None
        };
        Ok(Self { env, objectives, seh, sa })
    }

    /// The canonical SMILES of `tree`'s molecule.
    fn smiles(&self, tree: &BlockTree) -> Result<String, RewardError> {
        let assembled = self.env.molecule(tree).map_err(|e| RewardError::Failed { reason: e.to_string() })?;
        Ok(canonical_smiles(&assembled))
    }

    /// `smiles` as a `cosmolkit` molecule (for SA, MW and Morgan environments).
    fn cosmolkit_molecule(smiles: &str) -> Result<Molecule, RewardError> {
        Molecule::from_smiles(smiles).map_err(|e| RewardError::Failed { reason: format!("{smiles}: {e}") })
    }

    fn values(&self, tree: &BlockTree, seh: f64) -> Result<ObjectiveValues, RewardError> {
        let needs_smiles = self.objectives.iter().any(|o| *o != Objective::Seh);
        let smiles = if needs_smiles { self.smiles(tree)? } else { String::new() };
        let needs_molecule = self.objectives.iter().any(|o| matches!(o, Objective::Sa | Objective::Mw));
        let molecule = if needs_molecule { Some(Self::cosmolkit_molecule(&smiles)?) } else { None };
        let failed = |what: &str, error: &dyn std::fmt::Display| RewardError::Failed {
            reason: format!("{what} of {smiles}: {error}"),
        };
        let mut values = ObjectiveValues { score: Some(seh), ..ObjectiveValues::default() };
        for objective in &self.objectives {
            let (raw, normalized) = match objective {
                Objective::Seh => (seh, normalize_seh(seh)),
                Objective::Qed => {
                    let qed = super::qed(&smiles).map_err(|e| failed("QED", &e))?;
                    (qed, qed.clamp(0.0, 1.0))
                }
                Objective::Sa => {
                    let m = molecule.as_ref().expect("parsed when SA is named");
                    let sa = self
                        .sa
                        .as_ref()
                        .expect("loaded when named")
                        .score(m)
                        .map_err(|e| failed("SA", &e))?;
                    (sa, normalize_sa(sa))
                }
                Objective::Mw => {
                    let m = molecule.as_ref().expect("parsed when MW is named");
                    let mw = m.molecular_weight().map_err(|e| failed("molecular weight", &e))?;
                    (mw, normalize_mw(mw))
                }
            };
            values.raw.push(raw);
            values.normalized.push(normalized);
        }
        Ok(values)
    }
}

impl ObjectiveModel<BlockTree> for MoleculeObjectives {
    fn evaluate(&self, states: &[&BlockTree]) -> Vec<Result<ObjectiveValues, RewardError>> {
        self.seh
            .proxy_values(states)
            .into_iter()
            .zip(states)
            .map(|(seh, tree)| seh.and_then(|seh| self.values(tree, seh)))
            .collect()
    }

    /// A proxy value at or above `env.mode_threshold`.
    fn is_mode(&self, state: &BlockTree) -> bool {
        use crate::reward::Reward;
        self.seh.is_mode(state)
    }

    /// The molecule's radius-2 Morgan environment identifiers (RDKit's).
    fn fingerprint(&self, state: &BlockTree) -> Option<Vec<u64>> {
        let molecule = Self::cosmolkit_molecule(&self.smiles(state).ok()?).ok()?;
        let environments = super::sa::morgan_environments(&molecule).ok()?;
        let mut ids: Vec<u64> = environments.into_iter().map(|(id, _)| id).collect();
        ids.sort_unstable();
        ids.dedup();
        Some(ids)
    }
}
