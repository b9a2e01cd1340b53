#!/usr/bin/env bash
# Runs the worst-case harness briefly (1 MiB heap, few operations) and checks
# that it measured every backend and pattern.
set -euo pipefail
out=$("$1" --heap_mib=1 --ops=10)
echo "$out"
for backend in tlsf slab buddy; do
  rows=$(grep -cE "^$backend +1 +(fresh|fragmented|coalesce|exhausted) " <<<"$out")
  [ "$rows" -eq 4 ] || { echo "FAIL: $backend has $rows of 4 pattern rows"; exit 1; }
done
grep -qE "^tlsf +1 MiB  alloc +[0-9]+  failed alloc +[0-9]+  free +[0-9]+$" <<<"$out" ||
  { echo "FAIL: no summary line for tlsf"; exit 1; }
