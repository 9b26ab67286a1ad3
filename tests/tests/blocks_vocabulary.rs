//! The paper's 105 building blocks (`../shared/data/fragments/blocks_PDB_105.json`, read from
//! `GFN_SHARED_DATA`) load: every SMILES parses and every attachment names an atom.

mod support;

use std::collections::HashSet;
use std::path::Path;

use gfn_common::env::blocks::BlockVocabulary;
use support::data::{golden_records, golden_tree, vocabulary};

#[test]
fn the_papers_105_blocks_load() {
    let vocabulary = BlockVocabulary::load(&vocabulary()).unwrap();
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
    let vocabulary = BlockVocabulary::load(&vocabulary()).unwrap();
    let mut checked = 0;
    for record in golden_records() {
        let (blocks, bonds) = golden_tree(&record);
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
