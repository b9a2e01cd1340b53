#ifndef HEAPKIT_CORE_REGION_H_
#define HEAPKIT_CORE_REGION_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace heapkit {

// A half-open range of addresses (or IDs) [start, end) handed to an allocator.
struct Region {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;

  constexpr std::size_t size() const { return end - start; }
  constexpr bool Contains(std::uintptr_t address) const {
    return address >= start && address < end;
  }
  constexpr bool Overlaps(const Region& other) const {
    return start < other.end && other.start < end;
  }
};

// Returns the region [start, start + size), or kInvalidParam (the message
// starts with `who`) if it is empty, wraps past the top of the address space,
// reaches its last address (start + size would be 2^64, which no half-open
// range can hold), or is smaller than `min_size`. A region may start at address
// 0: allocators of bytes never hand out address 0, but a kernel may own memory
// there.
absl::StatusOr<Region> CheckRegion(std::uintptr_t start, std::size_t size,
                                   std::size_t min_size, absl::string_view who);

}  // namespace heapkit

#endif  // HEAPKIT_CORE_REGION_H_
