#!/usr/bin/env bash
# Compares whole allocators on real programs and on multithreaded malloc
# workloads, mimalloc-bench style: glibc (no preload), Debian's jemalloc,
# mimalloc and tcmalloc, and HeapKit's malloc replacement with each backend
# (buddy, slab, tlsf), each put under the program with LD_PRELOAD.
#
# Usage: bench/peers.sh [--rounds N] [--set short|long] [--out FILE.md]
#                       [--raw FILE.tsv] [--allocators a,b,...]
#   --rounds N      runs of every (workload, allocator) pair; cells are medians
#                   (default 3)
#   --set S         tools/workloads.sh's short or long list of real programs,
#                   and the matching amount of thread_benchmark work
#                   (default short)
#   --out FILE.md   also writes the table there
#   --raw FILE.tsv  keeps every measurement (round, workload, allocator, exit
#                   status, wall seconds, max RSS KiB, thread_benchmark Mops/s,
#                   hash of workload_run's output)
#   --allocators L  only these, e.g. glibc,jemalloc,heapkit_tlsf (glibc is the
#                   baseline of the ratios, so keep it)
#   --inputs DIR    keeps the real programs' inputs (about 60 MB, made by
#                   workloads_prepare) in DIR for the next run (default: a
#                   temporary directory)
#
# HEAPKIT_WORKLOADS="sqlite gxx" limits the real programs to these.
#
# Workloads: every name `workload_names SET` prints, run by workload_run from
# tools/workloads.sh (or $WORKLOADS_SH), and thread_benchmark's larson and
# xmalloc at 1, 2, 4 and 8 threads, and "pairs" (larson with no cross-thread
# frees) at 1 and 2 threads. The thread counts share a fixed total of
# work: on this 2-core machine, perfect scaling halves the wall time from 1 to
# 2 threads and keeps it flat beyond. Each run is timed by /usr/bin/time -f '%e %M' (wall
# seconds, max RSS of the largest process in the run).
#
# The machine is shared and noisy, so the runs are interleaved: each round
# runs every workload under every allocator, in an order rotated per round and
# per workload, so a slow spell spreads over all allocators instead of
# landing on one.
#
# HeapKit's shared library is built per backend by tools/build_malloc_libs.sh;
# a backend that does not build is skipped with a warning.
set -euo pipefail

rounds=3
set_name=short
out=""
raw=""
only=""
inputs=""
# Prints the header's usage paragraph.
usage() {
  sed -n '/^# Usage:/,/^#$/p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit "${1:-2}"
}
while [ $# -gt 0 ]; do
  case "$1" in
    --rounds) rounds=${2:-}; shift 2 || usage ;;
    --rounds=*) rounds=${1#*=}; shift ;;
    --set) set_name=${2:-}; shift 2 || usage ;;
    --set=*) set_name=${1#*=}; shift ;;
    --out) out=${2:-}; shift 2 || usage ;;
    --out=*) out=${1#*=}; shift ;;
    --raw) raw=${2:-}; shift 2 || usage ;;
    --raw=*) raw=${1#*=}; shift ;;
    --allocators) only=${2:-}; shift 2 || usage ;;
    --allocators=*) only=${1#*=}; shift ;;
    --inputs) inputs=${2:-}; shift 2 || usage ;;
    --inputs=*) inputs=${1#*=}; shift ;;
    -h | --help) usage 0 ;;
    *) echo "peers.sh: unknown argument $1" >&2; usage ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "peers.sh: bad --rounds" >&2; usage; }
case "$set_name" in
  short | long) ;;
  *) echo "peers.sh: --set is short or long" >&2; usage ;;
esac
# Output paths are relative to the caller's directory, not the repository's.
[ -z "$out" ] || out=$(realpath -m "$out")
[ -z "$raw" ] || raw=$(realpath -m "$raw")
[ -z "$inputs" ] || inputs=$(realpath -m "$inputs")
cd "$(dirname "$0")/.."

# Work for thread_benchmark: total ops per run, split over the threads.
if [ "$set_name" = short ]; then
  larson_ops=2000000
  xmalloc_ops=4000000
else
  larson_ops=8000000
  xmalloc_ops=16000000
fi
thread_counts=(1 2 4 8)

warn() { echo "peers.sh: warning: $*" >&2; }
note() { echo "peers.sh: $*" >&2; }

[ -x /usr/bin/time ] || { echo "peers.sh: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
# The caller's preload would sit under every allocator.
unset LD_PRELOAD

work=$(mktemp -d "${TMPDIR:-/tmp}/peers.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lib" "$work/logs" "$work/out"

# One Bazel command at a time; their chatter goes to a log shown on failure.
bazel_quiet() {
  local log="$work/logs/bazel.log"
  if ! bazel "$@" --noshow_progress --ui_event_filters=-info >"$log" 2>&1; then
    tail -n 20 "$log" >&2
    return 1
  fi
}

note "building //bench:thread_benchmark"
bazel_quiet build --config=opt //bench:thread_benchmark
cp "$(bazel info --config=opt bazel-bin 2>/dev/null)/bench/thread_benchmark" \
  "$work/thread_benchmark"

# Whether --allocators (if given) names $1.
wanted() {
  [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]
}

# Allocators in table order; preload[name] is the library ("" for glibc).
declare -A preload=([glibc]="")
allocators=()
wanted glibc && allocators+=(glibc)
peer_dir=/usr/lib/x86_64-linux-gnu
for peer in jemalloc:libjemalloc.so.2 mimalloc:libmimalloc.so.2 \
  tcmalloc:libtcmalloc_minimal.so.4; do
  wanted "${peer%%:*}" || continue
  if [ -e "$peer_dir/${peer#*:}" ]; then
    preload[${peer%%:*}]="$peer_dir/${peer#*:}"
    allocators+=("${peer%%:*}")
  else
    warn "$peer_dir/${peer#*:} missing (tools/bootstrap.sh installs it); skipping ${peer%%:*}"
  fi
done

backends=()
for backend in buddy slab tlsf; do
  wanted "heapkit_$backend" && backends+=("$backend")
done
for backend in "${backends[@]}"; do
  note "building HeapKit's malloc replacement with allocator=$backend"
  if ! tools/build_malloc_libs.sh "$work/lib" "$backend" \
    >"$work/logs/bazel.log" 2>&1; then
    tail -n 20 "$work/logs/bazel.log" >&2
    warn "HeapKit's $backend build failed; skipping heapkit_$backend"
    continue
  fi
  lib="$work/lib/libheapkit_$backend.so"
  # A library that cannot even run `true` would only fill the table with
  # failures.
  if ! LD_PRELOAD="$lib" /bin/true 2>"$work/logs/load.log"; then
    warn "libheapkit_$backend.so cannot run /bin/true; skipping heapkit_$backend:"
    sed 's/^/    /' "$work/logs/load.log" >&2
    continue
  fi
  preload[heapkit_$backend]="$lib"
  allocators+=("heapkit_$backend")
done

[ "${#allocators[@]}" -gt 0 ] || { echo "peers.sh: no allocator left after --allocators $only" >&2; exit 2; }

# Real programs from tools/workloads.sh, prepared once, outside the timing.
workloads_sh=${WORKLOADS_SH:-tools/workloads.sh}
real_workloads=()
if [ -f "$workloads_sh" ]; then
  workloads_sh=$(realpath "$workloads_sh")
  inputs=${inputs:-$work/inputs}
  note "preparing the inputs of $workloads_sh in $inputs"
  # shellcheck disable=SC1090  # The library's path is only known at run time.
  (source "$workloads_sh" && workloads_prepare "$inputs") \
    >"$work/logs/prepare.log" 2>&1 ||
    { tail -n 20 "$work/logs/prepare.log" >&2; echo "peers.sh: workloads_prepare failed" >&2; exit 1; }
  # shellcheck disable=SC1090
  read -r -a real_workloads <<<"$(source "$workloads_sh" && workload_names "$set_name" | tr '\n' ' ')"
  # As for tools/real_programs.sh: only these real programs.
  [ -z "${HEAPKIT_WORKLOADS:-}" ] || read -r -a real_workloads <<<"$HEAPKIT_WORKLOADS"
else
  warn "$workloads_sh not found; running the thread benchmark only"
fi

workloads=("${real_workloads[@]}")
for bench in larson xmalloc; do
  for threads in "${thread_counts[@]}"; do workloads+=("$bench-${threads}t"); done
done
# Random pairs with no cross-thread frees: how the allocator itself scales.
workloads+=(pairs-1t pairs-2t)

results="$work/results.tsv"
printf 'round\tworkload\tallocator\tstatus\twall_s\tmax_rss_kib\tmops_per_s\toutput_sha256\n' >"$results"

# Runs `workload` under `allocator` once and appends a line to $results.
run_one() {
  local round=$1 workload=$2 allocator=$3
  local log="$work/logs/run.log" timing="$work/logs/time.txt"
  local out_file="$work/out/$workload"
  local -a command
  case "$workload" in
    larson-*t | xmalloc-*t | pairs-*t)
      local bench=${workload%%-*} threads=${workload#*-} remote_every=4
      threads=${threads%t}
      local total=$larson_ops
      [ "$bench" = xmalloc ] && total=$xmalloc_ops
      # pairs: larson with every free local.
      [ "$bench" = pairs ] && bench=larson && remote_every=0
      # The same seed for every allocator within a round: the same work.
      command=("$work/thread_benchmark" "--workload=$bench" "--threads=$threads"
        "--ops=$((total / threads))" "--seed=$round"
        "--remote_every=$remote_every")
      ;;
    *)
      # shellcheck disable=SC2016  # Expanded by the inner bash.
      command=(bash -c 'source "$1" && workload_run "$2" "$3" "$4"' workload_run
        "$workloads_sh" "$workload" "$inputs" "$out_file")
      ;;
  esac
  local -a environment=(env -u LD_PRELOAD)
  [ -n "${preload[$allocator]}" ] && environment=(env "LD_PRELOAD=${preload[$allocator]}")
  local status=0
  /usr/bin/time -f '%e %M' -o "$timing" "${environment[@]}" "${command[@]}" \
    >"$log" 2>&1 </dev/null || status=$?
  # workload_run's output is the same under every correct allocator; its hash
  # is compared with glibc's in the summary.
  local output=""
  [ -f "$out_file" ] && output=$(sha256sum <"$out_file" | cut -c1-16)
  rm -rf "$out_file"
  local wall="" rss="" mops=""
  # time's last line; a line before it reports a non-zero exit.
  read -r wall rss < <(tail -n 1 "$timing" 2>/dev/null) || true
  mops=$(grep -o 'mops_per_s=[0-9.]*' "$log" | head -n 1 | cut -d= -f2 || true)
  if [ "$status" -ne 0 ]; then
    warn "$workload under $allocator exited with status $status:"
    tail -n 5 "$log" | sed 's/^/    /' >&2
  fi
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$workload" "$allocator" \
    "$status" "$wall" "$rss" "$mops" "$output" >>"$results"
  printf 'peers.sh: [round %d/%d] %-14s %-14s %6s s %8s KiB%s\n' "$round" \
    "$rounds" "$workload" "$allocator" "$wall" "$rss" \
    "${mops:+  $mops Mops/s}" >&2
}

count=${#allocators[@]}
for ((round = 1; round <= rounds; round++)); do
  for ((w = 0; w < ${#workloads[@]}; w++)); do
    # Rotate by round and workload so every allocator takes every position.
    for ((i = 0; i < count; i++)); do
      run_one "$round" "${workloads[w]}" "${allocators[(i + round + w) % count]}"
    done
  done
done

[ -n "$raw" ] && cp "$results" "$raw"

table=$(python3 - "$results" "$set_name" "$rounds" "${allocators[@]}" <<'EOF'
"""Prints the Markdown summary of peers.sh's measurements."""
import math
import os
import statistics
import sys
from collections import defaultdict

path, set_name, rounds, allocators = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
runs = defaultdict(list)  # (workload, allocator) -> [(status, wall, rss, mops)]
outputs = {}  # (round, workload, allocator) -> hash of workload_run's output
workloads = []
with open(path) as f:
    next(f)
    for line in f:
        round_, workload, allocator, status, wall, rss, mops, output = (
            line.rstrip("\n").split("\t"))
        if workload not in workloads:
            workloads.append(workload)
        runs[workload, allocator].append((int(status), wall, rss, mops))
        if output and status == "0":
            outputs[round_, workload, allocator] = output


def output_mismatches(workload, allocator):
    """Rounds in which the output differs from glibc's (both succeeded)."""
    return sum(1 for (r, w, a), h in outputs.items()
               if w == workload and a == allocator
               and outputs.get((r, w, "glibc"), h) != h)


def medians(workload, allocator):
    """Median wall s, max RSS KiB and Mops/s of the runs that succeeded."""
    good = [r for r in runs[workload, allocator] if r[0] == 0 and r[1]]
    if not good:
        return None
    mops = [float(r[3]) for r in good if r[3]]
    return (statistics.median(float(r[1]) for r in good),
            statistics.median(float(r[2]) for r in good),
            statistics.median(mops) if mops else None)


def cell(workload, allocator):
    all_runs = runs[workload, allocator]
    m = medians(workload, allocator)
    failed = sum(1 for r in all_runs if r[0] != 0)
    if m is None:
        return "FAIL" if all_runs else "-"
    text = f"{m[0]:.2f} s, {m[1] / 1024:.1f} MiB"
    if failed:
        text += f" ({failed} failed)"
    if mismatched := output_mismatches(workload, allocator):
        text += f" (output differs from glibc's {mismatched}x)"
    return text


def geomean_vs_glibc(index):
    """Geometric mean over workloads of medians[index] relative to glibc."""
    logs = {}
    for allocator in allocators:
        values = []
        for workload in workloads:
            mine, base = medians(workload, allocator), medians(workload, "glibc")
            if mine and base and mine[index] > 0 and base[index] > 0:
                values.append(math.log(mine[index] / base[index]))
        skipped = len(workloads) - len(values)
        logs[allocator] = ("-" if not values else
                           f"{math.exp(sum(values) / len(values)):.2f}" +
                           (f" ({skipped} left out)" if skipped else ""))
    return logs


def scaling(bench, allocator):
    one, two = medians(f"{bench}-1t", allocator), medians(f"{bench}-2t", allocator)
    if not one or not two or not one[2] or not two[2]:
        return "-"
    return f"{two[2] / one[2]:.2f}"


header = ["workload"] + allocators
print(f"## Allocators compared ({set_name} set, rounds: {rounds}, cores: {os.cpu_count()})")
print()
print("Cells: median wall time, median max RSS. Ratios: geometric mean over the")
print("workloads of the allocator's median over glibc's (lower is better).")
print("larson and pairs 2t/1t: thread_benchmark's Mops/s at 2 threads over 1")
print("thread (pairs: larson with no cross-thread frees).")
print("Failed runs are left out of the medians and the ratios.")
print()
print("| " + " | ".join(header) + " |")
print("|" + "|".join(["---"] + ["---:"] * len(allocators)) + "|")
for workload in workloads:
    print("| " + " | ".join([workload] + [cell(workload, a) for a in allocators]) + " |")
wall, rss = geomean_vs_glibc(0), geomean_vs_glibc(1)
print("| **wall vs glibc (geomean)** | " + " | ".join(wall[a] for a in allocators) + " |")
print("| **max RSS vs glibc (geomean)** | " + " | ".join(rss[a] for a in allocators) + " |")
print("| **larson 2t/1t throughput** | " + " | ".join(scaling("larson", a) for a in allocators) + " |")
print("| **pairs 2t/1t throughput** | " + " | ".join(scaling("pairs", a) for a in allocators) + " |")
EOF
)
echo "$table"
if [ -n "$out" ]; then
  printf '%s\n' "$table" >"$out"
  note "wrote $out"
fi
