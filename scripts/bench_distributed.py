#!/usr/bin/env python3
"""Distributed throughput benchmark: trajectories/s at the learner for 1, 2, 4, 8 actors with
(a) the plain hypergrid reward, (b) a 20 ms sleep-cost reward, (c) a 5 ms CPU-cost reward.

Usage: scripts/bench-distributed-throughput [--seconds S] [--actors 1,2,4,8]
Each cell: a fresh gfn-learner (4-D hypergrid, evaluation off) and N gfn-actor processes on
loopback; after a warm-up, the learner's /metrics counters are read twice, S seconds apart.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(ROOT, "target", "release")

REWARDS = {
    "plain": "",
    "sleep 20 ms": "reward_sleep_cost_ms = 20.0\n",
    "cpu 5 ms": "reward_cpu_cost_ms = 5.0\n",
}


def scrape(address):
    text = urllib.request.urlopen(f"http://{address}/metrics", timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


def run_cell(actors, reward_toml, seconds, warmup):
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "run.toml")
        with open(config, "w") as f:
            f.write("[training]\nupdates = 100000000\n[evaluation]\ninterval_updates = 100000000\n"
                    "empirical_samples = 0\n[checkpoint]\ninterval_updates = 0\ninterval_seconds = 0\n"
                    "[learner]\nlisten = \"127.0.0.1:0\"\nmetrics_listen = \"127.0.0.1:0\"\n"
                    f"[actor]\n{reward_toml}")
        learner = subprocess.Popen([os.path.join(BIN, "gfn-learner"), "--config", config],
                                   stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        address = metrics = None
        while address is None or metrics is None:
            line = learner.stdout.readline()
            if not line:
                raise SystemExit("learner exited early")
            m = re.match(r"gfn-learner listening on (\S+)", line)
            address = m.group(1) if m else address
            m = re.match(r"gfn-learner metrics on http://(\S+)/metrics", line)
            metrics = m.group(1) if m else metrics
        procs = [subprocess.Popen([os.path.join(BIN, "gfn-actor"), "--learner", address, "--name", f"a{i}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(actors)]
        try:
            time.sleep(warmup)
            a, t0 = scrape(metrics), time.time()
            time.sleep(seconds)
            b, t1 = scrape(metrics), time.time()
        finally:
            for p in procs + [learner]:
                p.terminate()
            for p in procs + [learner]:
                p.wait(timeout=30)
        dt = t1 - t0
        key = "gfn_learner_trajectories_received_total"
        received = b.get(key, 0) - a.get(key, 0)
        trained = b.get("gfn_learner_trajectories_trained_total", 0) - a.get("gfn_learner_trajectories_trained_total", 0)
        wire = b.get("gfn_learner_received_bytes_total", 0) - a.get("gfn_learner_received_bytes_total", 0)
        return received / dt, trained / dt, wire / max(received, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--actors", default="1,2,4,8")
    args = parser.parse_args()
    counts = [int(n) for n in args.actors.split(",")]
    print(f"| reward | " + " | ".join(f"{n} actor{'s' if n > 1 else ''}" for n in counts) + " | bytes/trajectory |")
    print("|---|" + "---|" * (len(counts) + 1))
    for name, toml in REWARDS.items():
        cells, wire = [], 0.0
        base = None
        for n in counts:
            received, trained, wire = run_cell(n, toml, args.seconds, args.warmup)
            base = base or received
            cells.append(f"{received:,.0f}/s ({received / base:.2f}×)")
            print(f"  {name}, {n} actors: received {received:,.0f}/s trained {trained:,.0f}/s", file=sys.stderr)
        print(f"| {name} | " + " | ".join(cells) + f" | {wire:.1f} |")


if __name__ == "__main__":
    main()
