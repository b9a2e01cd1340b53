// A kernel-style global heap, as the ArceOS kernel builds its own: memory
// found at boot (here a static array) goes to a bitmap page allocator; the
// byte heap is TLSF, growing from those pages when it runs out, under a lock;
// kernel code reaches it through std::pmr containers. Several "drivers"
// (threads) fill tables on it, a page-granular buffer comes straight from the
// page allocator, and when the heap is destroyed every page goes back.
//
// Exits non-zero if a step fails or a page is not given back.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory_resource>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/growing_allocator.h"
#include "adapters/memory_resource.h"
#include "adapters/synchronized_allocator.h"
#include "allocators/bitmap/bitmap_page_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"

namespace {

using PageAllocator = heapkit::BitmapPageAllocator<>;  // 4 KiB pages.
using KernelHeap = heapkit::SynchronizedAllocator<
    heapkit::GrowingAllocator<heapkit::TlsfByteAllocator, PageAllocator>>;

// The memory "found at boot".
constexpr std::size_t kBootMemoryBytes = std::size_t{16} << 20;
alignas(4096) std::byte boot_memory[kBootMemoryBytes];

// A driver's work: a table of devices and a log, all in `heap`.
void RunDriver(int id, std::pmr::memory_resource* heap) {
  std::pmr::vector<std::pmr::string> devices(heap);
  std::pmr::string log(heap);
  for (int i = 0; i < 2000; ++i) {
    devices.emplace_back("driver" + std::to_string(id) + "/device" +
                         std::to_string(i));
    log += devices.back();
    log += '\n';
    if (i % 3 == 0) devices.erase(devices.begin());
  }
}

// Prints `status` and returns 1 if it is an error, else returns 0.
int Failed(const char* what, const absl::Status& status) {
  if (status.ok()) return 0;
  std::fprintf(stderr, "kernel_heap: %s: %s\n", what,
               status.ToString().c_str());
  return 1;
}

}  // namespace

int main() {
  PageAllocator pages;
  if (Failed("pages.Init",
             pages.Init(reinterpret_cast<std::uintptr_t>(boot_memory),
                        kBootMemoryBytes))) {
    return 1;
  }
  std::printf("boot: %zu pages of %zu bytes\n", pages.TotalPages(),
              pages.PageSize());
  {
    // Empty at first: the first allocation takes its pages.
    KernelHeap heap(pages);
    heapkit::MemoryResource resource(heap);

    // A page-granular buffer (say, for a device's DMA ring) straight from the
    // page allocator, while no other thread uses it.
    absl::StatusOr<std::uintptr_t> ring = pages.AllocPages(16, 64 * 1024);
    if (Failed("AllocPages", ring.status())) return 1;

    std::vector<std::thread> drivers;
    for (int id = 0; id < 4; ++id)
      drivers.emplace_back(RunDriver, id, &resource);
    for (std::thread& driver : drivers) driver.join();

    std::printf(
        "after the drivers: heap of %zu bytes, %zu in use; %zu pages in use\n",
        heap.TotalBytes(), heap.UsedBytes(), pages.UsedPages());
    if (heap.UsedBytes() != 0) {
      std::fprintf(stderr, "kernel_heap: %zu bytes still in use\n",
                   heap.UsedBytes());
      return 1;
    }
    if (Failed("DeallocPages", pages.DeallocPages(*ring, 16))) return 1;
  }
  // ~GrowingAllocator gave every page it took back.
  std::printf("heap destroyed: %zu pages in use\n", pages.UsedPages());
  return pages.UsedPages() == 0 ? 0 : 1;
}
