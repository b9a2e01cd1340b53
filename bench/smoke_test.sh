#!/usr/bin/env bash
# Runs the benchmark binary briefly and fails if it fails or reports an error for a
# subject that should always work (HeapKit's backends, glibc, the pmr pool).
set -euo pipefail
# Under --config=asan: the peers' own leaks are not ours to report.
export LSAN_OPTIONS="suppressions=$(realpath "$2")"
output=$("$1" --benchmark_min_time=0.001 2>&1) || { echo "$output"; exit 1; }
echo "$output"
if echo "$output" | grep -E '/(buddy|tlsf|slab|glibc|pmr_pool)(\+pmr)? .*ERROR'; then
  exit 1
fi
echo "$output" | grep -q 'footprint_16_4096/buddy'
