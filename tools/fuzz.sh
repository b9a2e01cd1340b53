#!/usr/bin/env bash
# Builds a fuzz target with clang 14's libFuzzer under ASan and UBSan and runs
# it for MINUTES on its corpus (tests/fuzz/corpus/TARGET), then merges what it
# found into the corpus, kept minimal. Prints executions per second and
# coverage (libFuzzer's last status line). A crash leaves its input in
# $FUZZ_WORK (default /tmp/heapkit_fuzz), named TARGET-crash-*, and exits
# non-zero.
#
# Usage: tools/fuzz.sh TARGET MINUTES   (TARGET: trace_reader, tlsf, slab,
#        buddy, checked, growing, id_allocator, page_allocator, malloc;
#        MINUTES may be a fraction, e.g. 0.5)
#
# The malloc target links the malloc replacement in, so it runs without ASan
# (which would own malloc), with UBSan only, on the backend FUZZ_BACKEND names
# (tlsf, slab or buddy; tlsf by default). Its corpus is shared by the three.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
target=${1:?usage: tools/fuzz.sh TARGET MINUTES}
minutes=${2:?usage: tools/fuzz.sh TARGET MINUTES}
core=(core/alloc_error.cc core/layout.cc core/region.cc core/internal/fatal.cc
      core/internal/hex.cc)
bitmap=(allocators/bitmap/internal/segmented_bitmap.cc
        allocators/bitmap/internal/hierarchical_bitmap.cc)
backends=(allocators/tlsf/tlsf_byte_allocator.cc allocators/slab/slab_byte_allocator.cc
          allocators/buddy/buddy_byte_allocator.cc)
sanitizers=fuzzer,address,undefined
defines=()
case "$target" in
  trace_reader) sources=(adapters/trace/trace_reader.cc adapters/trace/trace_writer.cc) ;;
  tlsf) sources=(allocators/tlsf/tlsf_byte_allocator.cc tests/shadow_model.cc "${core[@]}") ;;
  slab) sources=(allocators/slab/slab_byte_allocator.cc allocators/tlsf/tlsf_byte_allocator.cc
                 tests/shadow_model.cc "${core[@]}") ;;
  buddy) sources=(allocators/buddy/buddy_byte_allocator.cc tests/shadow_model.cc "${core[@]}") ;;
  id_allocator) sources=(allocators/bitmap/bitmap_id_allocator.cc "${bitmap[@]}"
                         tests/interval_model.cc "${core[@]}") ;;
  page_allocator) sources=("${bitmap[@]}" tests/interval_model.cc "${core[@]}") ;;
  checked) sources=("${backends[@]}" tests/shadow_model.cc "${core[@]}") ;;
  growing) sources=("${backends[@]}" "${bitmap[@]}" tests/shadow_model.cc "${core[@]}") ;;
  malloc)
    backend=${FUZZ_BACKEND:-tlsf}
    sources=(adapters/global/malloc.cc adapters/trace/trace_writer.cc
             "${backends[@]}" "${bitmap[@]}" "${core[@]}")
    sanitizers=fuzzer,undefined
    defines=(-DHEAPKIT_MALLOC_LINKED "-DHEAPKIT_DEFAULT_ALLOCATOR_${backend^^}")
    ;;
  *) echo "fuzz.sh: unknown target $target" >&2; exit 2 ;;
esac
command -v clang++-14 >/dev/null || apt-get install -y -q clang-14 libclang-rt-14-dev >&2
work=${FUZZ_WORK:-/tmp/heapkit_fuzz}
mkdir -p "$work"
binary="$work/${target}_fuzzer"
cd "$root"
# shellcheck disable=SC2046
clang++-14 -std=c++20 -fsized-deallocation -O1 -g -fsanitize="$sanitizers" "${defines[@]}" \
  -fno-sanitize-recover=all -I. "tests/fuzz/${target}_fuzzer.cc" "${sources[@]}" \
  $(pkg-config --cflags --libs absl_status absl_statusor absl_strings \
    absl_str_format absl_raw_logging_internal absl_flat_hash_map absl_hash absl_raw_hash_set \
    absl_synchronization fmt gtest) \
  -o "$binary"
corpus="tests/fuzz/corpus/$target"
mkdir -p "$corpus"
found="$work/${target}_found"
rm -rf "$found" && mkdir -p "$found"
seconds=$(awk -v m="$minutes" 'BEGIN { printf "%d", m * 60 }')
log="$work/${target}.log"
"$binary" -max_total_time="$seconds" -print_final_stats=1 -max_len=4096 \
  -artifact_prefix="$work/${target}-" \
  "$found" "$corpus" 2>&1 | tee "$log" | grep -E '^#[0-9]+[[:space:]]+(pulse|DONE)|ERROR|SUMMARY' || true
status=${PIPESTATUS[0]}
# Keep the corpus minimal: what covers the most with the fewest inputs.
merged="$work/${target}_merged"
rm -rf "$merged" && mkdir -p "$merged"
"$binary" -merge=1 "$merged" "$corpus" "$found" >/dev/null 2>&1
# Inputs named regression-* (past findings) stay whatever the merge keeps.
find "$corpus" -type f ! -name 'regression-*' -delete
cp "$merged"/* "$corpus"/ 2>/dev/null || true
echo "fuzz.sh: $target: $(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)"
echo "fuzz.sh: $target: $(grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec' "$log" | tr '\n' ' ')"
echo "fuzz.sh: $target: corpus $(ls "$corpus" | wc -l) inputs"
exit "$status"
