//! The paper's 105 building blocks (`../shared/data/fragments/blocks_PDB_105.json`, read from
//! `GFN_SHARED_DATA`) load: every SMILES parses and every attachment names an atom.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use gfn_common::env::blocks::BlockVocabulary;

fn shared_data() -> PathBuf {
    std::env::var("GFN_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data"))
}

#[test]
fn the_papers_105_blocks_load() {
    let vocabulary = BlockVocabulary::load(&shared_data().join("fragments/blocks_PDB_105.json")).unwrap();
    assert_eq!(vocabulary.blocks.len(), 105);
    let distinct: HashSet<&str> = vocabulary.blocks.iter().map(|b| b.smiles.as_str()).collect();
    assert_eq!(distinct.len(), 72);
    assert_eq!(vocabulary.blocks[0].name, "c1ccccc1_0");
    assert_eq!(vocabulary.blocks[0].atom_count, 6);
    assert!(vocabulary.blocks.iter().all(|b| !b.attachments.is_empty()));
}

#[test]
fn a_missing_file_is_named() {
    let error = BlockVocabulary::load(Path::new("/nonexistent/blocks.json")).unwrap_err().to_string();
    assert!(error.contains("/nonexistent/blocks.json"), "{error}");
}
