#!/usr/bin/env bash
# Installs the Debian packages HeapKit builds with, if any is missing. Idempotent and
# quiet when everything is present; uses sudo only when not already root.
set -euo pipefail

# clang-14 is CI's second compiler; cmake and ninja-build the second build
# system's; the last three are the peers the benchmarks compare with (loaded
# with dlopen).
packages=(bazel-bootstrap pkg-config g++ clang-14 clang-format cmake ninja-build
          libabsl-dev libfmt-dev
          libgtest-dev libgmock-dev libbenchmark-dev libjemalloc2 libmimalloc2.0
          libtcmalloc-minimal4)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
    missing+=("$package")
  fi
done
[ "${#missing[@]}" -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "bootstrap: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
