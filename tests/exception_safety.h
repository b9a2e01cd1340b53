#ifndef HEAPKIT_TESTS_EXCEPTION_SAFETY_H_
#define HEAPKIT_TESTS_EXCEPTION_SAFETY_H_

#include <cstddef>
#include <new>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/test_resource.h"

namespace heapkit::testing {

// How many times RunExceptionTest runs its body at most: one more than the
// allocations it may make.
inline constexpr std::size_t kMaxExceptionTestAttempts = 100'000;

// Runs `body` again and again, making its first allocation from `resource`
// throw std::bad_alloc, then its second, and so on, until it completes with no
// allocation failing. After each std::bad_alloc that escapes the body, checks
// that the resource holds exactly the blocks it held before that run: the body
// must free whatever it allocated on the way out. So declare the objects under
// test inside the body:
//
//   heapkit::testing::TestResource<> resource;
//   heapkit::testing::RunExceptionTest(resource, [&] {
//     Phonebook book(&resource);
//     book.Add("Ada", "555-0100");
//     EXPECT_EQ(book.size(), 1u);
//   });
//
// A body may catch the std::bad_alloc itself and go on; the loop then tries the
// next allocation. Fails the running test (ADD_FAILURE), and stops, when a run
// leaks (the message lists the blocks it left), when a std::bad_alloc that the
// loop did not inject escapes (the resource ran out), when a check inside the
// body fails (the run is named; ASSERT_* there ends only that run), or after
// kMaxExceptionTestAttempts runs. Other exceptions propagate. The body runs
// once per allocation it makes, so keep it small.
template <class A, class F>
void RunExceptionTest(TestResource<A>& resource, F&& body) {
  const bool failed_before = ::testing::Test::HasFailure();
  for (std::size_t attempt = 0; attempt < kMaxExceptionTestAttempts;
       ++attempt) {
    const std::size_t blocks_before = resource.blocks_in_use();
    const std::size_t bytes_before = resource.bytes_in_use();
    const std::size_t serial_before = resource.total_blocks();
    const std::size_t injected_before = resource.injected_failures();
    resource.FailAllocationAfter(attempt);
    bool threw = false;
    try {
      body();
    } catch (const std::bad_alloc&) {
      threw = true;
    } catch (...) {
      resource.ClearFailure();  // Leave the resource usable for the caller.
      throw;
    }
    resource.ClearFailure();
    const bool injected = resource.injected_failures() != injected_before;
    const std::string run =
        absl::StrCat("RunExceptionTest: the run with allocation #", attempt,
                     " (counting from 0) failing");
    if (threw && !injected) {
      ADD_FAILURE() << run << " let out a std::bad_alloc that the loop did "
                    << "not inject: the resource ran out";
      return;
    }
    if (threw && (resource.blocks_in_use() != blocks_before ||
                  resource.bytes_in_use() != bytes_before)) {
      std::string leaked;
      for (const auto& block : resource.LiveBlocks()) {
        if (block.serial <= serial_before) continue;
        absl::StrAppend(&leaked, "\n  block #", block.serial, " (", block.bytes,
                        " bytes, alignment ", block.alignment, ")");
      }
      ADD_FAILURE() << run << " leaked: after the std::bad_alloc the "
                    << "resource holds " << resource.blocks_in_use()
                    << " blocks (" << resource.bytes_in_use() << " bytes), "
                    << blocks_before << " (" << bytes_before
                    << ") before the run; live from the run:" << leaked;
      return;
    }
    if (!failed_before && ::testing::Test::HasFailure()) {
      ADD_FAILURE() << run << " failed a check (above); stopping";
      return;
    }
    if (!injected) return;  // Every allocation succeeded: done.
  }
  ADD_FAILURE() << "RunExceptionTest: the body still allocated after "
                << kMaxExceptionTestAttempts << " runs";
}

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_EXCEPTION_SAFETY_H_
