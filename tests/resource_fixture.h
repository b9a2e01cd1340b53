#ifndef HEAPKIT_TESTS_RESOURCE_FIXTURE_H_
#define HEAPKIT_TESTS_RESOURCE_FIXTURE_H_

#include <cstddef>

#include "adapters/memory_resource.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/matchers.h"

namespace heapkit::testing {

// A backend of type T initialised over its own arena of kArenaSize bytes, with
// a std::pmr resource on top: the fixture of the suites that run pmr containers
// on every backend.
template <class T, std::size_t kArenaSize>
class ResourceFixture : public ::testing::Test {
 protected:
  ResourceFixture() : arena_(kArenaSize), resource_(backend_) {
    EXPECT_THAT(backend_.Init(arena_.start(), arena_.size()), IsOk());
    baseline_used_ = backend_.UsedBytes();
  }

  // Expects every block to have gone back to the backend, intact.
  void ExpectAllFreed() {
    EXPECT_EQ(backend_.UsedBytes(), baseline_used_);
    EXPECT_THAT(backend_.CheckInvariants(), IsOk());
  }

  Arena arena_;
  T backend_;
  MemoryResource<T> resource_;
  std::size_t baseline_used_ = 0;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_RESOURCE_FIXTURE_H_
