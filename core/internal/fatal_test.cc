#include "core/internal/fatal.h"

#include "gtest/gtest.h"

namespace heapkit::internal {
namespace {

TEST(FatalDeathTest, PrintsFormattedMessageAndAborts) {
  EXPECT_DEATH(Fatal("Widget::Free(%p): %s", reinterpret_cast<void*>(0xbeef0),
                     "double free"),
               "Widget::Free\\(0xbeef0\\): double free");
}

}  // namespace
}  // namespace heapkit::internal
