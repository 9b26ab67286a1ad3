//! The sEH proxy on the 500 golden molecules, one intra-op thread: the forward pass alone
//! (featurized from the golden atom labels) at batches of 1 and 64, molecule assembly plus
//! featurization alone, and the whole reward as actors compute it (junction tree → assembled
//! molecule → RDKit-model atom labels → batched proxy) at batches of 64 and 256.
//!
//! `source scripts/libtorch.sh && cargo bench -p gfn-common --bench seh_proxy` after `scripts/test`
//! has converted the weights (paths: `GFN_SEH_PROXY_WEIGHTS`, `GFN_SHARED_DATA`).

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use gfn_common::env::FragmentEnvironment;
use gfn_common::env::fragments::FragmentLimits;
use gfn_common::env::junction_tree::{BlockTree, TreeBond};
use gfn_common::reward::molecule_features::featurize_molecule;
use gfn_common::reward::seh_proxy::{MoleculeGraph, SehProxy, featurize_labelled_record};
use gfn_common::reward::{Reward, SehReward, SehRewardSettings};

fn path(variable: &str, default: &str) -> PathBuf {
    std::env::var(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(default))
}

fn benches(c: &mut Criterion) {
    tch::set_num_threads(1);
    let weights = path("GFN_SEH_PROXY_WEIGHTS", "../.cache/seh_proxy.safetensors");
    let golden = path("GFN_SHARED_DATA", "../../shared/data").join("seh/proxy_golden.jsonl");
    let proxy = SehProxy::load(&weights).expect("converted weights: run scripts/test once");
    let records: Vec<serde_json::Value> = std::fs::read_to_string(&golden)
        .expect("golden data")
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let molecules: Vec<MoleculeGraph> =
        records.iter().map(|record| featurize_labelled_record(record).unwrap()).collect();
    // the golden junction trees as environment states (block ids, bonds in assembly order)
    let number = |v: &serde_json::Value| v.as_u64().unwrap();
    let trees: Vec<BlockTree> = records
        .iter()
        .map(|r| BlockTree {
            blocks: r["blockidxs"].as_array().unwrap().iter().map(|b| number(b) as u16).collect(),
            bonds: r["jbonds"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| TreeBond {
                    parent: number(&j[0]) as u8,
                    child: number(&j[1]) as u8,
                    parent_atom: number(&j[2]) as u8,
                    child_atom: number(&j[3]) as u8,
                })
                .collect(),
        })
        .collect();
    let blocks = path("GFN_SHARED_DATA", "../../shared/data").join("fragments/blocks_PDB_105.json");
    let env = FragmentEnvironment::load(&blocks, FragmentLimits::default()).unwrap();
    let reward = SehReward::load(env.clone(), &weights, 1, SehRewardSettings::default()).unwrap();
    let mut group = c.benchmark_group("seh_proxy");
    group.throughput(Throughput::Elements(molecules.len() as u64));
    group.sample_size(10);
    for batch in [1usize, 64] {
        group.bench_function(format!("predict_500_molecules_batch_{batch}"), |b| {
            b.iter(|| molecules.chunks(batch).map(|chunk| proxy.predict(chunk).len()).sum::<usize>())
        });
    }
    group.bench_function("assemble_and_featurize_500_molecules", |b| {
        b.iter(|| {
            trees
                .iter()
                .map(|t| featurize_molecule(&env.molecule(t).unwrap()).unwrap().num_nodes)
                .sum::<usize>()
        })
    });
    for batch in [16usize, 32, 64, 256] {
        group.bench_function(format!("reward_500_junction_trees_batch_{batch}"), |b| {
            b.iter(|| {
                trees
                    .chunks(batch)
                    .map(|chunk| reward.score_batch(&chunk.iter().collect::<Vec<_>>()).len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(seh_proxy, benches);
criterion_main!(seh_proxy);
