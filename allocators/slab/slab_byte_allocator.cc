#include "allocators/slab/slab_byte_allocator.h"

#include <cstdlib>

#include "absl/base/internal/raw_logging.h"

namespace heapkit::slab_internal {

void ReportBadPointer(const void* ptr, const char* what) {
  ABSL_RAW_LOG(FATAL, "SlabByteAllocator: %p: %s", ptr, what);
  std::abort();  // RawLog(FATAL) aborts, but is not declared noreturn.
}

}  // namespace heapkit::slab_internal
