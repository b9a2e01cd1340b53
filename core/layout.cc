#include "core/layout.h"

#include "core/alloc_error.h"

namespace heapkit {

absl::StatusOr<Layout> Layout::Create(std::size_t size, std::size_t align) {
  const Layout layout{size, align};
  if (!internal::IsPowerOfTwo(align)) {
    return MakeError(AllocError::kInvalidParam,
                     "Layout: alignment must be a power of two");
  }
  if (!layout.IsValid()) {
    return MakeError(AllocError::kInvalidParam,
                     "Layout: size rounded up to alignment overflows");
  }
  return layout;
}

}  // namespace heapkit
