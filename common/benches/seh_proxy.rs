//! The sEH proxy's forward pass on the 500 golden molecules (featurized from their atom labels),
//! one intra-op thread, batches of 1 and 64 molecules.
//!
//! `source scripts/libtorch.sh && cargo bench -p gfn-common --bench seh_proxy` after `scripts/test`
//! has converted the weights (paths: `GFN_SEH_PROXY_WEIGHTS`, `GFN_SHARED_DATA`).

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use gfn_common::reward::seh_proxy::{MoleculeGraph, SehProxy, featurize_labelled_record};

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
    let molecules: Vec<MoleculeGraph> = std::fs::read_to_string(&golden)
        .expect("golden data")
        .lines()
        .map(|line| featurize_labelled_record(&serde_json::from_str(line).unwrap()).unwrap())
        .collect();
    let mut group = c.benchmark_group("seh_proxy");
    group.throughput(Throughput::Elements(molecules.len() as u64));
    group.sample_size(10);
    for batch in [1usize, 64] {
        group.bench_function(format!("predict_500_molecules_batch_{batch}"), |b| {
            b.iter(|| molecules.chunks(batch).map(|chunk| proxy.predict(chunk).len()).sum::<usize>())
        });
    }
    group.finish();
}

criterion_group!(seh_proxy, benches);
criterion_main!(seh_proxy);
