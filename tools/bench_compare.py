#!/usr/bin/env python3
"""Compares two builds of a Google Benchmark binary side by side.

Usage: bench_compare.py BEFORE AFTER FILTER [ROUNDS]

Runs BEFORE and AFTER alternately ROUNDS times (default 7) with
--benchmark_filter=FILTER, so that both see the same machine noise, and prints
a Markdown table of the median CPU time per benchmark for each, with the ratio
after/before. Used for "this change costs nothing" claims in docs/benchmarks.md.
"""

import json
import statistics
import subprocess
import sys
from collections import defaultdict


def run(binary, benchmark_filter):
    output = subprocess.run(
        [binary, f"--benchmark_filter={benchmark_filter}",
         "--benchmark_format=json"],
        check=True, capture_output=True, text=True).stdout
    results = json.loads(output)["benchmarks"]
    return {b["name"]: (b["cpu_time"], b["time_unit"]) for b in results
            if not b.get("error_occurred")}


def main(before, after, benchmark_filter, rounds=7):
    times = {"before": defaultdict(list), "after": defaultdict(list)}
    units = {}
    for round_number in range(rounds):
        # Alternate which goes first, so neither always runs on a warmer machine.
        order = [("before", before), ("after", after)]
        if round_number % 2:
            order.reverse()
        for label, binary in order:
            for name, (cpu, unit) in run(binary, benchmark_filter).items():
                times[label][name].append(cpu)
                units[name] = unit
        print(f"round {round_number + 1}/{rounds} done", file=sys.stderr)
    print("| benchmark | before | after | after / before |")
    print("|---|---:|---:|---:|")
    for name in times["before"]:
        if name not in times["after"]:
            continue
        b = statistics.median(times["before"][name])
        a = statistics.median(times["after"][name])
        print(f"| `{name}` | {b:.2f} {units[name]} | {a:.2f} {units[name]} "
              f"| {a / b:.3f} |")


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    main(*sys.argv[1:4], *(int(arg) for arg in sys.argv[4:]))
