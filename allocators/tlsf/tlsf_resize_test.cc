// Resize of TlsfByteAllocator, in place only, and a random stream of Alloc,
// Dealloc and Resize checked against the shadow model.
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "allocators/tlsf/tlsf_test_util.h"
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
using ::heapkit::testing::Arena;
using ::heapkit::testing::BlockInfo;
using ::heapkit::testing::Blocks;
using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::IsOneFreeBlock;
using ::heapkit::testing::kKiB;
using ::heapkit::testing::kMax;
using ::heapkit::testing::kMiB;
using ::heapkit::testing::ShadowModel;

// Checks the live block at `ptr` against `model` and frees it.
::testing::AssertionResult CheckAndFree(TlsfByteAllocator& allocator,
                                        ShadowModel& model, void* ptr) {
  Layout layout;
  ::testing::AssertionResult intact = model.Freeing(ptr, layout);
  if (intact) allocator.Dealloc(ptr, layout);
  return intact;
}

TEST(TlsfByteAllocatorTest, ResizeGrowsShrinksOrFailsInPlace) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), 64 * kKiB), IsOk());
  // Checks that a resize keeps the block's contents.
  ShadowModel model;
  model.AddRegion(Region{arena.start(), arena.start() + 64 * kKiB});

  // Grow into the free space after the block.
  ASSERT_OK_AND_ASSIGN(void* ptr, allocator.Alloc(Layout{100, 1}));
  ASSERT_TRUE(model.Allocated(ptr, Layout{100, 1}));
  ASSERT_THAT(allocator.Resize(ptr, Layout{100, 1}, 5000), IsOk());
  ASSERT_TRUE(model.Resized(ptr, 5000));
  EXPECT_EQ(allocator.UsedBytes(), 5008u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());

  // Shrink: the tail goes back and merges with the free space after it.
  ASSERT_THAT(allocator.Resize(ptr, Layout{5000, 1}, 50), IsOk());
  ASSERT_TRUE(model.Resized(ptr, 50));
  EXPECT_EQ(allocator.UsedBytes(), 64u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  const std::vector<BlockInfo> blocks = Blocks(allocator);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_FALSE(blocks[1].used);

  // Within the same block: nothing changes.
  ASSERT_THAT(allocator.Resize(ptr, Layout{50, 1}, 56), IsOk());
  ASSERT_TRUE(model.Resized(ptr, 56));
  EXPECT_EQ(allocator.UsedBytes(), 64u);

  // Blocked by a used neighbour: kNoMemory, block unchanged.
  ASSERT_OK_AND_ASSIGN(void* neighbour, allocator.Alloc(Layout{100, 1}));
  ASSERT_TRUE(model.Allocated(neighbour, Layout{100, 1}));
  EXPECT_EQ(Addr(neighbour), Addr(ptr) + 64);
  EXPECT_THAT(allocator.Resize(ptr, Layout{56, 1}, 1000),
              IsAllocError(AllocError::kNoMemory));
  ASSERT_TRUE(model.ResizeFailed(ptr));
  EXPECT_EQ(allocator.UsedBytes(), 64u + 112u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());

  // Grow into a freed neighbour whose leftover is too small to split: the whole
  // neighbour is taken.
  ASSERT_OK_AND_ASSIGN(void* third, allocator.Alloc(Layout{100, 1}));
  ASSERT_TRUE(model.Allocated(third, Layout{100, 1}));
  ASSERT_TRUE(CheckAndFree(allocator, model, neighbour));
  // Needs 160 of 176.
  ASSERT_THAT(allocator.Resize(ptr, Layout{56, 1}, 150), IsOk());
  ASSERT_TRUE(model.Resized(ptr, 150));
  EXPECT_EQ(allocator.UsedBytes(), 176u + 112u);
  EXPECT_THAT(allocator.CheckInvariants(), IsOk());
  EXPECT_THAT(allocator.Resize(ptr, Layout{150, 1}, 200),
              IsAllocError(AllocError::kNoMemory));

  // Huge and invalid requests.
  EXPECT_THAT(allocator.Resize(ptr, Layout{150, 1}, kMax),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(
      allocator.Resize(ptr, Layout{150, 1}, TlsfByteAllocator::kMaxAllocSize),
      IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(allocator.Resize(nullptr, Layout{150, 1}, 10),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(allocator.Resize(ptr, Layout{150, 3}, 10),
              IsAllocError(AllocError::kInvalidParam));
  ASSERT_TRUE(model.ResizeFailed(ptr));

  ASSERT_TRUE(CheckAndFree(allocator, model, ptr));
  ASSERT_TRUE(CheckAndFree(allocator, model, third));
  EXPECT_TRUE(IsOneFreeBlock(allocator));

  // An over-aligned block keeps its address and alignment.
  ASSERT_OK_AND_ASSIGN(void* aligned, allocator.Alloc(Layout{10, 4096}));
  ASSERT_TRUE(model.Allocated(aligned, Layout{10, 4096}));
  ASSERT_THAT(allocator.Resize(aligned, Layout{10, 4096}, 9000), IsOk());
  ASSERT_TRUE(model.Resized(aligned, 9000));
  EXPECT_EQ(Addr(aligned) % 4096, 0u);
  ASSERT_THAT(allocator.Resize(aligned, Layout{9000, 4096}, 1), IsOk());
  ASSERT_TRUE(model.Resized(aligned, 1));
  ASSERT_TRUE(CheckAndFree(allocator, model, aligned));  // As Layout{1, 4096}.
  EXPECT_TRUE(IsOneFreeBlock(allocator));
}

TEST(TlsfByteAllocatorTest, RandomStreamKeepsInvariants) {
  constexpr std::size_t kPoolSize = 8 * kMiB;
  for (std::uint64_t seed : {1u, 2u, 3u, 20240601u}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Arena arena(kPoolSize + 16);
    // Vary the region's alignment too.
    const std::uintptr_t pool_start = arena.start() + seed % 16;
    TlsfByteAllocator allocator;
    ASSERT_THAT(allocator.Init(pool_start, kPoolSize), IsOk());
    ShadowModel model;
    model.AddRegion(Region{pool_start, pool_start + kPoolSize});
    std::mt19937_64 rng(seed);
    // Sizes 0..64 KiB, spread evenly over the powers of two.
    auto random_size = [&rng] {
      const std::size_t limit = std::size_t{1} << (rng() % 17);
      return static_cast<std::size_t>(rng() % (limit + 1));
    };
    // Returns the address of a live block picked at random.
    auto random_block = [&] {
      const auto& live = model.live();
      return reinterpret_cast<void*>(
          std::next(live.begin(), rng() % live.size())->first);
    };
    std::size_t failures = 0;
    for (int step = 0; step < 3000; ++step) {
      SCOPED_TRACE(absl::StrCat("step ", step));
      const unsigned op = rng() % 20;
      if (op < 11 || model.live().empty()) {
        const Layout layout{random_size(), std::size_t{1} << (rng() % 13)};
        absl::StatusOr<void*> ptr = allocator.Alloc(layout);
        if (ptr.ok()) {
          ASSERT_EQ(Addr(*ptr) % 16, 0u);
          ASSERT_TRUE(model.Allocated(*ptr, layout));
        } else {
          ASSERT_THAT(ptr, IsAllocError(AllocError::kNoMemory));
          ++failures;
        }
      } else if (op < 18) {
        ASSERT_TRUE(CheckAndFree(allocator, model, random_block()));
      } else {
        void* ptr = random_block();
        const std::size_t new_size = random_size();
        const Layout layout = model.live().at(Addr(ptr)).layout;
        const absl::Status status = allocator.Resize(ptr, layout, new_size);
        if (status.ok()) {
          ASSERT_TRUE(model.Resized(ptr, new_size));
        } else {
          ASSERT_THAT(status, IsAllocError(AllocError::kNoMemory));
          ASSERT_TRUE(model.ResizeFailed(ptr));
        }
      }
      ASSERT_THAT(allocator.CheckInvariants(), IsOk());
      ASSERT_LE(allocator.UsedBytes(), allocator.TotalBytes());
      // Every live block takes its size and a header at least.
      ASSERT_GE(allocator.UsedBytes(),
                model.live_bytes() +
                    model.live().size() * TlsfByteAllocator::kHeaderSize);
    }
    EXPECT_GT(model.live().size() + failures, 0u);
    while (!model.live().empty()) {
      void* ptr = reinterpret_cast<void*>(model.live().begin()->first);
      ASSERT_TRUE(CheckAndFree(allocator, model, ptr));
    }
    ASSERT_TRUE(IsOneFreeBlock(allocator));
  }
}

}  // namespace
}  // namespace heapkit
