#include "allocators/tlsf/internal/tlsf_lists.h"

#include <algorithm>
#include <cstddef>
#include <random>
#include <vector>

#include "allocators/tlsf/internal/tlsf_block.h"
#include "gtest/gtest.h"

namespace heapkit::tlsf_internal {
namespace {

// Returns the smallest size on `list`, from the definition in tlsf_lists.h
// rather than from ListFor: first level 0 is cut into lists kGranularity
// apart, first level fl >= 1 covers [kSmallSize << (fl - 1), kSmallSize << fl)
// in kSlCount equal lists. LowerBound(kListCount) is the first size no list
// holds.
std::size_t LowerBound(List list) {
  const unsigned fl = list / kSlCount;
  const unsigned sl = list % kSlCount;
  if (fl == 0) return std::size_t{sl} * kGranularity;
  const std::size_t level = kSmallSize << (fl - 1);
  return level + sl * (level / kSlCount);
}

// Block sizes to check: every one up to 1 MiB, each list's first, second and
// last size, and random sizes up to kMaxBlockSize; sorted, no duplicates.
std::vector<std::size_t> SizesToCheck() {
  std::vector<std::size_t> sizes;
  for (std::size_t size = kMinBlockSize; size <= (std::size_t{1} << 20);
       size += kGranularity) {
    sizes.push_back(size);
  }
  for (List list = ListFor(kMinBlockSize); list < kListCount; ++list) {
    sizes.push_back(LowerBound(list));
    sizes.push_back(LowerBound(list) + kGranularity);
    sizes.push_back(LowerBound(list + 1) - kGranularity);
  }
  std::mt19937_64 random(42);
  std::uniform_int_distribution<std::size_t> units(
      kMinBlockSize / kGranularity, kMaxBlockSize / kGranularity);
  for (int i = 0; i < 100'000; ++i)
    sizes.push_back(units(random) * kGranularity);
  std::sort(sizes.begin(), sizes.end());
  sizes.erase(std::unique(sizes.begin(), sizes.end()), sizes.end());
  return sizes;
}

TEST(TlsfListsTest, ListCounts) {
  EXPECT_EQ(kSlCount, 32u);
  EXPECT_EQ(kSmallSize, 512u);
  EXPECT_EQ(kFlCount, 33u);  // Level 0, then 2^9 up to 2^40.
  EXPECT_EQ(kListCount, 33u * 32u);
  // The lists end exactly where block sizes do.
  EXPECT_LE(LowerBound(kListCount - 1), kMaxBlockSize);
  EXPECT_EQ(LowerBound(kListCount), kMaxBlockSize + kGranularity);
}

// The checks that used to be static_asserts in TlsfByteAllocator::Reset().
TEST(TlsfListsTest, KnownSizes) {
  EXPECT_EQ(ListFor(kMaxBlockSize), kListCount - 1);
  EXPECT_EQ(ListFor(kMaxBlockSize + kGranularity), kListCount);
  EXPECT_EQ(ListFor(32), 2u);
  EXPECT_EQ(ListFor(496), kSlCount - 1);
  EXPECT_EQ(ListFor(kSmallSize), kSlCount);    // (1, 0)
  EXPECT_EQ(ListFor(1008), 2 * kSlCount - 1);  // (1, 31)
  EXPECT_EQ(ListFor(1024), 2 * kSlCount);      // (2, 0)
  EXPECT_EQ(ListFor(1056), 2 * kSlCount + 1);  // (2, 1)
  EXPECT_EQ(FirstListHolding(496), ListFor(496));
  EXPECT_EQ(FirstListHolding(1024), ListFor(1024));
  EXPECT_EQ(FirstListHolding(1040), ListFor(1056));  // Skips (2, 0).
  EXPECT_EQ(FirstListHolding(1008), ListFor(1008));
  EXPECT_EQ(FirstListHolding(2032), ListFor(2048));  // Next power.
  EXPECT_EQ(FirstListHolding(kMaxBlockSize), kListCount);
}

TEST(TlsfListsTest, EveryFirstLevelStartsAtItsPowerOfTwo) {
  for (unsigned fl = 1; fl < kFlCount; ++fl) {
    SCOPED_TRACE(fl);
    const std::size_t start = kSmallSize << (fl - 1);
    const List first = fl * kSlCount;
    EXPECT_EQ(LevelLog2(start), kSmallSizeLog2 + fl - 1);
    EXPECT_EQ(ListFor(start), first);
    EXPECT_EQ(ListFor(start + kGranularity), fl == 1 ? first + 1 : first);
    EXPECT_EQ(ListFor(start - kGranularity), first - 1);
    EXPECT_EQ(ListFor(2 * start - kGranularity), first + kSlCount - 1);
    EXPECT_EQ(FirstListHolding(start), first);
    EXPECT_EQ(FirstListHolding(start + kGranularity), first + 1);
    // Lists are kGranularity apart up to 2 * kSmallSize, so only there does
    // a list start 16 bytes below a power of two.
    EXPECT_EQ(FirstListHolding(start - kGranularity),
              fl <= 2 ? first - 1 : first);
  }
}

TEST(TlsfListsTest, EveryListStartsAtItsLowerBound) {
  for (List list = ListFor(kMinBlockSize); list < kListCount; ++list) {
    SCOPED_TRACE(list);
    ASSERT_LT(LowerBound(list), LowerBound(list + 1));
    EXPECT_EQ(LowerBound(list) % kGranularity, 0u);
    EXPECT_EQ(ListFor(LowerBound(list)), list);
    EXPECT_EQ(ListFor(LowerBound(list + 1) - kGranularity), list);
    EXPECT_EQ(FirstListHolding(LowerBound(list)), list);
  }
}

TEST(TlsfListsTest, ListForIsMonotoneAndSkipsNoList) {
  List previous = ListFor(kMinBlockSize);
  for (std::size_t size : SizesToCheck()) {
    const List list = ListFor(size);
    ASSERT_LT(list, kListCount) << size;
    ASSERT_GE(list, previous) << size;
    ASSERT_LE(LowerBound(list), size) << size;
    ASSERT_LT(size, LowerBound(list + 1)) << size;
    previous = list;
  }
  // Step by step, the list grows by at most one per kGranularity.
  for (std::size_t size = kMinBlockSize + kGranularity;
       size <= (std::size_t{1} << 20); size += kGranularity) {
    ASSERT_LE(ListFor(size) - ListFor(size - kGranularity), 1u) << size;
  }
}

TEST(TlsfListsTest, FirstListHoldingHoldsOnlyBlocksThatFit) {
  for (std::size_t size : SizesToCheck()) {
    const List list = FirstListHolding(size);
    // Every block on `list` fits, and the list before has one that does not.
    ASSERT_GE(LowerBound(list), size) << size;
    ASSERT_LT(LowerBound(list - 1), size) << size;
    ASSERT_EQ(list, ListFor(size) + (LowerBound(ListFor(size)) == size ? 0 : 1))
        << size;
    // The good-fit bound: a block found there exceeds the request by less
    // than two list widths, so under 1/16 of the request.
    if (list < kListCount) {
      const std::size_t largest = LowerBound(list + 1) - kGranularity;
      ASSERT_LT(largest - size, std::max(kMinBlockSize, size / 16)) << size;
    }
  }
}

TEST(TlsfListsTest, MinTailSize) {
  EXPECT_EQ(MinTailSize(kMinBlockSize), kMinBlockSize);
  EXPECT_EQ(MinTailSize(1024), kMinBlockSize);
  EXPECT_EQ(MinTailSize(1040), kMinBlockSize);
  EXPECT_EQ(MinTailSize(2048), 64u);
  EXPECT_EQ(MinTailSize(kMaxBlockSize), kMaxBlockSize / 32);
  for (std::size_t size : SizesToCheck()) {
    ASSERT_GE(MinTailSize(size), kMinBlockSize);
    ASSERT_GE(MinTailSize(size) * kSlCount + kSlCount, size) << size;
  }
}

}  // namespace
}  // namespace heapkit::tlsf_internal
