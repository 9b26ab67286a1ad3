"""The multi-objective figures of a set of molecules sampled under each preference of the simplex
grid, computed one way for every library (scripts/compare-moo-recursion): hypervolume (pymoo,
exact, reference point 0), R2 as recursionpharma/gflownet computes it (utopian point 1), Pareto
front size, and per preference the mean weighted-sum reward of the top k and their mean pairwise
Tanimoto distance (RDKit's radius-2 Morgan environments as sets, what gfn's learner uses), and
preference following (the share of preferences whose own molecules score best on average under
them), as common/src/task/pareto_evaluation.rs defines them; and the mean rank of a preference's
own molecules under it among all preferences' molecules (1 = best; (n + 1) / 2 if the policy
ignored the preference).

Input: a folder of `gfn score` outputs, one CSV per preference named `<w1,w2,...>.csv` (columns
`smiles`, each objective, `<name>_norm`, `error`). A molecule with an error (unparsable SMILES)
is counted and left out. Prints one JSON object.

  PYTHONPATH=.pytools python3 scripts/reference/moo_figures.py FOLDER [--top-k 10]
"""

import argparse
import csv
import glob
import json
import os

import numpy as np
from pymoo.indicators.hv import HV
from rdkit import Chem, RDLogger
from rdkit.Chem import AllChem

RDLogger.DisableLog("rdApp.*")


def pareto_front(points):
    """The distinct non-dominated rows (maximisation)."""
    unique = np.unique(points, axis=0)
    kept = [
        p for p in unique if not np.any(np.all(unique >= p, axis=1) & np.any(unique > p, axis=1))
    ]
    return np.array(kept).reshape(-1, points.shape[1])


def r2_indicator_set(reference_points, solutions, utopian_point):
    # recursionpharma/gflownet src/gflownet/utils/metrics.py, restated with numpy
    minima = [min(np.max(v * np.abs(utopian_point - a)) for a in solutions) for v in reference_points]
    return float(np.sum(minima) / np.linalg.norm(reference_points))


def environments(smiles):
    mol = Chem.MolFromSmiles(smiles)
    return set(AllChem.GetMorganFingerprint(mol, 2).GetNonzeroElements().keys())


def tanimoto(a, b):
    union = len(a | b)
    return len(a & b) / union if union else 1.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("--top-k", type=int, default=10)
    args = parser.parse_args()
    files = sorted(glob.glob(os.path.join(args.folder, "*.csv")))
    preferences, samples, errors, names = [], [], 0, None
    for path in files:
        preference = [float(w) for w in os.path.basename(path)[: -len(".csv")].split(",")]
        rows = list(csv.DictReader(open(path)))
        if names is None and rows:
            names = [c[: -len("_norm")] for c in rows[0] if c.endswith("_norm")]
        good = [r for r in rows if not r.get("error")]
        errors += len(rows) - len(good)
        preferences.append(preference)
        samples.append(good)
    if len(names) != len(preferences[0]):
        raise SystemExit(f"{len(names)} objectives in the scores, {len(preferences[0])} weights in the file names")
    preferences = np.array(preferences)
    vectors = [np.array([[float(r[f"{n}_norm"]) for n in names] for r in rows]).reshape(-1, len(names)) for rows in samples]
    every = np.concatenate(vectors)
    front = pareto_front(every)
    hypervolume = float(HV(ref_point=np.zeros(len(names)))(-front)) if len(front) else 0.0
    r2 = r2_indicator_set(preferences, front, np.ones(len(names)))
    top_rewards, diversities, per_objective_top = [], [], []
    for w, rows, v in zip(preferences, samples, vectors):
        scores = v @ w
        top = np.argsort(-scores, kind="stable")[: args.top_k]
        top_rewards.append(float(scores[top].mean()))
        per_objective_top.append(v[top].mean(axis=0))
        fingerprints = [environments(rows[i]["smiles"]) for i in top]
        pairs = [1 - tanimoto(a, b) for i, a in enumerate(fingerprints) for b in fingerprints[i + 1 :]]
        diversities.append(float(np.mean(pairs)))
    means = np.array([[float((v @ w).mean()) if len(v) else 0.0 for v in vectors] for w in preferences])
    # per preference, how many preferences' molecules beat its own under it: followed when none
    # does; its rank is 1 + that (a policy that ignores the preference averages (n + 1) / 2)
    beaten_by = np.array([(means[i] > means[i, i]).sum() for i in range(len(preferences))])
    following = float(np.mean(beaten_by == 0))
    following_rank = float(np.mean(1 + beaten_by))
    print(
        json.dumps(
            {
                "preferences": len(preferences),
                "molecules": int(len(every)),
                "unparsable": errors,
                "unique_smiles": len({r["smiles"] for rows in samples for r in rows}),
                "hypervolume": hypervolume,
                "r2": r2,
                "front_size": int(len(front)),
                "top_k_reward": float(np.mean(top_rewards)),
                "top_k_diversity": float(np.mean(diversities)),
                "preference_following": following,
                "preference_following_rank": following_rank,
                "objectives": names,
                "top_k_mean_objectives": [float(x) for x in np.mean(per_objective_top, axis=0)],
                "mean_objectives": [float(x) for x in every.mean(axis=0)],
            }
        )
    )


if __name__ == "__main__":
    main()
