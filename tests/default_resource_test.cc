#include "tests/default_resource.h"

#include <memory_resource>
#include <new>
#include <vector>

#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/test_resource.h"

namespace heapkit::testing {
namespace {

TEST(ScopedDefaultResourceTest, InstallsAndRestoresNested) {
  std::pmr::memory_resource* const original = std::pmr::get_default_resource();
  TestResource<> outer_resource;
  TestResource<> inner_resource;
  {
    ScopedDefaultResource outer(&outer_resource);
    EXPECT_EQ(std::pmr::get_default_resource(), &outer_resource);
    EXPECT_EQ(outer.previous(), original);
    {
      ScopedDefaultResource inner(&inner_resource);
      EXPECT_EQ(std::pmr::get_default_resource(), &inner_resource);
      std::pmr::vector<int> numbers({1, 2, 3});  // From the default.
      EXPECT_EQ(inner_resource.blocks_in_use(), 1u);
      EXPECT_EQ(outer_resource.blocks_in_use(), 0u);
    }
    EXPECT_EQ(std::pmr::get_default_resource(), &outer_resource);
  }
  EXPECT_EQ(std::pmr::get_default_resource(), original);
}

TEST(ForbiddenResourceTest, AllocationFailsTheTestAndThrows) {
  ForbiddenResource forbidden("the resource under test");
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THROW((void)forbidden.allocate(24, 8), std::bad_alloc),
      "allocate(24, 8) from the resource under test, which the test forbids");
  EXPECT_EQ(forbidden.attempts(), 1u);
  int local = 0;
  EXPECT_NONFATAL_FAILURE(forbidden.deallocate(&local, 4, 4),
                          "which never allocates");
  EXPECT_TRUE(forbidden.is_equal(forbidden));
  EXPECT_FALSE(forbidden.is_equal(ForbiddenResource()));
}

TEST(ScopedForbiddenDefaultResourceTest, CatchesUseOfTheDefault) {
  std::pmr::memory_resource* const original = std::pmr::get_default_resource();
  {
    ScopedForbiddenDefaultResource no_default;
    EXPECT_EQ(std::pmr::get_default_resource(), &no_default.resource());
    EXPECT_NONFATAL_FAILURE(
        {
          std::pmr::vector<int> numbers;  // Takes the default resource.
          EXPECT_THROW(numbers.push_back(1), std::bad_alloc);
        },
        "from the default resource (forbidden in this scope)");
    // Code given its resource does not touch the default.
    TestResource<> resource;
    std::pmr::vector<int> numbers({1, 2, 3}, &resource);
    EXPECT_EQ(no_default.resource().attempts(), 1u);
  }
  EXPECT_EQ(std::pmr::get_default_resource(), original);
}

}  // namespace
}  // namespace heapkit::testing
