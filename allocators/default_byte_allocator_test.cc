#include "allocators/default_byte_allocator.h"

#include <cstring>
#include <type_traits>

#include "core/byte_allocator.h"
#include "core/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using ::heapkit::testing::Arena;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::kMiB;

TEST(DefaultByteAllocatorTest, IsAFinalByteAllocatorThatWorks) {
  static_assert(std::is_base_of_v<ByteAllocator, DefaultByteAllocator>);
  static_assert(std::is_final_v<DefaultByteAllocator>);
  Arena arena(kMiB);
  DefaultByteAllocator allocator;
  ASSERT_THAT(allocator.Init(arena.start(), arena.size()), IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, allocator.Alloc(Layout{100, 16}));
  allocator.Dealloc(block, Layout{100, 16});
  EXPECT_GT(std::strlen(kDefaultByteAllocatorName), 0u);
}

}  // namespace
}  // namespace heapkit
