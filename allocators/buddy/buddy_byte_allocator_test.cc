#include "allocators/buddy/buddy_byte_allocator.h"

#include <algorithm>
#include <cstdint>
#include <random>
#include <vector>

#include "core/alloc_error.h"
#include "gtest/gtest.h"
#include "tests/arena.h"

namespace heapkit {
namespace {

using ::heapkit::testing::Arena;

constexpr std::size_t kMiB = std::size_t{1} << 20;
constexpr std::size_t kGiB = std::size_t{1} << 30;

// Returns the first address in `arena` aligned to `align`.
std::uintptr_t AlignedIn(const Arena& arena, std::size_t align) {
  return (arena.start() + align - 1) & ~(align - 1);
}

TEST(BuddyTest, MetadataAtTheEndKeepsTheLargestSelfAlignedBlock) {
  Arena arena(8 * kMiB);
  const std::uintptr_t start = AlignedIn(arena, 2 * kMiB);
  BuddyByteAllocator buddy;
  // 2 MiB aligned, 2 MiB + 64 KiB long: the metadata fits in the tail.
  ASSERT_TRUE(buddy.Init(start, 2 * kMiB + 64 * 1024).ok());
  EXPECT_EQ(buddy.LargestFreeBlock(), 2 * kMiB);
  absl::StatusOr<void*> block = buddy.Alloc(Layout{2 * kMiB, 1});
  ASSERT_TRUE(block.ok());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(*block), start);
  EXPECT_TRUE(buddy.CheckInvariants().ok());
}

TEST(BuddyTest, UnalignedRegionSplitsIntoMaximalAlignedBlocks) {
  Arena arena(4 * kMiB);
  const std::uintptr_t start =
      AlignedIn(arena, kMiB) + 48;  // 16- but not 32-aligned.
  BuddyByteAllocator buddy;
  ASSERT_TRUE(buddy.Init(start, 2 * kMiB).ok());
  ASSERT_TRUE(buddy.CheckInvariants().ok()) << buddy.CheckInvariants();
  // The blocks climb 16, 64, 128, ... up to the first 1 MiB boundary: only
  // 48 bytes plus the metadata and the tail are lost.
  EXPECT_GE(buddy.TotalBytes(), 2 * kMiB - 48 - 2 * kMiB / 64 - 4096);
  absl::StatusOr<void*> sixteen = buddy.Alloc(Layout{16, 16});
  ASSERT_TRUE(sixteen.ok());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(*sixteen), start);
}

TEST(BuddyTest, RequestTakesPowerOfTwoOfSizeAndAlignment) {
  Arena arena(kMiB);
  BuddyByteAllocator buddy;
  ASSERT_TRUE(buddy.Init(arena.start(), arena.size()).ok());
  const std::size_t before = buddy.UsedBytes();
  auto a = buddy.Alloc(Layout{100, 8});   // 128
  auto b = buddy.Alloc(Layout{1, 1});     // 16, the minimum
  auto c = buddy.Alloc(Layout{8, 4096});  // 4096 for the alignment
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  EXPECT_EQ(buddy.UsedBytes() - before, 128u + 16u + 4096u);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(*c) % 4096, 0u);
  buddy.Dealloc(*a, Layout{100, 8});
  buddy.Dealloc(*b, Layout{1, 1});
  buddy.Dealloc(*c, Layout{8, 4096});
  EXPECT_EQ(buddy.UsedBytes(), before);
  EXPECT_TRUE(buddy.CheckInvariants().ok());
}

TEST(BuddyTest, FreeingEverythingMergesBackToTheInitialBlocks) {
  Arena arena(4 * kMiB);
  BuddyByteAllocator buddy;
  ASSERT_TRUE(buddy.Init(AlignedIn(arena, kMiB), 2 * kMiB).ok());
  const std::size_t largest = buddy.LargestFreeBlock();
  std::vector<void*> blocks;
  for (absl::StatusOr<void*> p; (p = buddy.Alloc(Layout{64, 1})).ok();) {
    blocks.push_back(*p);
  }
  EXPECT_LT(buddy.AvailableBytes(), 64u);  // Only blocks too small for 64 B.
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937_64(7));
  for (void* p : blocks) buddy.Dealloc(p, Layout{64, 1});
  ASSERT_TRUE(buddy.CheckInvariants().ok()) << buddy.CheckInvariants();
  EXPECT_EQ(buddy.LargestFreeBlock(), largest);
  EXPECT_EQ(buddy.UsedBytes(), 0u);
}

TEST(BuddyTest, ManyRegionsAreFoundByAddress) {
  Arena arena(64 * kMiB);
  BuddyByteAllocator buddy;
  // Add the regions out of address order, with gaps between them.
  std::vector<std::uintptr_t> starts;
  for (int i = 0; i < 16; ++i) starts.push_back(arena.start() + i * 2 * kMiB);
  std::shuffle(starts.begin(), starts.end(), std::mt19937_64(3));
  ASSERT_TRUE(buddy.Init(starts[0], kMiB).ok());
  for (int i = 1; i < 16; ++i)
    ASSERT_TRUE(buddy.AddMemory(starts[i], kMiB).ok());
  ASSERT_TRUE(buddy.CheckInvariants().ok()) << buddy.CheckInvariants();
  std::vector<void*> blocks;
  for (absl::StatusOr<void*> p; (p = buddy.Alloc(Layout{4096, 1})).ok();) {
    blocks.push_back(*p);
  }
  EXPECT_GT(blocks.size(), 16 * 200u);
  for (void* p : blocks) buddy.Dealloc(p, Layout{4096, 1});
  EXPECT_TRUE(buddy.CheckInvariants().ok());
  EXPECT_EQ(buddy.UsedBytes(), 0u);
}

TEST(BuddyTest, RegionTableFullIsNoMemory) {
  Arena arena((BuddyByteAllocator::kMaxRegions + 1) * 8192);
  BuddyByteAllocator buddy;
  ASSERT_TRUE(buddy.Init(arena.start(), 8192).ok());
  for (std::size_t i = 1; i < BuddyByteAllocator::kMaxRegions; ++i) {
    ASSERT_TRUE(buddy.AddMemory(arena.start() + i * 8192, 8192).ok()) << i;
  }
  absl::Status status = buddy.AddMemory(
      arena.start() + BuddyByteAllocator::kMaxRegions * 8192, 8192);
  EXPECT_EQ(GetAllocError(status), AllocError::kNoMemory) << status;
  EXPECT_TRUE(buddy.CheckInvariants().ok());
}

TEST(BuddyTest, RegionTooSmallForMetadataIsInvalid) {
  Arena arena(4096);
  BuddyByteAllocator buddy;
  EXPECT_EQ(GetAllocError(buddy.Init(arena.start(), 64)),
            AllocError::kInvalidParam);
  EXPECT_EQ(buddy.TotalBytes(), 0u);
}

TEST(BuddyTest, RegionAtTheTopOfTheAddressSpaceIsInvalid) {
  BuddyByteAllocator buddy;
  EXPECT_EQ(GetAllocError(buddy.Init(~std::uintptr_t{0} - 7, 8)),
            AllocError::kInvalidParam);
}

TEST(BuddyTest, BlocksOfFourGibibytesAndMore) {
  // 8.25 GiB of address space, reserved but mostly untouched: only the bitmaps
  // (1/64 of the region) and the free-list links are written.
  Arena arena(24 * kGiB);
  if (!arena.ok()) GTEST_SKIP() << "the kernel refused a 24 GiB reservation";
  BuddyByteAllocator buddy;
  ASSERT_TRUE(
      buddy.Init(AlignedIn(arena, 8 * kGiB), 8 * kGiB + 256 * kMiB).ok());
  EXPECT_EQ(buddy.LargestFreeBlock(), 8 * kGiB);
  absl::StatusOr<void*> huge = buddy.Alloc(Layout{5 * kGiB, 4 * kGiB});
  ASSERT_TRUE(huge.ok()) << huge.status();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(*huge),
            AlignedIn(arena, 8 * kGiB));
  EXPECT_EQ(buddy.UsedBytes(), 8 * kGiB);
  absl::StatusOr<void*> small = buddy.Alloc(Layout{24, 8});
  ASSERT_TRUE(small.ok());
  buddy.Dealloc(*huge, Layout{5 * kGiB, 4 * kGiB});
  buddy.Dealloc(*small, Layout{24, 8});
  EXPECT_TRUE(buddy.CheckInvariants().ok());
  EXPECT_EQ(buddy.LargestFreeBlock(), 8 * kGiB);
}

TEST(BuddyTest, RequestOverTheLargestBlockIsNoMemory) {
  Arena arena(kMiB);
  BuddyByteAllocator buddy;
  ASSERT_TRUE(buddy.Init(arena.start(), arena.size()).ok());
  EXPECT_EQ(GetAllocError(
                buddy.Alloc(Layout{BuddyByteAllocator::kMaxBlockSize + 1, 1})
                    .status()),
            AllocError::kNoMemory);
  EXPECT_EQ(GetAllocError(
                buddy.Alloc(Layout{8, BuddyByteAllocator::kMaxBlockSize * 2})
                    .status()),
            AllocError::kNoMemory);
}

using BuddyDeathTest = ::testing::Test;

// Aborts in every build: p's buddy stays allocated, so p's own bit is set.
TEST(BuddyDeathTest, DoubleFreeAborts) {
  Arena arena(kMiB);
  BuddyByteAllocator buddy;
  ASSERT_TRUE(buddy.Init(arena.start(), arena.size()).ok());
  void* p = *buddy.Alloc(Layout{64, 8});
  void* q = *buddy.Alloc(Layout{64, 8});  // Keeps p's buddy in use.
  buddy.Dealloc(p, Layout{64, 8});
  EXPECT_DEATH(buddy.Dealloc(p, Layout{64, 8}), "double free");
  buddy.Dealloc(q, Layout{64, 8});
}

// The one death test whose outcome depends on NDEBUG: after the first free the
// block merged with its free buddy, so its own bit is clear and only the debug
// walk over the larger orders sees the second free (see Dealloc).
TEST(BuddyDeathTest, DoubleFreeAfterMergeAbortsInDebugBuilds) {
#ifdef NDEBUG
  GTEST_SKIP() << "release builds test only the block's own bit";
#else
  Arena arena(kMiB);
  BuddyByteAllocator buddy;
  ASSERT_TRUE(buddy.Init(arena.start(), arena.size()).ok());
  void* p = *buddy.Alloc(Layout{64, 8});
  buddy.Dealloc(p, Layout{64, 8});  // Merges back into the initial block.
  EXPECT_DEATH(buddy.Dealloc(p, Layout{64, 8}), "double free");
#endif
}

TEST(BuddyDeathTest, ForeignPointerAborts) {
  Arena arena(kMiB);
  BuddyByteAllocator buddy;
  ASSERT_TRUE(buddy.Init(arena.start(), arena.size() / 2).ok());
  void* foreign = reinterpret_cast<void*>(arena.start() + arena.size() * 3 / 4);
  EXPECT_DEATH(buddy.Dealloc(foreign, Layout{64, 8}), "not a block");
}

}  // namespace
}  // namespace heapkit
