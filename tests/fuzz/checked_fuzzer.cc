// Fuzzes CheckedAllocator over each byte backend (the input's first byte
// picks it): the byte backends' operations, plus bad frees and damaged guards
// (see byte_backend_fuzzer.h).

#include <cstddef>
#include <cstdint>
#include <memory>

#include "adapters/checked_allocator.h"
#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "tests/fuzz/byte_backend_fuzzer.h"

namespace heapkit::fuzz {
namespace {

template <ByteBackend Backend>
void FuzzChecked(FuzzInput& in) {
  auto checked = std::make_unique<CheckedAllocator<Backend>>();
  // Re-initialising with blocks live is part of the fuzzing, not a leak.
  checked->set_leak_policy(LeakPolicy::kSilent);
  BackendFuzzer<CheckedAllocator<Backend>>(in, FuzzArena(), *checked).Run();
}

// Runs the input on the backend its first byte picks.
void FuzzOne(FuzzInput& in) {
  switch (in.Byte() % 3) {
    case 0:
      FuzzChecked<TlsfByteAllocator>(in);
      break;
    case 1:
      FuzzChecked<SlabByteAllocator<>>(in);
      break;
    case 2:
      FuzzChecked<BuddyByteAllocator>(in);
      break;
  }
}

}  // namespace
}  // namespace heapkit::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  heapkit::fuzz::FuzzInput in(data, size);
  heapkit::fuzz::FuzzOne(in);
  return 0;
}
