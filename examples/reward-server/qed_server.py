"""A gfn reward service that scores molecules by RDKit's QED (quantitative estimate of
drug-likeness, Bickerton et al. 2012), in [0, 1]. Run:

    python3 qed_server.py --listen 0.0.0.0:50061

and point a run at it with `[reward] type = "service"`, `endpoints = ["host:50061"]`
(see README.md). The model version is RDKit's, so that results name exactly what scored them.
"""
import rdkit
from rdkit import Chem, RDLogger
from rdkit.Chem import QED

from reward_server import arguments, load_token, serve

RDLogger.DisableLog("rdApp.*")


def qed(smiles_batch):
    values = []
    for smiles in smiles_batch:
        molecule = Chem.MolFromSmiles(smiles)
        values.append(ValueError(f"RDKit cannot parse {smiles!r}") if molecule is None else QED.qed(molecule))
    return values


def main():
    args = arguments("Serves RDKit QED over gfn.reward.v1.").parse_args()
    serve(qed, model_name="rdkit-qed", model_version=rdkit.__version__, kinds=("molecule",),
          listen=args.listen, proto_root=args.proto, token=load_token(args.token_file),
          latency_ms=args.latency_ms, max_batch=args.max_batch, workers=args.workers)


if __name__ == "__main__":
    main()
