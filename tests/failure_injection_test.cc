// Reruns the pmr container scenarios of tests/memory_resource_suite.h with
// every allocation they make failing once, at the bottom of the stack: the
// backend answers kNoMemory (FailureInjectingAllocator), MemoryResource turns
// that into std::bad_alloc, and the container must cope. Stack, per backend:
//
//   std::pmr containers -> MemoryResource -> CheckedAllocator
//     -> FailureInjectingAllocator -> the backend
//
// CheckedAllocator aborts on any free of a block that is not live or of the
// wrong size, so a container that frees wrongly on the way out fails loudly.
// After each run that threw, FailEachAllocationOnce checks that nothing leaked
// (no block live, the backend's bytes in use as before the run) and that every
// layer's invariants hold; scenarios that keep a container across runs check
// that a failed operation left it as it was (the strong guarantee the standard
// gives push_back and single-element insertion).

#include <cstddef>
#include <cstdint>
#include <deque>
#include <list>
#include <map>
#include <memory_resource>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "adapters/checked_allocator.h"
#include "adapters/failure_injecting_allocator.h"
#include "adapters/memory_resource.h"
#include "gtest/gtest.h"
#include "tests/all_byte_backends.h"
#include "tests/arena.h"
#include "tests/backend_name.h"
#include "tests/constants.h"

namespace heapkit::testing {
namespace {

// How many runs one scenario may take: one per allocation, plus one.
constexpr std::uint64_t kMaxRuns = 20'000;

template <class Backend>
class FailureInjectionTest : public ::testing::Test {
 protected:
  using Flaky = FailureInjectingAllocator<Backend>;
  using Checked = CheckedAllocator<Flaky>;

  void SetUp() override {
    ASSERT_TRUE(arena_.ok());
    ASSERT_TRUE(checked_.Init(arena_.start(), arena_.size()).ok());
    checked_.set_leak_policy(LeakPolicy::kAbort);
  }

  Flaky& flaky() { return checked_.wrapped(); }

  // Runs `body` with its first allocation failing in the backend, then its
  // second, and so on, until a run makes no allocation fail; returns the
  // number of runs. After each run, checks that the stack's invariants hold,
  // and after one that threw, that it left no block live and no byte used.
  // A std::bad_alloc that was not injected (the heap ran out) fails the test.
  template <class F>
  std::uint64_t FailEachAllocationOnce(F body) {
    for (std::uint64_t n = 0; n < kMaxRuns; ++n) {
      const std::size_t live_before = checked_.LiveCount();
      const std::size_t used_before = checked_.UsedBytes();
      flaky().FailNthAlloc(n);  // Also zeroes failures_injected().
      bool threw = false;
      try {
        body();
      } catch (const std::bad_alloc&) {
        threw = true;
      }
      const bool injected = flaky().failures_injected() != 0;
      flaky().StopFailing();
      const absl::Status invariants = checked_.CheckInvariants();
      EXPECT_TRUE(invariants.ok()) << "run " << n << ": " << invariants;
      if (threw) {
        EXPECT_TRUE(injected) << "run " << n << ": the heap ran out";
        EXPECT_EQ(checked_.LiveCount(), live_before)
            << "run " << n << " leaked:\n"
            << checked_.ReportLeaks();
        EXPECT_EQ(checked_.UsedBytes(), used_before) << "run " << n;
      }
      if (::testing::Test::HasFailure() || !injected) return n + 1;
    }
    ADD_FAILURE() << "still allocating after " << kMaxRuns << " runs";
    return kMaxRuns;
  }

  Arena arena_{16 * kMiB};
  Checked checked_;
  MemoryResource<Checked> resource_{checked_};
};

TYPED_TEST_SUITE(FailureInjectionTest, AllByteBackends, BackendName);

TYPED_TEST(FailureInjectionTest, VectorGrowsAndShrinks) {
  const std::uint64_t runs = this->FailEachAllocationOnce([&] {
    std::pmr::vector<std::uint64_t> numbers(&this->resource_);
    for (std::uint64_t i = 0; i < 20'000; ++i) numbers.push_back(i * i);
    numbers.resize(100);
    numbers.shrink_to_fit();
    for (std::uint64_t i = 0; i < 100; ++i) ASSERT_EQ(numbers[i], i * i);
  });
  EXPECT_GT(runs, 10u);  // Doubling from 1 to 20,000, then the shrink.
}

TYPED_TEST(FailureInjectionTest, StringGrowsAndShrinks) {
  this->FailEachAllocationOnce([&] {
    std::pmr::string text(&this->resource_);
    for (int i = 0; i < 1000; ++i) text += "heapkit ";
    ASSERT_EQ(text.size(), 8000u);
    text.resize(10);
    text.shrink_to_fit();
    EXPECT_EQ(text, "heapkit he");
  });
}

TYPED_TEST(FailureInjectionTest, MapsWithPmrStrings) {
  const std::uint64_t runs = this->FailEachAllocationOnce([&] {
    std::pmr::map<std::pmr::string, int> ordered(&this->resource_);
    std::pmr::unordered_map<std::pmr::string, int> hashed(&this->resource_);
    for (int i = 0; i < 150; ++i) {
      const std::string key =
          "a key past the small-string buffer #" + std::to_string(i);
      ordered.emplace(key, i);
      hashed.emplace(key, i);
    }
    for (int i = 0; i < 150; i += 2) {
      const std::string key =
          "a key past the small-string buffer #" + std::to_string(i);
      ASSERT_EQ(ordered.erase(std::pmr::string(key, &this->resource_)), 1u);
      ASSERT_EQ(hashed.erase(std::pmr::string(key, &this->resource_)), 1u);
    }
    ASSERT_EQ(ordered.size(), 75u);
    for (const auto& [key, value] : ordered) ASSERT_EQ(hashed.at(key), value);
  });
  EXPECT_GT(runs, 600u);  // Each entry's node and key, in both maps.
}

TYPED_TEST(FailureInjectionTest, ListDequeAndNestedVectors) {
  this->FailEachAllocationOnce([&] {
    std::pmr::list<int> list(&this->resource_);
    std::pmr::deque<int> deque(&this->resource_);
    // The inner vectors take the outer one's resource (uses-allocator
    // construction), so their allocations fail too.
    std::pmr::vector<std::pmr::vector<int>> nested(&this->resource_);
    for (int i = 0; i < 300; ++i) {
      list.push_front(i);
      deque.push_back(i);
      if (i % 10 == 0) nested.emplace_back(static_cast<std::size_t>(i), i);
    }
    ASSERT_EQ(nested.back().get_allocator().resource(), &this->resource_);
    EXPECT_EQ(list.front(), 299);
    EXPECT_EQ(deque.back(), 299);
    EXPECT_EQ(nested.back().size(), 290u);
  });
}

TYPED_TEST(FailureInjectionTest, PolymorphicAllocatorBytesAndObjects) {
  this->FailEachAllocationOnce([&] {
    std::pmr::polymorphic_allocator<> allocator(&this->resource_);
    void* bytes = allocator.allocate_bytes(1000, 64);
    struct Point {
      double x, y;
    };
    Point* point = nullptr;
    try {
      point = allocator.new_object<Point>(Point{1.5, -2.5});
    } catch (...) {
      allocator.deallocate_bytes(bytes, 1000, 64);
      throw;
    }
    EXPECT_EQ(point->y, -2.5);
    allocator.delete_object(point);
    allocator.deallocate_bytes(bytes, 1000, 64);
  });
}

// A failed insertion leaves the container as it was.
TYPED_TEST(FailureInjectionTest, FailedInsertionsChangeNothing) {
  std::pmr::vector<std::pmr::string> names(&this->resource_);
  std::pmr::unordered_map<std::size_t, std::pmr::string> by_id(
      &this->resource_);
  // Room reserved, so that no run reallocates: a run that throws must leave
  // exactly the blocks it found.
  names.reserve(8);
  by_id.reserve(8);
  const auto add = [&] {
    // Strings past the small-string buffer, so each takes a block.
    names.push_back(std::pmr::string(
        "a name long enough to need a block, #" + std::to_string(names.size()),
        &this->resource_));
    try {
      by_id.emplace(names.size() - 1, names.back());
    } catch (const std::bad_alloc&) {
      names.pop_back();
      throw;
    }
  };
  add();
  add();
  const std::uint64_t runs = this->FailEachAllocationOnce([&] {
    try {
      add();
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(names.size(), 2u);
      EXPECT_EQ(by_id.size(), 2u);
      for (std::size_t i = 0; i < 2; ++i) EXPECT_EQ(by_id.at(i), names[i]);
      throw;
    }
  });
  // The name, the map's node and its copy of the name, then no failure.
  EXPECT_EQ(runs, 4u);
  ASSERT_EQ(names.size(), 3u);
  EXPECT_EQ(by_id.at(2), names[2]);
}

}  // namespace
}  // namespace heapkit::testing
