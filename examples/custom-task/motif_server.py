"""The motif task's reward computed outside gfn: a gfn.reward.v1 service in Python that scores
the task's "dna" objects (the sequence as text, written by `MotifTask::service_object`).

It scores as the task's built-in reward does, R(x) = r0 + bonus * (occurrences of the motif),
so a run that takes its rewards from here trains exactly as one that computes them in Rust:

    python3 examples/custom-task/motif_server.py --listen 127.0.0.1:50061
    motifs launch --config examples/custom-task/motifs.toml \
        --set reward.type='"service"' --set 'reward.endpoints=["127.0.0.1:50061"]'

Any scoring code fits here (a model, a simulator, a lab's database); it needs grpcio and
grpcio-tools (examples/reward-server/requirements.txt).
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "reward-server"))
from reward_server import arguments, load_token, serve  # noqa: E402


def occurrences(text, motif):
    """Occurrences of `motif` in `text`, overlapping ones included."""
    return sum(text.startswith(motif, i) for i in range(len(text) - len(motif) + 1))


def main():
    parser = arguments("Scores DNA sequences by occurrences of a motif over gfn.reward.v1.")
    parser.add_argument("--motif", default="GATA")
    parser.add_argument("--r0", type=float, default=0.05)
    parser.add_argument("--bonus", type=float, default=1.0)
    args = parser.parse_args()
    serve(lambda batch: [args.r0 + args.bonus * occurrences(text, args.motif) for text in batch],
          model_name="motif-count", model_version="1", kinds=("dna",), listen=args.listen,
          proto_root=args.proto, token=load_token(args.token_file), latency_ms=args.latency_ms,
          max_batch=args.max_batch, workers=args.workers)


if __name__ == "__main__":
    main()
