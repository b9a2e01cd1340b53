#!/usr/bin/env bash
# Checks that Bazel and CMake build the same thing: the same source files and
# the same tests (by Bazel label) for the libraries, their tests and the
# examples. Bazel-only by design, and left out: the benchmarks (bench/ and the
# *_benchmark targets), the fuzz targets (tests/fuzz/) and the heapkit command
# and demo (tools/). Prints what one build has and the other lacks; exits
# non-zero if anything does.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

packages='//core/... + //allocators/... + //adapters/... + //tests:all + //docs/examples:all'
scope="kind('cc_library|cc_binary|cc_test|sh_test', $packages)"
bazel_only="attr(tags, benchmark, $scope) + kind(cc_binary, $scope) except //adapters/global:libheapkit_malloc.so"

# Bazel: the repository's source files the kept targets read, as paths.
bazel query --noshow_progress \
  "kind('source file', deps(($scope) except ($bazel_only)))" 2>/dev/null |
  grep '^//' | sed -e 's|^//||' -e 's|:|/|' -e 's|^/||' | sort -u >"$work/bazel_sources"
bazel query --noshow_progress "tests(($scope) except ($bazel_only))" 2>/dev/null |
  sort -u >"$work/bazel_tests"

# CMake: what the configured build records (see tools/cmake/HeapKitRules.cmake).
cmake -S . -B "$work/build" -DHEAPKIT_BUILD_TESTS=ON \
  -DHEAPKIT_BUILD_EXAMPLES=ON >"$work/cmake.log" 2>&1 ||
  { cat "$work/cmake.log" >&2; exit 1; }
sort -u "$work/build/heapkit_sources.txt" >"$work/cmake_sources"
sort -u "$work/build/heapkit_tests.txt" >"$work/cmake_tests"

status=0
for kind in sources tests; do
  if ! diff "$work/bazel_$kind" "$work/cmake_$kind" >"$work/diff"; then
    echo "check_build_sync: Bazel and CMake build different $kind:" >&2
    sed -n -e 's/^< /  only Bazel: /p' -e 's/^> /  only CMake: /p' "$work/diff" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] &&
  echo "check_build_sync: Bazel and CMake build the same $(wc -l <"$work/bazel_sources") sources and $(wc -l <"$work/bazel_tests") tests"
exit "$status"
