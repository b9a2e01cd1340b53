#include "core/internal/region_table.h"

#include <cstdint>
#include <memory>
#include <utility>

#include "gtest/gtest.h"

namespace heapkit::internal {
namespace {

template <class Table>
class RegionTableTest : public ::testing::Test {};

using FixedTable = RegionTable<Region, 4>;
using GrowingTable = RegionTable<Region, kUnbounded>;
using Tables = ::testing::Types<FixedTable, GrowingTable>;
TYPED_TEST_SUITE(RegionTableTest, Tables);

TYPED_TEST(RegionTableTest, InsertKeepsAddressOrder) {
  TypeParam table;
  ASSERT_NE(table.Insert(Region{300, 400}), nullptr);
  ASSERT_NE(table.Insert(Region{100, 200}), nullptr);
  ASSERT_NE(table.Insert(Region{200, 250}), nullptr);
  ASSERT_EQ(table.size(), 3u);
  EXPECT_EQ(table.Entries()[0].start, 100u);
  EXPECT_EQ(table.Entries()[1].start, 200u);
  EXPECT_EQ(table.Entries()[2].start, 300u);
  EXPECT_TRUE(table.IsSortedAndDisjoint());
}

TYPED_TEST(RegionTableTest, FindReturnsRegionHoldingAddress) {
  TypeParam table;
  table.Insert(Region{100, 200});
  table.Insert(Region{300, 400});
  EXPECT_EQ(table.Find(99), nullptr);
  ASSERT_NE(table.Find(100), nullptr);
  EXPECT_EQ(table.Find(100)->start, 100u);
  EXPECT_EQ(table.Find(199)->start, 100u);
  EXPECT_EQ(table.Find(200), nullptr);  // Between the regions.
  EXPECT_EQ(table.Find(399)->start, 300u);
  EXPECT_EQ(table.Find(400), nullptr);
}

TYPED_TEST(RegionTableTest, FindOverlapSeesEveryKindOfOverlap) {
  TypeParam table;
  table.Insert(Region{100, 200});
  table.Insert(Region{300, 400});
  EXPECT_EQ(table.FindOverlap(Region{0, 100}), nullptr);    // Touches below.
  EXPECT_EQ(table.FindOverlap(Region{200, 300}), nullptr);  // Fills the gap.
  EXPECT_EQ(table.FindOverlap(Region{400, 500}), nullptr);  // Touches above.
  ASSERT_NE(table.FindOverlap(Region{50, 101}), nullptr);
  EXPECT_EQ(table.FindOverlap(Region{50, 101})->start, 100u);
  EXPECT_EQ(table.FindOverlap(Region{199, 301})->start, 300u);
  EXPECT_EQ(table.FindOverlap(Region{120, 130})->start, 100u);  // Inside.
  EXPECT_NE(table.FindOverlap(Region{0, 1000}), nullptr);       // Around both.
  EXPECT_EQ(table.FindOverlap(Region{5, 5}), nullptr);          // Empty.
}

TYPED_TEST(RegionTableTest, EraseAndClear) {
  TypeParam table;
  table.Insert(Region{100, 200});
  table.Insert(Region{300, 400});
  table.Insert(Region{500, 600});
  table.Erase(1);
  ASSERT_EQ(table.size(), 2u);
  EXPECT_EQ(table.Entries()[1].start, 500u);
  EXPECT_EQ(table.Find(350), nullptr);
  table.Clear();
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Find(150), nullptr);
}

TEST(RegionTableTest, FixedTableRefusesInsertWhenFull) {
  FixedTable table;
  for (std::uintptr_t i = 0; i < 4; ++i) {
    ASSERT_NE(table.Insert(Region{i * 100, i * 100 + 50}), nullptr);
  }
  EXPECT_TRUE(table.full());
  EXPECT_EQ(table.Insert(Region{1000, 1100}), nullptr);
  EXPECT_EQ(table.size(), 4u);
  EXPECT_EQ(table.Find(1050), nullptr);
}

TEST(RegionTableTest, UnboundedTableNeverFull) {
  GrowingTable table;
  for (std::uintptr_t i = 0; i < 1000; ++i) {
    ASSERT_NE(table.Insert(Region{(999 - i) * 10, (999 - i) * 10 + 5}),
              nullptr);
  }
  EXPECT_FALSE(table.full());
  EXPECT_TRUE(table.IsSortedAndDisjoint());
  EXPECT_EQ(table.Find(5002)->start, 5000u);
}

// Entries other than a Region: move-only, named through a RegionOf functor.
struct Segment {
  Region range;
  std::unique_ptr<int> payload;
};
struct SegmentRegion {
  Region operator()(const Segment& segment) const { return segment.range; }
};

TEST(RegionTableTest, HoldsMoveOnlyEntriesThroughRegionOf) {
  RegionTable<Segment, kUnbounded, SegmentRegion> table;
  table.Insert(Segment{Region{10, 20}, std::make_unique<int>(1)});
  table.Insert(Segment{Region{0, 10}, std::make_unique<int>(0)});
  ASSERT_NE(table.Find(15), nullptr);
  EXPECT_EQ(*table.Find(15)->payload, 1);
  EXPECT_EQ(*table.Find(3)->payload, 0);
  table.Erase(0);
  EXPECT_EQ(table.Find(3), nullptr);
  EXPECT_EQ(*table.Find(15)->payload, 1);
}

TEST(RegionTableTest, DetectsUnsortedOrOverlappingEntries) {
  FixedTable table;
  table.Insert(Region{100, 200});
  table.Insert(Region{300, 400});
  table.Entries()[0].end = 350;  // A caller's mistake.
  EXPECT_FALSE(table.IsSortedAndDisjoint());
}

}  // namespace
}  // namespace heapkit::internal
