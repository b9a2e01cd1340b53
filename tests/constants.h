#ifndef HEAPKIT_TESTS_CONSTANTS_H_
#define HEAPKIT_TESTS_CONSTANTS_H_

#include <cstddef>
#include <limits>

namespace heapkit::testing {

// Sizes the tests use, in bytes.
inline constexpr std::size_t kKiB = std::size_t{1} << 10;
inline constexpr std::size_t kMiB = std::size_t{1} << 20;
inline constexpr std::size_t kGiB = std::size_t{1} << 30;
inline constexpr std::size_t kTiB = std::size_t{1} << 40;

// The largest size_t, the size no allocator can serve.
inline constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_CONSTANTS_H_
