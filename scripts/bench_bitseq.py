"""Bit sequences n = 120, k = 8 with trajectory balance: gfn (`gfn train`, configs/bitseq.toml)
and gfnx 0.0.1 (scripts/reference/gfnx_bitseq_tb.py, same task, network and recipe) on the same
budget of updates, over seeds. Writes docs/results/bitseq_tb.json: per seed and library, modes
of M found (within 10 bits), trajectories/s (training time; gfnx after compilation), the
learned log Z, and for gfn the Spearman correlation between log p(x) and log R(x).
Run through scripts/bench-bitseq."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def run_gfn(seed, updates, binaries):
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "evaluation.jsonl"
        subprocess.run(
            [str(binaries / "gfn"), "train", "--config", "configs/bitseq.toml", "--seed", str(seed),
             "--updates", str(updates), "--eval-every", str(max(updates // 5, 1)), "--log", str(log),
             "--checkpoint-dir", str(Path(tmp) / "checkpoints"), "--no-progress"],
            check=True, stdout=subprocess.DEVNULL)
        last = json.loads(log.read_text().splitlines()[-1])
    return {
        "library": "gfn", "seed": seed, "updates": last["update"], "trajectories": last["trajectories"],
        "modes_found": last["modes_found"], "num_modes": last["num_modes"], "spearman": last["spearman"],
        "learned_log_z": last["learned_log_z"],
        "trajectories_per_second": round(last["trajectories"] / last["training_seconds"], 1),
    }


def run_gfnx(seed, updates, python):
    out = subprocess.run([python, "scripts/reference/gfnx_bitseq_tb.py", "--updates", str(updates), "--seed", str(seed)],
                         check=True, capture_output=True, text=True).stdout
    record = json.loads(out.strip().splitlines()[-1])
    record["library"] = "gfnx"
    return record


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--updates", type=int, default=5000)
    parser.add_argument("--gfnx-python", default=os.environ.get("GFNX_PYTHON"))
    args = parser.parse_args()
    binaries = Path(os.environ.get("GFN_BIN_DIR", "target/release"))
    records = []
    for seed in args.seeds:
        records.append(run_gfn(seed, args.updates, binaries))
        print(records[-1], file=sys.stderr)
        if args.gfnx_python:
            records.append(run_gfnx(seed, args.updates, args.gfnx_python))
            print(records[-1], file=sys.stderr)
    summary = {}
    for library in sorted({r["library"] for r in records}):
        rows = [r for r in records if r["library"] == library]
        summary[library] = {
            key: {"median": statistics.median(values), "min": min(values), "max": max(values)}
            for key in ["modes_found", "trajectories_per_second", "spearman", "learned_log_z"]
            if (values := [r[key] for r in rows if r.get(key) is not None])
        }
    result = {
        "task": "bit sequences n=120 k=8, 60 modes, beta=240, trajectory balance, batch 16, MLP 2x256",
        "updates": args.updates, "seeds": args.seeds, "machine": platform.processor() or platform.machine(),
        "records": records, "summary": summary,
    }
    Path("docs/results/bitseq_tb.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
