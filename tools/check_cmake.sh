#!/usr/bin/env bash
# Builds HeapKit with CMake, runs its tests with ctest, installs it into a
# temporary prefix, then builds and runs the outside project tests/consumer/
# against that prefix twice: with find_package(HeapKit) and with pkg-config.
# Prints one "PASS name" or "FAIL name" line per check, and exits non-zero on
# any failure.
#
# Usage: tools/check_cmake.sh [ctest arguments...]   e.g. -R examples
#   CMAKE_BUILD_TYPE (default Debug) and HEAPKIT_BUILD_SUITES (default ON;
#   OFF builds the shared suites' 56 instantiations only in Bazel).
set -uo pipefail
cd "$(dirname "$0")/.."
source_dir=$PWD

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix="$work/prefix"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
status=0

# Runs a check (the command after NAME) and prints its verdict.
check() {
  local name="$1"
  shift
  if "$@" >"$work/log" 2>&1; then
    echo "PASS $name"
  else
    echo "FAIL $name"
    tail -n 40 "$work/log" | sed 's/^/    /'
    status=1
  fi
}

# Configures and builds HeapKit, its tests and examples, warnings as errors.
build() {
  cmake -S . -B "$work/build" "${generator[@]}" \
    -DCMAKE_BUILD_TYPE="${CMAKE_BUILD_TYPE:-Debug}" -DHEAPKIT_WERROR=ON \
    -DHEAPKIT_BUILD_SUITES="${HEAPKIT_BUILD_SUITES:-ON}" &&
    cmake --build "$work/build" --parallel "$(nproc)"
}
check "cmake build" build || true
[ "$status" -eq 0 ] || exit 1

# ctest's own per-test lines, turned into PASS/FAIL lines.
ctest_status=0
ctest --test-dir "$work/build" --output-on-failure --parallel "$(nproc)" "$@" \
  >"$work/ctest.log" 2>&1 || ctest_status=$?
sed -n -E -e 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) \.+ +Passed.*/PASS ctest \1/p' \
  -e 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) \.+.*(Failed|Timeout|Exception|Not Run).*/FAIL ctest \1/p' \
  "$work/ctest.log"
if [ "$ctest_status" -ne 0 ]; then
  grep -A60 'The following tests FAILED\|Output from these tests' "$work/ctest.log" | head -n 60
  status=1
fi

check "cmake install" cmake --install "$work/build" --prefix "$prefix"

# The outside project, with find_package.
consume_with_cmake() {
  cmake -S tests/consumer -B "$work/consumer" "${generator[@]}" \
    -DCMAKE_PREFIX_PATH="$prefix" &&
    cmake --build "$work/consumer" &&
    "$work/consumer/consumer" &&
    HEAPKIT_STATS=1 "$work/consumer/malloc_consumer" 2>"$work/stats" &&
    grep -q '^HeapKit (' "$work/stats"
}
check "find_package(HeapKit) consumer" consume_with_cmake

# The outside project, with pkg-config.
consume_with_pkg_config() {
  local flags
  flags=$(PKG_CONFIG_PATH=$(dirname "$(find "$prefix" -name heapkit.pc)") pkg-config --cflags --libs heapkit) &&
    # shellcheck disable=SC2086  # the flags are words.
    c++ -o "$work/pc_consumer" "$source_dir/tests/consumer/main.cc" $flags &&
    "$work/pc_consumer"
}
check "pkg-config heapkit consumer" consume_with_pkg_config

exit "$status"
