#include "tests/test_resource.h"

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <new>
#include <string>
#include <vector>

#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/byte_allocator.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit::testing {
namespace {

TEST(TestResourceTest, CountsBlocksAndBytes) {
  TestResource<> resource;
  void* a = resource.allocate(100, 8);
  void* b = resource.allocate(20, 4);
  EXPECT_EQ(resource.blocks_in_use(), 2u);
  EXPECT_EQ(resource.bytes_in_use(), 120u);
  resource.deallocate(a, 100, 8);
  void* c = resource.allocate(50, 16);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(c) % 16, 0u);
  EXPECT_EQ(resource.blocks_in_use(), 2u);
  EXPECT_EQ(resource.bytes_in_use(), 70u);
  EXPECT_EQ(resource.max_blocks_in_use(), 2u);
  EXPECT_EQ(resource.max_bytes_in_use(), 120u);
  EXPECT_EQ(resource.total_blocks(), 3u);
  EXPECT_EQ(resource.total_bytes(), 170u);
  resource.deallocate(b, 20, 4);
  resource.deallocate(c, 50, 16);
  EXPECT_EQ(resource.blocks_in_use(), 0u);
  EXPECT_EQ(resource.bytes_in_use(), 0u);
  EXPECT_EQ(resource.bad_deallocations(), 0u);
  EXPECT_EQ(resource.allocator()->UsedBytes(), 0u);
}

TEST(TestResourceTest, ServesPmrContainers) {
  TestResource<> resource;
  {
    std::pmr::vector<std::pmr::string> words(&resource);
    for (int i = 0; i < 1000; ++i) {
      words.emplace_back("a word long enough to leave the small buffer");
    }
    EXPECT_GT(resource.blocks_in_use(), 1000u);
  }
  EXPECT_EQ(resource.blocks_in_use(), 0u);
  EXPECT_GT(resource.max_blocks_in_use(), 1000u);
}

TEST(TestResourceTest, WrongSizeFailsTheTestAndIsNotPassedOn) {
  TlsfByteAllocator tlsf;
  Arena arena(kMiB);
  ASSERT_THAT(tlsf.Init(arena.start(), arena.size()), IsOk());
  TestResource<TlsfByteAllocator> resource(tlsf);
  void* block = resource.allocate(64, 8);
  const std::size_t used = tlsf.UsedBytes();
  EXPECT_NONFATAL_FAILURE(resource.deallocate(block, 32, 8),
                          "(64 bytes, alignment 8) at 0x");
  EXPECT_NONFATAL_FAILURE(resource.deallocate(block, 32, 8),
                          "the size differs; not passed on");
  EXPECT_EQ(tlsf.UsedBytes(), used);
  EXPECT_EQ(resource.blocks_in_use(), 1u);
  EXPECT_EQ(resource.bad_deallocations(), 2u);
  // The block stayed live, so the right free still works.
  resource.deallocate(block, 64, 8);
  EXPECT_EQ(tlsf.UsedBytes(), 0u);
}

TEST(TestResourceTest, WrongAlignmentFailsTheTest) {
  TestResource<> resource;
  void* block = resource.allocate(64, 16);
  EXPECT_NONFATAL_FAILURE(resource.deallocate(block, 64, 8),
                          "block #1 (64 bytes, alignment 16)");
  EXPECT_NONFATAL_FAILURE(resource.deallocate(block, 64, 8),
                          "the alignment differs");
  EXPECT_NONFATAL_FAILURE(resource.deallocate(block, 8, 8),
                          "the size and alignment differ");
  resource.deallocate(block, 64, 16);
}

TEST(TestResourceTest, DoubleAndForeignFreesFailTheTest) {
  TestResource<> resource;
  void* block = resource.allocate(64, 8);
  resource.deallocate(block, 64, 8);
  EXPECT_NONFATAL_FAILURE(resource.deallocate(block, 64, 8),
                          "names no live block (never allocated here");
  int local = 0;
  EXPECT_NONFATAL_FAILURE(resource.deallocate(&local, 4, 4),
                          "names no live block");
  void* other = resource.allocate(100, 4);
  EXPECT_NONFATAL_FAILURE(
      resource.deallocate(static_cast<char*>(other) + 40, 60, 4),
      "but points 40 bytes into block #2 (100 bytes");
  resource.deallocate(other, 100, 4);
  EXPECT_EQ(resource.bad_deallocations(), 3u);
}

TEST(TestResourceTest, LeakFailsTheTestOnDestruction) {
  EXPECT_NONFATAL_FAILURE(
      {
        TestResource<> resource;
        (void)resource.allocate(24, 8);
        void* freed = resource.allocate(8, 8);
        (void)resource.allocate(1000, 64);
        resource.deallocate(freed, 8, 8);
      },
      "TestResource: 2 blocks (1024 bytes) leaked:\n"
      "  block #1 (24 bytes, alignment 8)");
  EXPECT_NONFATAL_FAILURE(
      {
        TestResource<> resource;
        (void)resource.allocate(1000, 64);
      },
      "block #1 (1000 bytes, alignment 64) at 0x");
}

TEST(TestResourceTest, LongLeakListsAreCut) {
  EXPECT_NONFATAL_FAILURE(
      {
        TestResource<> resource;
        for (int i = 0; i < 25; ++i) (void)resource.allocate(8, 8);
      },
      "... and 5 more");
}

TEST(TestResourceTest, BadAlignmentFailsTheTestAndThrows) {
  TestResource<> resource;
  // Volatile, so that clang does not refuse the call at compile time.
  volatile std::size_t bad_alignment = 3;
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THROW((void)resource.allocate(8, bad_alignment), std::bad_alloc),
      "alignment that is not a power of two");
  EXPECT_EQ(resource.blocks_in_use(), 0u);
}

TEST(TestResourceTest, ExhaustionThrowsWithoutFailingTheTest) {
  TestResource<> resource(kMiB);
  EXPECT_THROW((void)resource.allocate(2 * kMiB, 8), std::bad_alloc);
  EXPECT_EQ(resource.blocks_in_use(), 0u);
  EXPECT_EQ(resource.injected_failures(), 0u);
}

TEST(TestResourceTest, FailAllocationAfterThrowsOnceAtTheNthAllocation) {
  TestResource<> resource;
  resource.FailAllocationAfter(2);
  EXPECT_TRUE(resource.failure_pending());
  void* a = resource.allocate(8);
  void* b = resource.allocate(8);
  EXPECT_THROW((void)resource.allocate(8), std::bad_alloc);
  EXPECT_FALSE(resource.failure_pending());
  EXPECT_EQ(resource.injected_failures(), 1u);
  void* c = resource.allocate(8);  // Once only.
  EXPECT_EQ(resource.blocks_in_use(), 3u);
  EXPECT_EQ(resource.total_blocks(), 3u);  // The failure allocated nothing.
  resource.FailAllocationAfter(0);
  EXPECT_THROW((void)resource.allocate(8), std::bad_alloc);
  resource.FailAllocationAfter(0);
  resource.ClearFailure();
  void* d = resource.allocate(8);
  EXPECT_EQ(resource.injected_failures(), 2u);
  for (void* p : {a, b, c, d}) resource.deallocate(p, 8);
}

TEST(TestResourceTest, ServesFromABorrowedAllocatorOfAnyBackend) {
  Arena arena(kMiB);
  BuddyByteAllocator buddy;
  ASSERT_THAT(buddy.Init(arena.start(), arena.size()), IsOk());
  TestResource<BuddyByteAllocator> resource(buddy);
  EXPECT_EQ(resource.allocator(), &buddy);
  void* block = resource.allocate(1000, 8);
  EXPECT_EQ(buddy.UsedBytes(), 1024u);
  resource.deallocate(block, 1000, 8);
  EXPECT_EQ(buddy.UsedBytes(), 0u);
  // Or any backend chosen at run time.
  ByteAllocator& any = buddy;
  TestResource<ByteAllocator> through_base(any);
  block = through_base.allocate(10);
  EXPECT_EQ(buddy.UsedBytes(), 16u);
  through_base.deallocate(block, 10);
}

TEST(TestResourceTest, EqualityIsIdentity) {
  TestResource<> one;
  TestResource<> two;
  EXPECT_TRUE(one.is_equal(one));
  EXPECT_FALSE(one.is_equal(two));
  EXPECT_FALSE(one.is_equal(*std::pmr::new_delete_resource()));
  EXPECT_TRUE(std::pmr::polymorphic_allocator<int>(&one) ==
              std::pmr::polymorphic_allocator<int>(&one));
  EXPECT_FALSE(std::pmr::polymorphic_allocator<int>(&one) ==
               std::pmr::polymorphic_allocator<int>(&two));
}

}  // namespace
}  // namespace heapkit::testing
