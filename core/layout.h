#ifndef HEAPKIT_CORE_LAYOUT_H_
#define HEAPKIT_CORE_LAYOUT_H_

#include <cstddef>
#include <limits>

#include "absl/status/statusor.h"
#include "core/internal/bits.h"

namespace heapkit {

// The size and alignment of a requested block, as Rust's `Layout`.
//
// A Layout may be built directly (`Layout{64, 16}`), so every backend re-checks
// it with IsValid() and answers kInvalidParam for a bad one; Create() checks up
// front.
struct Layout {
  std::size_t size = 0;
  std::size_t align = 1;

  // Returns a Layout, or kInvalidParam unless `align` is a power of two and
  // rounding `size` up to a multiple of `align` does not overflow.
  static absl::StatusOr<Layout> Create(std::size_t size, std::size_t align);

  // Returns the layout of an array of `n` objects of type T. If `n * sizeof(T)`
  // overflows, the size saturates to SIZE_MAX, which every allocator refuses.
  template <class T>
  static constexpr Layout Of(std::size_t n = 1) {
    constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
    const std::size_t size = n > kMax / sizeof(T) ? kMax : n * sizeof(T);
    return Layout{size, alignof(T)};
  }

  // Returns true if `align` is a power of two and `size` rounded up to `align`
  // fits.
  constexpr bool IsValid() const {
    return internal::IsPowerOfTwo(align) &&
           size <= std::numeric_limits<std::size_t>::max() - (align - 1);
  }

  friend constexpr bool operator==(const Layout&, const Layout&) = default;
};

}  // namespace heapkit

#endif  // HEAPKIT_CORE_LAYOUT_H_
