// Alloc and Dealloc of TlsfByteAllocator: block sizes, splitting, merging,
// alignment and exhaustion. Regions are in tlsf_regions_test.cc, Resize in
// tlsf_resize_test.cc.
#include "allocators/tlsf/tlsf_byte_allocator.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "allocators/tlsf/tlsf_test_util.h"
#include "core/alloc_error.h"
#include "core/internal/bits.h"
#include "core/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using ::heapkit::internal::AlignUp;
using ::heapkit::testing::Addr;
using ::heapkit::testing::Arena;
using ::heapkit::testing::BlockInfo;
using ::heapkit::testing::Blocks;
using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::IsOneFreeBlock;
using ::heapkit::testing::kKiB;
using ::heapkit::testing::kMax;
using ::heapkit::testing::kMiB;

TEST(TlsfByteAllocatorTest, AllocFreeAndStats) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  EXPECT_EQ(allocator.TotalBytes(), 0u);
  ASSERT_THAT(allocator.Init(arena.start(), 64 * kKiB), IsOk());
  EXPECT_EQ(allocator.RegionCount(), 1u);
  // Only the sentinel and alignment are lost.
  EXPECT_GE(allocator.TotalBytes(), 64 * kKiB - 64);
  EXPECT_LE(allocator.TotalBytes(), 64 * kKiB);
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_EQ(allocator.AvailableBytes(), allocator.TotalBytes());

  ASSERT_OK_AND_ASSIGN(void* small, allocator.Alloc(Layout{1, 1}));
  ASSERT_OK_AND_ASSIGN(void* medium, allocator.Alloc(Layout{100, 8}));
  ASSERT_OK_AND_ASSIGN(void* large, allocator.Alloc(Layout{5000, 16}));
  // One 8-byte header, rounded to 16, at least 32 bytes.
  EXPECT_EQ(allocator.UsedBytes(), 32u + 112u + 5008u);
  EXPECT_EQ(allocator.UsedBytes() + allocator.AvailableBytes(),
            allocator.TotalBytes());
  for (void* ptr : {small, medium, large}) {
    EXPECT_EQ(Addr(ptr) % 16, 0u);
    EXPECT_GE(Addr(ptr), arena.start());
    EXPECT_LE(Addr(ptr), arena.start() + 64 * kKiB);
  }
  std::memset(large, 0xAB, 5000);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());

  allocator.Dealloc(medium, Layout{100, 8});
  allocator.Dealloc(nullptr, Layout{100, 8});  // Ignored.
  allocator.Dealloc(small, Layout{1, 1});
  allocator.Dealloc(large, Layout{5000, 16});
  EXPECT_TRUE(IsOneFreeBlock(allocator));
}

TEST(TlsfByteAllocatorTest, ZeroSizeBlocksAreUniqueAndFreeable) {
  Arena arena(16 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 16 * kKiB), IsOk());
  std::set<void*> seen;
  for (int i = 0; i < 100; ++i) {
    ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(Layout{0, 1}));
    EXPECT_TRUE(seen.insert(ptr).second) << "duplicate " << ptr;
  }
  for (void* ptr : seen) allocator.Dealloc(ptr, Layout{0, 1});
  EXPECT_TRUE(IsOneFreeBlock(allocator));
}

TEST(TlsfByteAllocatorTest, FreedNeighboursCoalesceInEveryOrder) {
  Arena arena(4 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 4 * kKiB), IsOk());
  const Layout layout{200, 8};
  std::array<int, 3> order = {0, 1, 2};
  do {
    SCOPED_TRACE(absl::StrCat("order ", order[0], order[1], order[2]));
    void* blocks[3];
    for (void*& ptr : blocks) {
      ASSERT_OK_AND_ASSIGN(ptr, allocator.Alloc(layout));
    }
    // Carved one after the other from the single free block.
    EXPECT_EQ(Addr(blocks[1]) - Addr(blocks[0]), 208u);
    EXPECT_EQ(Addr(blocks[2]) - Addr(blocks[1]), 208u);
    for (int index : order) {
      allocator.Dealloc(blocks[index], layout);
      EXPECT_THAT(allocator.CheckInvariants(), IsOk());
    }
    ASSERT_TRUE(IsOneFreeBlock(allocator));
  } while (std::next_permutation(order.begin(), order.end()));
}

// A tail under 1/32 of the block handed out stays with it; a larger one (and
// any of 32 bytes or more below 1 KiB) becomes a free block.
TEST(TlsfByteAllocatorTest, ShortTailsStayWithTheBlock) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 64 * kKiB), IsOk());
  // A 4016-byte block.
  ASSERT_OK_AND_ASSIGN(void* first, allocator.Alloc(Layout{4000, 8}));
  ASSERT_OK_AND_ASSIGN(void* guard, allocator.Alloc(Layout{100, 8}));
  allocator.Dealloc(first, Layout{4000, 8});
  const std::size_t used = allocator.UsedBytes();

  // 3920 bytes leave 96, under 3920 / 32: the whole block is used.
  ASSERT_OK_AND_ASSIGN(void* whole, allocator.Alloc(Layout{3900, 8}));
  EXPECT_EQ(whole, first);
  EXPECT_EQ(allocator.UsedBytes(), used + 4016);
  std::vector<BlockInfo> blocks = Blocks(allocator);
  ASSERT_GE(blocks.size(), 2u);
  EXPECT_TRUE(blocks[0].used);
  EXPECT_EQ(blocks[0].size, 4016u);
  EXPECT_EQ(blocks[1].address, Addr(guard));
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  allocator.Dealloc(whole, Layout{3900, 8});

  // 3808 bytes leave 208, over 3808 / 32: the tail is split off.
  ASSERT_OK_AND_ASSIGN(void* split, allocator.Alloc(Layout{3800, 8}));
  EXPECT_EQ(split, first);
  EXPECT_EQ(allocator.UsedBytes(), used + 3808);
  blocks = Blocks(allocator);
  ASSERT_GE(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].size, 3808u);
  EXPECT_FALSE(blocks[1].used);
  EXPECT_EQ(blocks[1].size, 208u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());

  // Small blocks split off any tail that can form a block. This one needs 192
  // of the 208 bytes.
  ASSERT_OK_AND_ASSIGN(void* small, allocator.Alloc(Layout{180, 8}));
  EXPECT_EQ(Addr(small), Addr(split) + 3808);
  EXPECT_EQ(allocator.UsedBytes(), used + 3808 + 208);  // 16 is too small.
  allocator.Dealloc(small, Layout{180, 8});
  // Needs 112 of the 208.
  ASSERT_OK_AND_ASSIGN(void* smaller, allocator.Alloc(Layout{100, 8}));
  EXPECT_EQ(allocator.UsedBytes(), used + 3808 + 112);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());

  allocator.Dealloc(smaller, Layout{100, 8});
  allocator.Dealloc(split, Layout{3800, 8});
  allocator.Dealloc(guard, Layout{100, 8});
  EXPECT_TRUE(IsOneFreeBlock(allocator));
}

// Free blocks of one size share a list; merging unlinks them from its head,
// middle and end, and Alloc takes the head, whose back link is left stale.
TEST(TlsfByteAllocatorTest, MergesUnlinkFromAnyPlaceInAList) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 64 * kKiB), IsOk());
  const Layout layout{200, 8};
  const Layout guard_layout{40, 8};
  constexpr int kCount = 5;
  void* blocks[kCount];
  void* guards[kCount];
  for (int i = 0; i < kCount; ++i) {
    ASSERT_OK_AND_ASSIGN(blocks[i], allocator.Alloc(layout));
    ASSERT_OK_AND_ASSIGN(guards[i], allocator.Alloc(guard_layout));
  }
  // One list, most recently freed first: 4 3 2 1 0.
  for (void* ptr : blocks) allocator.Dealloc(ptr, layout);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  // Guard 2 joins blocks 2 and 3, from the middle of the list.
  allocator.Dealloc(guards[2], guard_layout);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  // Takes block 4, the head; block 1 heads the list with a stale back link.
  ASSERT_OK_AND_ASSIGN(void* taken, allocator.Alloc(layout));
  EXPECT_EQ(taken, blocks[4]);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  // Guard 0 joins blocks 0 (the end of the list) and 1 (its head).
  allocator.Dealloc(guards[0], guard_layout);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  // Guard 1 joins the two merged blocks, which share a list.
  allocator.Dealloc(guards[1], guard_layout);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  allocator.Dealloc(taken, layout);
  allocator.Dealloc(guards[3], guard_layout);
  allocator.Dealloc(guards[4], guard_layout);
  EXPECT_TRUE(IsOneFreeBlock(allocator));
}

TEST(TlsfByteAllocatorTest, LargeAlignmentReturnsPaddingToFreeLists) {
  Arena arena(6 * kMiB);
  // Start just past a 1 MiB boundary so that the padding is large.
  const std::uintptr_t start = AlignUp(arena.start(), kMiB) + 4 * kKiB;
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(start, 4 * kMiB), IsOk());
  const Layout layout{100, kMiB};
  ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(layout));
  EXPECT_EQ(Addr(ptr) % kMiB, 0u);
  EXPECT_EQ(allocator.UsedBytes(), 112u);  // The block only, no padding.
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());

  const std::vector<BlockInfo> blocks = Blocks(allocator);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_FALSE(blocks[0].used);  // The padding...
  EXPECT_EQ(blocks[0].address + blocks[0].size, Addr(ptr));
  EXPECT_GE(blocks[0].size, kMiB - 4 * kKiB - 64);
  EXPECT_TRUE(blocks[1].used);  // ...the block...
  EXPECT_EQ(blocks[1].address, Addr(ptr));
  EXPECT_FALSE(blocks[2].used);  // ...and the tail.

  // The padding can be allocated.
  ASSERT_OK_AND_ASSIGN(void* in_padding, allocator.Alloc(Layout{kMiB / 2, 16}));
  EXPECT_LT(Addr(in_padding), Addr(ptr));
  allocator.Dealloc(in_padding, Layout{kMiB / 2, 16});
  allocator.Dealloc(ptr, layout);
  EXPECT_TRUE(IsOneFreeBlock(allocator));
}

TEST(TlsfByteAllocatorTest, EveryAlignmentUpTo2MiB) {
  Arena arena(32 * kMiB + 8);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start() + 8, 32 * kMiB), IsOk());
  std::vector<std::pair<void*, Layout>> blocks;
  for (std::size_t align = 1; align <= 2 * kMiB; align <<= 1) {
    for (std::size_t size : {0ul, 1ul, 24ul, 25ul, 1000ul}) {
      const Layout layout{size, align};
      ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(layout));
      EXPECT_EQ(Addr(ptr) % align, 0u) << align;
      blocks.push_back({ptr, layout});
    }
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  }
  for (auto [ptr, layout] : blocks) allocator.Dealloc(ptr, layout);
  EXPECT_TRUE(IsOneFreeBlock(allocator));
}

TEST(TlsfByteAllocatorTest, HugeRequestsFailCleanly) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 64 * kKiB), IsOk());
  const std::size_t kTopBit = std::size_t{1} << 63;
  const Layout no_memory[] = {
      {kMax, 1},
      {kMax - 1, 1},
      {kMax - 8, 1},
      {kMax - 15, 16},
      {kMax - 4095, 4096},
      {kMax / 2, std::size_t{1} << 62},
      {1, kTopBit},
      {0, kTopBit},
      {TlsfByteAllocator::kMaxAllocSize, 1},
      {TlsfByteAllocator::kMaxAllocSize + 1, 1},
      {TlsfByteAllocator::kMaxAllocSize, 1 << 20},
      {1, TlsfByteAllocator::kMaxBlockSize + 16},
      {allocator.TotalBytes(), 1},
      {64 * kKiB, 16},
  };
  for (const Layout& layout : no_memory) {
    EXPECT_THAT(allocator.Alloc(layout), IsAllocError(AllocError::kNoMemory))
        << layout.size << " " << layout.align;
  }
  const Layout invalid[] = {
      {kMax, 2}, {kMax - 14, 16}, {16, 0}, {16, 3}, {16, 48}};
  for (const Layout& layout : invalid) {
    EXPECT_THAT(allocator.Alloc(layout),
                IsAllocError(AllocError::kInvalidParam))
        << layout.size << " " << layout.align;
  }
  EXPECT_TRUE(IsOneFreeBlock(allocator));
  EXPECT_THAT(allocator.Alloc(Layout{1000, 1}), IsOk());
}

TEST(TlsfByteAllocatorTest, ExhaustionFailsThenRecovers) {
  Arena arena(256 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 256 * kKiB), IsOk());
  const Layout layout{1000, 8};
  std::vector<void*> blocks;
  for (;;) {
    absl::StatusOr<void*> ptr = allocator.Alloc(layout);
    if (!ptr.ok()) {
      EXPECT_THAT(ptr, IsAllocError(AllocError::kNoMemory));
      break;
    }
    blocks.push_back(*ptr);
  }
  EXPECT_EQ(blocks.size(), 256 * kKiB / 1008);
  EXPECT_LT(allocator.AvailableBytes(), 1008u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  allocator.Dealloc(blocks[blocks.size() / 2], layout);
  ASSERT_OK_AND_ASSIGN(blocks[blocks.size() / 2], allocator.Alloc(layout));
  for (void* ptr : blocks) allocator.Dealloc(ptr, layout);
  EXPECT_TRUE(IsOneFreeBlock(allocator));
}

TEST(TlsfByteAllocatorTest, LargestBlockIsAllocatableAgainAfterChurn) {
  Arena arena(kMiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), kMiB), IsOk());
  const Layout whole{allocator.TotalBytes() - TlsfByteAllocator::kHeaderSize,
                     1};
  ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(whole));
  EXPECT_EQ(allocator.UsedBytes(), allocator.TotalBytes());
  EXPECT_THAT(allocator.Alloc(Layout{0, 1}),
              IsAllocError(AllocError::kNoMemory));
  allocator.Dealloc(ptr, whole);

  std::mt19937_64 rng(7);
  std::vector<std::pair<void*, Layout>> live;
  for (int step = 0; step < 2000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const Layout layout{rng() % 3000, std::size_t{1} << (rng() % 8)};
      absl::StatusOr<void*> p = allocator.Alloc(layout);
      if (p.ok()) live.push_back({*p, layout});
    } else {
      const std::size_t i = rng() % live.size();
      allocator.Dealloc(live[i].first, live[i].second);
      live[i] = live.back();
      live.pop_back();
    }
  }
  for (auto [p, layout] : live) allocator.Dealloc(p, layout);
  EXPECT_TRUE(IsOneFreeBlock(allocator));
  ASSERT_OK_AND_ASSIGN(ptr, allocator.Alloc(whole));
  allocator.Dealloc(ptr, whole);
}

TEST(TlsfByteAllocatorDeathTest, DoubleFreeAborts) {
  Arena arena(4 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 4 * kKiB), IsOk());
  const Layout layout{64, 8};
  ASSERT_OK_AND_ASSIGN(void* first, allocator.Alloc(layout));
  ASSERT_OK_AND_ASSIGN(void* second, allocator.Alloc(layout));
  allocator.Dealloc(first, layout);
  EXPECT_DEATH(allocator.Dealloc(first, layout), "double free");
  // `second` merges into the free block before it; freeing it again is caught.
  allocator.Dealloc(second, layout);
  EXPECT_DEATH(allocator.Dealloc(second, layout), "double free");
  EXPECT_DEATH(allocator.Dealloc(static_cast<char*>(second) + 8, layout),
               "not 16-byte aligned");
}

#ifndef NDEBUG
TEST(TlsfByteAllocatorDeathTest, DebugBuildsCatchForeignPointersAndLayouts) {
  Arena arena(4 * kKiB);
  Arena foreign(4 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 4 * kKiB), IsOk());
  ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(Layout{64, 8}));
  EXPECT_DEATH(allocator.Dealloc(reinterpret_cast<void*>(foreign.start() + 64),
                                 Layout{64, 8}),
               "not in a managed region");
  EXPECT_DEATH(allocator.Dealloc(ptr, Layout{4096, 8}), "does not match");
  allocator.Dealloc(ptr, Layout{64, 8});
}
#endif

}  // namespace
}  // namespace heapkit
