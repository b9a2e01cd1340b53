#!/usr/bin/env bash
# Runs real programs (CPython's test suite, sqlite3, sort, g++; see tools/workloads.sh)
# under each given malloc replacement with LD_PRELOAD and checks that they behave as
# they do on glibc's malloc: each workload runs once without LD_PRELOAD for the
# expected output, then once per library. A non-zero exit, a signal, a hang or any
# byte of difference in the normalised output is a failure.
#
# Usage: tools/real_programs.sh [--long] LIB.so [LIB.so ...]
#   --long                   the long set (several minutes a library) instead of the
#                            short one (under a minute a library, for CI)
#   HEAPKIT_WORKLOADS="sqlite sort_10mb"
#                            runs only these workloads (any of the long set's names)
#   HEAPKIT_WORKLOADS_DIR    where the generated inputs are cached
#                            (default ${TMPDIR:-/tmp}/heapkit-workloads)
#   WORKLOAD_TIMEOUT         seconds before one run counts as hung (default 600)
# Prints "BASE glibc workload 12.3s" for each baseline, then "PASS lib workload 12.3s"
# or "FAIL lib workload: reason" for every library and workload (under a FAIL, the
# first 40 lines of the diff, or the last 20 lines of output of a run that exited
# non-zero), then "N passed, N failed"; exits non-zero on any failure.
set -euo pipefail

tools_dir="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=tools/workloads.sh
source "$tools_dir/workloads.sh"

# Prints how to call this script and exits with status 2.
usage() {
  echo "usage: $0 [--long] LIB.so [LIB.so ...]" >&2
  exit 2
}

# Installs the Debian packages the workloads run, if any is missing (as bootstrap.sh).
ensure_packages() {
  local packages=(sqlite3 libpython3.11-testsuite python3.11 time g++ libabsl-dev
                  libgtest-dev)
  local missing=() package sudo=""
  for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$package")
    fi
  done
  [ "${#missing[@]}" -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "real_programs: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Prints the current time in microseconds.
now_us() {
  echo "${EPOCHREALTIME/./}"
}

# Prints the time since START_US (microseconds) in seconds with one decimal.
seconds_since() {
  local tenths=$((($(now_us) - $1 + 50000) / 100000))
  echo "$((tenths / 10)).$((tenths % 10))s"
}

# Prints why a run that ended with exit STATUS failed.
describe_status() {
  local status="$1"
  if [ "$status" -eq 124 ]; then
    echo "hung: timed out after ${WORKLOAD_TIMEOUT:-600}s (exit 124)"
  elif [ "$status" -eq 137 ]; then
    echo "killed: SIGKILL (exit 137; a hang that ignored SIGTERM, or the OOM killer)"
  elif [ "$status" -gt 128 ]; then
    echo "crashed: signal SIG$(kill -l $((status - 128)) 2>/dev/null || echo "?") (exit $status)"
  else
    echo "exit status $status"
  fi
}

# Checks that LIB really gets preloaded: ld.so only warns about one it cannot load
# and runs the program on glibc's malloc, which would pass everything.
check_preloads() {
  local lib="$1" maps
  maps="$(LD_PRELOAD="$lib" cat /proc/self/maps 2>/dev/null)" || return 1
  grep -F "$(realpath "$lib")" <<<"$maps" >/dev/null
}

# Runs workload NAME with LD_PRELOAD=LIB (none if LIB is empty), output to OUT;
# sets run_status and run_time.
run_one() {
  local lib="$1" name="$2" out="$3" start
  start="$(now_us)"
  run_status=0
  if [ -n "$lib" ]; then
    (
      export LD_PRELOAD="$lib"
      workload_run "$name" "$inputs_dir" "$out"
    ) || run_status=$?
  else
    (
      unset LD_PRELOAD
      workload_run "$name" "$inputs_dir" "$out"
    ) || run_status=$?
  fi
  run_time="$(seconds_since "$start")"
}

# Prints the last 20 lines of the output file OUT, indented: where a failed run stopped.
show_tail() {
  [ -f "$1" ] || return 0
  tail -n 20 "$1" | sed 's/^/    /'
}

# Prints the first 40 lines of the diff between EXPECTED and ACTUAL (from LABEL), indented.
show_diff() {
  local expected="$1" actual="$2" label="$3"
  diff -u --label glibc --label "$label" "$expected" "$actual" >"$results_dir/diff" || true
  head -n 40 "$results_dir/diff" | sed 's/^/    /'
}

# Parses the arguments, runs the baselines, then every library, and prints the tally.
main() {
  local set=short
  if [ "${1:-}" = "--long" ]; then
    set=long
    shift
  fi
  [ "$#" -ge 1 ] || usage
  local libs=() lib
  for lib in "$@"; do
    case "$lib" in -*) usage ;; esac
    if [ ! -f "$lib" ]; then
      echo "real_programs: no such library: $lib" >&2
      exit 2
    fi
    libs+=("$(realpath -s "$lib")")  # Absolute: the workloads change directory.
  done

  local workloads=() known name
  known="$(workload_names long)"
  if [ -n "${HEAPKIT_WORKLOADS:-}" ]; then
    for name in $HEAPKIT_WORKLOADS; do
      if ! grep -qxF "$name" <<<"$known"; then
        echo "real_programs: unknown workload '$name'; known: $(tr '\n' ' ' <<<"$known")" >&2
        exit 2
      fi
      workloads+=("$name")
    done
  else
    mapfile -t workloads < <(workload_names "$set")
  fi

  ensure_packages
  ulimit -c 0  # A crashing library must not litter the tree with core files.
  inputs_dir="${HEAPKIT_WORKLOADS_DIR:-${TMPDIR:-/tmp}/heapkit-workloads}"
  workloads_prepare "$inputs_dir"
  results_dir="$(mktemp -d "${TMPDIR:-/tmp}/heapkit-real-programs.XXXXXX")"

  local passed=0 failed=0 baseline_ok=() label
  for name in "${workloads[@]}"; do
    run_one "" "$name" "$results_dir/$name.glibc"
    if [ "$run_status" -eq 0 ]; then
      echo "BASE glibc $name $run_time"
      baseline_ok+=("$name")
    else
      echo "FAIL glibc $name: $(describe_status "$run_status") without any preload"
      show_tail "$results_dir/$name.glibc"
      failed=$((failed + 1))
    fi
  done

  local index
  for index in "${!libs[@]}"; do
    lib="${libs[$index]}"
    label="$(basename "$lib")"
    if ! check_preloads "$lib"; then
      echo "FAIL $label all: LD_PRELOAD=$lib does not load (or breaks cat)"
      failed=$((failed + 1))
      continue
    fi
    for name in "${baseline_ok[@]}"; do
      local out="$results_dir/$name.lib$index"  # Two libraries may share a name.
      run_one "$lib" "$name" "$out"
      if [ "$run_status" -ne 0 ]; then
        echo "FAIL $label $name: $(describe_status "$run_status") after $run_time"
        show_tail "$out"
        failed=$((failed + 1))
      elif ! cmp -s "$results_dir/$name.glibc" "$out"; then
        echo "FAIL $label $name: output differs from glibc"
        show_diff "$results_dir/$name.glibc" "$out" "$label"
        failed=$((failed + 1))
      else
        echo "PASS $label $name $run_time"
        passed=$((passed + 1))
      fi
    done
  done

  if [ "$failed" -eq 0 ]; then
    rm -rf "$results_dir"
  else
    echo "outputs kept in $results_dir"
  fi
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

main "$@"
