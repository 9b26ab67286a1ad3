"""RDKit's values of gfn's molecule objectives, for the parity test (tests/tests/objectives_parity.rs).

Reads SMILES, one per line, from the file given as the first argument and prints one JSON object per
molecule: RDKit's QED, average molecular weight (Descriptors.MolWt), SA score (Contrib/SA_Score
sascorer.py of the same RDKit installation), the radius-2 Morgan sparse count fingerprint the SA
score reads (rdFingerprintGenerator, as sascorer.py uses it) and the number of chiral centres.
Needs RDKit on PYTHONPATH (scripts/molecule-data.sh installs it into .pytools).
"""

import json
import os
import sys

import rdkit
from rdkit import Chem, RDLogger
from rdkit.Chem import QED, Descriptors, rdFingerprintGenerator

sys.path.insert(0, os.path.join(os.path.dirname(rdkit.__file__), "Contrib", "SA_Score"))
import sascorer  # noqa: E402

RDLogger.DisableLog("rdApp.*")
morgan = rdFingerprintGenerator.GetMorganGenerator(radius=2)
for line in open(sys.argv[1]):
    smiles = line.strip()
    if not smiles:
        continue
    molecule = Chem.MolFromSmiles(smiles)
    if molecule is None:
        print(json.dumps({"smiles": smiles, "error": "RDKit cannot parse it"}))
        continue
    environments = morgan.GetSparseCountFingerprint(molecule).GetNonzeroElements()
    print(json.dumps({
        "smiles": smiles,
        "rdkit": rdkit.__version__,
        "qed": QED.qed(molecule),
        "mw": Descriptors.MolWt(molecule),
        "sa": sascorer.calculateScore(molecule),
        "morgan": sorted([int(k), int(v)] for k, v in environments.items()),
        "chiral_centers": len(Chem.FindMolChiralCenters(molecule, includeUnassigned=True)),
    }))
