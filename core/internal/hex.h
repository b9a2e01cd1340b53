#ifndef HEAPKIT_CORE_INTERNAL_HEX_H_
#define HEAPKIT_CORE_INTERNAL_HEX_H_

#include <cstdint>
#include <string>

#include "core/region.h"

namespace heapkit::internal {

// Returns `value` as 0x-prefixed lower-case hex ("0x0" for zero), the one way
// HeapKit's error messages write addresses.
std::string Hex(std::uintptr_t value);

// Returns `region` as "[0x1000, 0x2000)".
std::string Describe(const Region& region);

}  // namespace heapkit::internal

#endif  // HEAPKIT_CORE_INTERNAL_HEX_H_
