#include "allocators/default_byte_allocator.h"

#include <cstring>
#include <type_traits>

#include "gtest/gtest.h"
#include "tests/arena.h"

namespace heapkit {
namespace {

TEST(DefaultByteAllocatorTest, IsAFinalByteAllocatorThatWorks) {
  static_assert(std::is_base_of_v<ByteAllocator, DefaultByteAllocator>);
  static_assert(std::is_final_v<DefaultByteAllocator>);
  testing::Arena arena(1 << 20);
  DefaultByteAllocator allocator;
  ASSERT_TRUE(allocator.Init(arena.start(), arena.size()).ok());
  absl::StatusOr<void*> block = allocator.Alloc(Layout{100, 16});
  ASSERT_TRUE(block.ok());
  allocator.Dealloc(*block, Layout{100, 16});
  EXPECT_GT(std::strlen(kDefaultByteAllocatorName), 0u);
}

}  // namespace
}  // namespace heapkit
