#include "tests/shadow_model.h"

#include <cstdint>
#include <cstring>

#include "core/layout.h"
#include "core/region.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"

namespace heapkit::testing {
namespace {

using ::testing::HasSubstr;

// A model over the first 4 KiB of a page-aligned arena; blocks are placed by
// hand, as a backend would.
class ShadowModelTest : public ::testing::Test {
 protected:
  ShadowModelTest() : arena_(64 * kKiB) {
    model_.AddRegion(Region{arena_.start(), arena_.start() + 4 * kKiB});
  }

  // Returns the address `offset` bytes into the arena.
  unsigned char* At(std::size_t offset) {
    return reinterpret_cast<unsigned char*>(arena_.start() + offset);
  }

  Arena arena_;
  ShadowModel model_;
};

TEST_F(ShadowModelTest, AcceptsAlignedDisjointBlocksInsideTheRegion) {
  EXPECT_TRUE(model_.Allocated(At(0), Layout{64, 16}));
  EXPECT_TRUE(model_.Allocated(At(64), Layout{0, 1}));
  EXPECT_TRUE(model_.Allocated(At(65), Layout{7, 1}));
  EXPECT_TRUE(model_.Allocated(At(4 * kKiB - 8), Layout{8, 8}));
  EXPECT_EQ(model_.live().size(), 4u);
  EXPECT_EQ(model_.live_bytes(), 64u + 0u + 7u + 8u);
}

TEST_F(ShadowModelTest, ReportsNullBlocksAndInvalidLayouts) {
  EXPECT_THAT(model_.Allocated(nullptr, Layout{8, 8}).message(),
              HasSubstr("null block"));
  EXPECT_THAT(model_.Allocated(At(0), Layout{8, 3}).message(),
              HasSubstr("invalid layout 8/3"));
  EXPECT_TRUE(model_.live().empty());
}

TEST_F(ShadowModelTest, ReportsMisalignment) {
  ::testing::AssertionResult result = model_.Allocated(At(8), Layout{16, 16});
  EXPECT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("is not aligned to 16"));
  EXPECT_TRUE(model_.live().empty());
}

TEST_F(ShadowModelTest, ReportsBlocksOutsideEveryRegion) {
  for (std::size_t offset : {4 * kKiB - 8, 4 * kKiB, 8 * kKiB}) {
    ::testing::AssertionResult result =
        model_.Allocated(At(offset), Layout{16, 1});
    EXPECT_FALSE(result) << offset;
    EXPECT_THAT(result.message(), HasSubstr("outside every region"));
  }
  // A size-0 block still takes a byte, which the region must hold.
  EXPECT_FALSE(model_.Allocated(At(4 * kKiB), Layout{0, 1}));
  EXPECT_TRUE(model_.live().empty());
}

TEST_F(ShadowModelTest, ReportsOverlapWithEitherNeighbour) {
  ASSERT_TRUE(model_.Allocated(At(100), Layout{100, 1}));
  EXPECT_THAT(model_.Allocated(At(50), Layout{51, 1}).message(),
              HasSubstr("overlaps the live block at"));
  EXPECT_THAT(model_.Allocated(At(199), Layout{1, 1}).message(),
              HasSubstr("overlaps the live block at"));
  EXPECT_FALSE(model_.Allocated(At(100), Layout{0, 1}));
  EXPECT_FALSE(model_.Allocated(At(150), Layout{0, 1}));
  // Touching is fine on both sides.
  EXPECT_TRUE(model_.Allocated(At(50), Layout{50, 1}));
  EXPECT_TRUE(model_.Allocated(At(200), Layout{10, 1}));
  EXPECT_EQ(model_.live().size(), 3u);
}

TEST_F(ShadowModelTest, SizeZeroBlocksTakeOneByte) {
  ASSERT_TRUE(model_.Allocated(At(10), Layout{0, 1}));
  EXPECT_FALSE(model_.Allocated(At(10), Layout{0, 1}));
  EXPECT_FALSE(model_.Allocated(At(9), Layout{2, 1}));
  EXPECT_TRUE(model_.Allocated(At(11), Layout{0, 1}));
  Layout layout;
  EXPECT_TRUE(model_.Freeing(At(10), layout));
  EXPECT_EQ(layout, (Layout{0, 1}));
}

TEST_F(ShadowModelTest, JoinsTouchingRegionsOnly) {
  model_.AddRegion(
      Region{arena_.start() + 4 * kKiB, arena_.start() + 8 * kKiB});
  model_.AddRegion(
      Region{arena_.start() + 9 * kKiB, arena_.start() + 10 * kKiB});
  EXPECT_TRUE(model_.Allocated(At(4 * kKiB - 100), Layout{200, 1}));
  EXPECT_THAT(model_.Allocated(At(8 * kKiB - 100), Layout{200, 1}).message(),
              HasSubstr("outside every region"));
  EXPECT_TRUE(model_.Allocated(At(9 * kKiB), Layout{kKiB, 1}));
}

TEST_F(ShadowModelTest, FreeingReturnsTheLayoutAndForgetsTheBlock) {
  ASSERT_TRUE(model_.Allocated(At(64), Layout{100, 64}));
  Layout layout;
  EXPECT_TRUE(model_.Freeing(At(64), layout));
  EXPECT_EQ(layout, (Layout{100, 64}));
  EXPECT_TRUE(model_.live().empty());
  EXPECT_EQ(model_.live_bytes(), 0u);
  // Once freed, the same bytes can be handed out again.
  EXPECT_TRUE(model_.Allocated(At(64), Layout{100, 1}));
}

TEST_F(ShadowModelTest, FreeingReportsAPointerThatIsNotLive) {
  ASSERT_TRUE(model_.Allocated(At(64), Layout{100, 1}));
  Layout layout{7, 7};
  ::testing::AssertionResult result = model_.Freeing(At(65), layout);
  EXPECT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("is not live"));
  EXPECT_EQ(layout, (Layout{7, 7}));
  EXPECT_EQ(model_.live().size(), 1u);
}

TEST_F(ShadowModelTest, FreeingReportsACorruptedPatternAnywhereInTheBlock) {
  for (std::size_t corrupt : {0, 7, 8, 9, 57, 99}) {
    SCOPED_TRACE(corrupt);
    ASSERT_TRUE(model_.Allocated(At(0), Layout{100, 1}));
    At(0)[corrupt] ^= 1;
    Layout layout;
    ::testing::AssertionResult result = model_.Freeing(At(0), layout);
    EXPECT_FALSE(result);
    EXPECT_THAT(result.message(), HasSubstr("were overwritten"));
    // Forgotten all the same, so the test can free it and go on.
    EXPECT_EQ(layout, (Layout{100, 1}));
    EXPECT_TRUE(model_.live().empty());
  }
}

TEST_F(ShadowModelTest, StampsDifferFromBlockToBlock) {
  // A block that another one's pattern overwrote wholesale is caught.
  ASSERT_TRUE(model_.Allocated(At(0), Layout{64, 1}));
  ASSERT_TRUE(model_.Allocated(At(64), Layout{64, 1}));
  std::memcpy(At(0), At(64), 64);
  Layout layout;
  EXPECT_FALSE(model_.Freeing(At(0), layout));
  EXPECT_TRUE(model_.Freeing(At(64), layout));
}

TEST_F(ShadowModelTest, ResizedInPlaceKeepsTheAlignmentAndRestamps) {
  ASSERT_TRUE(model_.Allocated(At(256), Layout{100, 256}));
  EXPECT_TRUE(model_.Resized(At(256), 300));
  EXPECT_EQ(model_.live_bytes(), 300u);
  EXPECT_EQ(model_.live().at(arena_.start() + 256).layout, (Layout{300, 256}));
  EXPECT_TRUE(model_.ResizeFailed(At(256)));  // All 300 bytes are stamped.
  EXPECT_TRUE(model_.Resized(At(256), At(256), 10));
  EXPECT_EQ(model_.live_bytes(), 10u);
  // The new size's bytes are stamped: corrupting past them is not noticed.
  At(256)[20] ^= 1;
  Layout layout;
  EXPECT_TRUE(model_.Freeing(At(256), layout));
  EXPECT_EQ(layout, (Layout{10, 256}));
}

TEST_F(ShadowModelTest, ResizedChecksOnlyTheKeptContents) {
  ASSERT_TRUE(model_.Allocated(At(0), Layout{100, 1}));
  At(0)[50] ^= 1;
  EXPECT_TRUE(model_.Resized(At(0), 40));  // Byte 50 is not kept.
  ASSERT_TRUE(model_.Resized(At(0), 100));
  At(0)[50] ^= 1;
  ::testing::AssertionResult result = model_.Resized(At(0), 60);
  EXPECT_FALSE(result);
  EXPECT_THAT(result.message(),
              HasSubstr("from 100 to 60 bytes lost its contents"));
  EXPECT_TRUE(model_.live().empty());
  EXPECT_EQ(model_.live_bytes(), 0u);
}

TEST_F(ShadowModelTest, ResizedReportsAMovedBlock) {
  ASSERT_TRUE(model_.Allocated(At(0), Layout{100, 1}));
  ::testing::AssertionResult result = model_.Resized(At(0), At(512), 50);
  EXPECT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("in place moved it to"));
  EXPECT_TRUE(model_.live().empty());
}

TEST_F(ShadowModelTest, ResizedReportsGrowthOverANeighbourOrPastTheRegion) {
  ASSERT_TRUE(model_.Allocated(At(0), Layout{100, 1}));
  ASSERT_TRUE(model_.Allocated(At(200), Layout{100, 1}));
  EXPECT_TRUE(model_.Resized(At(0), 200));  // Up to the neighbour.
  ::testing::AssertionResult result = model_.Resized(At(0), 201);
  EXPECT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("overlaps the live block at"));
  EXPECT_THAT(result.message(), HasSubstr("after a resize from 200 bytes"));

  ASSERT_TRUE(model_.Allocated(At(4 * kKiB - 100), Layout{100, 1}));
  EXPECT_THAT(model_.Resized(At(4 * kKiB - 100), 101).message(),
              HasSubstr("outside every region"));
  EXPECT_EQ(model_.live().size(), 1u);
}

TEST_F(ShadowModelTest, ResizedAndResizeFailedReportAPointerThatIsNotLive) {
  EXPECT_THAT(model_.Resized(At(0), 10).message(), HasSubstr("is not live"));
  EXPECT_THAT(model_.ResizeFailed(At(0)).message(), HasSubstr("is not live"));
}

TEST_F(ShadowModelTest, ResizeFailedChecksTheWholeBlockAndChangesNothing) {
  ASSERT_TRUE(model_.Allocated(At(0), Layout{100, 8}));
  EXPECT_TRUE(model_.ResizeFailed(At(0)));
  EXPECT_EQ(model_.live_bytes(), 100u);
  At(0)[99] ^= 1;
  ::testing::AssertionResult result = model_.ResizeFailed(At(0));
  EXPECT_FALSE(result);
  EXPECT_THAT(result.message(), HasSubstr("failed resize changed"));
  EXPECT_EQ(model_.live().size(), 1u);
}

TEST_F(ShadowModelTest, ResetForgetsRegionsAndBlocks) {
  ASSERT_TRUE(model_.Allocated(At(0), Layout{100, 1}));
  model_.Reset();
  EXPECT_TRUE(model_.live().empty());
  EXPECT_EQ(model_.live_bytes(), 0u);
  EXPECT_FALSE(model_.Allocated(At(0), Layout{100, 1}));
}

}  // namespace
}  // namespace heapkit::testing
