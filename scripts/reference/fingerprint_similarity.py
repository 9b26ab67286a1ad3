"""Diversity of a run's molecules under two fingerprints: ECFP4 (what gfn reports) and RDKit's
path fingerprint `Chem.RDKFingerprint` (the one GFNOrg/gflownet's code uses wherever it compares
molecules, e.g. `mols/gflownet_activelearning.py`; also used by the `eval_mols` helpers that later
GFlowNet papers copy to compare with Bengio et al. 2021).

Reads a learner's results database (runs/.../molecules.sqlite), takes the first --molecules
molecules in the order the learner accepted them, and prints one JSON line: the mean pairwise
Tanimoto similarity of the top-1000 distinct molecules by proxy under both fingerprints, and
modes at proxy >= 7.5 and >= 8 (similarity < 0.7 to every earlier mode, in generation order)
under both. Needs RDKit, outside the repository:
  python3 -m pip install --target /tmp/rdk rdkit
  PYTHONPATH=/tmp/rdk python3 scripts/reference/fingerprint_similarity.py RUN/molecules.sqlite
"""
import argparse
import json
import sqlite3

from rdkit import Chem, DataStructs, RDLogger
from rdkit.Chem import AllChem

RDLogger.DisableLog("rdApp.*")


def ecfp4(mol):
    return AllChem.GetMorganFingerprintAsBitVect(mol, 2, nBits=2048)


def path_fingerprint(mol):
    return Chem.RDKFingerprint(mol)


def mean_pairwise(fps):
    total, count = 0.0, 0
    for i in range(len(fps) - 1):
        sims = DataStructs.BulkTanimotoSimilarity(fps[i], fps[i + 1:])
        total += sum(sims)
        count += len(sims)
    return total / count


def modes(rows, threshold, fingerprint, cache):
    found = []
    for smiles, proxy in rows:
        if proxy < threshold:
            continue
        fp = cache.setdefault((fingerprint.__name__, smiles), fingerprint(Chem.MolFromSmiles(smiles)))
        if not found or max(DataStructs.BulkTanimotoSimilarity(fp, found)) < 0.7:
            found.append(fp)
    return len(found)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("database")
    parser.add_argument("--molecules", type=int, default=100000)
    args = parser.parse_args()
    db = sqlite3.connect(args.database)
    rows = db.execute(
        "SELECT smiles, max(coalesce(proxy, 0.1), 0.1) FROM molecules ORDER BY id LIMIT ?", (args.molecules,)
    ).fetchall()
    best = {}
    for smiles, proxy in rows:
        best[smiles] = max(best.get(smiles, proxy), proxy)
    top = sorted(best, key=best.get, reverse=True)[:1000]
    mols = [Chem.MolFromSmiles(s) for s in top]
    cache = {}
    record = {"database": args.database, "molecules": len(rows)}
    for name, fingerprint in (("ecfp4", ecfp4), ("rdkit_path", path_fingerprint)):
        record[f"top1000_similarity_{name}"] = round(mean_pairwise([fingerprint(m) for m in mols]), 4)
        for threshold in (7.5, 8.0):
            record[f"modes_proxy_{threshold}_{name}"] = modes(rows, threshold, fingerprint, cache)
    print(json.dumps(record))


if __name__ == "__main__":
    main()
