"""Summarises the evaluation records of several seeds of one multi-objective `gfn train` run
(scripts/bench-moo's `runs/bench-moo/<name>/seed<N>.jsonl`): every seed's evaluations, and at
each update that every seed has evaluated (or the ones asked for), the mean, min and max of
each figure over the seeds. Seeds may have stopped at different updates: the last update all of
them reached is reported as `common_last_update`.

  python3 scripts/summarize_moo_runs.py runs/bench-moo/seh_frag_moo_20k docs/results/seh_frag_moo_long.json \
      --seeds 0 1 2 --updates 2000 6000 12000 18000 20000 --command "..." --note "..."
"""

import argparse
import json
import statistics
import subprocess

FIGURES = [
    "hypervolume",
    "r2",
    "pareto_front_size",
    "top_k_reward",
    "top_k_diversity",
    "preference_following",
    "preference_following_rank",
    "training_seconds",
    "top10_proxy",
    "top100_proxy",
]


def evaluations(path):
    records = [json.loads(line) for line in open(path) if line.strip()]
    kept = {}
    for record in records:
        if "hypervolume" in record:
            # a resumed run appends to the same log: the later record of an update wins
            kept[record["update"]] = {k: record[k] for k in ["update", *FIGURES] if k in record}
            kept[record["update"]]["molecules"] = record.get("trajectories")
    return [kept[u] for u in sorted(kept)]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("target")
    parser.add_argument("--seeds", nargs="+", required=True)
    parser.add_argument("--updates", nargs="*", type=int, default=[])
    parser.add_argument("--command", default="")
    parser.add_argument("--config", default="")
    parser.add_argument("--note", default="")
    args = parser.parse_args()
    per_seed = {seed: evaluations(f"{args.folder}/seed{seed}.jsonl") for seed in args.seeds}
    common = set.intersection(*({e["update"] for e in runs} for runs in per_seed.values()))
    common_last = max(common)
    wanted = sorted({u for u in args.updates if u in common} | {common_last})
    at = {}
    for update in wanted:
        rows = [next(e for e in per_seed[s] if e["update"] == update) for s in args.seeds]
        at[str(update)] = {
            key: {
                "mean": statistics.fmean(r[key] for r in rows),
                "min": min(r[key] for r in rows),
                "max": max(r[key] for r in rows),
                "per_seed": [r[key] for r in rows],
            }
            for key in FIGURES
            if all(r.get(key) is not None for r in rows)
        }
    cpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in cpu.splitlines() if l.startswith("Model name")), "unknown")
    result = {
        "command": args.command,
        "config": args.config,
        "cpu": model,
        "note": args.note,
        "seeds": args.seeds,
        "last_update_per_seed": {s: runs[-1]["update"] for s, runs in per_seed.items()},
        "common_last_update": common_last,
        "at_update": at,
        "evaluations": per_seed,
    }
    json.dump(result, open(args.target, "w"), indent=1)
    for update, figures in at.items():
        line = "  ".join(
            f"{k} {v['mean']:.3f} ({v['min']:.3f}-{v['max']:.3f})"
            for k, v in figures.items()
            if k in ("hypervolume", "r2", "top_k_reward", "top_k_diversity", "preference_following")
        )
        print(f"update {update}: {line}")


if __name__ == "__main__":
    main()
