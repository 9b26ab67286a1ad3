//! The synthetic accessibility score of Ertl & Schuffenhauer (J. Cheminform. 2009), as RDKit's
//! `Contrib/SA_Score/sascorer.py` computes it: the fragment contributions of the molecule's Morgan
//! environments (radius 2, RDKit's identifiers, reproduced by `cosmolkit`) from the published
//! fragment table `fpscores.pkl.gz` (read at run time from the user's RDKit installation), minus
//! penalties for size, stereo centres, spiro and bridgehead atoms and macrocycles, plus the
//! fingerprint-density correction, mapped to 1 (easy) … 10 (hard).

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use cosmolkit::{Molecule, MorganFingerprintParams};

/// Why the fragment table could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FragmentTableError {
    /// The file could not be opened or decompressed.
    #[error("reading the SA fragment table {path:?}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a pickled list of `[score, id, id, …]` rows.
    #[error("the SA fragment table {path:?} is not RDKit's fpscores.pkl.gz: {reason}")]
    Format {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
}

/// Why a molecule could not be scored.
#[derive(Debug, thiserror::Error)]
#[error("SA score: {0}")]
pub struct SaError(String);

/// The SA scorer: the fragment table, loaded once.
#[derive(Debug, Clone)]
pub struct SaScorer {
    contributions: HashMap<u64, f64>,
}

/// Score of a Morgan environment missing from the table (as `sascorer.py`).
const UNKNOWN_FRAGMENT: f64 = -4.0;

impl SaScorer {
    /// Reads RDKit's `fpscores.pkl.gz` (gzip of a pickled list of `[score, id, …]` rows).
    pub fn load(path: &Path) -> Result<Self, FragmentTableError> {
        let read = |source| FragmentTableError::Read { path: path.to_path_buf(), source };
        let mut bytes = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(path).map_err(read)?)
            .read_to_end(&mut bytes)
            .map_err(read)?;
        let format = |reason: String| FragmentTableError::Format { path: path.to_path_buf(), reason };
        let value = serde_pickle::value_from_slice(&bytes, serde_pickle::DeOptions::new())
            .map_err(|error| format(error.to_string()))?;
        let serde_pickle::Value::List(rows) = value else {
            return Err(format("not a list".into()));
        };
        let mut contributions = HashMap::new();
        for row in rows {
            let serde_pickle::Value::List(items) = row else {
                return Err(format("a row is not a list".into()));
            };
            let Some((score, ids)) = items.split_first() else { continue };
            let score = number(score).ok_or_else(|| format(format!("score {score:?}")))?;
            for id in ids {
                let id = identifier(id).ok_or_else(|| format(format!("fragment id {id:?}")))?;
                contributions.insert(id, score);
            }
        }
        if contributions.is_empty() {
            return Err(format("no fragments".into()));
        }
        Ok(Self { contributions })
    }

    /// The SA score of `molecule`, in [1, 10].
    pub fn score(&self, molecule: &Molecule) -> Result<f64, SaError> {
        let atoms = molecule.num_atoms();
        if atoms == 0 {
            return Err(SaError("a molecule without atoms".into()));
        }
        let environments = morgan_environments(molecule)?;
        let (mut fragments, mut count) = (0.0, 0.0);
        for (id, n) in &environments {
            let n = f64::from(*n);
            count += n;
            fragments += self.contributions.get(id).copied().unwrap_or(UNKNOWN_FRAGMENT) * n;
        }
        fragments /= count;

        let failed = |error: &dyn std::fmt::Display| SaError(error.to_string());
        let stereo = f64::from(molecule.num_atom_stereo_centers().map_err(|e| failed(&e))?);
        let spiro = f64::from(molecule.num_spiro_atoms().map_err(|e| failed(&e))?);
        let bridgeheads = f64::from(molecule.num_bridgehead_atoms().map_err(|e| failed(&e))?);
        let rings = molecule.symmetrized_sssr().map_err(|e| failed(&e))?;
        let macrocycles = rings.atom_rings().iter().any(|ring| ring.len() > 8);
        let atoms = atoms as f64;
        let features = -(atoms.powf(1.005) - atoms)
            - (stereo + 1.0).log10()
            - (spiro + 1.0).log10()
            - (bridgeheads + 1.0).log10()
            - if macrocycles { 2f64.log10() } else { 0.0 };
        let bits = environments.len() as f64;
        let density = if atoms > bits { (atoms / bits).ln() * 0.5 } else { 0.0 };

        let raw = fragments + features + density;
        let (min, max) = (-4.0, 2.5);
        let mut score = 11.0 - (raw - min + 1.0) / (max - min) * 9.0;
        if score > 8.0 {
            score = 8.0 + (score + 1.0 - 9.0).ln();
        }
        Ok(score.clamp(1.0, 10.0))
    }
}

/// The radius-2 Morgan environments of `molecule` with their counts, by RDKit's identifiers
/// (`rdFingerprintGenerator.GetMorganGenerator(radius=2).GetSparseCountFingerprint`), sorted.
pub fn morgan_environments(molecule: &Molecule) -> Result<Vec<(u64, i32)>, SaError> {
    let mut params = MorganFingerprintParams::default();
    params.set_radius(2);
    let fingerprint = molecule
        .fingerprint_morgan_sparse_count_with_params(&params, None)
        .map_err(|error| SaError(error.to_string()))?;
    Ok(fingerprint.nonzero_elements().iter().map(|(id, n)| (*id, *n)).collect())
}

fn number(value: &serde_pickle::Value) -> Option<f64> {
    match value {
        serde_pickle::Value::F64(x) => Some(*x),
        serde_pickle::Value::I64(x) => Some(*x as f64),
        _ => None,
    }
}

fn identifier(value: &serde_pickle::Value) -> Option<u64> {
    match value {
        serde_pickle::Value::I64(x) => u64::try_from(*x).ok(),
        serde_pickle::Value::Int(x) => x.to_string().parse().ok(),
        _ => None,
    }
}
