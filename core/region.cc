#include "core/region.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "core/alloc_error.h"

namespace heapkit {

absl::StatusOr<Region> CheckRegion(std::uintptr_t start, std::size_t size,
                                   std::size_t min_size,
                                   absl::string_view who) {
  if (size == 0) {
    return MakeError(AllocError::kInvalidParam,
                     absl::StrCat(who, ": region is empty"));
  }
  if (size - 1 > std::numeric_limits<std::uintptr_t>::max() - start) {
    return MakeError(AllocError::kInvalidParam,
                     absl::StrCat(who,
                                  ": region wraps past the end of the "
                                  "address space"));
  }
  if (size < min_size) {
    return MakeError(
        AllocError::kInvalidParam,
        absl::StrCat(who, ": region of ", size,
                     " bytes is smaller than the minimum of ", min_size));
  }
  // A region that ends exactly at the top of the address space cannot be
  // represented half-open; give up its last byte.
  if (size - 1 == std::numeric_limits<std::uintptr_t>::max() - start) {
    return Region{start, start + (size - 1)};
  }
  return Region{start, start + size};
}

}  // namespace heapkit
