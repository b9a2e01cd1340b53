// Fuzzes GrowingAllocator over each byte backend (the input's first byte
// picks it), growing from a BitmapPageAllocator over half of the arena while
// Init and AddMemory take regions of the other half: the byte backends'
// operations plus Grow, with every page run taken joining the model (see
// byte_backend_fuzzer.h). At the end every page must be back with the page
// allocator.

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/base/internal/raw_logging.h"
#include "adapters/growing_allocator.h"
#include "allocators/bitmap/bitmap_page_allocator.h"
#include "core/region.h"
#include "tests/fuzz/byte_backend_fuzzer.h"
#include "tests/fuzz/pick_backend.h"

namespace heapkit::fuzz {
namespace {

template <ByteBackend Byte>
void FuzzGrowing(FuzzInput& in) {
  using Growing = GrowingAllocator<Byte, BitmapPageAllocator<>>;
  const Region arena = FuzzArena();
  const std::uintptr_t middle = arena.start + arena.size() / 2;
  BitmapPageAllocator<> pages;
  if (!pages.Init(middle, arena.end - middle).ok()) {
    ABSL_RAW_LOG(FATAL, "the page allocator refused half the arena");
  }
  {
    auto growing = std::make_unique<Growing>(pages);
    BackendFuzzer<Growing>(in, Region{arena.start, middle}, *growing).Run();
  }
  if (pages.UsedPages() != 0) {
    ABSL_RAW_LOG(FATAL, "%zu pages not given back", pages.UsedPages());
  }
}

}  // namespace
}  // namespace heapkit::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  heapkit::fuzz::FuzzInput in(data, size);
  heapkit::fuzz::WithPickedBackend(in, [&](auto backend) {
    heapkit::fuzz::FuzzGrowing<typename decltype(backend)::type>(in);
  });
  return 0;
}
