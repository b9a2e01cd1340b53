#!/usr/bin/env python3
"""Turns byte_benchmark's JSON output into the Markdown tables of docs/benchmarks.md.

Usage: bench_table.py results.json

Rows are workloads, columns are subjects; each cell is the median CPU time (ns per
pair for the pair workloads, ms per run for the seed workloads) and, for HeapKit's
backends, the ratio to glibc and to the fastest peer. Workloads that report a
measure instead of a time (footprint, utilization) get a table of their own.
"""

import json
import re
import statistics
import sys
from collections import defaultdict

PEERS = ["glibc", "pmr_pool", "jemalloc", "mimalloc", "tcmalloc"]
MEASURES = {
    "footprint": "footprint (high-water / peak live)",
    "utilization": "utilization at first failure (live / region)",
}


WORKLOADS = ["random_pairs_16_4096", "random_pairs_16_256", "hot_pair_64",
             "pinned_pair_64",
             "vec_push_3M", "shuffled_free_25000x512", "shuffled_free_7500x4160",
             "string_map_50K", "footprint_16_4096"]
SUBJECTS = ["slab", "slab+pmr", "tlsf", "tlsf+pmr", "buddy", "buddy+pmr"] + PEERS


def workload_key(name):
    """Orders workloads as WORKLOADS, then by name with numbers by value."""
    parts = tuple(int(p) if p.isdigit() else p
                  for p in re.split(r"(\d+)", name))
    return (WORKLOADS.index(name) if name in WORKLOADS else len(WORKLOADS), parts)


def subject_key(name):
    return SUBJECTS.index(name) if name in SUBJECTS else len(SUBJECTS)


def main(path):
    with open(path) as f:
        data = json.load(f)
    times = defaultdict(list)  # (workload, subject) -> [cpu time]
    units = {}
    measures = defaultdict(dict)  # (measure, workload) -> {subject: value}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate" or b.get("error_occurred"):
            continue
        workload, subject = b["run_name"].split("/")[:2]
        measure = next((m for m in MEASURES if m in b), None)
        if measure:
            measures[(measure, workload)][subject] = b[measure]
            continue
        times[(workload, subject)].append(b["cpu_time"])
        units[workload] = b["time_unit"]
    # Runs come interleaved in random order: sort rows and columns as the
    # benchmark registers them (the order of the workloads' names below, then
    # by name) so that tables of different runs line up.
    workloads = sorted(dict.fromkeys(w for w, _ in times), key=workload_key)
    subjects = sorted(dict.fromkeys(s for _, s in times), key=subject_key)
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
    for measure, title in MEASURES.items():
        rows = {w: v for (m, w), v in measures.items() if m == measure}
        if not rows:
            continue
        columns = sorted(dict.fromkeys(s for v in rows.values() for s in v),
                         key=subject_key)
        print()
        print(f"| {title} | " + " | ".join(columns) + " |")
        print("|---" * (len(columns) + 1) + "|")
        for w, values in sorted(rows.items(), key=lambda row: workload_key(row[0])):
            cells = [f"{values[c]:.3f}" if c in values else "" for c in columns]
            print(f"| {w} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
