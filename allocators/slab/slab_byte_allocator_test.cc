// Routing, placement and statistics of SlabByteAllocator: which layouts slabs
// serve and which go to the backing allocator, how objects are packed and
// aligned, and what UsedBytes() counts. Magazines and slab reuse are in
// slab_magazines_test.cc, the checks in slab_checks_test.cc, and the size-class
// arithmetic in internal/size_classes_test.cc.
#include "allocators/slab/slab_byte_allocator.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/internal/size_classes.h"
// Defines the members SlabByteAllocator<BuddyByteAllocator> instantiates.
#include "allocators/slab/slab_byte_allocator_impl.h"
#include "allocators/slab/slab_test_util.h"
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

using ::heapkit::testing::Addr;
using ::heapkit::testing::AllocMany;
using ::heapkit::testing::Arena;
using ::heapkit::testing::CheckAndFree;
using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::kMiB;
using ::heapkit::testing::ShadowModel;
using ::heapkit::testing::SlabTest;

using Slab = SlabByteAllocator<>;
constexpr std::size_t kSlabSize = Slab::kSlabSize;

// That ClassOfSize picks the smallest class holding a size is checked in
// internal/size_classes_test.cc.
TEST(SlabSizeClassForTest, AlignmentsUpTo16TakeTheClassOfTheSize) {
  for (std::size_t size = 0; size <= Slab::kMaxSmallSize; ++size) {
    for (std::size_t align : {1, 2, 4, 8, 16}) {
      EXPECT_EQ(Slab::SizeClassFor(Layout{size, align}),
                slab_internal::ClassOfSize(size))
          << size << " aligned to " << align;
    }
  }
}

TEST(SlabSizeClassForTest, LargerAlignmentsMapToClassesThatAreMultiples) {
  for (std::size_t align = 32; align <= 8192; align *= 2) {
    for (std::size_t size = 0; size <= Slab::kMaxSmallSize + 1; ++size) {
      const std::size_t c = Slab::SizeClassFor(Layout{size, align});
      const std::size_t rounded =
          (std::max<std::size_t>(size, 1) + align - 1) & ~(align - 1);
      if (rounded > Slab::kMaxSmallSize) {
        EXPECT_EQ(c, Slab::kLarge) << size << " aligned to " << align;
        continue;
      }
      ASSERT_LT(c, Slab::kNumSizeClasses) << size << " aligned to " << align;
      EXPECT_EQ(Slab::ClassSize(c) % align, 0u)
          << size << " aligned to " << align;
      EXPECT_GE(Slab::ClassSize(c), size);
    }
  }
}

TEST(SlabSizeClassForTest, LargeAndInvalidLayoutsGoToTheBacking) {
  EXPECT_EQ(Slab::SizeClassFor(Layout{4097, 1}), Slab::kLarge);
  EXPECT_EQ(Slab::SizeClassFor(Layout{16, 3}), Slab::kLarge);  // Invalid.
  EXPECT_EQ(Slab::SizeClassFor(Layout{16, 8192}), Slab::kLarge);
}

TEST_F(SlabTest, ObjectsAreHeaderlessAndPackedFromTheSlabStart) {
  ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  const Layout layout{64, 8};
  const std::size_t count = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  EXPECT_EQ(count, Slab::kSlabObjectBytes / 64);
  ASSERT_OK_AND_ASSIGN(std::vector<void*> objects,
                       AllocMany(slab_, layout, count));
  EXPECT_EQ(Addr(objects[0]) % kSlabSize, 0u);
  for (std::size_t i = 1; i < count; ++i) {
    ASSERT_EQ(Addr(objects[i]) - Addr(objects[i - 1]), 64u) << i;
  }
  EXPECT_EQ(slab_.SlabCount(), 1u);
  EXPECT_EQ(slab_.UsedBytes() - baseline_, count * 64);
  // The next object needs a second slab.
  ASSERT_OK_AND_ASSIGN(void* next, slab_.Alloc(layout));
  EXPECT_EQ(slab_.SlabCount(), 2u);
  EXPECT_EQ(Addr(next) % kSlabSize, 0u);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  slab_.Dealloc(next, layout);
  for (void* object : objects) slab_.Dealloc(object, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabTest, UsedBytesCountsTheClassSizeOfLiveObjects) {
  ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  struct Case {
    Layout layout;
    std::size_t charged;
  };
  for (Case c : {Case{{0, 1}, 16}, Case{{1, 1}, 16}, Case{{17, 8}, 32},
                 Case{{100, 16}, 112}, Case{{300, 8}, 320},
                 Case{{4096, 8}, 4096}, Case{{64, 1024}, 1024}}) {
    ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(c.layout));
    EXPECT_EQ(slab_.UsedBytes() - baseline_, c.charged) << c.layout.size;
    slab_.Dealloc(block, c.layout);
    EXPECT_EQ(slab_.UsedBytes(), baseline_);
  }
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabTest, LargeRequestsGoToTheBackingAllocator) {
  ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  for (Layout layout :
       {Layout{4097, 1}, Layout{4160, 8}, Layout{kMiB, 16}, Layout{8, 8192}}) {
    const std::size_t backing_used = slab_.backing().UsedBytes();
    ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(layout));
    EXPECT_EQ(Addr(block) % layout.align, 0u);
    EXPECT_EQ(slab_.SlabCount(), 0u) << layout.size;
    EXPECT_GE(slab_.backing().UsedBytes() - backing_used, layout.size);
    EXPECT_EQ(slab_.UsedBytes() - baseline_,
              slab_.backing().UsedBytes() - backing_used);
    slab_.Dealloc(block, layout);
    EXPECT_EQ(slab_.UsedBytes(), baseline_);
  }
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabTest, SmallRequestsWithLargeAlignmentsAreAligned) {
  ASSERT_THAT(InitWith(32 * kMiB), IsOk());
  std::vector<void*> blocks;
  for (std::size_t align = 32; align <= kMiB; align *= 2) {
    for (std::size_t size : {0, 1, 8, 24, 100, 256}) {
      // Several of each where slabs serve them, to see more than the first
      // object of a slab.
      for (int copy = 0; copy < (align <= 4096 ? 3 : 1); ++copy) {
        const Layout layout{size, align};
        ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(layout));
        // Aligned, and apart from every other live block.
        ASSERT_TRUE(model_.Allocated(block, layout))
            << "size " << size << " align " << align;
        blocks.push_back(block);
      }
    }
  }
  // Those up to 4 KiB came from slabs.
  EXPECT_GT(slab_.SlabCount(), 0u);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937_64(5));
  for (void* block : blocks) ASSERT_TRUE(CheckAndFree(slab_, model_, block));
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabTest, StatisticsStayExactUnderRandomTraffic) {
  ASSERT_THAT(InitWith(16 * kMiB), IsOk());
  std::mt19937_64 rng(99);
  std::vector<void*> live;
  for (int step = 0; step < 50'000; ++step) {
    if (live.size() < 2000 && rng() % 3 != 0) {
      const std::size_t size = rng() % 8 == 0 ? rng() % 20'000 : rng() % 600;
      const Layout layout{size, std::size_t{1} << (rng() % 7)};
      ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(layout));
      ASSERT_TRUE(model_.Allocated(block, layout)) << "step " << step;
      live.push_back(block);
    } else if (!live.empty()) {
      std::swap(live[rng() % live.size()], live.back());
      ASSERT_TRUE(CheckAndFree(slab_, model_, live.back())) << "step " << step;
      live.pop_back();
    }
    ASSERT_EQ(slab_.UsedBytes() + slab_.AvailableBytes(), slab_.TotalBytes());
    ASSERT_GE(slab_.UsedBytes() - baseline_, model_.live_bytes());
    if (step % 5000 == 0) {
      EXPECT_THAT(slab_.CheckInvariants(), IsOk());
    }
  }
  for (void* block : live) ASSERT_TRUE(CheckAndFree(slab_, model_, block));
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  slab_.ReleaseEmptySlabs();
  EXPECT_EQ(slab_.SlabCount(), 0u);
  EXPECT_EQ(slab_.backing().UsedBytes(), 0u);
}

TEST_F(SlabTest, InitForgetsEverySlab) {
  ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  ASSERT_THAT(AllocMany(slab_, Layout{48, 8}, 5000), IsOk());
  EXPECT_GT(slab_.SlabCount(), 1u);
  ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  EXPECT_EQ(slab_.SlabCount(), 0u);
  EXPECT_EQ(slab_.UsedBytes(), 0u);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(Layout{48, 8}));
  slab_.Dealloc(block, Layout{48, 8});
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabTest, InitAndAddMemoryFailAsTheBackingDoes) {
  EXPECT_THAT(slab_.Init(arena_.start(), 8),
              IsAllocError(AllocError::kInvalidParam));
  ASSERT_THAT(InitWith(kMiB), IsOk());
  EXPECT_THAT(slab_.AddMemory(start_, kMiB),
              IsAllocError(AllocError::kMemoryOverlap));
  EXPECT_THAT(slab_.AddMemory(start_ + 4 * kMiB, kMiB), IsOk());
}

TEST(SlabBackingTest, WorksOverTheBuddyAllocator) {
  Arena arena(16 * kMiB);
  SlabByteAllocator<BuddyByteAllocator> slab;
  ASSERT_THAT(slab.Init(arena.start(), arena.size()), IsOk());
  ShadowModel model;
  model.AddRegion(Region{arena.start(), arena.start() + arena.size()});
  const std::size_t baseline = slab.UsedBytes();
  std::mt19937_64 rng(4);
  std::vector<void*> blocks;
  for (int i = 0; i < 3000; ++i) {
    const Layout layout{rng() % 6000, std::size_t{1} << (rng() % 10)};
    ASSERT_OK_AND_ASSIGN(void* block, slab.Alloc(layout));
    ASSERT_TRUE(model.Allocated(block, layout));
    blocks.push_back(block);
  }
  EXPECT_GT(slab.SlabCount(), 10u);
  EXPECT_THAT(slab.CheckInvariants(), IsOk());
  std::shuffle(blocks.begin(), blocks.end(), rng);
  for (void* block : blocks) ASSERT_TRUE(CheckAndFree(slab, model, block));
  EXPECT_EQ(slab.UsedBytes(), baseline);
  EXPECT_THAT(slab.CheckInvariants(), IsOk());
  slab.ReleaseEmptySlabs();
  EXPECT_EQ(slab.backing().UsedBytes(), 0u);
  EXPECT_THAT(slab.CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace heapkit
