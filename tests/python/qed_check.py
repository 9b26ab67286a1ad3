"""Recomputes RDKit QED for every molecule a run stored and compares it with the recorded score.

Usage: qed_check.py RESULTS_DB
Prints a JSON summary: molecules, max_abs_diff, unparsable, missing scores, reward models seen,
and the RDKit version used here.
"""
import json
import sqlite3
import sys

import rdkit
from rdkit import Chem, RDLogger
from rdkit.Chem import QED

RDLogger.DisableLog("rdApp.*")


def main():
    connection = sqlite3.connect(sys.argv[1])
    rows = connection.execute("SELECT smiles, proxy, reward_model FROM molecules ORDER BY id").fetchall()
    max_diff, unparsable, missing, models = 0.0, 0, 0, {}
    for smiles, proxy, model in rows:
        models[model] = models.get(model, 0) + 1
        if proxy is None:
            missing += 1
            continue
        molecule = Chem.MolFromSmiles(smiles)
        if molecule is None:
            unparsable += 1
            continue
        max_diff = max(max_diff, abs(QED.qed(molecule) - proxy))
    print(json.dumps({"molecules": len(rows), "max_abs_diff": max_diff, "unparsable": unparsable,
                      "missing": missing, "models": models, "rdkit": rdkit.__version__}))


if __name__ == "__main__":
    main()
