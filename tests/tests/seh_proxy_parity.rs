//! The Rust sEH proxy against the reference: on the 500 molecules of
//! `../shared/data/seh/proxy_golden.jsonl` (RDKit atom labels and bonds, PyTorch Geometric
//! proxy outputs), every prediction matches within 1e-3.
//!
//! Needs the converted weights: `scripts/test` runs `scripts/convert_seh_proxy.py` on
//! `../shared/data/seh/seh_proxy_bengio2021.pkl.gz` once, into `.cache/seh_proxy.safetensors`
//! (`GFN_SEH_PROXY_WEIGHTS` overrides the path; `GFN_SHARED_DATA` the data folder).

mod support;

use gfn_common::env::blocks::BlockVocabulary;
use gfn_common::env::molecule::{JunctionBond, assemble};
use gfn_common::reward::molecule_features::featurize_molecule;
use gfn_common::reward::seh_proxy::{MoleculeGraph, SehProxy, featurize_labelled_record};
use support::data::{golden_records, golden_tree, proxy_weights as weights, vocabulary};

struct Golden {
    smiles: String,
    graph: MoleculeGraph,
    proxy: f64,
    blocks: Vec<usize>,
    bonds: Vec<JunctionBond>,
}

fn golden() -> Vec<Golden> {
    golden_records()
        .iter()
        .map(|record| {
            let (blocks, bonds) = golden_tree(record);
            Golden {
                smiles: record["smiles"].as_str().unwrap().to_string(),
                graph: featurize_labelled_record(record).expect("well-formed golden record"),
                proxy: record["proxy"].as_f64().unwrap(),
                blocks,
                bonds,
            }
        })
        .collect()
}

#[test]
fn rust_proxy_matches_the_reference_on_every_golden_molecule() {
    tch::set_num_threads(1);
    let proxy = SehProxy::load(&weights()).expect("converted proxy weights (scripts/test makes them)");
    let golden = golden();
    assert_eq!(golden.len(), 500);
    // one at a time, as the reference was computed …
    let mut worst = (0.0f64, String::new());
    for molecule in &golden {
        let value = proxy.predict(std::slice::from_ref(&molecule.graph))[0] as f64;
        let error = (value - molecule.proxy).abs();
        if error > worst.0 {
            worst = (error, format!("{} (rust {value}, reference {})", molecule.smiles, molecule.proxy));
        }
    }
    assert!(worst.0 <= 1e-3, "largest difference {}: {}", worst.0, worst.1);
    // … and batched: the same values.
    let graphs: Vec<MoleculeGraph> = golden.iter().map(|g| g.graph.clone()).collect();
    let batched = proxy.predict(&graphs);
    for (value, molecule) in batched.iter().zip(&golden) {
        assert!((*value as f64 - molecule.proxy).abs() <= 1e-3, "{}: batched {value}", molecule.smiles);
    }
    eprintln!("largest difference over 500 molecules: {:.2e}", worst.0);
}

#[test]
fn missing_or_malformed_weights_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let error = SehProxy::load(&dir.path().join("absent.safetensors")).err().unwrap().to_string();
    assert!(error.contains("absent.safetensors"), "{error}");
    let bad = dir.path().join("bad.safetensors");
    std::fs::write(&bad, b"not a safetensors file").unwrap();
    assert!(SehProxy::load(&bad).err().unwrap().to_string().contains("bad.safetensors"));
}

/// From the junction trees alone: our assembly and our featurization (chematic's RDKit-model
/// perception) give exactly the reference features, and the proxy on them the reference outputs.
#[test]
fn assembled_and_featurized_molecules_match_the_reference_features_exactly() {
    tch::set_num_threads(1);
    let vocabulary = BlockVocabulary::load(&vocabulary()).unwrap();
    let proxy = SehProxy::load(&weights()).expect("converted proxy weights (scripts/test makes them)");
    let golden = golden();
    let graphs: Vec<MoleculeGraph> = golden
        .iter()
        .map(|g| {
            let molecule = assemble(&vocabulary, &g.blocks, &g.bonds).unwrap();
            let graph = featurize_molecule(&molecule).unwrap();
            assert_eq!(graph.num_nodes, g.graph.num_nodes, "{}", g.smiles);
            assert_eq!(graph.edges, g.graph.edges, "{}: bonds differ", g.smiles);
            for (atom, (ours, reference)) in
                graph.node_features.chunks(71).zip(g.graph.node_features.chunks(71)).enumerate()
            {
                assert_eq!(ours, reference, "{}: atom {atom} features differ", g.smiles);
            }
            graph
        })
        .collect();
    let values = proxy.predict(&graphs);
    let worst = values.iter().zip(&golden).map(|(v, g)| (*v as f64 - g.proxy).abs()).fold(0.0, f64::max);
    assert!(worst <= 1e-3, "largest proxy difference {worst}");
}
