#!/usr/bin/env python3
"""Turns byte_benchmark's JSON output into the Markdown tables of docs/benchmarks.md.

Usage: bench_table.py results.json

Rows are workloads, columns are subjects; each cell is the median CPU time (ns per
pair for the pair workloads, ms per run for the seed workloads) and, for HeapKit's
backends, the ratio to glibc and to the fastest peer.
"""

import json
import statistics
import sys
from collections import defaultdict

PEERS = ["glibc", "pmr_pool", "jemalloc", "mimalloc", "tcmalloc"]


def main(path):
    with open(path) as f:
        data = json.load(f)
    times = defaultdict(list)  # (workload, subject) -> [cpu time]
    units = {}
    footprints = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        workload, subject = b["run_name"].split("/")[:2]
        if "footprint" in b:
            footprints[subject] = b["footprint"]
            continue
        times[(workload, subject)].append(b["cpu_time"])
        units[workload] = b["time_unit"]
    workloads = list(dict.fromkeys(w for w, _ in times))
    subjects = list(dict.fromkeys(s for _, s in times))
    ours = [s for s in subjects if s not in PEERS and s != "rng_floor"]
    peers = [s for s in PEERS if s in subjects]

    median = {k: statistics.median(v) for k, v in times.items()}
    print("| workload (unit) | " + " | ".join(ours + peers) + " |")
    print("|---" * (len(ours) + len(peers) + 1) + "|")
    for w in workloads:
        cells = []
        for s in ours + peers:
            t = median.get((w, s))
            cells.append("" if t is None else f"{t:.3g}")
        floor = median.get((w, "rng_floor"))
        note = f" (RNG floor {floor:.2g})" if floor else ""
        print(f"| {w} ({units[w]}){note} | " + " | ".join(cells) + " |")
    print()
    print("Ratios (lower is better): HeapKit backend / glibc, and / fastest peer.")
    print()
    print("| workload | " + " | ".join(f"{s} / glibc | {s} / best peer" for s in ours if "+" not in s) + " |")
    print("|---" * (2 * len([s for s in ours if "+" not in s]) + 1) + "|")
    for w in workloads:
        glibc = median.get((w, "glibc"))
        peer_times = [(median[(w, p)], p) for p in peers if (w, p) in median]
        if not glibc or not peer_times:
            continue
        best, best_name = min(peer_times)
        cells = []
        for s in ours:
            if "+" in s:
                continue
            t = median.get((w, s))
            cells.append("" if t is None else f"{t / glibc:.2f}")
            cells.append("" if t is None else f"{t / best:.2f} ({best_name})")
        print(f"| {w} | " + " | ".join(cells) + " |")
    if footprints:
        print()
        print("| footprint (high-water / peak live), random 16-4096 B | " +
              " | ".join(footprints) + " |")
        print("|---" * (len(footprints) + 1) + "|")
        print("| | " + " | ".join(f"{v:.3f}" for v in footprints.values()) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
