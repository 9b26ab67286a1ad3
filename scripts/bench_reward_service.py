"""Measures reward services end to end (see scripts/bench-reward-service)."""
import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "examples", "reward-server"))
from reward_server import load_protocol  # noqa: E402

GFN = os.path.join(ROOT, "target", "release", "gfn")
VOCABULARY = os.path.join(os.environ.get("GFN_SHARED_DATA", os.path.join(ROOT, "..", "shared", "data")),
                          "fragments", "blocks_PDB_105.json")
WEIGHTS = os.environ.get("GFN_SEH_PROXY_WEIGHTS", os.path.join(ROOT, ".cache", "seh_proxy.safetensors"))


def cpu_model():
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def start(command, env=None):
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, **(env or {})})
    line = process.stdout.readline()
    return process, json.loads(line)["address"]


def stand_in_servers(count, latency_ms, max_batch):
    servers = [start([sys.executable, os.path.join(ROOT, "examples", "reward-server", "reward_server.py"),
                      "--listen", "127.0.0.1:0", "--latency-ms", str(latency_ms), "--workers", "1",
                      "--max-batch", str(max_batch)]) for _ in range(count)]
    return [p for p, _ in servers], [a for _, a in servers]


def config_text(log, db, reward, batch_size=16):
    return f"""seed = 1
[env]
type = "fragments"
vocabulary = {json.dumps(VOCABULARY)}
proxy_weights = {json.dumps(WEIGHTS)}
{reward}
[policy]
hidden = 64
rounds = 2
[training]
batch_size = {batch_size}
learning_rate = 5e-4
exploration_epsilon = 0.05
[evaluation]
interval_updates = 25
milestone_molecules = 0
log_path = {json.dumps(log)}
results_db = {json.dumps(db)}
[learner]
linger_seconds = 0.5
queue_capacity = 64
[actor]
rollout_batch = 16
submit_batch = 16
"""


def run(reward_section, molecules):
    """One `gfn launch --actors 2` to `molecules`; molecules/s between the first and last evaluation."""
    with tempfile.TemporaryDirectory() as tmp:
        log, db = os.path.join(tmp, "log.jsonl"), os.path.join(tmp, "m.sqlite")
        path = os.path.join(tmp, "run.toml")
        with open(path, "w") as f:
            f.write(config_text(log, db, reward_section))
        events = os.path.join(tmp, "events.jsonl")
        started = time.time()
        subprocess.run([GFN, "launch", "--config", path, "--actors", "2", "--molecules", str(molecules),
                        "--no-progress", "--metrics-listen", "", "--events", events],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.time() - started
        evaluations = [e for e in map(json.loads, open(events))
                       if isinstance(e.get("record"), dict) and "molecules" in e["record"]]
        first, last = evaluations[0], evaluations[-1]
        # wall-clock rate between the first and the last evaluation (start-up excluded)
        rate = (last["record"]["molecules"] - first["record"]["molecules"]) / (last["time"] - first["time"])
        return {"molecules": last["record"]["molecules"], "molecules_per_second": rate, "wall_seconds": wall}


def service_section(addresses, max_batch, max_in_flight):
    endpoints = ", ".join(json.dumps(a) for a in addresses)
    return f"""[reward]
type = "service"
endpoints = [{endpoints}]
exponent = 10.0
min = 0.1
norm = 8.0
max_batch = {max_batch}
max_wait_ms = 2.0
max_in_flight = {max_in_flight}
deadline_ms = 5000.0
"""


def call_latency(address, smiles, calls=200):
    """p50/p95 seconds of one Score call of `smiles`, and the bytes per molecule each way."""
    import grpc
    pb, pb_grpc = load_protocol(os.path.join(ROOT, "proto"))
    stub = pb_grpc.RewardModelStub(grpc.insecure_channel(address))
    request = pb.ScoreRequest(objects=[pb.RewardObject(molecule=pb.Molecule(smiles=s, junction_tree_json=t))
                                       for s, t in smiles])
    times = []
    reply = None
    for _ in range(calls):
        started = time.perf_counter()
        reply = stub.Score(request)
        times.append(time.perf_counter() - started)
    times.sort()
    return {"p50_seconds": times[len(times) // 2], "p95_seconds": times[int(len(times) * 0.95)],
            "request_bytes_per_molecule": len(request.SerializeToString()) / len(smiles),
            "reply_bytes_per_molecule": len(reply.SerializeToString()) / len(smiles)}


def sample_molecules(count=16):
    """SMILES and junction trees of molecules from a short run (what actors really send)."""
    import sqlite3
    with tempfile.TemporaryDirectory() as tmp:
        log, db = os.path.join(tmp, "log.jsonl"), os.path.join(tmp, "m.sqlite")
        path = os.path.join(tmp, "run.toml")
        with open(path, "w") as f:
            f.write(config_text(log, db, ""))
        subprocess.run([GFN, "launch", "--config", path, "--actors", "1", "--molecules", "400", "--no-progress",
                        "--metrics-listen", ""], check=True, stdout=subprocess.DEVNULL)
        rows = sqlite3.connect(db).execute("SELECT smiles, canonical_key FROM molecules ORDER BY id DESC LIMIT ?",
                                           (count,)).fetchall()
    return rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--molecules", type=int, default=2400)
    parser.add_argument("--seh-molecules", type=int, default=6000)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--max-batch", type=int, default=4)
    parser.add_argument("--out", default=os.path.join(ROOT, "docs", "results", "reward_service.json"))
    args = parser.parse_args()
    records = []

    # 1. scaling with the number of servers
    for n in args.servers:
        for repeat in range(args.repeats):
            processes, addresses = stand_in_servers(n, args.latency_ms, args.max_batch)
            try:
                result = run(service_section(addresses, args.max_batch, 8), args.molecules)
            finally:
                for p in processes:
                    p.terminate()
                    p.wait()
            record = {"experiment": "scaling", "servers": n, "repeat": repeat, "latency_ms": args.latency_ms,
                      "max_batch": args.max_batch, "actors": 2, **result}
            print(json.dumps(record), flush=True)
            records.append(record)

    # 2. the sEH proxy remote (gfn-reward-server, 1 thread) against in-process
    for repeat in range(args.repeats):
        record = {"experiment": "seh_in_process", "repeat": repeat, **run("", args.seh_molecules)}
        print(json.dumps(record), flush=True)
        records.append(record)
        server, address = start([os.path.join(ROOT, "target", "release", "gfn-reward-server"), "--listen",
                                 "127.0.0.1:0", "--threads", "1", "--proxy-weights", WEIGHTS])
        try:
            record = {"experiment": "seh_remote", "repeat": repeat,
                      **run(service_section([address], 16, 2), args.seh_molecules)}
        finally:
            server.terminate()
            server.wait()
        print(json.dumps(record), flush=True)
        records.append(record)

    # 3. latency of one call of 16 real molecules, and bytes on the wire
    molecules = sample_molecules()
    server, address = start([os.path.join(ROOT, "target", "release", "gfn-reward-server"), "--listen",
                             "127.0.0.1:0", "--threads", "1", "--proxy-weights", WEIGHTS])
    try:
        record = {"experiment": "seh_remote_call", "molecules_per_call": len(molecules),
                  **call_latency(address, molecules)}
    finally:
        server.terminate()
        server.wait()
    print(json.dumps(record), flush=True)
    records.append(record)

    def median(experiment, key, **match):
        values = [r[key] for r in records if r["experiment"] == experiment
                  and all(r.get(k) == v for k, v in match.items())]
        return statistics.median(values) if values else None

    base = median("scaling", "molecules_per_second", servers=args.servers[0])
    summary = {
        "scaling": [{"servers": n, "median_molecules_per_second": median("scaling", "molecules_per_second", servers=n),
                     "speedup": median("scaling", "molecules_per_second", servers=n) / base,
                     "ideal": n / args.servers[0],
                     "range": [min(r["molecules_per_second"] for r in records
                                   if r["experiment"] == "scaling" and r["servers"] == n),
                               max(r["molecules_per_second"] for r in records
                                   if r["experiment"] == "scaling" and r["servers"] == n)]}
                    for n in args.servers],
        "seh_in_process_molecules_per_second": median("seh_in_process", "molecules_per_second"),
        "seh_remote_molecules_per_second": median("seh_remote", "molecules_per_second"),
    }
    out = {"command": "scripts/bench-reward-service " + " ".join(sys.argv[1:]), "cpu": cpu_model(),
           "cores": os.cpu_count(), "date": time.strftime("%Y-%m-%d"), "records": records, "summary": summary}
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
