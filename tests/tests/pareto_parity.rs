//! The multi-objective indicators against references (`scripts/reference/moo_indicators.py`,
//! pymoo from `.pytools`): the exact hypervolume of random point sets in 2, 3 and 4 objectives
//! equals pymoo's, and the R2 indicator recursionpharma/gflownet's formula, to 1e-9.

mod support;

use rand::{RngExt, SeedableRng};

use gfn_common::pareto::{hypervolume, r2_indicator, simplex_grid};
use support::python::reference_answers;

#[test]
fn hypervolume_and_r2_agree_with_pymoo_and_recursionpharma() {
    let mut rng = rand_pcg::Pcg64Mcg::seed_from_u64(5);
    let mut sets = Vec::new();
    for objectives in [2usize, 3, 4] {
        for size in [1usize, 7, 60, 200] {
            // points on and under a concave surface (many of them on the front), some below 0
            let points: Vec<Vec<f64>> = (0..size)
                .map(|_| {
                    let direction: Vec<f64> = (0..objectives).map(|_| rng.random::<f64>()).collect();
                    let norm = direction.iter().map(|x| x * x).sum::<f64>().sqrt();
                    let radius = if rng.random::<f64>() < 0.5 { 1.0 } else { rng.random::<f64>() };
                    direction.iter().map(|x| x / norm * radius - 0.05).collect()
                })
                .collect();
            sets.push(serde_json::json!({
                "points": points,
                "reference": vec![0.0; objectives],
                "preferences": simplex_grid(objectives, 4),
                "utopian": vec![1.0; objectives],
            }));
        }
    }
    let expected = reference_answers("moo_indicators.py", &serde_json::json!({ "sets": sets }).to_string());
    assert_eq!(expected.len(), sets.len());
    for (set, reference) in sets.iter().zip(&expected) {
        let points: Vec<Vec<f64>> = serde_json::from_value(set["points"].clone()).unwrap();
        let preferences: Vec<Vec<f64>> = serde_json::from_value(set["preferences"].clone()).unwrap();
        let objectives = points[0].len();
        let ours = hypervolume(&points, &vec![0.0; objectives]);
        let pymoo = reference["hypervolume"].as_f64().unwrap();
        assert!(
            (ours - pymoo).abs() < 1e-9,
            "{objectives} objectives, {} points: {ours} vs pymoo {pymoo}",
            points.len()
        );
        let r2 = r2_indicator(&preferences, &points, &vec![1.0; objectives]);
        let theirs = reference["r2"].as_f64().unwrap();
        assert!((r2 - theirs).abs() < 1e-9, "R2 {r2} vs {theirs}");
    }
}
