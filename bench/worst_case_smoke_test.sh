#!/usr/bin/env bash
# Runs the worst-case harness briefly (1 MiB heap, few operations) and checks
# that it measured every backend and pattern, and summed each up.
set -euo pipefail
out=$("$1" --heap_mib=1 --ops=10)
echo "$out"
for backend in tlsf slab buddy; do
  rows=$(grep -cE "^$backend +1 MiB +(fresh|fragmented|coalesce|exhausted) +[0-9]" <<<"$out")
  [ "$rows" -eq 4 ] || { echo "FAIL: $backend has $rows of 4 pattern rows"; exit 1; }
  grep -qE "^$backend +1 MiB +[0-9]+ +[0-9]+ +[0-9]+ +[1-9][0-9]*$" <<<"$out" ||
    { echo "FAIL: no summary line for $backend"; exit 1; }
done
