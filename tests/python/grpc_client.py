"""A gfn actor written in Python from proto/gfn/v1/gfn.proto alone (grpcio + grpcio-tools).

Usage: grpc_client.py PROTO_ROOT LEARNER_ADDRESS
Generates the client code, registers, receives one complete weights version, submits one valid
trajectory (stop at the origin) and prints a JSON summary.
"""
import json
import math
import os
import struct
import sys
import tempfile

from grpc_tools import protoc
import grpc


def main():
    proto_root, address = sys.argv[1], sys.argv[2]
    out = tempfile.mkdtemp(prefix="gfn-py-")
    status = protoc.main([
        "grpc_tools.protoc", f"-I{proto_root}", f"--python_out={out}", f"--grpc_python_out={out}",
        os.path.join(proto_root, "gfn", "v1", "gfn.proto"),
    ])
    if status != 0:
        raise SystemExit(f"protoc failed with {status}")
    sys.path.insert(0, out)
    from gfn.v1 import gfn_pb2, gfn_pb2_grpc

    channel = grpc.insecure_channel(address)
    stub = gfn_pb2_grpc.LearnerStub(channel)
    reply = stub.Register(gfn_pb2.RegisterRequest(
        actor_name="python", protocol_version=1,
        capabilities=gfn_pb2.ActorCapabilities(reward_threads=1, rollout_batch=1, environments=["hypergrid"])))
    config = reply.config_toml
    ndim = int(next(l.split("=")[1] for l in config.splitlines() if l.strip().startswith("ndim")))

    data, version = b"", None
    for chunk in stub.WatchWeights(gfn_pb2.WatchWeightsRequest(run_id=reply.run_id, actor_id=reply.actor_id)):
        if chunk.chunk_index == 0:
            data, version = b"", chunk.version
        data += chunk.data
        if chunk.chunk_index + 1 == chunk.chunk_count:
            break
    header_length = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + header_length])
    tensors = sorted(k for k in header if k != "__metadata__")

    # Stopping at the origin is always valid; R(origin) = R0 + R1 with the default reward.
    stop = ndim
    submitted = stub.SubmitTrajectories(gfn_pb2.TrajectoryBatch(
        run_id=reply.run_id, actor_id=reply.actor_id,
        trajectories=[gfn_pb2.Trajectory(actions=[stop], log_reward=math.log(0.6), policy_version=version)]))
    print(json.dumps({
        "run_id": reply.run_id,
        "ndim": ndim,
        "weights_version": version,
        "weights_bytes": len(data),
        "tensors": tensors,
        "accepted": submitted.accepted,
    }))


if __name__ == "__main__":
    main()
