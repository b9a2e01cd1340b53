#include <cstdint>
#include <limits>
#include <string>

#include "core/alloc_error.h"
#include "core/layout.h"
#include "core/region.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace heapkit {
namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

TEST(LayoutTest, CreateAcceptsPowerOfTwoAlignments) {
  for (std::size_t align = 1; align != 0; align <<= 1) {
    absl::StatusOr<Layout> layout = Layout::Create(100, align);
    ASSERT_TRUE(layout.ok()) << align;
    EXPECT_EQ(layout->size, 100u);
    EXPECT_EQ(layout->align, align);
  }
}

TEST(LayoutTest, CreateRejectsNonPowerOfTwoAlignment) {
  for (std::size_t align : {0, 3, 6, 12, 4097}) {
    EXPECT_EQ(GetAllocError(Layout::Create(8, align).status()),
              AllocError::kInvalidParam)
        << align;
  }
}

TEST(LayoutTest, CreateRejectsSizeThatOverflowsWhenRounded) {
  EXPECT_EQ(GetAllocError(Layout::Create(kMax, 2).status()),
            AllocError::kInvalidParam);
  EXPECT_EQ(GetAllocError(Layout::Create(kMax - 14, 16).status()),
            AllocError::kInvalidParam);
  EXPECT_TRUE(Layout::Create(kMax - 15, 16).ok());
  EXPECT_TRUE(Layout::Create(kMax, 1).ok());
}

TEST(LayoutTest, OfUsesTypeSizeAndAlignment) {
  struct alignas(32) Wide {
    char bytes[96];
  };
  EXPECT_EQ(Layout::Of<Wide>(), (Layout{96, 32}));
  EXPECT_EQ(Layout::Of<std::uint64_t>(10), (Layout{80, 8}));
  EXPECT_EQ(Layout::Of<std::uint64_t>(kMax / 4).size, kMax);  // Saturates.
}

TEST(AllocErrorTest, RoundTripsThroughStatus) {
  for (AllocError error :
       {AllocError::kInvalidParam, AllocError::kMemoryOverlap,
        AllocError::kNoMemory, AllocError::kNotAllocated}) {
    absl::Status status = MakeError(error, "message");
    EXPECT_FALSE(status.ok());
    EXPECT_EQ(status.message(), "message");
    EXPECT_EQ(GetAllocError(status), error) << AllocErrorName(error);
  }
}

TEST(AllocErrorTest, MapsToDocumentedCodes) {
  EXPECT_EQ(MakeError(AllocError::kInvalidParam, "").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MakeError(AllocError::kMemoryOverlap, "").code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(MakeError(AllocError::kNoMemory, "").code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(MakeError(AllocError::kNotAllocated, "").code(),
            absl::StatusCode::kNotFound);
}

TEST(AllocErrorTest, OkAndForeignCodesCarryNoError) {
  EXPECT_EQ(GetAllocError(absl::OkStatus()), std::nullopt);
  EXPECT_EQ(GetAllocError(absl::InternalError("x")), std::nullopt);
}

TEST(RegionTest, CheckRegionAcceptsOrdinaryAndZeroBasedRegions) {
  absl::StatusOr<Region> region = CheckRegion(0x1000, 0x2000, 16, "test");
  ASSERT_TRUE(region.ok());
  EXPECT_EQ(region->start, 0x1000u);
  EXPECT_EQ(region->end, 0x3000u);
  EXPECT_TRUE(CheckRegion(0, 64, 16, "test").ok());
}

TEST(RegionTest, CheckRegionRejectsEmptyTinyAndWrapping) {
  EXPECT_EQ(GetAllocError(CheckRegion(0x1000, 0, 16, "t").status()),
            AllocError::kInvalidParam);
  EXPECT_EQ(GetAllocError(CheckRegion(0x1000, 8, 16, "t").status()),
            AllocError::kInvalidParam);
  EXPECT_EQ(GetAllocError(CheckRegion(kMax - 100, 200, 16, "t").status()),
            AllocError::kInvalidParam);
}

TEST(RegionTest, RegionReachingTheLastAddressIsRefused) {
  // Kept whole or refused: never shortened by its last byte.
  absl::StatusOr<Region> top = CheckRegion(kMax - 99, 100, 16, "t");
  EXPECT_EQ(GetAllocError(top.status()), AllocError::kInvalidParam);
  EXPECT_THAT(std::string(top.status().message()),
              ::testing::HasSubstr("t: region reaches the last address"));
  absl::StatusOr<Region> below = CheckRegion(kMax - 99, 99, 16, "t");
  ASSERT_TRUE(below.ok());
  EXPECT_EQ(below->end, kMax);
}

TEST(RegionTest, OverlapsAndContains) {
  Region a{100, 200};
  EXPECT_TRUE(a.Overlaps(Region{199, 300}));
  EXPECT_FALSE(a.Overlaps(Region{200, 300}));
  EXPECT_FALSE(a.Overlaps(Region{0, 100}));
  EXPECT_TRUE(a.Overlaps(Region{0, 101}));
  EXPECT_TRUE(a.Contains(100));
  EXPECT_FALSE(a.Contains(200));
}

}  // namespace
}  // namespace heapkit
