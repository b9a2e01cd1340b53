#include "adapters/borrowed_allocator.h"

#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using testing::Arena;
using testing::IsAllocError;
using testing::IsOk;

constexpr std::size_t kArenaSize = 1 << 20;

TEST(BorrowedAllocatorTest, ForwardsEveryCallToTheBorrowedAllocator) {
  Arena arena(kArenaSize);
  TlsfByteAllocator tlsf;
  BorrowedAllocator<TlsfByteAllocator> borrowed(tlsf);
  ASSERT_THAT(borrowed.Init(arena.start(), arena.size()), IsOk());
  EXPECT_EQ(tlsf.TotalBytes(), borrowed.TotalBytes());
  EXPECT_GT(borrowed.TotalBytes(), 0u);

  absl::StatusOr<void*> block = borrowed.Alloc(Layout{100, 64});
  ASSERT_THAT(block, IsOk());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(*block) % 64, 0u);
  EXPECT_GT(tlsf.UsedBytes(), 0u);
  EXPECT_EQ(borrowed.UsedBytes(), tlsf.UsedBytes());
  EXPECT_THAT(borrowed.Alloc(Layout{kArenaSize * 2, 1}),
              IsAllocError(AllocError::kNoMemory));

  borrowed.Dealloc(*block, Layout{100, 64});
  EXPECT_EQ(tlsf.UsedBytes(), 0u);
  EXPECT_THAT(borrowed.CheckInvariants(), IsOk());
  EXPECT_EQ(&borrowed.wrapped(), &tlsf);
}

TEST(BorrowedAllocatorTest, BorrowsThroughTheAbstractInterface) {
  Arena arena(kArenaSize);
  TlsfByteAllocator tlsf;
  ByteAllocator& any = tlsf;
  BorrowedAllocator<ByteAllocator> borrowed(any);
  ASSERT_THAT(borrowed.Init(arena.start(), arena.size()), IsOk());
  absl::StatusOr<void*> block = borrowed.Alloc(Layout{32, 8});
  ASSERT_THAT(block, IsOk());
  EXPECT_EQ(borrowed.UsedBytes(), tlsf.UsedBytes());
  borrowed.Dealloc(*block, Layout{32, 8});
  // ByteAllocator has no CheckInvariants(): the adapter reports OK.
  EXPECT_THAT(borrowed.CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace heapkit
