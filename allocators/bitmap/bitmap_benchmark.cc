// Benchmarks for the bitmap page and ID allocators. Build optimised:
//   bazel run --config=opt //allocators/bitmap:bitmap_benchmark
// Results and the machine they came from: docs/page_and_id_allocators.md.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/bitmap/bitmap_id_allocator.h"
#include "allocators/bitmap/bitmap_page_allocator.h"
#include "benchmark/benchmark.h"

namespace heapkit {
namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kNumPages = std::size_t{1}
                                  << 20;  // 4 GiB of 4 KiB pages.
constexpr std::uintptr_t kBase = std::uintptr_t{1} << 32;
constexpr std::size_t kHugePages = 512;  // 2 MiB.

using Pages = BitmapPageAllocator<>;

// Marks each page used with probability `occupancy`, independently.
void FillScattered(Pages& pages, double occupancy, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution used(occupancy);
  for (std::size_t i = 0; i < kNumPages; ++i) {
    if (used(rng)) (void)pages.AllocPagesAt(kBase + i * kPage, 1, kPage);
  }
}

// Marks pages used in runs: used runs of 1..`max_used` pages alternate with
// free runs of 1..`max_free` pages, uniformly distributed.
void FillClustered(Pages& pages, std::size_t max_used, std::size_t max_free,
                   std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::size_t i = 0;
  while (i < kNumPages) {
    const std::size_t used = std::min(kNumPages - i, 1 + rng() % max_used);
    (void)pages.AllocPagesAt(kBase + i * kPage, used, kPage);
    i += used + 1 + rng() % max_free;
  }
}

// Frees the last 2 MiB chunk, so the only place a 2 MiB-aligned 512-page run
// fits is at the very end: the search has to cross the whole bitmap.
void FreeLastChunk(Pages& pages) {
  const std::uintptr_t last = kBase + (kNumPages - kHugePages) * kPage;
  for (std::size_t i = 0; i < kHugePages; ++i) {
    (void)pages.DeallocPages(last + i * kPage, 1);
  }
}

void BM_AllocDeallocOnePageHalfFull(benchmark::State& state) {
  Pages pages;
  if (!pages.Init(kBase, kNumPages * kPage).ok()) state.SkipWithError("Init");
  FillScattered(pages, 0.5, 42);
  for (auto _ : state) {
    absl::StatusOr<std::uintptr_t> page = pages.AllocPages(1, kPage);
    benchmark::DoNotOptimize(page);
    absl::Status freed = pages.DeallocPages(*page, 1);
    benchmark::DoNotOptimize(freed);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["used_pages"] = static_cast<double>(pages.UsedPages());
}
BENCHMARK(BM_AllocDeallocOnePageHalfFull);

// As above, but each iteration frees a random held page and takes the lowest
// free one, so the pages in play keep moving across the bitmap.
void BM_ChurnOnePageHalfFull(benchmark::State& state) {
  Pages pages;
  if (!pages.Init(kBase, kNumPages * kPage).ok()) state.SkipWithError("Init");
  FillScattered(pages, 0.5, 42);
  std::vector<std::uintptr_t> held;
  for (std::size_t i = 0; i < kNumPages; ++i) {
    if (pages.IsAllocated(kBase + i * kPage)) held.push_back(kBase + i * kPage);
  }
  std::mt19937_64 rng(7);
  std::shuffle(held.begin(), held.end(), rng);
  std::size_t next = 0;
  for (auto _ : state) {
    std::uintptr_t& slot = held[next];
    next = next + 1 == held.size() ? 0 : next + 1;
    absl::Status freed = pages.DeallocPages(slot, 1);
    benchmark::DoNotOptimize(freed);
    absl::StatusOr<std::uintptr_t> page = pages.AllocPages(1, kPage);
    slot = *page;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ChurnOnePageHalfFull);

void RunHugeSearch(benchmark::State& state, Pages& pages) {
  for (auto _ : state) {
    absl::StatusOr<std::uintptr_t> run = pages.AllocPages(kHugePages, 2 << 20);
    if (!run.ok()) {
      state.SkipWithError("no 2 MiB run");
      break;
    }
    benchmark::DoNotOptimize(run);
    absl::Status freed = pages.DeallocPages(*run, kHugePages);
    benchmark::DoNotOptimize(freed);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["occupancy"] =
      static_cast<double>(pages.UsedPages()) / pages.TotalPages();
}

// 90% of pages used independently at random: no leaf word is entirely free, so
// the "all free" tree leads straight to the last chunk.
void BM_Search2MiBRun90PercentScattered(benchmark::State& state) {
  Pages pages;
  if (!pages.Init(kBase, kNumPages * kPage).ok()) state.SkipWithError("Init");
  FillScattered(pages, 0.9, 43);
  FreeLastChunk(pages);
  RunHugeSearch(state, pages);
}
BENCHMARK(BM_Search2MiBRun90PercentScattered);

// 90% used in runs (used 1..1800 pages, free 1..200): about a thousand free
// holes hold whole free words, each one a candidate to check and reject.
void BM_Search2MiBRun90PercentClustered(benchmark::State& state) {
  Pages pages;
  if (!pages.Init(kBase, kNumPages * kPage).ok()) state.SkipWithError("Init");
  FillClustered(pages, 1800, 200, 44);
  FreeLastChunk(pages);
  RunHugeSearch(state, pages);
}
BENCHMARK(BM_Search2MiBRun90PercentClustered);

void BM_AllocDeallocIdHalfFull(benchmark::State& state) {
  BitmapIdAllocator ids;
  if (!ids.Init(0, kNumPages).ok()) state.SkipWithError("Init");
  std::mt19937_64 rng(45);
  std::bernoulli_distribution used(0.5);
  for (std::size_t id = 0; id < kNumPages; ++id) {
    if (used(rng)) (void)ids.AllocFixedId(id);
  }
  for (auto _ : state) {
    absl::StatusOr<std::size_t> id = ids.AllocId(1, 1);
    benchmark::DoNotOptimize(id);
    absl::Status freed = ids.DeallocId(*id, 1);
    benchmark::DoNotOptimize(freed);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AllocDeallocIdHalfFull);

}  // namespace
}  // namespace heapkit
