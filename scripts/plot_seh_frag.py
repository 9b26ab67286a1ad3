"""Plots top-100 average reward and modes against molecules generated for the runs written by
scripts/bench-seh-frag, and prints a summary table (markdown) of the last evaluation of each.
Usage: plot_seh_frag.py RUNS_DIR OUT.png VARIANT..."""
import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

runs = Path(sys.argv[1])
out = Path(sys.argv[2])
variants = sys.argv[3:] or ["flow_matching", "uniform"]
labels = {
    "flow_matching": "flow matching (gfn)",
    "uniform": "uniform-random policy",
    "trajectory_balance": "trajectory balance (gfn)",
    "flow_matching_no_averaging": "flow matching, no weight averaging",
}
fig, (top, modes) = plt.subplots(1, 2, figsize=(11, 4))
print("| policy | molecules | updates | top-10 | top-100 | top-1000 | modes | unique | best proxy |")
print("|---|---|---|---|---|---|---|---|---|")
for variant in variants:
    path = runs / variant / "evaluation.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    molecules = [r["molecules"] for r in records]
    top.plot(molecules, [r["top100_reward"] for r in records], label=labels[variant])
    modes.plot(molecules, [r["modes"] for r in records], label=labels[variant])
    last = records[-1]
    print(
        f"| {labels[variant]} | {last['molecules']:,} | {last['update']:,} | {last['top10_reward']:.3f} | "
        f"{last['top100_reward']:.3f} | {last['top1000_reward']:.3f} | {last['modes']} | "
        f"{last['unique_fraction']:.3f} | {last['best_proxy']:.2f} |"
    )
top.set_xlabel("molecules generated")
top.set_ylabel("top-100 average reward, max(proxy, 0.1) / 8")
modes.set_xlabel("molecules generated")
modes.set_ylabel("modes (proxy ≥ 7.5, ECFP4 Tanimoto < 0.7)")
for axis in (top, modes):
    axis.grid(alpha=0.3)
    axis.legend()
fig.suptitle("sEH fragment molecules, 10 minutes each, learner + 2 actors on 2 cores")
fig.tight_layout()
fig.savefig(out, dpi=110)
print(f"plot written to {out}")
