#include "allocators/bitmap/bitmap_page_allocator.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/bitmap/random_test_util.h"
#include "core/alloc_error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/constants.h"
#include "tests/interval_model.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using testing::IntervalModel;
using testing::IsAllocError;
using testing::IsOk;
using testing::kGiB;
using testing::kKiB;
using testing::kMax;
using testing::kMiB;
using testing::kTiB;
using testing::RunEverySeed;

constexpr std::size_t kPage = 4096;

using Allocator = BitmapPageAllocator<>;

// --- The seed crate's unit cases, kept exact. ---

TEST(BitmapPageAllocatorTest, SeedOnePage) {
  Allocator pages;
  ASSERT_THAT(pages.Init(kPage, kPage), IsOk());
  EXPECT_EQ(pages.PageSize(), kPage);
  EXPECT_EQ(pages.TotalPages(), 1u);
  EXPECT_EQ(pages.UsedPages(), 0u);
  EXPECT_EQ(pages.AvailablePages(), 1u);

  ASSERT_OK_AND_ASSIGN(std::uintptr_t addr, pages.AllocPages(1, kPage));
  EXPECT_EQ(addr, 0x1000u);
  EXPECT_EQ(pages.UsedPages(), 1u);
  EXPECT_EQ(pages.AvailablePages(), 0u);
  EXPECT_THAT(pages.AllocPages(1, kPage), IsAllocError(AllocError::kNoMemory));

  EXPECT_THAT(pages.DeallocPages(addr, 1), IsOk());
  EXPECT_EQ(pages.UsedPages(), 0u);
  EXPECT_EQ(pages.AvailablePages(), 1u);
}

TEST(BitmapPageAllocatorTest, SeedTwoGiBAtOneGiBPlusOnePage) {
  constexpr std::uintptr_t kBase = kGiB + kPage;
  constexpr std::size_t kSize = 2 * kGiB;
  Allocator pages;
  ASSERT_THAT(pages.Init(kBase, kSize), IsOk());
  // The whole region is usable: nothing is lost to the 1 GiB boundary.
  EXPECT_EQ(pages.TotalPages(), kSize / kPage);

  for (std::size_t n = 1; n <= 1000; n *= 10) {
    SCOPED_TRACE(::testing::Message() << n << " pages");
    EXPECT_EQ(pages.UsedPages(), 0u);
    ASSERT_OK_AND_ASSIGN(std::uintptr_t addr, pages.AllocPages(n, kPage));
    EXPECT_EQ(addr, kBase);
    EXPECT_EQ(pages.UsedPages(), n);
    EXPECT_THAT(pages.DeallocPages(addr, n), IsOk());
  }

  // Aligned allocations, one at a time: 1 page at 4 KiB, 10 at 2 MiB, 100 at
  // 1 GiB.
  struct Case {
    std::size_t n;
    std::size_t align;
    std::uintptr_t expected;
  };
  const Case cases[] = {{1, 4 * kKiB, kBase},
                        {10, 2 * kMiB, kGiB + 2 * kMiB},
                        {100, kGiB, 2 * kGiB}};
  for (const Case& c : cases) {
    SCOPED_TRACE(::testing::Message() << c.n << " pages at " << c.align);
    ASSERT_OK_AND_ASSIGN(std::uintptr_t addr, pages.AllocPages(c.n, c.align));
    EXPECT_EQ(addr % c.align, 0u);
    EXPECT_EQ(addr, c.expected);
    EXPECT_EQ(pages.UsedPages(), c.n);
    EXPECT_THAT(pages.DeallocPages(addr, c.n), IsOk());
    EXPECT_EQ(pages.UsedPages(), 0u);
  }

  // The same three held together.
  std::vector<std::uintptr_t> held;
  for (const Case& c : cases) {
    ASSERT_OK_AND_ASSIGN(std::uintptr_t addr, pages.AllocPages(c.n, c.align));
    EXPECT_EQ(addr, c.expected);
    held.push_back(addr);
  }
  EXPECT_EQ(pages.UsedPages(), 111u);
  for (std::size_t i = 0; i < held.size(); ++i) {
    EXPECT_THAT(pages.DeallocPages(held[i], cases[i].n), IsOk());
  }
  EXPECT_EQ(pages.UsedPages(), 0u);

  // AllocPagesAt takes exactly the range asked for, or fails.
  ASSERT_OK_AND_ASSIGN(std::uintptr_t at, pages.AllocPagesAt(kBase, 10, kPage));
  EXPECT_EQ(at, kBase);
  EXPECT_EQ(pages.UsedPages(), 10u);
  EXPECT_THAT(pages.AllocPagesAt(kBase + 9 * kPage, 2, kPage),
              IsAllocError(AllocError::kNoMemory));
  // kBase is not 2 MiB-aligned.
  EXPECT_THAT(pages.AllocPagesAt(kBase, 1, 2 * kMiB),
              IsAllocError(AllocError::kInvalidParam));
  ASSERT_OK_AND_ASSIGN(std::uintptr_t gib,
                       pages.AllocPagesAt(2 * kGiB, 100, kGiB));
  EXPECT_EQ(gib, 2 * kGiB);
  EXPECT_EQ(pages.UsedPages(), 110u);
  // The next plain allocation goes right after the first range.
  ASSERT_OK_AND_ASSIGN(std::uintptr_t next, pages.AllocPages(1, kPage));
  EXPECT_EQ(next, kBase + 10 * kPage);
  // The last page is managed; one past it is not.
  const std::uintptr_t last = kBase + kSize - kPage;
  EXPECT_THAT(pages.AllocPagesAt(last, 1, kPage), IsOk());
  EXPECT_THAT(pages.AllocPagesAt(last + kPage, 1, kPage),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(pages.AllocPagesAt(kGiB, 1, kPage),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(pages.UsedPages(), 112u);
}

// --- Faults of the seed, each fixed. ---

TEST(BitmapPageAllocatorTest, AlignmentIsHonouredForOnePage) {
  Allocator pages;
  ASSERT_THAT(pages.Init(kPage, 64 * kPage), IsOk());
  ASSERT_OK_AND_ASSIGN(std::uintptr_t a, pages.AllocPages(1, 4 * kPage));
  ASSERT_OK_AND_ASSIGN(std::uintptr_t b, pages.AllocPages(1, 4 * kPage));
  ASSERT_OK_AND_ASSIGN(std::uintptr_t c, pages.AllocPages(1, 32 * kPage));
  EXPECT_EQ(a, 4 * kPage);
  EXPECT_EQ(b, 8 * kPage);
  EXPECT_EQ(c, 32 * kPage);
  ASSERT_OK_AND_ASSIGN(std::uintptr_t d, pages.AllocPages(1, kPage));
  EXPECT_EQ(d, kPage);  // First fit without alignment is still the lowest.
  EXPECT_THAT(pages.AllocPages(1, 128 * kPage),
              IsAllocError(AllocError::kNoMemory));
}

TEST(BitmapPageAllocatorTest, DeallocIsAllOrNothing) {
  Allocator pages;
  ASSERT_THAT(pages.Init(0x10000, 16 * kPage), IsOk());
  ASSERT_OK_AND_ASSIGN(std::uintptr_t run, pages.AllocPages(4, kPage));
  ASSERT_EQ(run, 0x10000u);
  const auto all_four_allocated = [&] {
    for (std::size_t i = 0; i < 4; ++i) {
      if (!pages.IsAllocated(run + i * kPage)) return false;
    }
    return !pages.IsAllocated(run + 4 * kPage);
  };

  // Wrong count: one page too many.
  EXPECT_THAT(pages.DeallocPages(run, 5),
              IsAllocError(AllocError::kNotAllocated));
  EXPECT_TRUE(all_four_allocated());
  EXPECT_EQ(pages.UsedPages(), 4u);
  // Starting one page early.
  EXPECT_THAT(pages.DeallocPages(run - kPage, 2),
              IsAllocError(AllocError::kNotAllocated));
  EXPECT_TRUE(all_four_allocated());
  // Foreign address, misaligned address, zero count.
  EXPECT_THAT(pages.DeallocPages(0x7000'0000, 1),
              IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(pages.DeallocPages(run + 8, 1),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(pages.DeallocPages(run, 0),
              IsAllocError(AllocError::kInvalidParam));
  // A count that would run past the end of the address space.
  EXPECT_THAT(pages.DeallocPages(run, kMax),
              IsAllocError(AllocError::kNotAllocated));
  EXPECT_TRUE(all_four_allocated());
  EXPECT_EQ(pages.UsedPages(), 4u);

  // A hole in the middle makes the whole range fail.
  ASSERT_THAT(pages.DeallocPages(run + kPage, 1), IsOk());
  EXPECT_THAT(pages.DeallocPages(run, 4),
              IsAllocError(AllocError::kNotAllocated));
  EXPECT_TRUE(pages.IsAllocated(run));
  EXPECT_TRUE(pages.IsAllocated(run + 2 * kPage));
  EXPECT_EQ(pages.UsedPages(), 3u);

  // Part of a run may be freed; a double free is refused.
  EXPECT_THAT(pages.DeallocPages(run + 2 * kPage, 2), IsOk());
  EXPECT_THAT(pages.DeallocPages(run + 2 * kPage, 2),
              IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(pages.DeallocPages(run, 1), IsOk());
  EXPECT_THAT(pages.DeallocPages(run, 1),
              IsAllocError(AllocError::kNotAllocated));
  EXPECT_EQ(pages.UsedPages(), 0u);
}

TEST(BitmapPageAllocatorTest, AddMemoryFarApart) {
  Allocator pages;
  ASSERT_THAT(pages.Init(0x1000, 4 * kPage), IsOk());
  // 64 GiB at 64 TiB: 16M pages, none of them ever touched.
  constexpr std::uintptr_t kFar = 64 * kTiB;
  ASSERT_THAT(pages.AddMemory(kFar, 64 * kGiB), IsOk());
  // And one below the first, to check that regions are kept in address order.
  ASSERT_THAT(pages.AddMemory(0x100'0000'0000 - 2 * kPage, 2 * kPage), IsOk());
  EXPECT_EQ(pages.TotalPages(), 4u + 16u * kMiB + 2u);

  // Lowest address first; a run never spans regions.
  ASSERT_OK_AND_ASSIGN(std::uintptr_t low, pages.AllocPages(4, kPage));
  EXPECT_EQ(low, 0x1000u);
  ASSERT_OK_AND_ASSIGN(std::uintptr_t mid, pages.AllocPages(2, kPage));
  EXPECT_EQ(mid, 0x100'0000'0000 - 2 * kPage);
  ASSERT_OK_AND_ASSIGN(std::uintptr_t far, pages.AllocPages(1, kPage));
  EXPECT_EQ(far, kFar);
  // A 1 GiB-aligned 1 GiB run in the far region.
  ASSERT_OK_AND_ASSIGN(std::uintptr_t huge,
                       pages.AllocPages(kGiB / kPage, kGiB));
  EXPECT_EQ(huge, kFar + kGiB);
  EXPECT_EQ(pages.UsedPages(), 4u + 2u + 1u + kGiB / kPage);
  EXPECT_THAT(pages.DeallocPages(huge, kGiB / kPage), IsOk());

  // A run larger than any one region fails even though enough pages are free.
  ASSERT_THAT(pages.Init(0x1000, 4 * kPage), IsOk());
  // The second region touches the first.
  ASSERT_THAT(pages.AddMemory(0x5000, 4 * kPage), IsOk());
  EXPECT_EQ(pages.TotalPages(), 8u);
  EXPECT_THAT(pages.AllocPages(5, kPage), IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(pages.AllocPagesAt(0x4000, 2, kPage),
              IsAllocError(AllocError::kNoMemory));
  ASSERT_THAT(pages.AllocPagesAt(0x4000, 1, kPage), IsOk());
  ASSERT_THAT(pages.AllocPagesAt(0x5000, 1, kPage), IsOk());
  // Both pages are allocated, but in different regions: not one allocation.
  EXPECT_THAT(pages.DeallocPages(0x4000, 2),
              IsAllocError(AllocError::kNotAllocated));
  EXPECT_EQ(pages.UsedPages(), 2u);
}

TEST(BitmapPageAllocatorTest, OverlappingRegionIsRefused) {
  Allocator pages;
  ASSERT_THAT(pages.Init(0x10000, 0x10000), IsOk());
  EXPECT_THAT(pages.AddMemory(0x1f000, 0x2000),
              IsAllocError(AllocError::kMemoryOverlap));
  EXPECT_THAT(pages.AddMemory(0x8000, 0x100000),
              IsAllocError(AllocError::kMemoryOverlap));
  EXPECT_THAT(pages.AddMemory(0x10000, 0x10000),
              IsAllocError(AllocError::kMemoryOverlap));
  EXPECT_EQ(pages.TotalPages(), 16u);
  // Sharing only a partial page is fine: that page is trimmed away.
  EXPECT_THAT(pages.AddMemory(0x1f800, 0x2800), IsOk());
  EXPECT_EQ(pages.TotalPages(), 18u);
}

TEST(BitmapPageAllocatorTest, RegionsAreTrimmedToWholePages) {
  Allocator pages;
  ASSERT_THAT(pages.Init(0x1001, 0x2fff), IsOk());  // [0x1001, 0x4000)
  EXPECT_EQ(pages.TotalPages(), 2u);
  ASSERT_OK_AND_ASSIGN(std::uintptr_t first, pages.AllocPages(1, kPage));
  EXPECT_EQ(first, 0x2000u);

  // [0x1001, 0x2fff) holds no whole page.
  EXPECT_THAT(pages.Init(0x1001, 0x1ffe),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(pages.TotalPages(), 0u);  // A failed Init leaves nothing managed.
  EXPECT_THAT(pages.AllocPages(1, kPage), IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(pages.Init(0x1000, 0), IsAllocError(AllocError::kInvalidParam));
  // The end of this region wraps past the top of the address space.
  EXPECT_THAT(
      pages.Init(std::numeric_limits<std::uintptr_t>::max() - kPage, 3 * kPage),
      IsAllocError(AllocError::kInvalidParam));
}

TEST(BitmapPageAllocatorTest, RegionAtTheEndsOfTheAddressSpace) {
  Allocator pages;
  // Page 0 may be managed and handed out.
  ASSERT_THAT(pages.Init(0, 4 * kPage), IsOk());
  ASSERT_OK_AND_ASSIGN(std::uintptr_t zero, pages.AllocPages(1, kPage));
  EXPECT_EQ(zero, 0u);

  // The top 16 KiB reach the last address, which a half-open range cannot
  // end after: refused, not shortened. The 3 pages below it are fine.
  const std::uintptr_t top =
      std::numeric_limits<std::uintptr_t>::max() - 4 * kPage + 1;
  EXPECT_THAT(pages.Init(top, 4 * kPage),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(pages.TotalPages(), 0u);
  ASSERT_THAT(pages.Init(top, 3 * kPage), IsOk());
  EXPECT_EQ(pages.TotalPages(), 3u);
  ASSERT_OK_AND_ASSIGN(std::uintptr_t all, pages.AllocPages(3, kPage));
  EXPECT_EQ(all, top);
  EXPECT_THAT(pages.AllocPagesAt(top + 3 * kPage, 1, kPage),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(pages.DeallocPages(top, 3), IsOk());
  EXPECT_THAT(pages.AllocPagesAt(top + 2 * kPage, 2, kPage),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(pages.UsedPages(), 0u);
}

TEST(BitmapPageAllocatorTest, BadRequestsAreInvalidParam) {
  Allocator pages;
  ASSERT_THAT(pages.Init(0x1000, 16 * kPage), IsOk());
  EXPECT_THAT(pages.AllocPages(0, kPage),
              IsAllocError(AllocError::kInvalidParam));
  for (std::size_t align : {std::size_t{0}, std::size_t{1}, std::size_t{2048},
                            3 * kPage, kPage + 1}) {
    EXPECT_THAT(pages.AllocPages(1, align),
                IsAllocError(AllocError::kInvalidParam))
        << align;
    EXPECT_THAT(pages.AllocPagesAt(0x2000, 1, align),
                IsAllocError(AllocError::kInvalidParam))
        << align;
  }
  EXPECT_THAT(pages.AllocPagesAt(0x2000, 0, kPage),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(pages.AllocPagesAt(0x2800, 1, kPage),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(pages.AllocPages(17, kPage), IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(pages.AllocPages(kMax, kPage),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(pages.UsedPages(), 0u);
}

TEST(BitmapPageAllocatorTest, InitForgetsEverything) {
  Allocator pages;
  ASSERT_THAT(pages.Init(0x1000, 8 * kPage), IsOk());
  ASSERT_THAT(pages.AddMemory(0x100000, 8 * kPage), IsOk());
  ASSERT_THAT(pages.AllocPages(3, kPage), IsOk());
  // The new region overlaps the old one.
  ASSERT_THAT(pages.Init(0x100000, 8 * kPage), IsOk());
  EXPECT_EQ(pages.TotalPages(), 8u);
  EXPECT_EQ(pages.UsedPages(), 0u);
  EXPECT_FALSE(pages.IsAllocated(0x1000));
  EXPECT_THAT(pages.DeallocPages(0x1000, 3),
              IsAllocError(AllocError::kNotAllocated));
}

TEST(BitmapPageAllocatorTest, CallerGivenStorage) {
  constexpr std::uintptr_t kBase = 0x40'0000'0000 + 5 * kPage;
  constexpr std::size_t kSize = 1000 * kPage;
  // 5 padding bits + 1000 pages = 1005 bits: 16 leaf words, 1 + 1 summary
  // words.
  EXPECT_EQ(Allocator::StorageWords(kBase, kSize), 18u);
  EXPECT_EQ(Allocator::StorageWords(0x1001, 0x1000), 0u);  // No whole page.

  std::vector<std::uint64_t> storage(19, 0x5a5a5a5a5a5a5a5a);
  Allocator pages;
  EXPECT_THAT(pages.InitWithStorage(
                  kBase, kSize, std::span<std::uint64_t>(storage.data(), 17)),
              IsAllocError(AllocError::kInvalidParam));
  ASSERT_THAT(pages.InitWithStorage(
                  kBase, kSize, std::span<std::uint64_t>(storage.data(), 18)),
              IsOk());
  EXPECT_EQ(storage[18], 0x5a5a5a5a5a5a5a5au);  // Nothing written past the end.
  EXPECT_EQ(pages.TotalPages(), 1000u);
  ASSERT_OK_AND_ASSIGN(std::uintptr_t run, pages.AllocPages(1000, kPage));
  EXPECT_EQ(run, kBase);
  // The bitmap really lives in the storage: every leaf bit is now "used".
  for (std::size_t i = 0; i < 16; ++i) EXPECT_EQ(storage[i], 0u) << i;
  EXPECT_EQ(storage[18], 0x5a5a5a5a5a5a5a5au);

  // A second region with its own storage.
  std::vector<std::uint64_t> more(Allocator::StorageWords(0x1000, kPage));
  ASSERT_THAT(pages.AddMemoryWithStorage(0x1000, kPage, more), IsOk());
  EXPECT_THAT(pages.AddMemoryWithStorage(0x1000, kPage, more),
              IsAllocError(AllocError::kMemoryOverlap));
  ASSERT_OK_AND_ASSIGN(std::uintptr_t one, pages.AllocPages(1, kPage));
  EXPECT_EQ(one, 0x1000u);
}

TEST(BitmapPageAllocatorTest, OtherPageSizes) {
  BitmapPageAllocator<16384> pages;
  EXPECT_EQ(pages.PageSize(), 16384u);
  // Trimmed to [16K, 1M + 4K).
  ASSERT_THAT(pages.Init(0x1000, 0x100000), IsOk());
  EXPECT_EQ(pages.TotalPages(), 63u);
  EXPECT_THAT(pages.AllocPages(1, kPage),
              IsAllocError(AllocError::kInvalidParam));
  ASSERT_OK_AND_ASSIGN(std::uintptr_t a, pages.AllocPages(2, 65536));
  EXPECT_EQ(a, 65536u);
  EXPECT_THAT(pages.DeallocPages(a + kPage, 1),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(pages.DeallocPages(a, 2), IsOk());
}

// --- Random operations checked against an independent model. ---

// Runs `ops` random operations on a few regions, mirroring each in a
// IntervalModel and checking after every step that the allocator agrees with
// it.
class RandomPageTest {
 public:
  explicit RandomPageTest(std::uint64_t seed) : rng_(seed) {}

  void Run(int ops) {
    ASSERT_NO_FATAL_FAILURE(SetUpRegions());
    for (step_ = 0; step_ < ops; ++step_) {
      ASSERT_NO_FATAL_FAILURE(Step());
      ASSERT_EQ(pages_.UsedPages(), model_.used()) << "step " << step_;
      ASSERT_EQ(pages_.TotalPages(), model_.total()) << "step " << step_;
      if (step_ % 1000 == 999) {
        ASSERT_NO_FATAL_FAILURE(CheckEveryPage());
      }
    }
    ASSERT_NO_FATAL_FAILURE(CheckEveryPage());
    // Free everything that is left, region by region (the model merges used
    // intervals across touching regions); the allocator must end empty.
    for (const IntervalModel::Range& used : model_.UsedIntervals()) {
      for (const IntervalModel::Range& range : model_.ranges()) {
        const std::uintptr_t first = std::max(used.first, range.first);
        const std::uintptr_t end = std::min(used.end, range.end);
        if (first >= end) continue;
        ASSERT_THAT(pages_.DeallocPages(first * kPage, end - first), IsOk())
            << "cleanup of " << first * kPage;
      }
    }
    ASSERT_EQ(pages_.UsedPages(), 0u);
  }

 private:
  std::size_t Uniform(std::size_t lo, std::size_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_);
  }

  // Mostly small counts, sometimes larger than a bitmap word.
  std::size_t RandomCount() {
    const std::size_t kind = Uniform(0, 99);
    if (kind < 70) return Uniform(1, 8);
    if (kind < 95) return Uniform(9, 130);
    return Uniform(131, 700);
  }

  // Mostly page alignment, sometimes up to 4096 pages (16 MiB).
  std::size_t RandomAlignBytes() {
    const std::size_t kind = Uniform(0, 9);
    const std::size_t shift = kind < 6   ? 0
                              : kind < 9 ? Uniform(1, 6)
                                         : Uniform(7, 12);
    return kPage << shift;
  }

  void SetUpRegions() {
    // 1 to 4 regions, far apart or touching, not 64-page aligned.
    const int regions = static_cast<int>(Uniform(1, 4));
    std::uintptr_t next = Uniform(0, 3) * kGiB + Uniform(1, 200) * kPage;
    for (int i = 0; i < regions; ++i) {
      const std::size_t num_pages = Uniform(1, 3000);
      // Sometimes ragged ends that trimming must remove.
      const std::uintptr_t head =
          Uniform(0, 3) == 0 ? Uniform(1, kPage - 1) : 0;
      const std::uintptr_t tail =
          Uniform(0, 3) == 0 ? Uniform(1, kPage - 1) : 0;
      const std::uintptr_t start = next - head;
      const std::size_t size = head + num_pages * kPage + tail;
      ASSERT_THAT(
          i == 0 ? pages_.Init(start, size) : pages_.AddMemory(start, size),
          IsOk());
      model_.AddRange(next / kPage, next / kPage + num_pages);
      next += num_pages * kPage;
      if (Uniform(0, 2) != 0) next += Uniform(1, 1u << 20) * kPage;
    }
  }

  // Returns a page-aligned address: near a used interval, in a region, or
  // anywhere, so that requests both succeed and fail.
  std::uintptr_t RandomAddress() {
    const std::size_t kind = Uniform(0, 9);
    if (kind < 5) {
      if (std::optional<IntervalModel::Range> pick = RandomUsedInterval()) {
        const std::uintptr_t page =
            Uniform(0, 1) == 0 ? pick->first
                               : Uniform(pick->first - std::min<std::uintptr_t>(
                                                           pick->first, 2),
                                         pick->end + 1);
        return page * kPage;
      }
    }
    if (kind < 9) {
      const IntervalModel::Range& range = RandomRange();
      return Uniform(range.first, range.end) * kPage;
    }
    return Uniform(0, 4 * kGiB / kPage) * kPage;
  }

  const IntervalModel::Range& RandomRange() {
    const auto& ranges = model_.ranges();
    return ranges[Uniform(0, ranges.size() - 1)];
  }

  // Returns a used interval near a random managed page, or nullopt if none.
  std::optional<IntervalModel::Range> RandomUsedInterval() {
    const IntervalModel::Range& range = RandomRange();
    std::optional<IntervalModel::Range> pick =
        model_.UsedIntervalAfter(Uniform(range.first, range.end - 1));
    return pick.has_value() ? pick : model_.UsedIntervalAfter(0);
  }

  void Step() {
    const bool mostly_full = model_.used() * 10 > model_.total() * 7;
    const std::size_t kind = Uniform(0, 99);
    if (kind < (mostly_full ? 20u : 45u)) {
      DoAllocPages();
    } else if (kind < 55) {
      DoAllocPagesAt();
    } else if (kind < 85) {
      DoValidFree();
    } else {
      DoAnyFree();
    }
  }

  void DoAllocPages() {
    const std::size_t n = RandomCount();
    const std::size_t align = RandomAlignBytes();
    const std::optional<std::uintptr_t> expected =
        model_.FirstFit(n, align / kPage);
    absl::StatusOr<std::uintptr_t> got = pages_.AllocPages(n, align);
    if (!expected.has_value()) {
      ASSERT_THAT(got, IsAllocError(AllocError::kNoMemory))
          << "step " << step_ << ": AllocPages(" << n << ", " << align
          << ") should fail";
      return;
    }
    ASSERT_THAT(got, IsOk())
        << "step " << step_ << ": AllocPages(" << n << ", " << align << ")";
    // Independent of the model's answer: aligned, managed, not overlapping.
    ASSERT_EQ(*got % align, 0u) << "step " << step_;
    ASSERT_TRUE(model_.CanAllocateAt(*got / kPage, n))
        << "step " << step_ << ": " << *got << " is taken or unmanaged";
    ASSERT_EQ(*got, *expected * kPage) << "step " << step_ << ": not first fit";
    model_.MarkUsed(*got / kPage, n);
  }

  void DoAllocPagesAt() {
    const std::size_t n = RandomCount();
    const std::size_t align = Uniform(0, 3) == 0 ? RandomAlignBytes() : kPage;
    const std::uintptr_t base = RandomAddress();
    absl::StatusOr<std::uintptr_t> got = pages_.AllocPagesAt(base, n, align);
    if (base % align != 0) {
      ASSERT_THAT(got, IsAllocError(AllocError::kInvalidParam))
          << "step " << step_;
    } else if (model_.CanAllocateAt(base / kPage, n)) {
      ASSERT_THAT(got, IsOk()) << "step " << step_;
      ASSERT_EQ(*got, base);
      model_.MarkUsed(base / kPage, n);
    } else {
      ASSERT_THAT(got, IsAllocError(AllocError::kNoMemory)) << "step " << step_;
    }
    ASSERT_NO_FATAL_FAILURE(CheckPages(base / kPage, n));
  }

  // Frees all or part of a used interval.
  void DoValidFree() {
    const std::optional<IntervalModel::Range> pick = RandomUsedInterval();
    if (!pick.has_value()) return;
    // Intervals are merged in the model, so one may span two touching regions;
    // pick a sub-range inside one region.
    std::uintptr_t first = Uniform(pick->first, pick->end - 1);
    std::size_t n = Uniform(1, pick->end - first);
    while (n > 0 && !model_.CanFree(first, n)) --n;
    if (n == 0) return;
    ASSERT_THAT(pages_.DeallocPages(first * kPage, n), IsOk())
        << "step " << step_ << ": DeallocPages(" << first * kPage << ", " << n
        << ")";
    model_.MarkFree(first, n);
    ASSERT_NO_FATAL_FAILURE(CheckPages(first, n));
  }

  // Frees an arbitrary range: double frees, wrong counts, foreign and
  // misaligned addresses, and now and then a valid one.
  void DoAnyFree() {
    std::uintptr_t pos = RandomAddress();
    if (Uniform(0, 9) == 0) pos += Uniform(1, kPage - 1);
    const std::size_t n = Uniform(0, 20) == 0 ? 0 : RandomCount();
    const absl::Status status = pages_.DeallocPages(pos, n);
    if (pos % kPage != 0 || n == 0) {
      ASSERT_THAT(status, IsAllocError(AllocError::kInvalidParam))
          << "step " << step_;
      return;
    }
    if (model_.CanFree(pos / kPage, n)) {
      ASSERT_THAT(status, IsOk()) << "step " << step_;
      model_.MarkFree(pos / kPage, n);
    } else {
      ASSERT_THAT(status, IsAllocError(AllocError::kNotAllocated))
          << "step " << step_ << ": DeallocPages(" << pos << ", " << n << ")";
    }
    // A refused free must have changed nothing.
    ASSERT_NO_FATAL_FAILURE(CheckPages(pos / kPage, n));
  }

  // Checks that pages [first - 1, first + n] are allocated exactly when the
  // model says so.
  void CheckPages(std::uintptr_t first, std::size_t n) {
    const std::uintptr_t lo = first == 0 ? 0 : first - 1;
    for (std::uintptr_t page = lo; page <= first + n; ++page) {
      ASSERT_EQ(pages_.IsAllocated(page * kPage), model_.IsUsed(page))
          << "step " << step_ << ": page " << page * kPage;
    }
  }

  void CheckEveryPage() {
    for (const IntervalModel::Range& range : model_.ranges()) {
      for (std::uintptr_t page = range.first; page < range.end; ++page) {
        ASSERT_EQ(pages_.IsAllocated(page * kPage), model_.IsUsed(page))
            << "step " << step_ << ": page " << page * kPage;
      }
    }
  }

  std::mt19937_64 rng_;
  Allocator pages_;
  IntervalModel model_;
  int step_ = 0;
};

TEST(BitmapPageAllocatorTest, RandomOperationsMatchIntervalModel) {
  // 200k operations in all.
  RunEverySeed<RandomPageTest>(/*seeds=*/40, /*ops_per_seed=*/5000);
}

}  // namespace
}  // namespace heapkit
