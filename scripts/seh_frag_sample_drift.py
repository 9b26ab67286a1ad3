#!/usr/bin/env python3
"""How a fragment-molecule run's sampler changes over its molecules, read from its SQLite results.

For each tenth of the molecules a run recorded (in the order the learner accepted them) it prints
the mean number of blocks, the share at the largest size seen, the mean proxy and the 99th
percentile proxy. A sampler that improves shows a rising mean proxy; one that drifts towards
large, mediocre molecules shows the share at the largest size rising while the mean proxy falls.

Standard library only:
    scripts/seh_frag_sample_drift.py runs/bench-seh-frag-budget/<name>/seed0/molecules.sqlite ...
    scripts/seh_frag_sample_drift.py --json RUN.sqlite   # one JSON line per tenth
"""

import argparse
import json
import sqlite3
import sys


def tenths(path, parts):
    """Per-part statistics of the molecules in the SQLite results at `path`."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT canonical_key, proxy FROM molecules ORDER BY id").fetchall()
    if not rows:
        raise SystemExit(f"{path}: no molecules recorded")
    sizes = [len(json.loads(key)["blocks"]) for key, _ in rows]
    largest = max(sizes)
    step = max(len(rows) // parts, 1)
    for start in range(0, step * parts, step):
        block = range(start, min(start + step, len(rows)))
        if not block:
            break
        proxies = sorted(rows[i][1] for i in block if rows[i][1] is not None)
        part_sizes = [sizes[i] for i in block]
        yield {
            "first_molecule": start,
            "molecules": len(block),
            "mean_blocks": sum(part_sizes) / len(part_sizes),
            "largest_size": largest,
            "share_largest": part_sizes.count(largest) / len(part_sizes),
            "mean_proxy": sum(proxies) / len(proxies) if proxies else None,
            "p99_proxy": proxies[int(0.99 * (len(proxies) - 1))] if proxies else None,
        }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("databases", nargs="+", help="molecules.sqlite files written by the learner")
    parser.add_argument("--parts", type=int, default=10, help="how many consecutive parts (default 10)")
    parser.add_argument("--json", action="store_true", help="one JSON line per part instead of a table")
    args = parser.parse_args()
    for path in args.databases:
        records = list(tenths(path, args.parts))
        if args.json:
            for record in records:
                print(json.dumps({"database": path, **record}))
            continue
        print(f"{path}")
        print("| from molecule | mean blocks | share at largest size | mean proxy | p99 proxy |")
        print("|---|---|---|---|---|")
        for r in records:
            print(
                f"| {r['first_molecule']:,} | {r['mean_blocks']:.2f} | {r['share_largest']:.2f} "
                f"| {r['mean_proxy']:.2f} | {r['p99_proxy']:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
