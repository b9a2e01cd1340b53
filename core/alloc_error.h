#ifndef HEAPKIT_CORE_ALLOC_ERROR_H_
#define HEAPKIT_CORE_ALLOC_ERROR_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace heapkit {

// The four ways an allocator call can fail, as in the seed crate's
// `AllocError`. Every HeapKit backend returns each of them where it applies.
enum class AllocError {
  kInvalidParam,   // A malformed layout, region, count or alignment.
  kMemoryOverlap,  // A region, page range or ID that is already managed or
                   // taken.
  kNoMemory,       // The request is valid but cannot be satisfied now.
  kNotAllocated,   // A free of something that is not currently allocated.
};

// Returns a non-OK status carrying `error`: kInvalidParam -> InvalidArgument,
// kMemoryOverlap -> AlreadyExists, kNoMemory -> ResourceExhausted,
// kNotAllocated -> NotFound. The status lives on the process heap (never in the
// managed regions), so the error path never takes memory from the allocator
// that is failing.
absl::Status MakeError(AllocError error, absl::string_view message);

// Returns the AllocError that `status` carries, or nullopt for OK and for codes
// that no HeapKit call produces.
std::optional<AllocError> GetAllocError(const absl::Status& status);

// Returns the error's name as written above, e.g. "kNoMemory".
absl::string_view AllocErrorName(AllocError error);

}  // namespace heapkit

#endif  // HEAPKIT_CORE_ALLOC_ERROR_H_
