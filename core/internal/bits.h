#ifndef HEAPKIT_CORE_INTERNAL_BITS_H_
#define HEAPKIT_CORE_INTERNAL_BITS_H_

#include <bit>
#include <cstddef>
#include <cstdint>

namespace heapkit::internal {

// Returns true if `value` is a power of two (0 is not). Not
// std::has_single_bit: without -mpopcnt that becomes a libgcc call, and
// allocators test alignments on their hot paths.
constexpr bool IsPowerOfTwo(std::size_t value) {
  return value != 0 && (value & (value - 1)) == 0;
}

// Returns `value` rounded down to a multiple of `align`, a power of two.
constexpr std::uintptr_t AlignDown(std::uintptr_t value, std::size_t align) {
  return value & ~(std::uintptr_t{align} - 1);
}

// Returns `value` rounded up to a multiple of `align`, a power of two. The
// caller makes sure the result does not wrap (value <= max - (align - 1)).
constexpr std::uintptr_t AlignUp(std::uintptr_t value, std::size_t align) {
  return AlignDown(value + (align - 1), align);
}

// Returns true if `value` is a multiple of `align`, a power of two.
constexpr bool IsAligned(std::uintptr_t value, std::size_t align) {
  return (value & (std::uintptr_t{align} - 1)) == 0;
}

// Returns floor(log2(value)) for value > 0: the index of its highest set bit.
constexpr int FloorLog2(std::size_t value) { return std::bit_width(value) - 1; }

// Returns ceil(log2(value)) for value > 0: the order of the smallest power of
// two at least `value`.
constexpr int CeilLog2(std::size_t value) { return std::bit_width(value - 1); }

}  // namespace heapkit::internal

#endif  // HEAPKIT_CORE_INTERNAL_BITS_H_
