//! The public molecule data the tests read (never copied into the repository): the folder
//! `../shared/data` (`GFN_SHARED_DATA` overrides it) and the converted sEH proxy weights
//! (`.cache/seh_proxy.safetensors`, made by `scripts/test`; `GFN_SEH_PROXY_WEIGHTS` overrides it).

use std::path::{Path, PathBuf};

use gfn_common::env::molecule::JunctionBond;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// The folder holding `fragments/` and `seh/`.
pub fn shared_data() -> PathBuf {
    std::env::var("GFN_SHARED_DATA").map(PathBuf::from).unwrap_or_else(|_| root().join("../shared/data"))
}

/// The paper's 105 building blocks.
pub fn vocabulary() -> PathBuf {
    shared_data().join("fragments/blocks_PDB_105.json")
}

/// The converted proxy weights.
pub fn proxy_weights() -> PathBuf {
    std::env::var("GFN_SEH_PROXY_WEIGHTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root().join(".cache/seh_proxy.safetensors"))
}

/// The 500 records of `seh/proxy_golden.jsonl`.
pub fn golden_records() -> Vec<serde_json::Value> {
    let path = shared_data().join("seh/proxy_golden.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().map(|line| serde_json::from_str(line).unwrap()).collect()
}

/// A golden record's junction tree: block ids and junction bonds, in the record's order.
pub fn golden_tree(record: &serde_json::Value) -> (Vec<usize>, Vec<JunctionBond>) {
    let number = |v: &serde_json::Value| v.as_u64().unwrap() as usize;
    let blocks = record["blockidxs"].as_array().unwrap().iter().map(number).collect();
    let bonds = record["jbonds"]
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
    (blocks, bonds)
}
