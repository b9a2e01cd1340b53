#include "adapters/growing_allocator.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/bitmap/bitmap_page_allocator.h"
#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/alloc_error.h"
#include "core/layout.h"
#include "core/region.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"
#include "tests/shadow_model.h"

namespace heapkit {
namespace {

using testing::Arena;
using ::testing::HasSubstr;
using testing::IsAllocError;
using testing::IsOk;
using testing::kKiB;
using testing::kMax;
using testing::kMiB;

using Pages = BitmapPageAllocator<>;
constexpr std::size_t kPage = 4096;

template <class Byte>
using Growing = GrowingAllocator<Byte, Pages>;

static_assert(!std::is_default_constructible_v<Growing<TlsfByteAllocator>>,
              "a GrowingAllocator needs its page allocator");
static_assert(ByteBackend<Growing<TlsfByteAllocator>>);

// A page allocator over an arena of its own, which the tests grow from.
class PagesOverArena {
 public:
  explicit PagesOverArena(std::size_t size) : arena_(size) {
    EXPECT_TRUE(arena_.ok());
    EXPECT_THAT(pages_.Init(arena_.start(), arena_.size()), IsOk());
  }

  Pages& pages() { return pages_; }
  const Arena& arena() const { return arena_; }

 private:
  Arena arena_;
  Pages pages_;
};

// Returns the bytes of all the runs `heap` took.
template <class Byte>
std::size_t RunBytes(const Growing<Byte>& heap) {
  std::size_t bytes = 0;
  for (const auto& run : heap.page_runs()) bytes += run.num_pages * kPage;
  return bytes;
}

template <class Byte>
std::size_t RunPages(const Growing<Byte>& heap) {
  return RunBytes(heap) / kPage;
}

std::size_t PagesFor(std::size_t bytes) { return (bytes + kPage - 1) / kPage; }

// The tests that hold for every byte allocator in HeapKit that needs no more
// than MinGrowthBytes in a fresh region.
template <class Byte>
class GrowingAllocatorTest : public ::testing::Test {
 protected:
  GrowingAllocatorTest() : pool_(64 * kMiB), heap_(pool_.pages()) {}

  Pages& pages() { return pool_.pages(); }

  void ExpectConsistent() {
    EXPECT_THAT(heap_.CheckInvariants(), IsOk());
    EXPECT_EQ(heap_.UsedBytes() + heap_.AvailableBytes(), heap_.TotalBytes());
    EXPECT_LE(heap_.TotalBytes(), RunBytes(heap_));
    EXPECT_EQ(pages().UsedPages(), RunPages(heap_));
  }

  PagesOverArena pool_;
  Growing<Byte> heap_;
};

using ByteAllocators = ::testing::Types<TlsfByteAllocator, BuddyByteAllocator>;
TYPED_TEST_SUITE(GrowingAllocatorTest, ByteAllocators);

TYPED_TEST(GrowingAllocatorTest, StartsEmptyAndGrowsOnTheFirstAlloc) {
  EXPECT_EQ(this->heap_.TotalBytes(), 0u);
  EXPECT_TRUE(this->heap_.page_runs().empty());
  ASSERT_OK_AND_ASSIGN(void* block, this->heap_.Alloc(Layout{100, 8}));
  EXPECT_EQ(this->heap_.page_runs().size(), 1u);
  EXPECT_GE(this->heap_.UsedBytes(), 100u);
  EXPECT_EQ(this->heap_.page_runs()[0].num_pages,
            PagesFor(Growing<TypeParam>::MinGrowthBytes(Layout{100, 8})));
  this->ExpectConsistent();
  this->heap_.Dealloc(block, Layout{100, 8});
  EXPECT_EQ(this->heap_.UsedBytes(), 0u);
  this->ExpectConsistent();
}

// The retry after one growth always succeeds: MinGrowthBytes is enough for
// every size and alignment, on an empty heap (where the doubling adds nothing).
TYPED_TEST(GrowingAllocatorTest, OneGrowthServesAnyRequestOnAnEmptyHeap) {
  for (std::size_t align = 1; align <= 4 * kMiB; align *= 4) {
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, align, align + 1, 3 * align + 5,
          std::size_t{1000}, 256 * kKiB + 1, 2 * kMiB + 1}) {
      SCOPED_TRACE(::testing::Message()
                   << "size " << size << " align " << align);
      PagesOverArena pool(64 * kMiB);
      Growing<TypeParam> heap(pool.pages());
      const Layout layout{size, align};
      absl::StatusOr<void*> block = heap.Alloc(layout);
      ASSERT_THAT(block, IsOk());
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(*block) % align, 0u);
      ASSERT_EQ(heap.page_runs().size(), 1u);
      const auto run = heap.page_runs()[0];
      EXPECT_EQ(run.num_pages,
                PagesFor(Growing<TypeParam>::MinGrowthBytes(layout)));
      EXPECT_EQ(run.start % heap.RunAlignment(layout, run.num_pages * kPage),
                0u);
      const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(*block);
      EXPECT_GE(address, run.start);
      EXPECT_LE(address + size, run.start + run.num_pages * kPage);
      heap.Dealloc(*block, layout);
      EXPECT_THAT(heap.CheckInvariants(), IsOk());
    }
  }
}

TYPED_TEST(GrowingAllocatorTest, GrowsOnlyWhenTheHeapIsFull) {
  ASSERT_THAT(this->heap_.Grow(64 * kKiB), IsOk());
  ASSERT_EQ(this->heap_.page_runs().size(), 1u);
  std::vector<void*> blocks;
  // 64 KiB holds more than 16 blocks of 1 KiB on every backend: no growth.
  for (int i = 0; i < 16; ++i) {
    ASSERT_OK_AND_ASSIGN(void* block, this->heap_.Alloc(Layout{kKiB, 8}));
    blocks.push_back(block);
  }
  EXPECT_EQ(this->heap_.page_runs().size(), 1u);
  // Filling it forces exactly one growth, whichever block does it.
  while (this->heap_.page_runs().size() == 1) {
    ASSERT_OK_AND_ASSIGN(void* block, this->heap_.Alloc(Layout{kKiB, 8}));
    blocks.push_back(block);
  }
  EXPECT_EQ(this->heap_.page_runs().size(), 2u);
  EXPECT_GE(blocks.size(), 48u);
  this->ExpectConsistent();
  for (void* block : blocks) this->heap_.Dealloc(block, Layout{kKiB, 8});
  EXPECT_EQ(this->heap_.UsedBytes(), 0u);
  this->ExpectConsistent();
}

TYPED_TEST(GrowingAllocatorTest, GrowsByDoubling) {
  ASSERT_THAT(this->heap_.Grow(64 * kKiB), IsOk());
  std::vector<void*> blocks;
  for (int growth = 1; growth <= 5; ++growth) {
    SCOPED_TRACE(::testing::Message() << "growth " << growth);
    const std::size_t total_before = this->heap_.TotalBytes();
    while (this->heap_.page_runs().size() == static_cast<std::size_t>(growth)) {
      ASSERT_OK_AND_ASSIGN(void* block, this->heap_.Alloc(Layout{kKiB, 8}));
      blocks.push_back(block);
    }
    // Each growth adds the whole heap again, in whole pages.
    EXPECT_EQ(this->heap_.page_runs().back().num_pages, PagesFor(total_before));
    // Less what the new region's metadata takes (buddy: 1/64 and a header).
    EXPECT_GT(this->heap_.TotalBytes(), total_before / 10 * 19);
  }
  this->ExpectConsistent();
  for (void* block : blocks) this->heap_.Dealloc(block, Layout{kKiB, 8});
  EXPECT_EQ(this->heap_.UsedBytes(), 0u);
}

TYPED_TEST(GrowingAllocatorTest, GrowsForARequestLargerThanTheDoubling) {
  ASSERT_THAT(this->heap_.Grow(64 * kKiB), IsOk());
  const Layout big{3 * kMiB, 16};
  ASSERT_OK_AND_ASSIGN(void* block, this->heap_.Alloc(big));
  ASSERT_EQ(this->heap_.page_runs().size(), 2u);
  EXPECT_EQ(this->heap_.page_runs()[1].num_pages,
            PagesFor(Growing<TypeParam>::MinGrowthBytes(big)));
  EXPECT_GT(this->heap_.TotalBytes(), 3 * kMiB);
  // The block is usable memory.
  std::fill_n(static_cast<char*>(block), big.size, 'x');
  this->ExpectConsistent();
  this->heap_.Dealloc(block, big);
  EXPECT_EQ(this->heap_.UsedBytes(), 0u);
}

// A doubling run at least twice MinGrowthBytes stays page-aligned, and still
// holds the request's power of two aligned to itself.
TYPED_TEST(GrowingAllocatorTest, LargeRequestFitsInAPageAlignedDoublingRun) {
  ASSERT_THAT(this->heap_.Grow(6 * kMiB), IsOk());
  // Take pages so that the next run starts one page past a 1 MiB boundary.
  const auto& first = this->heap_.page_runs()[0];
  std::uintptr_t next = first.start + first.num_pages * kPage;
  while (next % kMiB != kPage) {
    ASSERT_THAT(this->pages().AllocPagesAt(next, 1, kPage), IsOk());
    next += kPage;
  }
  const Layout layout{kMiB, 8};
  std::vector<void*> blocks;
  while (this->heap_.page_runs().size() == 1) {
    ASSERT_OK_AND_ASSIGN(void* block, this->heap_.Alloc(layout));
    blocks.push_back(block);
  }
  const auto& run = this->heap_.page_runs()[1];
  EXPECT_EQ(run.start, next);
  EXPECT_GE(run.num_pages * kPage,
            2 * Growing<TypeParam>::MinGrowthBytes(layout));
  EXPECT_EQ(this->heap_.RunAlignment(layout, run.num_pages * kPage), kPage);
  for (void* block : blocks) this->heap_.Dealloc(block, layout);
  EXPECT_EQ(this->heap_.UsedBytes(), 0u);
  EXPECT_THAT(this->heap_.CheckInvariants(), IsOk());
}

TYPED_TEST(GrowingAllocatorTest, LargeAlignmentsWorkAfterGrowth) {
  ASSERT_THAT(this->heap_.Grow(64 * kKiB), IsOk());
  std::vector<std::pair<void*, Layout>> blocks;
  for (std::size_t align = 16; align <= 2 * kMiB; align *= 2) {
    const Layout layout{align / 2 + 3, align};
    ASSERT_OK_AND_ASSIGN(void* block, this->heap_.Alloc(layout));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % align, 0u) << align;
    blocks.emplace_back(block, layout);
  }
  EXPECT_GT(this->heap_.page_runs().size(), 1u);
  this->ExpectConsistent();
  for (auto [block, layout] : blocks) this->heap_.Dealloc(block, layout);
  EXPECT_EQ(this->heap_.UsedBytes(), 0u);
  this->ExpectConsistent();
}

TYPED_TEST(GrowingAllocatorTest, FailsCleanlyWhenPagesRunOutAndKeepsWorking) {
  PagesOverArena pool(kMiB);
  Growing<TypeParam> heap(pool.pages());
  std::vector<void*> blocks;
  absl::StatusOr<void*> block;
  while ((block = heap.Alloc(Layout{8 * kKiB, 8})).ok()) {
    blocks.push_back(*block);
  }
  EXPECT_THAT(block, IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(block.status().message(), HasSubstr("GrowingAllocator::Alloc"));
  EXPECT_GE(blocks.size(), 64u);  // At least half of the 1 MiB.
  const std::size_t runs = heap.page_runs().size();
  const std::size_t total = heap.TotalBytes();
  EXPECT_THAT(heap.Alloc(Layout{2 * kMiB, 8}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(heap.Alloc(Layout{kMax / 2 + 1, 1}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(heap.Alloc(Layout{16, std::size_t{1} << 63}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(heap.page_runs().size(), runs);
  EXPECT_EQ(heap.TotalBytes(), total);
  EXPECT_THAT(heap.CheckInvariants(), IsOk());
  // Still usable: freed memory serves new requests, with no more growth.
  heap.Dealloc(blocks.back(), Layout{8 * kKiB, 8});
  ASSERT_OK_AND_ASSIGN(blocks.back(), heap.Alloc(Layout{8 * kKiB, 8}));
  for (void* p : blocks) heap.Dealloc(p, Layout{8 * kKiB, 8});
  EXPECT_EQ(heap.UsedBytes(), 0u);
  EXPECT_EQ(heap.page_runs().size(), runs);
  EXPECT_THAT(heap.CheckInvariants(), IsOk());
}

TYPED_TEST(GrowingAllocatorTest, InvalidLayoutDoesNotGrow) {
  EXPECT_THAT(this->heap_.Alloc(Layout{16, 3}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(this->heap_.Alloc(Layout{kMax, 64}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_TRUE(this->heap_.page_runs().empty());
  EXPECT_EQ(this->pages().UsedPages(), 0u);
}

// The doubling is capped at the free pages, and when no run that large is
// free, the minimum is taken instead.
TYPED_TEST(GrowingAllocatorTest, CapsTheDoublingAndFallsBackToTheMinimum) {
  PagesOverArena pool(kMiB);  // 256 pages.
  Pages& pages = pool.pages();
  Growing<TypeParam> heap(pages);
  ASSERT_THAT(heap.Grow(512 * kKiB), IsOk());  // 128 pages; 128 left.
  // Split the free pages into runs of 60 and 67.
  const std::uintptr_t hole = pool.arena().start() + (128 + 60) * kPage;
  ASSERT_THAT(pages.AllocPagesAt(hole, 1, kPage), IsOk());
  // Fill the heap with blocks of 8 KiB (no growth yet: 512 KiB holds them).
  std::vector<std::pair<void*, Layout>> blocks;
  for (std::size_t i = 0; i < 40; ++i) {
    ASSERT_OK_AND_ASSIGN(void* block, heap.Alloc(Layout{8 * kKiB, 8}));
    blocks.emplace_back(block, Layout{8 * kKiB, 8});
  }
  ASSERT_EQ(heap.page_runs().size(), 1u);
  // The doubling (128 pages, capped at the 127 free) has no run: the minimum
  // for 100 KiB is taken.
  const Layout request{100 * kKiB, 8};
  while (heap.page_runs().size() == 1) {
    ASSERT_OK_AND_ASSIGN(void* block, heap.Alloc(request));
    blocks.emplace_back(block, request);
  }
  EXPECT_EQ(heap.page_runs()[1].num_pages,
            PagesFor(Growing<TypeParam>::MinGrowthBytes(request)));
  EXPECT_LT(heap.page_runs()[1].num_pages, 60u);
  EXPECT_THAT(heap.CheckInvariants(), IsOk());
  for (auto [block, layout] : blocks) heap.Dealloc(block, layout);
  EXPECT_EQ(heap.UsedBytes(), 0u);
  ASSERT_THAT(pages.DeallocPages(hole, 1), IsOk());
}

TYPED_TEST(GrowingAllocatorTest, TakesTheFreePagesWhenTheDoublingExceedsThem) {
  PagesOverArena pool(kMiB);  // 256 pages.
  Growing<TypeParam> heap(pool.pages());
  ASSERT_THAT(heap.Grow(640 * kKiB), IsOk());  // 160 pages; 96 left.
  std::vector<void*> blocks;
  while (heap.page_runs().size() == 1) {
    ASSERT_OK_AND_ASSIGN(void* block, heap.Alloc(Layout{8 * kKiB, 8}));
    blocks.push_back(block);
  }
  EXPECT_EQ(heap.page_runs()[1].num_pages, 96u);
  EXPECT_EQ(pool.pages().AvailablePages(), 0u);
  for (void* block : blocks) heap.Dealloc(block, Layout{8 * kKiB, 8});
  EXPECT_EQ(heap.UsedBytes(), 0u);
}

TYPED_TEST(GrowingAllocatorTest, InitGivesThePagesBack) {
  ASSERT_OK_AND_ASSIGN(void* block, this->heap_.Alloc(Layout{kMiB, 8}));
  ASSERT_GT(this->pages().UsedPages(), 0u);
  Arena own(kMiB);
  ASSERT_THAT(this->heap_.Init(own.start(), own.size()), IsOk());
  EXPECT_TRUE(this->heap_.page_runs().empty());
  EXPECT_EQ(this->pages().UsedPages(), 0u);
  // The caller's region serves requests first, then the heap grows again.
  ASSERT_OK_AND_ASSIGN(block, this->heap_.Alloc(Layout{64 * kKiB, 8}));
  EXPECT_GE(reinterpret_cast<std::uintptr_t>(block), own.start());
  EXPECT_LT(reinterpret_cast<std::uintptr_t>(block), own.start() + own.size());
  EXPECT_TRUE(this->heap_.page_runs().empty());
  ASSERT_OK_AND_ASSIGN(void* grown, this->heap_.Alloc(Layout{2 * kMiB, 8}));
  EXPECT_EQ(this->heap_.page_runs().size(), 1u);
  this->heap_.Dealloc(grown, Layout{2 * kMiB, 8});
  this->heap_.Dealloc(block, Layout{64 * kKiB, 8});
  EXPECT_EQ(this->heap_.UsedBytes(), 0u);
  // A failed Init gives the pages back too, and leaves nothing managed.
  EXPECT_THAT(this->heap_.Init(own.start(), 0),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(this->pages().UsedPages(), 0u);
  EXPECT_EQ(this->heap_.TotalBytes(), 0u);
}

TYPED_TEST(GrowingAllocatorTest, DestructorGivesThePagesBack) {
  {
    Growing<TypeParam> heap(this->pages());
    ASSERT_THAT(heap.Alloc(Layout{kMiB, 8}), IsOk());
    ASSERT_THAT(heap.Grow(kMiB), IsOk());
    EXPECT_GT(this->pages().UsedPages(), 2 * kMiB / kPage);
  }
  EXPECT_EQ(this->pages().UsedPages(), 0u);
}

TYPED_TEST(GrowingAllocatorTest, GrowTakesWholePagesOrFailsWithoutChange) {
  EXPECT_THAT(this->heap_.Grow(0), IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(this->heap_.Grow(65 * kMiB), IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(this->heap_.Grow(kMax), IsAllocError(AllocError::kNoMemory));
  EXPECT_TRUE(this->heap_.page_runs().empty());
  ASSERT_THAT(this->heap_.Grow(kPage + 1), IsOk());
  ASSERT_EQ(this->heap_.page_runs().size(), 1u);
  EXPECT_EQ(this->heap_.page_runs()[0].num_pages, 2u);
  EXPECT_EQ(this->pages().UsedPages(), 2u);
  this->ExpectConsistent();
}

TYPED_TEST(GrowingAllocatorTest, RunTableFullIsNoMemory) {
  // Every other page is taken, so no two runs touch (a byte allocator may
  // join touching regions, which is fine, but then its region limit differs).
  using Heap = Growing<TypeParam>;
  for (std::size_t run = 0; run < Heap::kMaxPageRuns; ++run) {
    ASSERT_THAT(this->heap_.Grow(kPage), IsOk()) << run;
    ASSERT_THAT(this->pages().AllocPages(1, kPage), IsOk());
  }
  EXPECT_THAT(this->heap_.Grow(kPage), IsAllocError(AllocError::kNoMemory));
  const std::size_t runs = Heap::kMaxPageRuns;
  EXPECT_EQ(this->heap_.page_runs().size(), runs);
  EXPECT_EQ(this->pages().UsedPages(), 2 * runs);
  EXPECT_THAT(this->heap_.CheckInvariants(), IsOk());
}

// Random Alloc and Dealloc from an empty heap until the pages run out, with
// every block judged by the shadow model, whose regions are the runs taken.
TYPED_TEST(GrowingAllocatorTest, ShadowModelRandomStreamWithGrowth) {
  PagesOverArena pool(16 * kMiB);
  Growing<TypeParam> heap(pool.pages());
  testing::ShadowModel model;
  std::size_t runs_seen = 0;
  std::mt19937_64 rng(9);
  std::vector<void*> live;
  int exhaustions = 0;
  for (int step = 0; step < 200'000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const Layout layout{rng() % (rng() % 8 == 0 ? 256 * kKiB : 2 * kKiB),
                          std::size_t{1} << (rng() % 13)};
      absl::StatusOr<void*> block = heap.Alloc(layout);
      for (; runs_seen < heap.page_runs().size(); ++runs_seen) {
        const auto run = heap.page_runs()[runs_seen];
        model.AddRegion(Region{run.start, run.start + run.num_pages * kPage});
      }
      if (block.ok()) {
        ASSERT_TRUE(model.Allocated(*block, layout)) << "step " << step;
        live.push_back(*block);
      } else {
        ASSERT_THAT(block, IsAllocError(AllocError::kNoMemory));
        ++exhaustions;
        std::shuffle(live.begin(), live.end(), rng);
        while (live.size() > 100) {
          Layout freed;
          ASSERT_TRUE(model.Freeing(live.back(), freed));
          heap.Dealloc(live.back(), freed);
          live.pop_back();
        }
      }
    } else {
      const std::size_t index = rng() % live.size();
      std::swap(live[index], live.back());
      Layout freed;
      ASSERT_TRUE(model.Freeing(live.back(), freed));
      heap.Dealloc(live.back(), freed);
      live.pop_back();
    }
    ASSERT_EQ(heap.UsedBytes() + heap.AvailableBytes(), heap.TotalBytes());
    if (step % 8192 == 0) {
      ASSERT_THAT(heap.CheckInvariants(), IsOk());
    }
  }
  for (void* block : live) {
    Layout freed;
    ASSERT_TRUE(model.Freeing(block, freed));
    heap.Dealloc(block, freed);
  }
  EXPECT_EQ(heap.UsedBytes(), 0u);
  EXPECT_THAT(heap.CheckInvariants(), IsOk());
  EXPECT_GT(exhaustions, 10);
  EXPECT_GT(heap.page_runs().size(), 5u);
}

TEST(GrowingAllocatorTlsfTest, AdjacentRunsJoinIntoOneRegion) {
  PagesOverArena pool(64 * kMiB);
  Growing<TlsfByteAllocator> heap(pool.pages());
  std::vector<void*> blocks;
  while (heap.page_runs().size() < 6) {
    ASSERT_OK_AND_ASSIGN(void* block, heap.Alloc(Layout{kKiB, 8}));
    blocks.push_back(block);
  }
  // First fit hands out the runs one after another, and TLSF joins them.
  for (std::size_t i = 1; i < heap.page_runs().size(); ++i) {
    const auto& previous = heap.page_runs()[i - 1];
    EXPECT_EQ(heap.page_runs()[i].start,
              previous.start + previous.num_pages * kPage);
  }
  EXPECT_EQ(heap.wrapped().RegionCount(), 1u);
  // So a block may span two runs.
  const std::size_t total = heap.TotalBytes();
  for (void* block : blocks) heap.Dealloc(block, Layout{kKiB, 8});
  ASSERT_OK_AND_ASSIGN(void* whole, heap.Alloc(Layout{total - 64 * kKiB, 8}));
  EXPECT_EQ(heap.page_runs().size(), 6u);
  heap.Dealloc(whole, Layout{total - 64 * kKiB, 8});
  EXPECT_THAT(heap.CheckInvariants(), IsOk());
}

TEST(GrowingAllocatorBuddyTest, RoundsToPowersOfTwoAndStillFitsAfterGrowth) {
  PagesOverArena pool(64 * kMiB);
  Growing<BuddyByteAllocator> heap(pool.pages());
  ASSERT_THAT(heap.Grow(64 * kKiB), IsOk());
  // Takes a 2 MiB block: more than the doubling, and it must be 2 MiB-aligned
  // in the run.
  const Layout layout{kMiB + 1, 8};
  ASSERT_OK_AND_ASSIGN(void* block, heap.Alloc(layout));
  EXPECT_EQ(heap.page_runs().size(), 2u);
  EXPECT_EQ(heap.page_runs()[1].start % (2 * kMiB), 0u);
  EXPECT_EQ(heap.UsedBytes(), 2 * kMiB);
  heap.Dealloc(block, layout);
  EXPECT_EQ(heap.UsedBytes(), 0u);
  EXPECT_THAT(heap.CheckInvariants(), IsOk());
}

// Slab takes 64 KiB slabs, aligned to 64 KiB, from its backing allocator:
// from a first region of 256 KiB on, the doubling always has room for one.
TEST(GrowingAllocatorSlabTest, GrowsFromAQuarterMiBStart) {
  PagesOverArena pool(64 * kMiB);
  Growing<SlabByteAllocator<>> heap(pool.pages());
  ASSERT_THAT(heap.Grow(256 * kKiB), IsOk());
  std::vector<std::pair<void*, Layout>> blocks;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 5'000; ++i) {  // About 13 MiB.
    const Layout layout{
        rng() % 32 == 0 ? 4 * kKiB + rng() % (16 * kKiB) : rng() % 4096,
        std::size_t{1} << (rng() % 7)};
    ASSERT_OK_AND_ASSIGN(void* block, heap.Alloc(layout));
    blocks.emplace_back(block, layout);
  }
  EXPECT_GT(heap.page_runs().size(), 4u);
  EXPECT_THAT(heap.CheckInvariants(), IsOk());
  for (auto [block, layout] : blocks) heap.Dealloc(block, layout);
  EXPECT_EQ(heap.UsedBytes(), 0u);
  EXPECT_THAT(heap.CheckInvariants(), IsOk());
}

TEST(GrowingAllocatorDeathTest, PagesFreedBehindItsBackAbort) {
  PagesOverArena pool(kMiB);
  EXPECT_DEATH(
      {
        Growing<TlsfByteAllocator> heap(pool.pages());
        (void)heap.Grow(kPage);
        (void)pool.pages().DeallocPages(heap.page_runs()[0].start, 1);
      },
      "refused back 1 pages");
}

}  // namespace
}  // namespace heapkit
