//! Two conflicting objectives on a 2-D hypergrid, the Branin–Currin problem of multi-objective
//! optimisation (BoTorch's `BraninCurrin`; one of the hypergrid tasks of Jain et al. 2023): a
//! grid point `(i, j)` maps to `u = (i, j) / (H − 1)` in the unit square, where
//!
//! - Branin: `b(x₁, x₂) = (x₂ − 5.1 x₁²/(4π²) + 5 x₁/π − 6)² + 10 (1 − 1/(8π)) cos x₁ + 10` at
//!   `x₁ = 15 u₁ − 5`, `x₂ = 15 u₂`;
//! - Currin: `c(u) = (1 − exp(−1/(2 u₂))) (2300 u₁³ + 1900 u₁² + 2092 u₁ + 60) / (100 u₁³ +
//!   500 u₁² + 4 u₁ + 20)` (`exp(−∞) = 0` at `u₂ = 0`);
//!
//! both minimised. Each is normalised to [0, 1], higher is better, between the ideal and the
//! nadir point of the grid's Pareto front (the best and the worst value of each objective
//! among the grid's Pareto-optimal points): `(nadir − f) / (nadir − ideal)`, clipped to
//! [0, 1]. The front then spans the unit square, as the trade-off needs: normalised by the
//! whole grid's range instead, Branin's huge values in one corner would squeeze every
//! reasonable point towards 1. With one objective the ideal and nadir are its grid minimum and
//! maximum. The raw value is `f`.

use std::f64::consts::PI;

use super::RewardError;
use super::preference::{ObjectiveModel, ObjectiveValues};
use crate::env::hypergrid::GridState;

/// The objectives' names.
pub const NAMES: [&str; 2] = ["branin", "currin"];

/// Branin at a point of the unit square.
pub fn branin(u: [f64; 2]) -> f64 {
    let (x1, x2) = (15.0 * u[0] - 5.0, 15.0 * u[1]);
    let quadratic = x2 - 5.1 * x1 * x1 / (4.0 * PI * PI) + 5.0 * x1 / PI - 6.0;
    quadratic * quadratic + 10.0 * (1.0 - 1.0 / (8.0 * PI)) * x1.cos() + 10.0
}

/// Currin at a point of the unit square.
pub fn currin(u: [f64; 2]) -> f64 {
    let (x1, x2) = (u[0], u[1]);
    let factor = if x2 == 0.0 { 1.0 } else { 1.0 - (-1.0 / (2.0 * x2)).exp() };
    let numerator = 2300.0 * x1.powi(3) + 1900.0 * x1 * x1 + 2092.0 * x1 + 60.0;
    let denominator = 100.0 * x1.powi(3) + 500.0 * x1 * x1 + 4.0 * x1 + 20.0;
    factor * numerator / denominator
}

fn function(name: &str) -> Option<Function> {
    match name {
        "branin" => Some(branin),
        "currin" => Some(currin),
        _ => None,
    }
}

/// The chosen Branin–Currin objectives of a 2-D grid of side `H`.
#[derive(Debug, Clone)]
pub struct GridObjectives {
    height: usize,
    /// Per chosen objective: its function, its ideal and its nadir value.
    objectives: Vec<(Function, f64, f64)>,
}

/// A function of a point of the unit square.
type Function = fn([f64; 2]) -> f64;

/// The ideal and nadir values (per objective) of the Pareto front of `points` (minimised).
fn ideal_and_nadir(points: &[Vec<f64>]) -> Vec<(f64, f64)> {
    let n = points.first().map_or(0, Vec::len);
    if n == 1 {
        let values = points.iter().map(|p| p[0]);
        let min = values.clone().fold(f64::INFINITY, f64::min);
        return vec![(min, values.fold(f64::NEG_INFINITY, f64::max))];
    }
    // two objectives: sorted by the first (then the second), a point is on the front when its
    // second is below every earlier point's
    let mut order: Vec<&Vec<f64>> = points.iter().collect();
    order.sort_by(|a, b| a[0].total_cmp(&b[0]).then(a[1].total_cmp(&b[1])));
    let mut best_second = f64::INFINITY;
    let mut front = Vec::new();
    for point in order {
        if point[1] < best_second {
            best_second = point[1];
            front.push(point);
        }
    }
    (0..n)
        .map(|k| {
            let values = front.iter().map(|p| p[k]);
            (values.clone().fold(f64::INFINITY, f64::min), values.fold(f64::NEG_INFINITY, f64::max))
        })
        .collect()
}

impl GridObjectives {
    /// The objectives `names` (each in [`NAMES`]) of a 2-D grid of side `height` (≥ 2).
    pub fn new(height: usize, names: &[String]) -> Result<Self, String> {
        if names.is_empty() || names.len() > 2 {
            return Err(format!("one or two grid objectives, got {names:?}"));
        }
        let functions = names
            .iter()
            .map(|name| {
                function(name).ok_or_else(|| format!("no grid objective {name:?} (known: {NAMES:?})"))
            })
            .collect::<Result<Vec<_>, String>>()?;
        let points: Vec<Vec<f64>> = (0..height)
            .flat_map(|i| (0..height).map(move |j| Self::point(height, i, j)))
            .map(|u| functions.iter().map(|f| f(u)).collect())
            .collect();
        let objectives = functions
            .into_iter()
            .zip(ideal_and_nadir(&points))
            .map(|(f, (ideal, nadir))| (f, ideal, nadir))
            .collect();
        Ok(Self { height, objectives })
    }

    fn point(height: usize, i: usize, j: usize) -> [f64; 2] {
        let side = (height - 1) as f64;
        [i as f64 / side, j as f64 / side]
    }

    /// Raw and normalised values at `state`.
    pub fn values(&self, state: &GridState) -> Result<ObjectiveValues, RewardError> {
        let [i, j] = state.as_slice() else {
            return Err(RewardError::Failed {
                reason: format!("Branin–Currin needs a 2-D grid point, got {state:?}"),
            });
        };
        let u = Self::point(self.height, usize::from(*i), usize::from(*j));
        let raw: Vec<f64> = self.objectives.iter().map(|(f, _, _)| f(u)).collect();
        let normalized = raw
            .iter()
            .zip(&self.objectives)
            .map(
                |(&value, &(_, ideal, nadir))| {
                    if nadir > ideal { ((nadir - value) / (nadir - ideal)).clamp(0.0, 1.0) } else { 1.0 }
                },
            )
            .collect();
        Ok(ObjectiveValues { raw, normalized, ..ObjectiveValues::default() })
    }
}

impl ObjectiveModel<GridState> for GridObjectives {
    fn evaluate(&self, states: &[&GridState]) -> Vec<Result<ObjectiveValues, RewardError>> {
        states.iter().map(|state| self.values(state)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branin_and_currin_at_known_points() {
        // Branin's three global minima are 0.397887
        for x in [[-PI, 12.275], [PI, 2.275], [9.42478, 2.475]] {
            let u = [(x[0] + 5.0) / 15.0, x[1] / 15.0];
            assert!((branin(u) - 0.397887).abs() < 1e-5, "{x:?}: {}", branin(u));
        }
        assert!((branin([0.0, 0.0]) - 308.129_096).abs() < 1e-5);
        assert_eq!(currin([0.0, 0.0]), 3.0);
        assert!((currin([1.0, 0.0]) - 6352.0 / 624.0).abs() < 1e-12);
        assert!((currin([0.0, 1.0]) - 3.0 * (1.0 - (-0.5f64).exp())).abs() < 1e-12);
    }

    #[test]
    fn the_front_spans_the_unit_square_and_no_point_is_best_at_both() {
        let names = vec!["branin".to_string(), "currin".to_string()];
        let grid = GridObjectives::new(32, &names).unwrap();
        let values: Vec<Vec<f64>> = (0..32u16)
            .flat_map(|i| (0..32u16).map(move |j| vec![i, j]))
            .map(|s| grid.values(&s).unwrap().normalized)
            .collect();
        let best = |k: usize| values.iter().map(|v| v[k]).fold(f64::NEG_INFINITY, f64::max);
        assert_eq!((best(0), best(1)), (1.0, 1.0));
        // a real trade-off: the best sum is far from 2
        let best_sum = values.iter().map(|v| v[0] + v[1]).fold(f64::NEG_INFINITY, f64::max);
        assert!(best_sum < 1.9, "{best_sum}");
    }

    #[test]
    fn normalised_values_span_zero_to_one_over_the_grid() {
        let names = vec!["currin".to_string(), "branin".to_string()];
        let grid = GridObjectives::new(8, &names).unwrap();
        let values: Vec<ObjectiveValues> = (0..8u16)
            .flat_map(|i| (0..8u16).map(move |j| vec![i, j]))
            .map(|s| grid.values(&s).unwrap())
            .collect();
        for k in 0..2 {
            let column: Vec<f64> = values.iter().map(|v| v.normalized[k]).collect();
            assert_eq!(column.iter().copied().fold(f64::INFINITY, f64::min), 0.0);
            assert_eq!(column.iter().copied().fold(f64::NEG_INFINITY, f64::max), 1.0);
        }
        // order follows the names: currin first; lower raw is better
        let corner = grid.values(&vec![0, 7]).unwrap();
        assert_eq!(corner.raw[0], currin([0.0, 1.0]));
        assert!(grid.values(&vec![1, 2, 3]).is_err());
        assert!(GridObjectives::new(8, &["shubert".to_string()]).is_err());
    }
}
