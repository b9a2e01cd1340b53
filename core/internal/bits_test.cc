#include "core/internal/bits.h"

#include <cstddef>
#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace heapkit::internal {
namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

TEST(BitsTest, IsPowerOfTwo) {
  EXPECT_FALSE(IsPowerOfTwo(0));
  for (std::size_t value = 1; value != 0; value <<= 1) {
    EXPECT_TRUE(IsPowerOfTwo(value)) << value;
    if (value > 2) {
      EXPECT_FALSE(IsPowerOfTwo(value - 1)) << value;
    }
    if (value > 1) {
      EXPECT_FALSE(IsPowerOfTwo(value + 1)) << value;
    }
  }
  EXPECT_FALSE(IsPowerOfTwo(kMax));
}

TEST(BitsTest, AlignDownAndUp) {
  EXPECT_EQ(AlignDown(0x1234, 0x100), 0x1200u);
  EXPECT_EQ(AlignUp(0x1234, 0x100), 0x1300u);
  EXPECT_EQ(AlignUp(0x1200, 0x100), 0x1200u);
  EXPECT_EQ(AlignDown(0x1200, 0x100), 0x1200u);
  EXPECT_EQ(AlignUp(7, 1), 7u);
  EXPECT_EQ(AlignDown(kMax, 16), kMax - 15);
  EXPECT_EQ(AlignUp(kMax - 15, 16), kMax - 15);
}

TEST(BitsTest, IsAligned) {
  EXPECT_TRUE(IsAligned(0, 4096));
  EXPECT_TRUE(IsAligned(8192, 4096));
  EXPECT_FALSE(IsAligned(8193, 4096));
  EXPECT_TRUE(IsAligned(8193, 1));
}

TEST(BitsTest, Log2) {
  EXPECT_EQ(FloorLog2(1), 0);
  EXPECT_EQ(FloorLog2(2), 1);
  EXPECT_EQ(FloorLog2(3), 1);
  EXPECT_EQ(FloorLog2(kMax), 63);
  EXPECT_EQ(CeilLog2(1), 0);
  EXPECT_EQ(CeilLog2(2), 1);
  EXPECT_EQ(CeilLog2(3), 2);
  EXPECT_EQ(CeilLog2(4096), 12);
  EXPECT_EQ(CeilLog2(4097), 13);
  EXPECT_EQ(CeilLog2(kMax), 64);
}

}  // namespace
}  // namespace heapkit::internal
