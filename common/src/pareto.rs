//! Multi-objective quality of a set of objective vectors, every objective maximised, as Multi-
//! Objective GFlowNets (Jain et al., ICML 2023) and recursionpharma/gflownet report it: the
//! Pareto front, its exact hypervolume above a reference point, the R2 indicator over a set of
//! preference vectors, and the simplex grid those preferences come from.
//! `tests/tests/pareto_parity.rs` checks them against pymoo's hypervolume and recursionpharma's
//! R2 formula.

/// Whether `a` dominates `b`: at least as good in every objective and better in one.
pub fn dominates(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| x >= y) && a.iter().zip(b).any(|(x, y)| x > y)
}

/// Indices of the non-dominated points of `points`, in their order; of equal points only the
/// first counts.
pub fn pareto_front(points: &[Vec<f64>]) -> Vec<usize> {
    (0..points.len())
        .filter(|&i| {
            !points
                .iter()
                .enumerate()
                .any(|(j, other)| dominates(other, &points[i]) || (j < i && other == &points[i]))
        })
        .collect()
}

/// The exact volume of the region that the points of `points` dominate and that dominates
/// `reference` (points not above the reference in every objective add nothing). Slices along
/// the last objective down to the two-objective sweep: O(n^(d−1) log n) for d objectives, exact
/// for any d (MOGFN's four objectives and fronts of hundreds of points take milliseconds).
pub fn hypervolume(points: &[Vec<f64>], reference: &[f64]) -> f64 {
    let above: Vec<Vec<f64>> = points
        .iter()
        .filter(|p| p.len() == reference.len() && p.iter().zip(reference).all(|(x, r)| x > r))
        .cloned()
        .collect();
    let front: Vec<Vec<f64>> = pareto_front(&above).into_iter().map(|i| above[i].clone()).collect();
    volume(front, reference)
}

fn volume(mut points: Vec<Vec<f64>>, reference: &[f64]) -> f64 {
    let d = reference.len();
    if points.is_empty() || d == 0 {
        return 0.0;
    }
    if d == 1 {
        return points.iter().map(|p| p[0]).fold(f64::NEG_INFINITY, f64::max) - reference[0];
    }
    if d == 2 {
        points.sort_by(|a, b| b[0].total_cmp(&a[0]));
        let (mut area, mut covered) = (0.0, reference[1]);
        for p in &points {
            if p[1] > covered {
                area += (p[0] - reference[0]) * (p[1] - covered);
                covered = p[1];
            }
        }
        return area;
    }
    // slices between consecutive values of the last objective, highest first
    points.sort_by(|a, b| b[d - 1].total_cmp(&a[d - 1]));
    let mut total = 0.0;
    let mut slice: Vec<Vec<f64>> = Vec::with_capacity(points.len());
    for (i, p) in points.iter().enumerate() {
        let projected = p[..d - 1].to_vec();
        if !slice.iter().any(|q| q.iter().zip(&projected).all(|(x, y)| x >= y)) {
            slice.retain(|q| !q.iter().zip(&projected).all(|(x, y)| y >= x));
            slice.push(projected);
        }
        let below = points.get(i + 1).map_or(reference[d - 1], |next| next[d - 1]);
        let height = p[d - 1] - below;
        if height > 0.0 {
            total += height * volume(slice.clone(), &reference[..d - 1]);
        }
    }
    total
}

/// The R2 indicator of `solutions` for the preference vectors `preferences` towards `utopian`
/// (lower is better): `Σ_v min_a max_j v_j |u_j − a_j|`, divided by the Frobenius norm of the
/// preferences' matrix, as recursionpharma/gflownet's `r2_indicator_set` (utopian point 1 for
/// normalised objectives).
pub fn r2_indicator(preferences: &[Vec<f64>], solutions: &[Vec<f64>], utopian: &[f64]) -> f64 {
    let norm = preferences.iter().flatten().map(|x| x * x).sum::<f64>().sqrt();
    let sum: f64 = preferences
        .iter()
        .map(|v| {
            solutions
                .iter()
                .map(|a| {
                    v.iter()
                        .zip(a.iter().zip(utopian))
                        .map(|(w, (x, u))| w * (u - x).abs())
                        .fold(f64::NEG_INFINITY, f64::max)
                })
                .fold(f64::INFINITY, f64::min)
        })
        .sum();
    sum / norm
}

/// The preference vectors with `objectives` components that are multiples of `1/divisions` and
/// sum to 1, in recursionpharma's order (`uniform_reference_points(nobj, p)`): 35 for four
/// objectives and 4 divisions.
pub fn simplex_grid(objectives: usize, divisions: usize) -> Vec<Vec<f64>> {
    fn fill(
        prefix: &mut Vec<f64>,
        objectives: usize,
        left: usize,
        divisions: usize,
        out: &mut Vec<Vec<f64>>,
    ) {
        if prefix.len() == objectives - 1 {
            prefix.push(left as f64 / divisions as f64);
            out.push(prefix.clone());
            prefix.pop();
            return;
        }
        for i in 0..=left {
            prefix.push(i as f64 / divisions as f64);
            fill(prefix, objectives, left - i, divisions, out);
            prefix.pop();
        }
    }
    let mut out = Vec::new();
    if objectives > 0 {
        fill(&mut Vec::with_capacity(objectives), objectives, divisions, divisions, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_hypervolumes() {
        // two objectives: an L-shaped union of [0,3]x[0,1] and [0,1]x[0,3] = 3 + 3 - 1
        let points = vec![vec![3.0, 1.0], vec![1.0, 3.0]];
        assert_eq!(hypervolume(&points, &[0.0, 0.0]), 5.0);
        // a dominated point and one below the reference change nothing
        let more = vec![vec![3.0, 1.0], vec![1.0, 3.0], vec![0.5, 0.5], vec![2.0, -1.0]];
        assert_eq!(hypervolume(&more, &[0.0, 0.0]), 5.0);
        // three objectives: two unit-overlapping boxes 2x1x1 and 1x1x2 → 2 + 2 - 1
        let boxes = vec![vec![2.0, 1.0, 1.0], vec![1.0, 1.0, 2.0]];
        assert_eq!(hypervolume(&boxes, &[0.0, 0.0, 0.0]), 3.0);
        // four objectives: one point is a box
        assert!((hypervolume(&[vec![0.5, 0.5, 0.5, 0.5]], &[0.0; 4]) - 0.0625).abs() < 1e-15);
        assert_eq!(hypervolume(&[], &[0.0, 0.0]), 0.0);
    }

    #[test]
    fn fronts_keep_one_of_equal_points() {
        let points = vec![vec![1.0, 2.0], vec![2.0, 1.0], vec![1.0, 1.0], vec![2.0, 1.0]];
        assert_eq!(pareto_front(&points), vec![0, 1]);
        assert!(dominates(&[2.0, 1.0], &[1.0, 1.0]) && !dominates(&[1.0, 1.0], &[1.0, 1.0]));
    }

    #[test]
    fn r2_by_hand_and_the_evaluation_grid() {
        // one preference (1, 0), solutions 0.5 and 0.8 in the first objective: min(0.5, 0.2) / 1
        let r2 = r2_indicator(&[vec![1.0, 0.0]], &[vec![0.5, 0.0], vec![0.8, 0.0]], &[1.0, 1.0]);
        assert!((r2 - 0.2).abs() < 1e-12);
        let grid = simplex_grid(4, 4);
        assert_eq!(grid.len(), 35);
        assert!(grid.iter().all(|v| (v.iter().sum::<f64>() - 1.0).abs() < 1e-12));
        assert_eq!(grid[0], vec![0.0, 0.0, 0.0, 1.0]);
        assert_eq!(simplex_grid(2, 2), vec![vec![0.0, 1.0], vec![0.5, 0.5], vec![1.0, 0.0]]);
    }
}
