#!/usr/bin/env bash
# Runs existing programs on HeapKit's malloc replacement and checks that they
# behave as they do on glibc's malloc: coreutils' sort and awk over 200,000
# generated lines, each run once with LD_PRELOAD=LIB and once without, outputs
# compared byte for byte.
#
# Usage: run_on_heapkit.sh LIB     LIB: libheapkit_malloc.so (Bazel:
#   //adapters/global:libheapkit_malloc.so; CMake: HeapKit::malloc_preload),
#   or --sanitized to skip, in a sanitizer build
# Exits non-zero if LIB does not load or any output differs.
set -euo pipefail

if [ "${1:-}" = "--sanitized" ]; then
  echo "run_on_heapkit: skipped: a sanitizer's runtime owns malloc"
  exit 0
fi
lib=$(realpath "${1:?usage: run_on_heapkit.sh path/to/libheapkit_malloc.so}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# ld.so only warns about a library it cannot preload and runs the program on
# glibc's malloc, which would pass everything: check that it is mapped.
# (The maps are read whole first: grep -q on a pipe would stop early, and
# pipefail would count cat's SIGPIPE as not found.)
maps=$(LD_PRELOAD="$lib" cat /proc/self/maps)
if ! grep -qF "$lib" <<<"$maps"; then
  echo "run_on_heapkit: $lib is not preloaded" >&2
  exit 1
fi

# 200,000 lines of pseudo-random words and numbers, the same on every run.
awk 'BEGIN { srand(2026); for (i = 0; i < 200000; i++)
  printf "%s%d %d\n", substr("allocbuddyslabtlsfpageheap", 1 + int(rand() * 20), 4),
         int(rand() * 1000), int(rand() * 1e6) }' >"$work/input"

# The programs, each reading the input on stdin.
sort_lines() { sort; }                     # merge sort in big buffers
sort_by_keys() { sort -k2,2n -k1,1; }      # keyed, many comparisons
sum_by_word() {                            # a hash table of strings
  awk '{ sum[$1] += $2 } END { for (word in sum) print word, sum[word] }'
}

for program in sort_lines sort_by_keys sum_by_word; do
  # awk's order of keys is its hash table's: sorted, outputs compare.
  "$program" <"$work/input" | sort >"$work/glibc"
  LD_PRELOAD="$lib" "$program" <"$work/input" | sort >"$work/heapkit"
  if ! cmp -s "$work/glibc" "$work/heapkit"; then
    echo "run_on_heapkit: $program differs on HeapKit:" >&2
    diff "$work/glibc" "$work/heapkit" | head -n 20 >&2
    exit 1
  fi
  echo "$program: same output on HeapKit as on glibc ($(wc -l <"$work/heapkit") lines)"
done
