#include "allocators/bitmap/internal/segmented_bitmap.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "gtest/gtest.h"
#include "tests/constants.h"

namespace heapkit::internal {
namespace {

using ::heapkit::testing::kMax;

TEST(SegmentedBitmapTest, OverlapsSeesEveryKindOfOverlap) {
  SegmentedBitmap bits;
  ASSERT_TRUE(bits.Add(300, 400));
  ASSERT_TRUE(bits.Add(100, 200));
  EXPECT_FALSE(bits.Overlaps(0, 100));    // Touches below.
  EXPECT_FALSE(bits.Overlaps(200, 300));  // Fills the gap.
  EXPECT_FALSE(bits.Overlaps(400, 500));  // Touches above.
  EXPECT_TRUE(bits.Overlaps(199, 200));
  EXPECT_TRUE(bits.Overlaps(150, 160));  // Inside.
  EXPECT_TRUE(bits.Overlaps(0, 1000));   // Around both.
  EXPECT_EQ(bits.total(), 200u);
}

TEST(SegmentedBitmapTest, RunsNeverCrossTouchingRanges) {
  SegmentedBitmap bits;
  ASSERT_TRUE(bits.Add(64, 128));
  ASSERT_TRUE(bits.Add(128, 192));
  EXPECT_TRUE(bits.Contains(100, 28));
  EXPECT_FALSE(bits.Contains(100, 29));  // Would cross into the next range.
  EXPECT_FALSE(bits.AllocateAt(120, 16));
  EXPECT_EQ(bits.Allocate(65, 1), std::nullopt);
  EXPECT_EQ(bits.Allocate(64, 1), std::optional<std::uintptr_t>(64));
  EXPECT_EQ(bits.Allocate(64, 1), std::optional<std::uintptr_t>(128));
  EXPECT_EQ(bits.used(), 128u);
  EXPECT_FALSE(bits.Free(120, 16));  // Both halves used, but two ranges.
  EXPECT_TRUE(bits.Free(64, 64));
  EXPECT_TRUE(bits.Free(128, 64));
  EXPECT_EQ(bits.used(), 0u);
}

TEST(SegmentedBitmapTest, AlignmentIsOnTheUnitNotTheBitIndex) {
  SegmentedBitmap bits;
  // The bitmap starts at unit 64, so unit 256 is bit 192.
  ASSERT_TRUE(bits.Add(100, 1000));
  EXPECT_EQ(bits.Allocate(1, 256), std::optional<std::uintptr_t>(256));
  EXPECT_EQ(bits.Allocate(1, 128), std::optional<std::uintptr_t>(128));
  EXPECT_FALSE(bits.IsUsed(100));
  EXPECT_TRUE(bits.IsUsed(256));
  EXPECT_FALSE(bits.IsUsed(64));  // Padding before the range: not managed.
}

TEST(SegmentedBitmapTest, CallerGivenStorageAndClear) {
  std::vector<std::uint64_t> storage(SegmentedBitmap::StorageWords(10, 20));
  SegmentedBitmap bits;
  bits.Add(10, 20, storage);
  EXPECT_TRUE(bits.AllocateAt(15, 5));
  EXPECT_FALSE(bits.AllocateAt(19, 1));
  bits.Clear();
  EXPECT_EQ(bits.total(), 0u);
  EXPECT_EQ(bits.used(), 0u);
  EXPECT_FALSE(bits.Contains(15, 1));
  EXPECT_FALSE(bits.Overlaps(0, kMax));
}

TEST(SegmentedBitmapTest, LookupsNearTheTopDoNotWrap) {
  SegmentedBitmap bits;
  ASSERT_TRUE(bits.Add(kMax - 100, kMax));
  EXPECT_TRUE(bits.Contains(kMax - 1, 1));
  EXPECT_FALSE(bits.Contains(kMax - 1, 2));  // kMax itself is never managed.
  EXPECT_FALSE(bits.AllocateAt(kMax - 10, kMax));  // first + count wraps.
  EXPECT_FALSE(bits.Free(kMax - 10, 20));
  EXPECT_EQ(bits.Allocate(100, 1), std::optional<std::uintptr_t>(kMax - 100));
  EXPECT_TRUE(bits.IsUsed(kMax - 1));
  EXPECT_FALSE(bits.IsUsed(kMax));
}

}  // namespace
}  // namespace heapkit::internal
