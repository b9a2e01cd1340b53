#include "adapters/global/internal/size_classes.h"

#include <cstddef>

#include "gtest/gtest.h"

namespace heapkit::global_internal {
namespace {

TEST(SizeClassesTest, EverySizeGetsTheSmallestClassThatHoldsIt) {
  std::size_t previous_class = 0;
  for (std::size_t size = 0; size <= kMaxCachedSize; ++size) {
    const std::size_t size_class = ClassOf(size);
    ASSERT_LT(size_class, kNumClasses) << size;
    ASSERT_GE(ClassSize(size_class), size) << size;
    if (size_class > 0) {
      ASSERT_LT(ClassSize(size_class - 1), size) << size;
    }
    ASSERT_GE(size_class, previous_class) << size;
    previous_class = size_class;
  }
}

TEST(SizeClassesTest, ClassesAre16AlignedAndWasteAtMostAnEighth) {
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    EXPECT_EQ(ClassSize(c) % 16, 0u) << c;
    EXPECT_EQ(ClassOf(ClassSize(c)), c) << c;
    if (c > 0) {
      // The smallest request in class c is one more than the class below.
      const std::size_t smallest = ClassSize(c - 1) + 1;
      EXPECT_LE(ClassSize(c) - smallest, smallest / 8 + 16) << c;
    }
  }
}

}  // namespace
}  // namespace heapkit::global_internal
