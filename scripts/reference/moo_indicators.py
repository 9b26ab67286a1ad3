"""Reference values of the multi-objective indicators, for tests/tests/pareto_parity.rs.

Reads a JSON object {"sets": [{"points": [[...], ...], "reference": [...], "preferences": [[...]],
"utopian": [...]}, ...]} from the file given as the first argument and prints, per set, pymoo's
exact hypervolume of the points (maximised: pymoo minimises, so of the negated points above the
negated reference) and the R2 indicator as recursionpharma/gflownet's r2_indicator_set computes it.
"""

import json
import sys

import numpy as np
from pymoo.indicators.hv import HV


def r2_indicator_set(reference_points, solutions, utopian_point):
    # recursionpharma/gflownet src/gflownet/utils/metrics.py, restated with numpy
    minima = [min(np.max(v * np.abs(utopian_point - a)) for a in solutions) for v in reference_points]
    return float(np.sum(minima) / np.linalg.norm(reference_points))


for case in json.load(open(sys.argv[1]))["sets"]:
    points = np.array(case["points"], dtype=float)
    reference = np.array(case["reference"], dtype=float)
    hypervolume = float(HV(ref_point=-reference)(-points))
    r2 = r2_indicator_set(np.array(case["preferences"]), points, np.array(case["utopian"]))
    print(json.dumps({"hypervolume": hypervolume, "r2": r2}))
