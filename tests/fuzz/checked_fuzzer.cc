// Fuzzes CheckedAllocator over each byte backend (the input's first byte
// picks it): the byte backends' operations, plus bad frees and damaged guards
// (see byte_backend_fuzzer.h).

#include <cstddef>
#include <cstdint>
#include <memory>

#include "adapters/checked_allocator.h"
#include "tests/fuzz/byte_backend_fuzzer.h"
#include "tests/fuzz/pick_backend.h"

namespace heapkit::fuzz {
namespace {

template <ByteBackend Backend>
void FuzzChecked(FuzzInput& in) {
  auto checked = std::make_unique<CheckedAllocator<Backend>>();
  // Re-initialising with blocks live is part of the fuzzing, not a leak.
  checked->set_leak_policy(LeakPolicy::kSilent);
  BackendFuzzer<CheckedAllocator<Backend>>(in, FuzzArena(), *checked).Run();
}

}  // namespace
}  // namespace heapkit::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  heapkit::fuzz::FuzzInput in(data, size);
  heapkit::fuzz::WithPickedBackend(in, [&](auto backend) {
    heapkit::fuzz::FuzzChecked<typename decltype(backend)::type>(in);
  });
  return 0;
}
