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

/// Assembling the 500 golden junction trees gives the reference molecules: chematic's canonical
/// SMILES of our assembly equals that of the reference RDKit SMILES, for every one.
#[test]
fn golden_junction_trees_assemble_to_the_reference_molecules() {
    use gfn_common::env::molecule::{JunctionBond, assemble, canonical_smiles};
    let vocabulary = BlockVocabulary::load(&shared_data().join("fragments/blocks_PDB_105.json")).unwrap();
    let text = std::fs::read_to_string(shared_data().join("seh/proxy_golden.jsonl")).unwrap();
    let mut checked = 0;
    for line in text.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let number = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
        let blocks: Vec<usize> = record["blockidxs"].as_array().unwrap().iter().map(number).collect();
        let bonds: Vec<JunctionBond> = record["jbonds"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| JunctionBond {
                block_a: number(&j[0]),
                block_b: number(&j[1]),
                atom_a: number(&j[2]),
                atom_b: number(&j[3]),
            })
            .collect();
        let molecule = assemble(&vocabulary, &blocks, &bonds).unwrap();
        let ours = canonical_smiles(&molecule);
        let reference = record["smiles"].as_str().unwrap();
        let expected = canonical_smiles(&chematic::smiles::parse(reference).unwrap());
        assert_eq!(ours, expected, "blocks {blocks:?}, reference {reference}");
        // our SMILES round-trips through the parser
        assert_eq!(canonical_smiles(&chematic::smiles::parse(&ours).unwrap()), ours);
        checked += 1;
    }
    assert_eq!(checked, 500);
    let bad = [JunctionBond { block_a: 0, block_b: 1, atom_a: 0, atom_b: 9 }];
    let error = assemble(&vocabulary, &[0, 1], &bad).err().expect("atom 9 of a 2-atom block").to_string();
    assert!(error.contains("junction bond 0"), "{error}");
}
