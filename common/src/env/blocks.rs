//! The building-block vocabulary of fragment-based molecule generation (Bengio et al. 2021):
//! a pandas-style JSON object with the columns `block_name`, `block_smi` and `block_r`, each a map
//! from the row index (`"0"`, `"1"`, …) to a value. `block_r` lists attachment atom indices into
//! the block's atoms: the first bonds to the parent's stem, the rest become new stems; an index
//! may repeat. The paper's file is `mols/data/blocks_PDB_105.json` of GFNOrg/gflownet (MIT).
//!
//! Loading checks every entry: its SMILES must parse (chematic), and every attachment index must
//! name an atom of the block. Errors name the entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// One building block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Row label, e.g. `c1ccccc1_0`.
    pub name: String,
    /// SMILES of the block.
    pub smiles: String,
    /// Attachment atom indices (first: the atom that bonds to the parent's stem).
    pub attachments: Vec<usize>,
    /// Heavy atoms in the block.
    pub atom_count: usize,
}

/// Why a vocabulary file was refused.
#[derive(Debug, thiserror::Error)]
pub enum VocabularyError {
    /// The file could not be read.
    #[error("cannot read block vocabulary {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Not the expected JSON shape.
    #[error("block vocabulary {origin}: {message}")]
    Format { origin: String, message: String },
    /// A row is missing from a column or a row key is not a number.
    #[error("block vocabulary {origin}: row {row:?} is missing from column {column} or is not a row index")]
    Rows { origin: String, row: String, column: &'static str },
    /// The SMILES of an entry does not parse.
    #[error("block vocabulary {origin}: entry {row} ({name}): SMILES {smiles:?} does not parse: {reason}")]
    BadSmiles { origin: String, row: usize, name: String, smiles: String, reason: String },
    /// An entry has no attachment atom.
    #[error("block vocabulary {origin}: entry {row} ({name}) has no attachment atom")]
    NoAttachment { origin: String, row: usize, name: String },
    /// An attachment index names no atom of the block.
    #[error(
        "block vocabulary {origin}: entry {row} ({name}): attachment index {index} is out of range (the block has {atoms} atoms)"
    )]
    AttachmentOutOfRange { origin: String, row: usize, name: String, index: usize, atoms: usize },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Columns {
    block_name: BTreeMap<String, String>,
    block_smi: BTreeMap<String, String>,
    block_r: BTreeMap<String, Vec<usize>>,
}

/// The blocks, in row order, with their parsed molecules.
#[derive(Clone)]
pub struct BlockVocabulary {
    /// The blocks; a block's position is its action id.
    pub blocks: Vec<Block>,
    molecules: Vec<chematic::core::Molecule>,
}

impl std::fmt::Debug for BlockVocabulary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockVocabulary").field("blocks", &self.blocks).finish_non_exhaustive()
    }
}

impl BlockVocabulary {
    /// The parsed molecule of block `id`.
    pub fn molecule(&self, id: usize) -> Option<&chematic::core::Molecule> {
        self.molecules.get(id)
    }

    /// Reads and checks a vocabulary file.
    pub fn load(path: &Path) -> Result<Self, VocabularyError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| VocabularyError::Read { path: path.to_path_buf(), source })?;
        Self::from_json_str(&text, &path.display().to_string())
    }

    /// Parses and checks vocabulary JSON; `origin` names it in errors.
    pub fn from_json_str(text: &str, origin: &str) -> Result<Self, VocabularyError> {
        let origin = origin.to_string();
        let columns: Columns = serde_json::from_str(text)
            .map_err(|e| VocabularyError::Format { origin: origin.clone(), message: e.to_string() })?;
        let mut rows: Vec<(usize, &String)> = Vec::with_capacity(columns.block_name.len());
        for key in columns.block_name.keys() {
            let row = key.parse::<usize>().map_err(|_| VocabularyError::Rows {
                origin: origin.clone(),
                row: key.clone(),
                column: "block_name",
            })?;
            rows.push((row, key));
        }
        rows.sort_unstable();
        if columns.block_smi.len() != rows.len() || columns.block_r.len() != rows.len() {
            let column = if columns.block_smi.len() != rows.len() { "block_smi" } else { "block_r" };
            let stray = columns
                .block_smi
                .keys()
                .chain(columns.block_r.keys())
                .find(|k| !columns.block_name.contains_key(*k))
                .cloned()
                .unwrap_or_default();
            return Err(VocabularyError::Rows { origin, row: stray, column });
        }
        let mut blocks = Vec::with_capacity(rows.len());
        let mut molecules = Vec::with_capacity(rows.len());
        for (row, key) in rows {
            let name = columns.block_name[key].clone();
            let missing = |column| VocabularyError::Rows { origin: origin.clone(), row: key.clone(), column };
            let smiles = columns.block_smi.get(key).ok_or_else(|| missing("block_smi"))?.clone();
            let attachments = columns.block_r.get(key).ok_or_else(|| missing("block_r"))?.clone();
            let molecule = chematic::smiles::parse(&smiles).map_err(|e| VocabularyError::BadSmiles {
                origin: origin.clone(),
                row,
                name: name.clone(),
                smiles: smiles.clone(),
                reason: e.to_string(),
            })?;
            let atoms = molecule.atom_count();
            if attachments.is_empty() {
                return Err(VocabularyError::NoAttachment { origin, row, name });
            }
            if let Some(&index) = attachments.iter().find(|&&i| i >= atoms) {
                return Err(VocabularyError::AttachmentOutOfRange { origin, row, name, index, atoms });
            }
            blocks.push(Block { name, smiles, attachments, atom_count: atoms });
            molecules.push(molecule);
        }
        Ok(Self { blocks, molecules })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocabulary(smiles: &str, attachments: &str) -> String {
        format!(
            r#"{{"block_name":{{"0":"C_0","1":"X_1"}},"block_smi":{{"0":"C","1":"{smiles}"}},"block_r":{{"0":[0],"1":{attachments}}}}}"#
        )
    }

    #[test]
    fn a_valid_vocabulary_loads_in_row_order() {
        let loaded = BlockVocabulary::from_json_str(&vocabulary("c1ccccc1", "[0, 3, 3]"), "test").unwrap();
        assert_eq!(loaded.blocks.len(), 2);
        assert_eq!(loaded.blocks[1].name, "X_1");
        assert_eq!(loaded.blocks[1].atom_count, 6);
        assert_eq!(loaded.blocks[1].attachments, vec![0, 3, 3]);
    }

    #[test]
    fn a_bad_smiles_is_rejected_naming_the_entry() {
        let error =
            BlockVocabulary::from_json_str(&vocabulary("c1ccc(", "[0]"), "test").unwrap_err().to_string();
        assert!(error.contains("entry 1 (X_1)") && error.contains("c1ccc("), "{error}");
    }

    #[test]
    fn an_attachment_out_of_range_is_rejected_naming_the_entry() {
        let error =
            BlockVocabulary::from_json_str(&vocabulary("CO", "[0, 2]"), "test").unwrap_err().to_string();
        assert!(error.contains("entry 1 (X_1)") && error.contains("attachment index 2"), "{error}");
        let error = BlockVocabulary::from_json_str(&vocabulary("CO", "[]"), "test").unwrap_err().to_string();
        assert!(error.contains("no attachment"), "{error}");
    }

    #[test]
    fn wrong_shapes_are_format_errors() {
        let error = BlockVocabulary::from_json_str("[1, 2]", "test").unwrap_err().to_string();
        assert!(error.starts_with("block vocabulary test"), "{error}");
        let missing_row = r#"{"block_name":{"0":"C_0"},"block_smi":{},"block_r":{"0":[0]}}"#;
        let error = BlockVocabulary::from_json_str(missing_row, "test").unwrap_err().to_string();
        assert!(error.contains("block_smi"), "{error}");
    }
}
