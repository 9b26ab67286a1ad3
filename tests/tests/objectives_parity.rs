//! The molecule objectives against RDKit itself (`scripts/reference/rdkit_objectives.py`, RDKit
//! from `.pytools`): on the 500 golden molecules and 1,500 random fragment molecules, QED, the
//! molecular weight and the SA score agree to 1e-9 (they are the same computation; the issue's
//! tolerance is 1e-3), and the radius-2 Morgan environments the SA score reads are RDKit's
//! identifiers exactly. `gfn score` (the command of docs/MOLECULES.md) writes them, with the sEH
//! proxy, for a file of SMILES.

mod support;

use std::collections::HashMap;
use std::process::Command;

use rand::{RngExt, SeedableRng};

use gfn_common::env::Environment;
use gfn_common::env::molecule::canonical_smiles;
use gfn_common::reward::objectives::sa::morgan_environments;
use gfn_common::reward::objectives::{DrugLikenessScorer, SaScorer};
use support::data::{golden_records, proxy_weights};
use support::fragments::{allowed, environment};
use support::python::{pytools, reference_answers};

fn fragment_table() -> std::path::PathBuf {
    pytools().join("rdkit/Contrib/SA_Score/fpscores.pkl.gz")
}

/// `n` distinct molecules of uniformly random trajectories of the 105-block environment.
fn random_fragment_molecules(n: usize) -> Vec<String> {
    let env = environment();
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(31);
    let mut molecules = std::collections::BTreeSet::new();
    while molecules.len() < n {
        let mut state = env.initial_state();
        loop {
            let actions = allowed(&env, &state);
            let action = actions[rng.random_range(0..actions.len())];
            if action == env.stop_action() {
                break;
            }
            state = env.step(&state, action).unwrap();
        }
        molecules.insert(canonical_smiles(&env.molecule(&state).unwrap()));
    }
    molecules.into_iter().collect()
}

/// RDKit's values for `smiles`, by SMILES.
fn rdkit_reference(smiles: &[String]) -> HashMap<String, serde_json::Value> {
    reference_answers("rdkit_objectives.py", &smiles.join("\n"))
        .into_iter()
        .map(|value| (value["smiles"].as_str().unwrap().to_string(), value))
        .collect()
}

#[test]
fn qed_sa_mw_and_morgan_environments_are_rdkits() {
    let mut smiles: Vec<String> =
        golden_records().iter().map(|r| r["smiles"].as_str().unwrap().to_string()).collect();
    smiles.extend(random_fragment_molecules(1500));
    let reference = rdkit_reference(&smiles);
    let scorer = DrugLikenessScorer::new(SaScorer::load(&fragment_table()).unwrap());
    let (mut worst_qed, mut worst_mw, mut worst_sa, mut compared) = (0f64, 0f64, 0f64, 0);
    for molecule in &smiles {
        let expected = &reference[molecule];
        assert!(expected.get("error").is_none(), "RDKit refused {molecule}");
        let ours = scorer.score(molecule).unwrap_or_else(|e| panic!("{molecule}: {e}"));
        worst_qed = worst_qed.max((ours.qed - expected["qed"].as_f64().unwrap()).abs());
        worst_mw = worst_mw.max((ours.mw - expected["mw"].as_f64().unwrap()).abs());
        worst_sa = worst_sa.max((ours.sa - expected["sa"].as_f64().unwrap()).abs());
        let parsed = cosmolkit::Molecule::from_smiles(molecule).unwrap();
        let environments: Vec<(u64, i64)> =
            morgan_environments(&parsed).unwrap().into_iter().map(|(id, n)| (id, i64::from(n))).collect();
        let rdkit: Vec<(u64, i64)> = expected["morgan"]
            .as_array()
            .unwrap()
            .iter()
            .map(|pair| (pair[0].as_u64().unwrap(), pair[1].as_i64().unwrap()))
            .collect();
        assert_eq!(environments, rdkit, "Morgan environments of {molecule}");
        compared += 1;
    }
    println!(
        "{compared} molecules against RDKit {}: max |ΔQED| {worst_qed:.1e}, |ΔMW| {worst_mw:.1e} Da, |ΔSA| {worst_sa:.1e}",
        reference[&smiles[0]]["rdkit"]
    );
    assert_eq!(compared, 2000);
    assert!(worst_qed < 1e-9 && worst_mw < 1e-9 && worst_sa < 1e-9);
}

#[test]
fn gfn_score_writes_every_objective_and_an_error_per_bad_smiles() {
    let dir = tempfile::tempdir().unwrap();
    let golden = golden_records();
    let mut input = String::from("name,smiles\n");
    for (i, record) in golden.iter().take(40).enumerate() {
        input.push_str(&format!("m{i},{}\n", record["smiles"].as_str().unwrap()));
    }
    input.push_str("bad,not-a-molecule\n");
    std::fs::write(dir.path().join("in.csv"), input).unwrap();
    let output = Command::new(support::binary("gfn"))
        .args(["score", "in.csv", "--out", "scores.csv"])
        .arg("--proxy-weights")
        .arg(proxy_weights())
        .arg("--sa-fragment-scores")
        .arg(fragment_table())
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut reader = csv::Reader::from_path(dir.path().join("scores.csv")).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        ["smiles", "seh", "seh_norm", "qed", "qed_norm", "sa", "sa_norm", "mw", "mw_norm", "error"]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 41);
    for (row, record) in rows.iter().take(40).zip(&golden) {
        let seh: f64 = row[1].parse().unwrap();
        let expected = record["proxy"].as_f64().unwrap();
        assert!((seh - expected).abs() < 1e-3, "{}: sEH {seh} vs golden {expected}", &row[0]);
        for column in [2, 4, 6, 8] {
            let normalised: f64 = row[column].parse().unwrap();
            assert!((0.0..=1.0).contains(&normalised), "{}: {}", &header[column], normalised);
        }
        assert!(row[9].is_empty());
    }
    assert_eq!(&rows[40][0], "not-a-molecule");
    assert!(rows[40][1].is_empty() && rows[40][9].contains("not-a-molecule"), "{:?}", rows[40]);
}
