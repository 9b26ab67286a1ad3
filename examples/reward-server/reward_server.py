"""A gfn reward service in Python, generated from proto/gfn/reward/v1/reward.proto alone.

It serves `gfn.reward.v1.RewardModel` around any Python function that scores a batch of
objects: `f(list[str]) -> list[float]` for molecules (SMILES), bit sequences ("0101…") or grid
points ("3,0,7"). A value of None, NaN or an exception raised for one object becomes that
object's error; gfn drops that object's trajectory and counts it. The function returns raw
scores: gfn applies its reward transform ([reward] exponent, min, norm) itself.

Use it as a library:

    from reward_server import serve
    serve(lambda smiles: [len(s) for s in smiles], model_name="length", model_version="1")

or run `qed_server.py` (RDKit QED). With GFN_RUN_TOKEN set (or --token-file), every call must
carry `authorization: Bearer <token>`, as gfn's actors send it.
"""
import argparse
import concurrent.futures
import hmac
import json
import math
import os
import sys
import tempfile
import threading
import time

import grpc
from grpc_tools import protoc

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_PROTO_ROOT = os.path.join(HERE, "..", "..", "proto")


def load_protocol(proto_root):
    """Generates the Python code of gfn.reward.v1 into a temporary folder and imports it."""
    out = tempfile.mkdtemp(prefix="gfn-reward-")
    status = protoc.main([
        "grpc_tools.protoc", f"-I{proto_root}", f"--python_out={out}", f"--grpc_python_out={out}",
        os.path.join(proto_root, "gfn", "reward", "v1", "reward.proto"),
    ])
    if status != 0:
        raise SystemExit(f"protoc failed with {status} on {proto_root}")
    sys.path.insert(0, out)
    from gfn.reward.v1 import reward_pb2, reward_pb2_grpc
    return reward_pb2, reward_pb2_grpc


def object_text(pb, obj):
    """The text a scoring function receives for one RewardObject."""
    kind = obj.WhichOneof("object")
    if kind == "molecule":
        return "molecule", obj.molecule.smiles
    if kind == "bits":
        return "bits", obj.bits.bits
    if kind == "grid":
        return "grid", ",".join(str(c) for c in obj.grid.coordinates)
    if kind == "encoded":
        # an object of a task defined outside gfn, in the encoding its kind names
        return obj.encoded.kind, obj.encoded.text
    return None, None


def make_servicer(pb, pb_grpc, score, model_name, model_version, kinds, token, latency_s, max_batch):
    class Servicer(pb_grpc.RewardModelServicer):
        scored = 0  # objects given a value, over the server's life
        lock = threading.Lock()

        def _authorized(self, context):
            if token is None:
                return True
            sent = dict(context.invocation_metadata()).get("authorization", "")
            if hmac.compare_digest(sent.encode(), f"Bearer {token}".encode()):
                return True
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong run token")
            return False

        def Score(self, request, context):
            self._authorized(context)
            if max_batch and len(request.objects) > max_batch:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                              f"{len(request.objects)} objects, at most {max_batch} per call")
            texts = []
            for obj in request.objects:
                kind, text = object_text(pb, obj)
                if kind not in kinds:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT,
                                  f"this model scores {sorted(kinds)}, not {kind}")
                texts.append(text)
            if latency_s:
                time.sleep(latency_s)
            try:
                values = list(score(texts))
            except Exception as error:  # the whole batch failed: say so per object
                values = [error] * len(texts)
            if len(values) != len(texts):
                context.abort(grpc.StatusCode.INTERNAL,
                              f"the scoring function returned {len(values)} values for {len(texts)} objects")
            with Servicer.lock:
                Servicer.scored += len(texts)
            results = []
            for value in values:
                if isinstance(value, Exception):
                    results.append(pb.ObjectResult(error=f"{type(value).__name__}: {value}"))
                elif value is None or not math.isfinite(float(value)):
                    results.append(pb.ObjectResult(error=f"no score ({value})"))
                else:
                    results.append(pb.ObjectResult(value=float(value)))
            return pb.ScoreReply(results=results, value_kind=pb.SCORE,
                                 model_name=model_name, model_version=model_version)

        def Describe(self, request, context):
            self._authorized(context)
            return pb.ModelInfo(model_name=model_name, model_version=model_version,
                                object_kinds=sorted(kinds), max_batch=max_batch)

    return Servicer()


def load_token(token_file):
    token = os.environ.get("GFN_RUN_TOKEN")
    if token is None and token_file:
        with open(token_file) as f:
            token = f.read().strip()
    return token or None


def serve(score, *, model_name, model_version, kinds=("molecule",), listen="127.0.0.1:50061",
          proto_root=DEFAULT_PROTO_ROOT, token=None, latency_ms=0.0, max_batch=0, workers=4):
    """Serves `score` until SIGTERM/SIGINT; prints one JSON line with the bound address, and
    one with the number of objects scored when it stops."""
    pb, pb_grpc = load_protocol(proto_root)
    server = grpc.server(concurrent.futures.ThreadPoolExecutor(max_workers=workers))
    servicer = make_servicer(pb, pb_grpc, score, model_name, model_version, set(kinds), token,
                             latency_ms / 1000.0, max_batch)
    pb_grpc.add_RewardModelServicer_to_server(servicer, server)
    port = server.add_insecure_port(listen)
    if port == 0:
        raise SystemExit(f"cannot listen on {listen}")
    host = listen.rsplit(":", 1)[0]
    server.start()
    print(json.dumps({"event": "listening", "address": f"{host}:{port}",
                      "model": f"{model_name}@{model_version}"}), flush=True)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: server.stop(grace=1.0))
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:
        server.stop(grace=1.0)
    print(json.dumps({"event": "stopped", "objects_scored": type(servicer).scored}), flush=True)


def arguments(description):
    """The command-line options every server shares."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--listen", default="127.0.0.1:50061", help="host:port (port 0 picks a free one)")
    parser.add_argument("--proto", default=DEFAULT_PROTO_ROOT, help="folder holding gfn/reward/v1/reward.proto")
    parser.add_argument("--token-file", help="run token file (GFN_RUN_TOKEN takes precedence)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="extra latency per batch (benchmarks)")
    parser.add_argument("--max-batch", type=int, default=0, help="largest batch accepted (0: any)")
    parser.add_argument("--workers", type=int, default=4, help="calls served concurrently")
    return parser


def main():
    """A stand-in model for benchmarks: the score of a SMILES is 1 + its length / 10, after
    `--latency-ms` per batch (a remote model's latency without its CPU cost)."""
    parser = arguments("Serves a stand-in molecule score (1 + len(SMILES)/10) over gfn.reward.v1.")
    args = parser.parse_args()
    serve(lambda batch: [1.0 + len(s) / 10.0 for s in batch], model_name="smiles-length", model_version="1",
          kinds=("molecule", "bits", "grid"), listen=args.listen, proto_root=args.proto,
          token=load_token(args.token_file), latency_ms=args.latency_ms, max_batch=args.max_batch,
          workers=args.workers)


if __name__ == "__main__":
    main()
