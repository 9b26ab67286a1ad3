//! The drug-likeness objectives of multi-objective molecule runs on the 500 golden molecules, one
//! molecule at a time as the actors compute them: parsing a canonical SMILES (`cosmolkit`, for SA
//! and MW; `chematic`, for QED), QED by `chematic` (the one gfn uses) and by `cosmolkit` (the same
//! values, bit for bit, about 3× slower), SA and MW, and all of [`DrugLikenessScorer::score`].
//!
//! `source scripts/libtorch.sh && cargo bench -p gfn-common --bench molecule_objectives` after
//! `scripts/test` has installed RDKit's SA fragment table (paths: `GFN_SA_FRAGMENT_SCORES`,
//! `GFN_SHARED_DATA`).

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use gfn_common::reward::objectives::{DrugLikenessScorer, SaScorer, qed};

fn path(variable: &str, default: &str) -> PathBuf {
    std::env::var(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|_| Path::new(env!("CARGO_MANIFEST_DIR")).join(default))
}

fn benches(c: &mut Criterion) {
    let golden = path("GFN_SHARED_DATA", "../../shared/data").join("seh/proxy_golden.jsonl");
    let table = path("GFN_SA_FRAGMENT_SCORES", "../.pytools/rdkit/Contrib/SA_Score/fpscores.pkl.gz");
    let sa = SaScorer::load(&table).expect("RDKit's fpscores.pkl.gz: run scripts/test once");
    let smiles: Vec<String> = std::fs::read_to_string(&golden)
        .expect("golden data")
        .lines()
        .map(|line| {
            serde_json::from_str::<serde_json::Value>(line).unwrap()["smiles"].as_str().unwrap().into()
        })
        .collect();
    let molecules: Vec<cosmolkit::Molecule> =
        smiles.iter().map(|s| cosmolkit::Molecule::from_smiles(s).unwrap()).collect();
    let scorer = DrugLikenessScorer::new(sa.clone());

    let mut group = c.benchmark_group("molecule_objectives");
    group.throughput(Throughput::Elements(smiles.len() as u64));
    group.sample_size(10);
    group.bench_function("parse_500_cosmolkit", |b| {
        b.iter(|| smiles.iter().map(|s| cosmolkit::Molecule::from_smiles(s).is_ok() as usize).sum::<usize>())
    });
    group.bench_function("parse_and_qed_500_chematic", |b| {
        b.iter(|| smiles.iter().map(|s| qed(s).unwrap()).sum::<f64>())
    });
    group.bench_function("qed_500_cosmolkit", |b| {
        b.iter(|| molecules.iter().map(|m| m.qed().unwrap()).sum::<f64>())
    });
    group
        .bench_function("sa_500", |b| b.iter(|| molecules.iter().map(|m| sa.score(m).unwrap()).sum::<f64>()));
    group.bench_function("mw_500", |b| {
        b.iter(|| molecules.iter().map(|m| m.molecular_weight().unwrap()).sum::<f64>())
    });
    group.bench_function("qed_sa_mw_500_from_smiles", |b| {
        b.iter(|| smiles.iter().map(|s| scorer.score(s).unwrap().qed).sum::<f64>())
    });
    group.finish();
}

criterion_group!(molecule_objectives, benches);
criterion_main!(molecule_objectives);
