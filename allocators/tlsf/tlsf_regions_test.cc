// Init and AddMemory of TlsfByteAllocator: joining touching regions, keeping
// separate ones apart, rejecting bad ones, and heaps over 2^40 bytes.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "allocators/tlsf/tlsf_test_util.h"
#include "core/alloc_error.h"
#include "core/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using ::heapkit::testing::Addr;
using ::heapkit::testing::Arena;
using ::heapkit::testing::BlockInfo;
using ::heapkit::testing::Blocks;
using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::IsOneFreeBlock;
using ::heapkit::testing::kKiB;
using ::heapkit::testing::kMiB;
using ::heapkit::testing::kTiB;

TEST(TlsfByteAllocatorTest, AdjacentRegionsMerge) {
  constexpr std::size_t kHalf = kMiB;
  Arena arena(2 * kHalf);
  const std::uintptr_t lower = arena.start();
  const std::uintptr_t upper = lower + kHalf;

  for (bool lower_first : {true, false}) {
    SCOPED_TRACE(lower_first ? "lower first" : "upper first");
    TlsfByteAllocator allocator;
    ASSERT_THAT(allocator.Init(lower_first ? lower : upper, kHalf), IsOk());
    const std::size_t total = allocator.TotalBytes();
    ASSERT_THAT(allocator.AddMemory(lower_first ? upper : lower, kHalf),
                IsOk());
    EXPECT_EQ(allocator.RegionCount(), 1u);
    EXPECT_EQ(allocator.TotalBytes(), total + kHalf);  // No second sentinel.
    EXPECT_TRUE(IsOneFreeBlock(allocator));
    const Layout big{kHalf + kHalf / 2, 16};
    ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(big));
    std::memset(ptr, 1, big.size);
    allocator.Dealloc(ptr, big);
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  }

  // Filling the gap between two regions joins all three.
  {
    Arena thirds(3 * 64 * kKiB);
    const std::uintptr_t base = thirds.start();
    TlsfByteAllocator allocator;
    ASSERT_THAT(allocator.Init(base, 64 * kKiB), IsOk());
    ASSERT_THAT(allocator.AddMemory(base + 128 * kKiB, 64 * kKiB), IsOk());
    EXPECT_EQ(allocator.RegionCount(), 2u);
    ASSERT_THAT(allocator.AddMemory(base + 64 * kKiB, 64 * kKiB), IsOk());
    EXPECT_EQ(allocator.RegionCount(), 1u);
    ASSERT_TRUE(IsOneFreeBlock(allocator));
    const Layout whole{allocator.TotalBytes() - 8, 1};
    ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(whole));
    allocator.Dealloc(ptr, whole);
  }

  // With the last block of the lower region in use, the new space stays a block
  // of its own, and merges once that block is freed.
  {
    TlsfByteAllocator allocator;
    ASSERT_THAT(allocator.Init(lower, kHalf), IsOk());
    const Layout whole{allocator.TotalBytes() - 8, 1};
    ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(whole));
    ASSERT_THAT(allocator.AddMemory(upper, kHalf), IsOk());
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
    EXPECT_EQ(Blocks(allocator).size(), 2u);
    ASSERT_OK_AND_ASSIGN(void* second, allocator.Alloc(Layout{kHalf - 64, 1}));
    EXPECT_GE(Addr(second), upper - 16);
    allocator.Dealloc(ptr, whole);
    allocator.Dealloc(second, Layout{kHalf - 64, 1});
    EXPECT_TRUE(IsOneFreeBlock(allocator));
  }
}

TEST(TlsfByteAllocatorTest, SeparateRegionsStaySeparate) {
  // Two regions with a gap between them (two arenas could touch).
  Arena arena(3 * 64 * kKiB);
  const std::uintptr_t first = arena.start();
  const std::uintptr_t second = first + 128 * kKiB;
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(first, 64 * kKiB), IsOk());
  ASSERT_THAT(allocator.AddMemory(second, 64 * kKiB), IsOk());
  EXPECT_EQ(allocator.RegionCount(), 2u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  EXPECT_EQ(Blocks(allocator).size(), 2u);
  // No block spans both.
  EXPECT_THAT(allocator.Alloc(Layout{100 * kKiB, 1}),
              IsAllocError(AllocError::kNoMemory));
  const Layout layout{60 * kKiB, 1};
  ASSERT_OK_AND_ASSIGN(void* a, allocator.Alloc(layout));
  ASSERT_OK_AND_ASSIGN(void* b, allocator.Alloc(layout));
  auto in = [](std::uintptr_t start, void* ptr) {
    return Addr(ptr) >= start && Addr(ptr) + 60 * kKiB <= start + 64 * kKiB;
  };
  EXPECT_TRUE((in(first, a) && in(second, b)) ||
              (in(first, b) && in(second, a)));
  EXPECT_THAT(allocator.Alloc(layout), IsAllocError(AllocError::kNoMemory));
  allocator.Dealloc(a, layout);
  allocator.Dealloc(b, layout);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
}

TEST(TlsfByteAllocatorTest, OverlappingRegionIsRejected) {
  Arena arena(64 * kKiB);
  const std::uintptr_t base = arena.start();
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(base + 16 * kKiB, 16 * kKiB), IsOk());
  ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(Layout{100, 1}));
  const std::size_t total = allocator.TotalBytes();
  const std::size_t used = allocator.UsedBytes();
  const std::pair<std::uintptr_t, std::size_t> overlapping[] = {
      {base + 16 * kKiB, 16 * kKiB},  // The same.
      {base + 8 * kKiB, 16 * kKiB},   // Over its start.
      {base + 24 * kKiB, 16 * kKiB},  // Over its end.
      {base, 64 * kKiB},              // Around it.
      {base + 20 * kKiB, kKiB},       // Inside it.
      {base + 32 * kKiB - 1, 100},    // Its last byte.
  };
  for (auto [start, size] : overlapping) {
    EXPECT_THAT(allocator.AddMemory(start, size),
                IsAllocError(AllocError::kMemoryOverlap))
        << start - base << " + " << size;
  }
  EXPECT_EQ(allocator.TotalBytes(), total);
  EXPECT_EQ(allocator.UsedBytes(), used);
  EXPECT_EQ(allocator.RegionCount(), 1u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  // Touching is not overlapping.
  ASSERT_THAT(allocator.AddMemory(base, 16 * kKiB), IsOk());
  ASSERT_THAT(allocator.AddMemory(base + 32 * kKiB, 16 * kKiB), IsOk());
  EXPECT_EQ(allocator.RegionCount(), 1u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  allocator.Dealloc(ptr, Layout{100, 1});
}

TEST(TlsfByteAllocatorTest, BadRegionsAreRejected) {
  Arena arena(4 * kKiB);
  TlsfByteAllocator allocator;
  EXPECT_THAT(allocator.Init(arena.start(), 0),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(
      allocator.Init(std::numeric_limits<std::uintptr_t>::max() - 100, 1000),
      IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(
      allocator.Init(arena.start(), TlsfByteAllocator::kMinRegionSize - 1),
      IsAllocError(AllocError::kInvalidParam));
  // A failed Init leaves nothing managed.
  EXPECT_EQ(allocator.TotalBytes(), 0u);
  EXPECT_EQ(allocator.RegionCount(), 0u);
  EXPECT_THAT(allocator.Alloc(Layout{1, 1}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());

  // The smallest region holds a block at any alignment of its start.
  for (std::uintptr_t offset = 0; offset < 16; ++offset) {
    ASSERT_THAT(allocator.Init(arena.start() + 1024 + offset,
                               TlsfByteAllocator::kMinRegionSize),
                IsOk());
    ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(Layout{1, 1}));
    EXPECT_GE(Addr(ptr), arena.start() + 1024 + offset);
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
    allocator.Dealloc(ptr, Layout{1, 1});
  }

  // A failed AddMemory changes nothing.
  ASSERT_THAT(allocator.Init(arena.start(), 1024), IsOk());
  const std::size_t total = allocator.TotalBytes();
  EXPECT_THAT(allocator.AddMemory(arena.start() + 1024, 0),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(allocator.AddMemory(arena.start() + 1024, 16),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(allocator.TotalBytes(), total);
  EXPECT_EQ(allocator.RegionCount(), 1u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
}

TEST(TlsfByteAllocatorTest, InitForgetsPreviousState) {
  // Two regions with a gap between them (two arenas could touch).
  Arena arena(32 * kKiB);
  const std::uintptr_t first = arena.start();
  const std::uintptr_t second = first + 16 * kKiB;
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(first, 8 * kKiB), IsOk());
  ASSERT_THAT(allocator.Alloc(Layout{100, 1}), IsOk());
  ASSERT_THAT(allocator.Init(second, 16 * kKiB), IsOk());
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_EQ(allocator.RegionCount(), 1u);
  EXPECT_GT(allocator.TotalBytes(), 8 * kKiB);
  // The first region is no longer managed, so it may be added again.
  ASSERT_THAT(allocator.AddMemory(first, 8 * kKiB), IsOk());
  EXPECT_EQ(allocator.RegionCount(), 2u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
}

TEST(TlsfByteAllocatorTest, RegionTableFullIsNoMemoryButTouchingStillJoins) {
  constexpr std::size_t kSize = 96;
  constexpr std::size_t kStride = 2 * kSize;
  constexpr std::size_t kMaxRegions = TlsfByteAllocator::kMaxRegions;
  Arena arena(kStride * (kMaxRegions + 1));
  const std::uintptr_t base = arena.start();
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(base, kSize), IsOk());
  for (std::size_t i = 1; i < kMaxRegions; ++i) {
    ASSERT_THAT(allocator.AddMemory(base + i * kStride, kSize), IsOk());
  }
  EXPECT_EQ(allocator.RegionCount(), kMaxRegions);
  const std::size_t total = allocator.TotalBytes();
  EXPECT_THAT(allocator.AddMemory(base + kMaxRegions * kStride, kSize),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(allocator.TotalBytes(), total);
  // Filling a gap joins two entries into one.
  ASSERT_THAT(allocator.AddMemory(base + kSize, kSize), IsOk());
  EXPECT_EQ(allocator.RegionCount(), kMaxRegions - 1);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  ASSERT_THAT(allocator.AddMemory(base + kMaxRegions * kStride, kSize), IsOk());
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
}

// Four adjacent 1 TiB regions, added out of order, form one 4 TiB run that is
// split into blocks of at most kMaxBlockSize. Only the touched pages (block
// headers) take real memory.
TEST(TlsfByteAllocatorTest, ManagesMoreThan2To40Bytes) {
  constexpr std::size_t kSpan = 4 * kTiB;
  Arena arena(kSpan);
  if (!arena.ok()) {
    GTEST_SKIP() << "cannot reserve 4 TiB of address space here";
  }
  const std::uintptr_t base = arena.start();
  {
    TlsfByteAllocator allocator;
    ASSERT_THAT(allocator.Init(base + kTiB, kTiB), IsOk());
    ASSERT_THAT(allocator.AddMemory(base + 3 * kTiB, kTiB), IsOk());
    ASSERT_THAT(allocator.AddMemory(base, kTiB), IsOk());
    ASSERT_THAT(allocator.AddMemory(base + 2 * kTiB, kTiB), IsOk());
    EXPECT_EQ(allocator.RegionCount(), 1u);
    EXPECT_EQ(allocator.TotalBytes(), kSpan - 16);
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
    const std::vector<BlockInfo> blocks = Blocks(allocator);
    EXPECT_GE(blocks.size(), 2u);
    for (const BlockInfo& block : blocks) {
      EXPECT_LE(block.size, TlsfByteAllocator::kMaxBlockSize);
    }
    ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(Layout{kTiB / 2, 4096}));
    static_cast<char*>(ptr)[0] = 1;
    allocator.Dealloc(ptr, Layout{kTiB / 2, 4096});
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  }
  {
    // One 3 TiB region is cut at kMaxBlockSize; the largest block is usable.
    TlsfByteAllocator allocator;
    ASSERT_THAT(allocator.Init(base, 3 * kTiB), IsOk());
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
    EXPECT_EQ(Blocks(allocator).size(), 2u);
    const Layout largest{TlsfByteAllocator::kMaxAllocSize, 1};
    ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(largest));
    ASSERT_OK_AND_ASSIGN(void* other, allocator.Alloc(Layout{kTiB / 2, 1}));
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
    allocator.Dealloc(ptr, largest);
    allocator.Dealloc(other, Layout{kTiB / 2, 1});
    // Joining a fourth TiB: more than 2^40 bytes in one allocation.
    ASSERT_THAT(allocator.AddMemory(base + 3 * kTiB, kTiB), IsOk());
    EXPECT_EQ(allocator.TotalBytes(), kSpan - 16);
    const Layout one_tib{kTiB, 1};
    ASSERT_OK_AND_ASSIGN(ptr, allocator.Alloc(one_tib));
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
    allocator.Dealloc(ptr, one_tib);
    EXPECT_EQ(allocator.UsedBytes(), 0u);
    EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  }
}

}  // namespace
}  // namespace heapkit
