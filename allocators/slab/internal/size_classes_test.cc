#include "allocators/slab/internal/size_classes.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "gtest/gtest.h"
#include "tests/constants.h"

namespace heapkit::slab_internal {
namespace {

using ::heapkit::testing::kKiB;

TEST(SizeClassesTest, ClassesGrowInStepsOfTheGranularity) {
  ASSERT_EQ(kNumClasses, 32u);
  EXPECT_EQ(kClassSizes[0], kGranularity);
  EXPECT_EQ(kClassSizes[kNumClasses - 1], kMaxSmallSize);
  for (std::size_t c = 1; c < kNumClasses; ++c) {
    EXPECT_LT(kClassSizes[c - 1], kClassSizes[c]) << c;
    EXPECT_EQ(kClassSizes[c] % kGranularity, 0u) << c;
  }
  // 16 apart up to 256, then four per power of two.
  EXPECT_EQ(kClassSizes[15], 256u);
  EXPECT_EQ(kClassSizes[16], 320u);
  EXPECT_EQ(kClassSizes[19], 512u);
  EXPECT_EQ(kClassSizes[28], 2560u);
}

TEST(SizeClassesTest, EverySizeMapsToTheSmallestClassThatHoldsIt) {
  for (std::size_t size = 0; size <= kMaxSmallSize; ++size) {
    const std::size_t c = ClassOfSize(size);
    ASSERT_LT(c, kNumClasses) << size;
    EXPECT_GE(kClassSizes[c], std::max<std::size_t>(size, 1)) << size;
    if (c > 0) {
      EXPECT_LT(kClassSizes[c - 1], size) << size;
    }
  }
  EXPECT_EQ(ClassOfSize(0), 0u);
  EXPECT_EQ(ClassOfSize(kMaxSmallSize), kNumClasses - 1);
  EXPECT_EQ(kClassSizes[ClassOfSize(0)], 16u);
  EXPECT_EQ(kClassSizes[ClassOfSize(17)], 32u);
  EXPECT_EQ(kClassSizes[ClassOfSize(257)], 320u);
  EXPECT_EQ(kClassSizes[ClassOfSize(3000)], 3072u);
}

TEST(SizeClassesTest, WorstCaseWasteIsAsDocumented) {
  // Up to 256 bytes the classes are 16 apart: at most 15 bytes lost. Above,
  // four classes per power of two: under 20%, the worst at the first class of
  // each power of two.
  std::size_t worst_above_256 = 0;  // In thousandths.
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const std::size_t size = kClassSizes[c];
    const std::size_t below = c == 0 ? 0 : kClassSizes[c - 1];
    const std::size_t waste = size - below - 1;  // For a request of below + 1.
    if (size <= 256) {
      EXPECT_EQ(waste, 15u) << size;
    } else {
      EXPECT_LT(waste * 5, size) << size;
      worst_above_256 = std::max(worst_above_256, waste * 1000 / size);
    }
  }
  EXPECT_EQ(worst_above_256, 199u);  // 511 of 2560 bytes.
}

TEST(SizeClassesTest, AMultipleOfAnAlignmentMapsToAMultipleOfIt) {
  // What lets a slab honour alignments over 16: sizes are rounded up to the
  // alignment before the lookup.
  for (std::size_t align = kGranularity; align <= kMaxSmallSize; align *= 2) {
    for (std::size_t size = align; size <= kMaxSmallSize; size += align) {
      EXPECT_EQ(kClassSizes[ClassOfSize(size)] % align, 0u)
          << size << " aligned to " << align;
    }
  }
}

// Dealloc-side bookkeeping maps an address to its object with a multiply.
TEST(SizeClassesTest, ReciprocalsDivideEveryOffsetBelowTheSlabSizeExactly) {
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    for (std::uint64_t offset = 0; offset < kSlabSize; ++offset) {
      ASSERT_EQ((offset * kReciprocals[c]) >> 32, offset / kClassSizes[c])
          << "class " << c << " offset " << offset;
    }
  }
}

TEST(SizeClassesTest, ASlabHasABitPerObjectAndRoomForItsMetadata) {
  // The last 640 bytes hold the metadata.
  EXPECT_EQ(kObjectBytes, kSlabSize - 128 - 512);
  EXPECT_LE(kObjectBytes + kMetadataBytes + kBackingTail, kSlabSize);
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    const std::size_t objects = kObjectBytes / kClassSizes[c];
    EXPECT_LE(objects, kBitmapWords * 64) << c;
    EXPECT_LE(objects, 0xffffu) << c;  // Slab::capacity is 16 bits.
    EXPECT_LT(kObjectBytes - objects * kClassSizes[c], kClassSizes[c]) << c;
  }
}

TEST(SizeClassesTest, MagazinesTileOneArrayAndHoldAtMostTheirBytes) {
  std::size_t next = 0;
  std::size_t bytes = 0;
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    EXPECT_EQ(kMagazineStarts[c], next) << c;
    EXPECT_EQ(kMagazineSizes[c],
              std::min(kMagazineBytes / kClassSizes[c], kMaxMagazine))
        << c;
    EXPECT_GE(kMagazineSizes[c], 2u) << c;  // A flush moves half.
    next += kMagazineSizes[c];
    bytes += std::size_t{kMagazineSizes[c]} * kClassSizes[c];
  }
  EXPECT_EQ(next, kMagazineSlots);
  EXPECT_EQ(kMagazineSizes[0], kMaxMagazine);
  EXPECT_EQ(kMagazineSizes[kNumClasses - 1], 16u);
  // "About 1.5 MiB" of parked objects at most, as size_classes.h says.
  EXPECT_LE(bytes, 1600 * kKiB);
  EXPECT_GE(bytes, 1400 * kKiB);
}

}  // namespace
}  // namespace heapkit::slab_internal
