//! The objectives of multi-objective molecule design, as Multi-Objective GFlowNets (Jain et al.,
//! ICML 2023) and recursionpharma/gflownet's `seh_frag_moo` define them: binding (the sEH proxy),
//! drug-likeness (QED), synthesisability (SA) and a size window (molecular weight). Each has a raw
//! value and a normalised one in [0, 1] (higher is better):
//!
//! | name  | raw                               | normalised                                   |
//! |-------|-----------------------------------|----------------------------------------------|
//! | `seh` | sEH proxy output                  | `seh / 8`, clipped to [0, 1]                 |
//! | `qed` | QED (Bickerton et al. 2012)       | `qed`                                        |
//! | `sa`  | SA score, 1 (easy) … 10 (hard)    | `(10 − sa) / 9`                              |
//! | `mw`  | average molecular weight, Da      | 1 up to 300 Da, falling linearly to 0 at 1000 |
//!
//! QED is `chematic`'s ([`qed`]), MW `cosmolkit`'s, SA is [`sa::SaScorer`]: all three agree with
//! RDKit to the last digit on the golden molecules and 1,500 random fragment molecules
//! (`tests/tests/objectives_parity.rs`). `cosmolkit` has a QED too, also RDKit's to the last
//! digit, but at 0.83 ms per golden molecule against chematic's 0.30 ms (parse included) it
//! made the objectives, not the policy, the cost of sampling (docs/BENCHMARKS.md).

pub mod molecule;
pub mod sa;

use cosmolkit::Molecule;

pub use sa::{FragmentTableError, SaError, SaScorer};

/// The objectives' names, in their order.
pub const NAMES: [&str; 4] = ["seh", "qed", "sa", "mw"];

/// `seh / 8` clipped to [0, 1].
pub fn normalize_seh(raw: f64) -> f64 {
    (raw / 8.0).clamp(0.0, 1.0)
}

/// `(10 − sa) / 9`: 1 for the easiest molecules, 0 for the hardest.
pub fn normalize_sa(raw: f64) -> f64 {
    ((10.0 - raw) / 9.0).clamp(0.0, 1.0)
}

/// 1 up to 300 Da, then linearly down to 0 at 1000 Da.
pub fn normalize_mw(raw: f64) -> f64 {
    ((1000.0 - raw) / 700.0).clamp(0.0, 1.0)
}

/// QED (Bickerton et al. 2012, RDKit's `QED.qed`) of the molecule `smiles`.
pub fn qed(smiles: &str) -> Result<f64, ObjectiveError> {
    let molecule = chematic::smiles::parse(smiles)
        .map_err(|error| ObjectiveError::Smiles { smiles: smiles.to_string(), reason: error.to_string() })?;
    Ok(chematic::chem::qed(&molecule))
}

/// Why a molecule's drug-likeness objectives could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectiveError {
    /// The SMILES does not parse (or is not a valid molecule).
    #[error("SMILES {smiles:?} does not parse: {reason}")]
    Smiles {
        /// The text.
        smiles: String,
        /// Why.
        reason: String,
    },
    /// QED or the molecular weight failed.
    #[error("{what} of {smiles:?}: {reason}")]
    Descriptor {
        /// Which descriptor.
        what: &'static str,
        /// The molecule.
        smiles: String,
        /// Why.
        reason: String,
    },
    /// The SA score failed.
    #[error(transparent)]
    Sa(#[from] SaError),
}

/// QED, SA and MW of one molecule (raw values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrugLikeness {
    /// QED in [0, 1].
    pub qed: f64,
    /// SA score in [1, 10].
    pub sa: f64,
    /// Average molecular weight in Da.
    pub mw: f64,
}

impl DrugLikeness {
    /// The normalised values, in the order of [`NAMES`] without `seh`.
    pub fn normalized(&self) -> [f64; 3] {
        [self.qed, normalize_sa(self.sa), normalize_mw(self.mw)]
    }
}

/// Computes QED, SA and MW of molecules given as SMILES.
#[derive(Debug, Clone)]
pub struct DrugLikenessScorer {
    sa: SaScorer,
}

impl DrugLikenessScorer {
    /// With the SA fragment table `sa`.
    pub fn new(sa: SaScorer) -> Self {
        Self { sa }
    }

    /// QED, SA and MW of the molecule `smiles`.
    pub fn score(&self, smiles: &str) -> Result<DrugLikeness, ObjectiveError> {
        let molecule = Molecule::from_smiles(smiles).map_err(|error| ObjectiveError::Smiles {
            smiles: smiles.to_string(),
            reason: error.to_string(),
        })?;
        let descriptor =
            |what, reason: String| ObjectiveError::Descriptor { what, smiles: smiles.to_string(), reason };
        let qed = qed(smiles)?;
        let mw =
            molecule.molecular_weight().map_err(|error| descriptor("molecular weight", error.to_string()))?;
        let sa = self.sa.score(&molecule)?;
        Ok(DrugLikeness { qed, sa, mw })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisations_follow_moogfn() {
        assert_eq!(normalize_seh(4.0), 0.5);
        assert_eq!(normalize_seh(9.0), 1.0);
        assert_eq!(normalize_seh(-1.0), 0.0);
        assert_eq!(normalize_sa(1.0), 1.0);
        assert_eq!(normalize_sa(10.0), 0.0);
        assert!((normalize_sa(5.5) - 0.5).abs() < 1e-12);
        assert_eq!(normalize_mw(150.0), 1.0);
        assert_eq!(normalize_mw(300.0), 1.0);
        assert!((normalize_mw(650.0) - 0.5).abs() < 1e-12);
        assert_eq!(normalize_mw(1200.0), 0.0);
    }
}
