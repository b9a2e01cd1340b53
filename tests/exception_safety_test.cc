#include "tests/exception_safety.h"

#include <cstddef>
#include <memory_resource>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/constants.h"
#include "tests/test_resource.h"

namespace heapkit::testing {
namespace {

// Two blocks from a resource, each owned by a pmr string: if the second
// allocation throws, the first string frees its block on the way out.
class SafePair {
 public:
  explicit SafePair(std::pmr::memory_resource* resource)
      : first_("a first string, too long for the small buffer", resource),
        second_("a second string, too long for the small buffer", resource) {}

  std::size_t size() const { return first_.size() + second_.size(); }

 private:
  std::pmr::string first_;
  std::pmr::string second_;
};

// Two raw blocks from a resource; if the second allocation throws, the first
// is lost.
class LeakyPair {
 public:
  explicit LeakyPair(std::pmr::memory_resource* resource)
      : resource_(resource),
        first_(resource->allocate(16, 8)),
        second_(resource->allocate(32, 8)) {}
  LeakyPair(const LeakyPair&) = delete;
  LeakyPair& operator=(const LeakyPair&) = delete;
  ~LeakyPair() {
    resource_->deallocate(first_, 16, 8);
    resource_->deallocate(second_, 32, 8);
  }

 private:
  std::pmr::memory_resource* resource_;
  void* first_;
  void* second_;
};

TEST(RunExceptionTestTest, ExceptionSafeCodePassesAfterOneRunPerAllocation) {
  TestResource<> resource;
  int runs = 0;
  RunExceptionTest(resource, [&] {
    ++runs;
    SafePair pair(&resource);
    EXPECT_GT(pair.size(), 80u);
  });
  // Allocation #0 failing, #1 failing, then none.
  EXPECT_EQ(runs, 3);
  EXPECT_EQ(resource.injected_failures(), 2u);
  EXPECT_FALSE(resource.failure_pending());
  EXPECT_EQ(resource.blocks_in_use(), 0u);
}

TEST(RunExceptionTestTest, LeakOnThrowFailsTheTest) {
  TestResource<> resource;
  EXPECT_NONFATAL_FAILURE(
      RunExceptionTest(resource, [&] { LeakyPair pair(&resource); }),
      "the run with allocation #1 (counting from 0) failing leaked");
  EXPECT_NONFATAL_FAILURE(
      RunExceptionTest(resource, [&] { LeakyPair pair(&resource); }),
      "live from the run:\n  block #");
  // Each loop stopped at its first leak: one block of 16 bytes each.
  ASSERT_EQ(resource.blocks_in_use(), 2u);
  for (const auto& block : resource.LiveBlocks()) {
    EXPECT_EQ(block.bytes, 16u);
    resource.deallocate(block.ptr, block.bytes, block.alignment);
  }
}

TEST(RunExceptionTestTest, BlocksHeldBeforeTheLoopAreNotLeaks) {
  TestResource<> resource;
  std::pmr::vector<int> kept({1, 2, 3}, &resource);
  RunExceptionTest(resource, [&] { SafePair pair(&resource); });
  EXPECT_EQ(resource.blocks_in_use(), 1u);
}

TEST(RunExceptionTestTest, BodyThatHandlesTheFailureGoesOn) {
  TestResource<> resource;
  int fallbacks = 0;
  RunExceptionTest(resource, [&] {
    try {
      SafePair pair(&resource);
    } catch (const std::bad_alloc&) {
      ++fallbacks;
    }
  });
  EXPECT_EQ(fallbacks, 2);
}

TEST(RunExceptionTestTest, RealExhaustionFailsTheTest) {
  TestResource<> resource(kMiB);
  EXPECT_NONFATAL_FAILURE(
      RunExceptionTest(
          resource, [&] { std::pmr::vector<char> big(2 * kMiB, &resource); }),
      "std::bad_alloc that the loop did not inject");
}

TEST(RunExceptionTestTest, OtherExceptionsPropagate) {
  TestResource<> resource;
  EXPECT_THROW(RunExceptionTest(resource,
                                [] { throw std::runtime_error("not memory"); }),
               std::runtime_error);
  EXPECT_FALSE(resource.failure_pending());
}

}  // namespace
}  // namespace heapkit::testing
