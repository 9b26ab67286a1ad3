"""Fragment-molecule benchmark to a molecule budget, over seeds (docs/BENCHMARKS.md).

For each seed: `gfn launch --config CONFIG --trajectories N --seed S --actors A` with its own log,
SQLite database and checkpoints under runs/bench-seh-frag-budget/NAME/seedS/, timed as a whole.
The learner writes a milestone record every `evaluation.milestone_molecules` molecules (the
paper's statistics at exactly 10k, 20k, … molecules generated); this script collects them into
docs/results/seh_frag_NAME.json: flat records per seed and milestone, the median and spread
over seeds, wall time, updates, molecules/s and the effective configuration; then plots top-100
proxy and modes (proxy ≥ 7) against molecules, one line per seed, into
docs/results/seh_frag_NAME.png.

`GFN_BIN_DIR` names the folder of gfn, gfn-learner and gfn-actor (default target/release).

Usage (after `source scripts/libtorch.sh` and a release build; scripts/bench-seh-frag-budget
does both):
  bench_seh_frag_budget.py --config configs/seh-frag.toml --name fm_paper \
      --seeds 0 1 2 --molecules 100000 [--actors 2] [--set training.batch_size=4 ...]
  bench_seh_frag_budget.py --name fm_all --combine fm_a fm_b
      (one summary over the seeds of earlier summaries that ran the same configuration)
"""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import tomllib
from pathlib import Path

METRICS = [
    "top10_proxy", "top100_proxy", "top1000_proxy",
    "top10_reward", "top100_reward", "top1000_reward",
    "modes_proxy_7", "modes_proxy_7_5", "modes_proxy_8",
    "scaffolds_proxy_7_5", "scaffolds_proxy_8",
    "top1000_similarity", "unique_fraction", "distinct", "best_proxy",
]


def toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def dump_toml(table, prefix=""):
    """Writes nested tables of scalars and arrays (what gfn configurations hold)."""
    lines = [f"{k} = {toml_value(v)}" for k, v in table.items() if not isinstance(v, dict)]
    for key, value in table.items():
        if isinstance(value, dict):
            name = f"{prefix}{key}"
            lines.append(f"\n[{name}]")
            lines.append(dump_toml(value, name + "."))
    return "\n".join(lines)


def parse_override(text):
    key, _, raw = text.partition("=")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    return key.strip().split("."), value


def apply_override(config, path, value):
    table = config
    for part in path[:-1]:
        table = table.setdefault(part, {})
    table[path[-1]] = value


def read_seed(out, seed, wall):
    """Flat milestone records and the run summary of one finished seed; `wall` is the launch's
    wall time (None: the learner's own clock at the last milestone)."""
    records = [json.loads(line) for line in (out / "evaluation.jsonl").read_text().splitlines() if line.strip()]
    milestones = [r for r in records if "milestone" in r]
    evaluations = [r for r in records if "update" in r]
    final = evaluations[-1] if evaluations else {}
    if wall is None and milestones:
        wall = milestones[-1]["wall_seconds"]
    flat = []
    for m in milestones:
        # the evaluation closest after the milestone gives the update count
        after = next((e for e in evaluations if e["molecules"] >= m["milestone"]), final)
        record = {"seed": seed, "molecules": m["milestone"], "wall_seconds": round(m["wall_seconds"], 1),
                  "updates": after.get("update")}
        record.update({k: m.get(k) for k in METRICS})
        flat.append(record)
    summary = {
        "seed": seed,
        "wall_seconds": round(wall, 1),
        "updates": final.get("update"),
        "molecules": final.get("molecules"),
        "molecules_per_second": round(final.get("molecules", 0) / wall, 1) if wall else None,
        "training_seconds": final.get("training_seconds"),
    }
    return summary, flat


def run_seed(args, config, seed, out):
    out.mkdir(parents=True, exist_ok=True)
    for stale in ["evaluation.jsonl", "molecules.sqlite"]:
        (out / stale).unlink(missing_ok=True)
    subprocess.run(["rm", "-rf", str(out / "checkpoints")], check=True)
    config = json.loads(json.dumps(config))
    apply_override(config, ["evaluation", "log_path"], str(out / "evaluation.jsonl"))
    apply_override(config, ["evaluation", "results_db"], str(out / "molecules.sqlite"))
    apply_override(config, ["checkpoint", "dir"], str(out / "checkpoints"))
    apply_override(config, ["learner", "metrics_listen"], "")
    path = out / "config.toml"
    path.write_text(dump_toml(config) + "\n")
    binaries = Path(os.environ.get("GFN_BIN_DIR", "target/release"))
    command = [
        str(binaries / "gfn"), "launch", "--config", str(path), "--trajectories", str(args.molecules),
        "--seed", str(seed), "--actors", str(args.actors), "--no-progress",
    ]
    started = time.monotonic()
    with open(out / "launch.log", "w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True)
    wall = time.monotonic() - started
    summary, flat = read_seed(out, seed, wall)
    (out / "run.json").write_text(json.dumps({"summary": summary, "records": flat}) + "\n")
    print(f"seed {seed}: {summary}", file=sys.stderr)
    if flat:
        print(f"  last milestone: {flat[-1]}", file=sys.stderr)
    return summary, flat


def median_records(flat, seeds):
    by_molecules = {}
    for record in flat:
        by_molecules.setdefault(record["molecules"], []).append(record)
    medians = []
    for molecules in sorted(by_molecules):
        group = by_molecules[molecules]
        if len(group) < len(seeds):
            continue
        record = {"seed": "median", "molecules": molecules, "seeds": len(group)}
        for key in METRICS + ["wall_seconds", "updates"]:
            values = [r[key] for r in group if r.get(key) is not None]
            if values:
                record[key] = statistics.median(values)
                record[key + "_min"] = min(values)
                record[key + "_max"] = max(values)
        medians.append(record)
    return medians


# the output paths every seed's run replaces with its own (run_seed): not part of a recipe
PER_RUN_PATHS = (("evaluation", "log_path"), ("evaluation", "results_db"), ("checkpoint", "dir"))


def without_seed(config):
    """The configuration without its seed and the per-run output paths, to compare two runs'
    recipes (the same recipe from two config files differs only in those paths)."""
    recipe = {key: dict(value) if isinstance(value, dict) else value
              for key, value in config.items() if key != "seed"}
    for table, key in PER_RUN_PATHS:
        recipe.get(table, {}).pop(key, None)
    return recipe


def combine(name, parts):
    """One summary over the seeds of the named earlier summaries.

    Refuses parts whose configuration differs (other than the seed and the per-run output paths)
    or whose seeds overlap, so a combined median is always the median of one recipe over distinct
    seeds.
    """
    summaries = [json.loads((Path("docs/results") / f"seh_frag_{part}.json").read_text()) for part in parts]
    first = summaries[0]
    seeds = []
    for part, summary in zip(parts, summaries):
        if without_seed(summary["config"]) != without_seed(first["config"]):
            sys.exit(f"--combine: {part} ran a different configuration from {parts[0]}")
        if summary["molecules_budget"] != first["molecules_budget"] or summary["actors"] != first["actors"]:
            sys.exit(f"--combine: {part} ran a different budget or actor count from {parts[0]}")
        overlap = set(seeds) & set(summary["seeds"])
        if overlap:
            sys.exit(f"--combine: seed(s) {sorted(overlap)} appear in more than one part")
        seeds.extend(summary["seeds"])
    combined_from = [{"name": s["name"], "command": s["command"], "cpu": s["cpu"], "date": s["date"]}
                     for s in summaries]
    return build_summary(
        name, first["cpu"], first["cores"], first["molecules_budget"], first["actors"], seeds,
        first["config"], [run for summary in summaries for run in summary["runs"]],
        [record for summary in summaries for record in summary["records"]],
        combined_from=combined_from)


def build_summary(name, cpu, cores, molecules_budget, actors, seeds, config, runs, flat, **extra):
    """The summary JSON of a benchmark: its provenance (`extra` follows the command), the
    per-seed runs and flat records, and their median per milestone."""
    return {
        "name": name,
        "command": " ".join(["scripts/bench-seh-frag-budget"] + sys.argv[1:]),
        **extra,
        "cpu": cpu,
        "cores": cores,
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "molecules_budget": molecules_budget,
        "actors": actors,
        "seeds": seeds,
        "config": config,
        "runs": runs,
        "records": flat,
        "median": median_records(flat, seeds),
    }


def plot(name, flat, path):
    plot_dir = Path(".pytools/plot")
    sys.path.insert(0, str(plot_dir))
    try:
        import matplotlib
    except ImportError:
        print("matplotlib missing: no plot", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, modes) = plt.subplots(1, 2, figsize=(11, 4))
    for seed in sorted({r["seed"] for r in flat}):
        rows = [r for r in flat if r["seed"] == seed]
        x = [r["molecules"] for r in rows]
        top.plot(x, [r["top100_proxy"] for r in rows], marker=".", label=f"seed {seed}")
        modes.plot(x, [r["modes_proxy_7"] for r in rows], marker=".", label=f"seed {seed}")
    top.axhline(8.21, color="grey", linestyle="--", label="paper @1e5 (8.21)")
    top.set_xlabel("molecules generated")
    top.set_ylabel("top-100 average proxy")
    modes.set_xlabel("molecules generated")
    modes.set_ylabel("modes (proxy ≥ 7, Tanimoto < 0.7)")
    for axis in (top, modes):
        axis.legend()
        axis.grid(alpha=0.3)
    fig.suptitle(f"gfn fragment molecules: {name}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config")
    parser.add_argument("--name", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--molecules", type=int, default=100_000)
    parser.add_argument("--actors", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a configuration key (TOML value), e.g. training.batch_size=4")
    parser.add_argument("--vocabulary", default=os.environ.get("GFN_VOCABULARY"))
    parser.add_argument("--proxy-weights", default=os.environ.get("GFN_SEH_PROXY_WEIGHTS"))
    parser.add_argument("--collect-only", action="store_true",
                        help="write the summary from the seeds' finished runs (their run.json), run nothing")
    parser.add_argument("--combine", nargs="+", metavar="NAME",
                        help="write NAME's summary from earlier summaries of the same configuration, run nothing")
    parser.add_argument("--plot-only", action="store_true",
                        help="redraw docs/results/seh_frag_NAME.png from its JSON summary, run nothing")
    args = parser.parse_args()
    if args.plot_only:
        result = json.loads((Path("docs/results") / f"seh_frag_{args.name}.json").read_text())
        plot(args.name, result["records"], Path("docs/results") / f"seh_frag_{args.name}.png")
        return
    if args.combine:
        result = combine(args.name, args.combine)
        write_summary(args.name, result)
        return

    if not args.config:
        parser.error("--config is required")
    config = tomllib.loads(Path(args.config).read_text())
    for override in args.set:
        apply_override(config, *parse_override(override))
    if args.vocabulary:
        apply_override(config, ["env", "vocabulary"], args.vocabulary)
    if args.proxy_weights:
        apply_override(config, ["env", "proxy_weights"], args.proxy_weights)

    base = Path("runs/bench-seh-frag-budget") / args.name
    summaries, flat = [], []
    for seed in args.seeds:
        if args.collect_only:
            done = base / f"seed{seed}" / "run.json"
            if done.exists():
                done = json.loads(done.read_text())
                summary, records = done["summary"], done["records"]
            else:
                summary, records = read_seed(base / f"seed{seed}", seed, None)
        else:
            summary, records = run_seed(args, config, seed, base / f"seed{seed}")
        summaries.append(summary)
        flat.extend(records)
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    result = build_summary(args.name, cpu, os.cpu_count(), args.molecules, args.actors, args.seeds,
                           config, summaries, flat)
    write_summary(args.name, result)


def write_summary(name, result):
    """Write docs/results/seh_frag_NAME.json and its plot, and print the last median milestone."""
    Path("docs/results").mkdir(parents=True, exist_ok=True)
    out = Path("docs/results") / f"seh_frag_{name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    plot(name, result["records"], Path("docs/results") / f"seh_frag_{name}.png")
    last = result["median"][-1] if result["median"] else {}
    print(json.dumps({k: last.get(k) for k in ["molecules", "top10_proxy", "top100_proxy", "top1000_proxy",
                                                 "modes_proxy_7", "top1000_similarity", "wall_seconds"]}))
    print(f"wrote {out}", file=sys.stderr)


if __name__ == "__main__":
    main()
