#!/usr/bin/env bash
# Builds the malloc replacement (//adapters/global:libheapkit_malloc.so),
# optimised, once per byte backend, and copies each to
# OUTDIR/libheapkit_<backend>.so (bazel-bin holds only the last build).
#
# Usage: tools/build_malloc_libs.sh OUTDIR [backend ...]   (default: all three)
set -euo pipefail
cd "$(dirname "$0")/.."

out=${1:?usage: tools/build_malloc_libs.sh OUTDIR [backend ...]}
shift
backends=("$@")
[ "${#backends[@]}" -gt 0 ] || backends=(buddy slab tlsf)
mkdir -p "$out"
for backend in "${backends[@]}"; do
  flags=(-c opt --define "allocator=$backend")
  bazel build "${flags[@]}" //adapters/global:libheapkit_malloc.so
  # From bazel info, not the bazel-bin link, which follows the latest build.
  cp -f "$(bazel info "${flags[@]}" bazel-bin 2>/dev/null)/adapters/global/libheapkit_malloc.so" \
    "$out/libheapkit_$backend.so"
done
