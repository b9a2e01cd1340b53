#include "tests/all_byte_backends.h"

#include <memory_resource>
#include <string>
#include <type_traits>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/backend_name.h"
#include "tests/test_resource.h"

namespace heapkit::testing {
namespace {

static_assert(
    std::is_same_v<TypesOf<TypeList<int, char>>, ::testing::Types<int, char>>);

template <class Backend>
class AllByteBackendsTest : public ::testing::Test {};

TYPED_TEST_SUITE(AllByteBackendsTest, AllByteBackends, BackendName);

TYPED_TEST(AllByteBackendsTest, EachBackendServesATestResource) {
  TestResource<TypeParam> resource;
  {
    std::pmr::vector<int> numbers(&resource);
    for (int i = 0; i < 10'000; ++i) numbers.push_back(i);
    EXPECT_EQ(numbers[9'999], 9'999);
  }
  EXPECT_EQ(resource.blocks_in_use(), 0u);
  EXPECT_EQ(resource.allocator()->UsedBytes(), 0u);
}

// One instantiation per type in heapkit::ByteBackendTypes, counted from the
// registered suites (so whatever the order, filter or shuffle).
TEST(AllByteBackendsCountTest, EveryBackendInTheListIsInstantiated) {
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  std::vector<std::string> names;
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const std::string name = unit.GetTestSuite(i)->name();
    if (name.rfind("AllByteBackendsTest/", 0) == 0) names.push_back(name);
  }
  EXPECT_EQ(names.size(), ByteBackendTypes::kSize);
  EXPECT_THAT(names,
              ::testing::Contains("AllByteBackendsTest/TlsfByteAllocator"));
}

}  // namespace
}  // namespace heapkit::testing
