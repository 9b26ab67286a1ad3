"""Markdown tables of docs/results/seh_frag_<name>.json summaries (scripts/bench-seh-frag-budget):
per run name and milestone, the median over seeds with the min–max spread of the paper's
statistics, then wall time and molecules/s per seed.
Usage: summarize_seh_frag.py NAME [NAME ...] [--at 10000 50000 100000]"""
import argparse
import json
from pathlib import Path

COLUMNS = [
    ("top10_proxy", "top-10", "{:.2f}"),
    ("top100_proxy", "top-100", "{:.2f}"),
    ("top1000_proxy", "top-1000", "{:.2f}"),
    ("modes_proxy_7", "modes ≥ 7", "{:.0f}"),
    ("modes_proxy_7_5", "modes ≥ 7.5", "{:.0f}"),
    ("modes_proxy_8", "modes ≥ 8", "{:.0f}"),
    ("scaffolds_proxy_7_5", "scaffolds ≥ 7.5", "{:.0f}"),
    ("scaffolds_proxy_8", "scaffolds ≥ 8", "{:.0f}"),
    ("top1000_similarity", "top-1000 similarity", "{:.3f}"),
]


def cell(record, key, form):
    value = record.get(key)
    if value is None:
        return "–"
    low, high = record.get(key + "_min"), record.get(key + "_max")
    text = form.format(value)
    if low is not None and high is not None and record.get("seeds", 1) > 1:
        text += f" ({form.format(low)}–{form.format(high)})"
    return text


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("names", nargs="+")
    parser.add_argument("--at", type=int, nargs="+", default=[10_000, 50_000, 100_000])
    args = parser.parse_args()
    print("| run | seeds | molecules | " + " | ".join(title for _, title, _ in COLUMNS) + " |")
    print("|---|---|---|" + "---|" * len(COLUMNS))
    walls = []
    for name in args.names:
        result = json.loads((Path("docs/results") / f"seh_frag_{name}.json").read_text())
        seeds = len(result["seeds"])
        rows = result["median"] if seeds > 1 else [r for r in result["records"]]
        for record in rows:
            if record["molecules"] not in args.at:
                continue
            cells = " | ".join(cell(record, key, form) for key, _, form in COLUMNS)
            print(f"| {name} | {seeds} | {record['molecules']:,} | {cells} |")
        for run in result["runs"]:
            walls.append((name, run))
    print()
    print("| run | seed | molecules | updates | wall time | molecules/s |")
    print("|---|---|---|---|---|---|")
    for name, run in walls:
        print(f"| {name} | {run['seed']} | {run['molecules']:,} | {run['updates']:,} | {run['wall_seconds']:.0f} s "
              f"| {run['molecules_per_second']:.0f} |")


if __name__ == "__main__":
    main()
