#!/usr/bin/env bash
# Measures what `heapkit record` costs a program: python3's start-up
# (python3.11 -c pass) on glibc, on HeapKit's malloc replacement, on the
# replacement in trace mode (HEAPKIT_TRACE set by hand), and under the whole
# `heapkit record` command (which adds its own start and reads the trace back
# for its summary), rounds interleaved; prints each one's median wall time and
# the ratios. The issue's goal: recording costs at most 2x.
#
# Usage: bench/record_overhead.sh [ROUNDS]   (default 30)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-30}
bazel build -c opt //tools/heapkit:heapkit >/dev/null 2>&1
heapkit=$PWD/bazel-bin/tools/heapkit/heapkit
lib=$PWD/bazel-bin/adapters/global/libheapkit_malloc.so
python=/usr/bin/python3.11
trace=$(mktemp)
trap 'rm -f "$trace"' EXIT

# Prints the wall time of the command given, in milliseconds.
millis() {
  local start end
  start=$(date +%s%N)
  "$@" >/dev/null 2>&1
  end=$(date +%s%N)
  echo $(((end - start) / 1000))
}

declare -A times
for ((round = 0; round < rounds; round++)); do
  times[glibc]+="$(millis "$python" -c pass) "
  times[heapkit]+="$(millis env LD_PRELOAD="$lib" "$python" -c pass) "
  times[trace_mode]+="$(millis env HEAPKIT_TRACE="$trace" LD_PRELOAD="$lib" "$python" -c pass) "
  times[recorded]+="$(millis "$heapkit" record -o "$trace" -- "$python" -c pass) "
done

# Prints the median of the numbers given.
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

declare -A medians
for name in glibc heapkit trace_mode recorded; do
  # shellcheck disable=SC2086
  medians[$name]=$(median ${times[$name]})
  printf '%-10s %6.1f ms\n' "$name" "$(echo "${medians[$name]} / 1000" | bc -l)"
done
printf 'trace_mode / heapkit: %.2fx; recorded / heapkit: %.2fx; recorded / glibc: %.2fx (%d rounds)\n' \
  "$(echo "${medians[trace_mode]} / ${medians[heapkit]}" | bc -l)" \
  "$(echo "${medians[recorded]} / ${medians[heapkit]}" | bc -l)" \
  "$(echo "${medians[recorded]} / ${medians[glibc]}" | bc -l)" "$rounds"
