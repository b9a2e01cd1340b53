// HeapKit demo: hands a static arena to a byte backend, runs std::pmr
// containers on it, and prints what the allocator saw at each stage.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <random>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "adapters/memory_resource.h"
#include "allocators/bitmap/bitmap_id_allocator.h"
#include "allocators/bitmap/bitmap_page_allocator.h"
#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "fmt/core.h"

namespace {

constexpr std::size_t kArenaSize = std::size_t{32} << 20;
alignas(4096) std::byte arena[kArenaSize];

struct Stage {
  std::string name;
  std::size_t total, used, available;
};

template <class Allocator>
Stage Snapshot(std::string name, const Allocator& allocator) {
  return Stage{std::move(name), allocator.TotalBytes(), allocator.UsedBytes(),
               allocator.AvailableBytes()};
}

// Counts words of a generated text in containers that all live in the arena,
// and returns the allocator's stats at each stage.
template <class Allocator>
std::vector<Stage> RunWorkload(Allocator& allocator) {
  std::vector<Stage> stages;
  stages.push_back(Snapshot("after Init", allocator));
  heapkit::MemoryResource resource(allocator);
  {
    static constexpr std::string_view kWords[] = {
        "alloc", "buddy", "slab",  "tlsf",   "page",  "region", "block",
        "merge", "split", "align", "bitmap", "arena", "kernel", "heap"};
    std::mt19937 rng(2026);
    std::pmr::unordered_map<std::pmr::string, std::size_t> counts(&resource);
    for (int i = 0; i < 200'000; ++i) {
      std::pmr::string word(kWords[rng() % std::size(kWords)], &resource);
      word += '_';
      word += std::to_string(rng() % 500);
      ++counts[word];
    }
    stages.push_back(Snapshot("200k words counted", allocator));

    std::pmr::vector<std::pair<std::pmr::string, std::size_t>> ranked(
        counts.begin(), counts.end(), &resource);
    std::sort(ranked.begin(), ranked.end(),
              [](const auto& a, const auto& b) { return a.second > b.second; });
    stages.push_back(Snapshot("ranked copy sorted", allocator));
    fmt::print("  most frequent: ");
    for (int i = 0; i < 3; ++i) {
      fmt::print("{} ({}){}", ranked[i].first, ranked[i].second,
                 i < 2 ? ", " : "\n");
    }
  }
  stages.push_back(Snapshot("all freed", allocator));
  return stages;
}

void PrintTable(std::string_view backend, const std::vector<Stage>& stages) {
  fmt::print("  {:<22} {:>12} {:>12} {:>12} {:>7}\n", "stage", "total B",
             "used B", "available B", "used");
  for (const Stage& stage : stages) {
    fmt::print("  {:<22} {:>12} {:>12} {:>12} {:>6.2f}%\n", stage.name,
               stage.total, stage.used, stage.available,
               100.0 * stage.used / stage.total);
  }
  fmt::print("  ({}: used + available == total at every stage)\n\n", backend);
}

// Hands the arena to a fresh `Allocator`, runs the workload and prints its
// table.
template <class Allocator>
bool Demo(std::string_view name) {
  Allocator allocator;
  if (absl::Status status =
          allocator.Init(reinterpret_cast<std::uintptr_t>(arena), kArenaSize);
      !status.ok()) {
    fmt::print(stderr, "{}: Init failed: {}\n", name, status.ToString());
    return false;
  }
  fmt::print("{}:\n", name);
  PrintTable(name, RunWorkload(allocator));
  return true;
}

// Manages physical pages the way a kernel would: the range is only numbers, no
// memory behind it is touched.
bool PageDemo() {
  constexpr std::uintptr_t kGiB = std::uintptr_t{1} << 30;
  heapkit::BitmapPageAllocator<4096> pages;
  if (!pages.Init(kGiB + 4096, 2 * kGiB).ok()) return false;
  fmt::print(
      "bitmap pages over [1 GiB + 4 KiB, 3 GiB + 4 KiB), no memory touched:\n");
  struct Request {
    std::size_t num_pages, align;
  } requests[] = {{1, 4096}, {10, 2 << 20}, {100, kGiB}};
  for (const Request& r : requests) {
    absl::StatusOr<std::uintptr_t> base =
        pages.AllocPages(r.num_pages, r.align);
    if (!base.ok()) return false;
    fmt::print("  {:>4} pages aligned to {:>10} B at {:#x}\n", r.num_pages,
               r.align, *base);
  }
  absl::Status twice =
      pages.DeallocPages(kGiB + 4096, 2);  // Only 1 page there.
  fmt::print("  freeing 2 pages where 1 was allocated: {}\n", twice.ToString());
  fmt::print("  {} of {} pages used\n\n", pages.UsedPages(),
             pages.TotalPages());
  return true;
}

// Hands out process IDs as a kernel's PID table would.
bool IdDemo() {
  heapkit::BitmapIdAllocator pids;
  if (!pids.Init(/*first_id=*/1, /*count=*/32767).ok()) return false;
  if (!pids.AllocFixedId(1).ok()) return false;  // init
  fmt::print("bitmap IDs as a PID table [1, 32768):\n  pids:");
  for (int i = 0; i < 5; ++i) fmt::print(" {}", *pids.AllocId(1, 1));
  fmt::print("\n  taking pid 1 again: {}\n", pids.AllocFixedId(1).ToString());
  fmt::print("  {} of {} IDs used\n", pids.Used(), pids.Size());
  return true;
}

}  // namespace

int main() {
  fmt::print(
      "HeapKit demo: a {} MiB static arena, std::pmr containers on top.\n\n",
      kArenaSize >> 20);
  const bool ok = Demo<heapkit::TlsfByteAllocator>("tlsf") &&
                  Demo<heapkit::SlabByteAllocator<>>("slab") &&
                  Demo<heapkit::BuddyByteAllocator>("buddy") && PageDemo() &&
                  IdDemo();
  return ok ? 0 : 1;
}
