"""The paper's own sEH proxy (GFNOrg/gflownet mols/, 2021) on the golden molecules, for
tests/tests/data/paper_proxy_reference.jsonl: per golden record index, the proxy with the
paper's input (open attachment atoms marked) and PyTorch Geometric 1.x's NNConv root
orientation (`x @ root`), and the same without the mask.

Setup (outside the repository): GFNOrg/gflownet's mols/ directory with three patches for
today's libraries — `torch.device('cuda')` -> 'cpu'; `.__slices__[k]` -> `._slice_dict[k]`;
`np.int`/`np.float`/`np.bool` -> builtins — a `torch_sparse` shim whose `coalesce(i, v, m, n)`
calls `torch_geometric.utils.coalesce(i, v, m)`, and `Proxy.__init__` loading the pickled
parameters by name: PyG 2.x registers NNConv's parameters as (bias, nn..., lin.weight) where
the pickle has (root, bias, nn...), and `lin.weight = root.T` reproduces `x @ root`. PyPI:
torch 2.13.0 (+ its nvidia libraries), torch_geometric 2.8.1, rdkit, pandas, scipy.
With `lin.weight = root` instead (recursionpharma/gflownet's port) and the mask zeroed this
reproduces ../shared/data/seh/proxy_golden.jsonl to 2.3e-6.

Usage (in <mols dir>): python3 paper_proxy.py GOLDEN.jsonl N | grep "^{" > OUT.jsonl
(the 2021 modules print a few lines of their own)
"""
import json
import sys

import torch

import gflownet
import model_atom
from mol_mdp_ext import BlockMoleculeDataExtended


def main():
    golden, count = sys.argv[1], int(sys.argv[2])
    args = gflownet.parser.parse_args([])
    args.floatX = torch.double
    proxy = gflownet.Proxy(args, "data/blocks_PDB_105.json", "cpu")
    mdp = proxy.mdp
    original = model_atom.mol2graph

    def unmasked(mol, mdp, floatX=torch.float, bonds=False, nblocks=False):
        graph = original(mol, mdp, floatX, bonds, nblocks)
        graph.x[:, -1] = 0
        return graph

    records = [json.loads(line) for line in open(golden)][:count]
    for index, record in enumerate(records):
        molecule = BlockMoleculeDataExtended()
        for position, block in enumerate(record["blockidxs"]):
            stem = None
            if position > 0:
                bond = next(j for j in record["jbonds"] if j[1] == position)
                stem = next(k for k, s in enumerate(molecule.stems) if s[0] == bond[0] and s[1] == bond[2])
            molecule.add_block(block, mdp.block_mols[block], mdp.block_rs[block], stem, None)
        paper = proxy(molecule)
        model_atom.mol2graph = unmasked
        original_root = proxy(molecule)
        model_atom.mol2graph = original
        print(json.dumps({"index": index, "smiles": record["smiles"], "paper_proxy": paper,
                          "original_root_proxy": original_root}))


if __name__ == "__main__":
    main()
