#ifndef HEAPKIT_ALLOCATORS_BITMAP_RANDOM_TEST_UTIL_H_
#define HEAPKIT_ALLOCATORS_BITMAP_RANDOM_TEST_UTIL_H_

#include <cstdint>

#include "gtest/gtest.h"

namespace heapkit::testing {

// Runs `Driver(seed).Run(ops_per_seed)` for every seed from 1 to `seeds`, for
// the random tests of the bitmap allocators. Each failure names its seed; the
// first fatal failure ends the loop, so that one broken seed reports once.
//   RunEverySeed<RandomIdTest>(/*seeds=*/40, /*ops_per_seed=*/5000);
template <class Driver>
void RunEverySeed(std::uint64_t seeds, int ops_per_seed) {
  for (std::uint64_t seed = 1; seed <= seeds; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Driver driver(seed);
    driver.Run(ops_per_seed);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace heapkit::testing

#endif  // HEAPKIT_ALLOCATORS_BITMAP_RANDOM_TEST_UTIL_H_
