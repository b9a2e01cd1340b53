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
  // Its end, start + size, would be one past the last address: a half-open
  // range cannot hold it. Refused rather than shortened, so that a region is
  // managed in full or not at all (and the ID SIZE_MAX is never lost quietly).
  if (size - 1 == std::numeric_limits<std::uintptr_t>::max() - start) {
    return MakeError(AllocError::kInvalidParam,
                     absl::StrCat(who,
                                  ": region reaches the last address, whose "
                                  "end a half-open range cannot hold"));
  }
  return Region{start, start + size};
}

}  // namespace heapkit
