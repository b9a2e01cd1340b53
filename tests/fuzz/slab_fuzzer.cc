// Fuzzes SlabByteAllocator<> (see byte_backend_fuzzer.h).

#include "allocators/slab/slab_byte_allocator.h"
#include "tests/fuzz/byte_backend_fuzzer.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  return heapkit::fuzz::FuzzByteBackend<heapkit::SlabByteAllocator<>>(data,
                                                                      size);
}
