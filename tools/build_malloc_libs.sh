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
  bazel build -c opt --define "allocator=$backend" \
    //adapters/global:libheapkit_malloc.so
  cp -f bazel-bin/adapters/global/libheapkit_malloc.so \
    "$out/libheapkit_$backend.so"
done
