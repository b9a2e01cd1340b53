#include "core/internal/hex.h"

#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace heapkit::internal {
namespace {

TEST(HexTest, WritesPrefixedLowerCaseHex) {
  EXPECT_EQ(Hex(0), "0x0");
  EXPECT_EQ(Hex(0xBEEF), "0xbeef");
  EXPECT_EQ(Hex(std::numeric_limits<std::uintptr_t>::max()),
            "0xffffffffffffffff");
}

TEST(HexTest, DescribesRegionHalfOpen) {
  EXPECT_EQ(Describe(Region{0x1000, 0x2000}), "[0x1000, 0x2000)");
}

}  // namespace
}  // namespace heapkit::internal
