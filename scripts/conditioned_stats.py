#!/usr/bin/env python3
"""Per-β statistics of a reward-conditioned fragment-molecule run, from its SQLite database.

Usage: scripts/conditioned_stats.py RUN.sqlite [FROM_FRACTION]

For the molecules generated after FROM_FRACTION of the run (default 0.5, by insertion order),
prints one markdown row per reward exponent β: molecules, mean proxy, the fraction with
proxy ≥ 7.5, the mean of the 100 best distinct rewards max(proxy, 0.1)/8, and the fraction of
distinct SMILES. A policy that learned its conditioning generates better and less diverse
molecules as β grows.
"""
import sqlite3
import sys


def main():
    path = sys.argv[1]
    start = float(sys.argv[2]) if len(sys.argv) > 2 else 0.5
    db = sqlite3.connect(path)
    (total,) = db.execute("SELECT COUNT(*) FROM molecules").fetchone()
    rows = db.execute(
        "SELECT reward_exponent, smiles, proxy FROM molecules ORDER BY id LIMIT -1 OFFSET ?",
        (int(total * start),),
    ).fetchall()
    by_beta = {}
    for beta, smiles, proxy in rows:
        by_beta.setdefault(beta, []).append((smiles, proxy))
    print(f"{total} molecules in all; statistics of the last {len(rows)}")
    print("| β | molecules | mean proxy | proxy ≥ 7.5 | top-100 reward (distinct) | unique |")
    print("|---|---|---|---|---|---|")
    for beta in sorted(by_beta, key=lambda b: (b is None, b)):
        molecules = by_beta[beta]
        proxies = [p for _, p in molecules]
        best = {}
        for smiles, proxy in molecules:
            best[smiles] = max(best.get(smiles, float("-inf")), proxy)
        top = sorted((max(p, 0.1) / 8.0 for p in best.values()), reverse=True)[:100]
        print(
            f"| {beta:g} | {len(molecules):,} | {sum(proxies) / len(proxies):.3f} | "
            f"{sum(p >= 7.5 for p in proxies) / len(proxies):.3f} | {sum(top) / 100:.3f} | "
            f"{len(best) / len(molecules):.3f} |"
        )


if __name__ == "__main__":
    main()
