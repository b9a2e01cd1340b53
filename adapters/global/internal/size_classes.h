#ifndef HEAPKIT_ADAPTERS_GLOBAL_INTERNAL_SIZE_CLASSES_H_
#define HEAPKIT_ADAPTERS_GLOBAL_INTERNAL_SIZE_CLASSES_H_

#include <bit>
#include <cstddef>

namespace heapkit::global_internal {

// The size classes of the global heap's thread caches: every 16 bytes up to
// 128, then eight classes per power of two (144, 160, ..., 256, 288, ...) up
// to kMaxCachedSize, so a request wastes at most an eighth of its class (about
// 6% on average) and a class's blocks fit any request in it. (Four classes per
// power of two wasted up to a quarter: SQLite's page-cache entries of 4 KiB
// and a little went to 5 KiB blocks.)
inline constexpr std::size_t kMaxCachedSize = std::size_t{32} << 10;
inline constexpr std::size_t kNumClasses = 8 + 8 * (15 - 7);

// Returns the class of a request of `size` bytes, at most kMaxCachedSize.
constexpr std::size_t ClassOf(std::size_t size) {
  if (size <= 128) return size == 0 ? 0 : (size - 1) / 16;
  const std::size_t log = static_cast<std::size_t>(std::bit_width(size - 1));
  return 8 + (log - 8) * 8 + (((size - 1) >> (log - 4)) - 8);
}

// Returns the bytes a block of class `size_class` holds.
constexpr std::size_t ClassSize(std::size_t size_class) {
  if (size_class < 8) return (size_class + 1) * 16;
  const std::size_t k = size_class - 8;
  return (9 + k % 8) << (k / 8 + 4);
}

static_assert(ClassSize(kNumClasses - 1) == kMaxCachedSize);
static_assert(ClassOf(kMaxCachedSize) == kNumClasses - 1);

}  // namespace heapkit::global_internal

#endif  // HEAPKIT_ADAPTERS_GLOBAL_INTERNAL_SIZE_CLASSES_H_
