#!/usr/bin/env bash
# Runs a benchmark binary briefly and fails if it fails, if a benchmark reports an
# error (except a peer library that is not installed), or if a benchmark named on
# the command line did not run.
# Usage: smoke_test.sh BINARY LSAN_SUPPRESSIONS [REQUIRED_NAME...]
set -euo pipefail
binary=$1
# Under --config=asan: the peers' own leaks are not ours to report.
export LSAN_OPTIONS="suppressions=$(realpath "$2")"
shift 2
output=$("$binary" --benchmark_min_time=0.001 2>&1) || { echo "$output"; exit 1; }
echo "$output"
if echo "$output" | grep 'ERROR OCCURRED' | grep -vE '/(jemalloc|mimalloc|tcmalloc)[/ ]'; then
  echo "smoke test: a benchmark reported an error" >&2
  exit 1
fi
for name in "$@"; do
  echo "$output" | grep -q -- "$name" || { echo "smoke test: $name did not run" >&2; exit 1; }
done
