#!/usr/bin/env python3
"""Converts the published sEH proxy weights (Bengio et al. 2021; GFNOrg/gflownet
`mols/data/pretrained_proxy/best_params.pkl.gz`, MIT) into a safetensors file gfn reads.

Usage: convert_seh_proxy.py IN.pkl.gz OUT.safetensors   (needs numpy)

The pickle is a list of 22 float32 arrays in the parameter order of the original MPNNet
(lin0, conv = NNConv(root, bias, edge network), gru, lin1, lin2, set2set LSTM, lin3).
"""
import gzip
import json
import pickle
import struct
import sys

NAMES = [
    "lin0.weight", "lin0.bias",
    "conv.root", "conv.bias",
    "conv.nn.0.weight", "conv.nn.0.bias", "conv.nn.2.weight", "conv.nn.2.bias",
    "gru.weight_ih", "gru.weight_hh", "gru.bias_ih", "gru.bias_hh",
    "lin1.weight", "lin1.bias", "lin2.weight", "lin2.bias",
    "set2set.lstm.weight_ih", "set2set.lstm.weight_hh", "set2set.lstm.bias_ih", "set2set.lstm.bias_hh",
    "lin3.weight", "lin3.bias",
]


def main():
    source, target = sys.argv[1], sys.argv[2]
    with gzip.open(source, "rb") as f:
        arrays = pickle.load(f)
    if len(arrays) != len(NAMES):
        raise SystemExit(f"{source}: expected {len(NAMES)} arrays, found {len(arrays)}")
    header, blobs, offset = {}, [], 0
    for name, array in zip(NAMES, arrays):
        if str(array.dtype) != "float32":
            raise SystemExit(f"{source}: {name} has dtype {array.dtype}, expected float32")
        data = array.astype("<f4").tobytes(order="C")
        header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header_bytes = json.dumps(header, separators=(",", ":")).encode()
    header_bytes += b" " * (-len(header_bytes) % 8)
    with open(target + ".tmp", "wb") as f:
        f.write(struct.pack("<Q", len(header_bytes)))
        f.write(header_bytes)
        for blob in blobs:
            f.write(blob)
    import os
    os.replace(target + ".tmp", target)


if __name__ == "__main__":
    main()
