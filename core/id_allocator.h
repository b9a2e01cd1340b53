#ifndef HEAPKIT_CORE_ID_ALLOCATOR_H_
#define HEAPKIT_CORE_ID_ALLOCATOR_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base_allocator.h"

namespace heapkit {

// An allocator of integer IDs (PIDs, file descriptors, ASIDs, handles).
// Init(first, count) and AddMemory(first, count) hand it the IDs [first, first
// + count).
class IdAllocator : public BaseAllocator {
 public:
  // Returns the first of `count` free consecutive IDs, the first a multiple of
  // `align` (a power of two), now allocated. Fails with kInvalidParam for count
  // == 0 or a bad alignment, kNoMemory if no run fits.
  virtual absl::StatusOr<std::size_t> AllocId(std::size_t count,
                                              std::size_t align) = 0;

  // Frees the `count` IDs starting at `start`, all or nothing: if any of them
  // is not allocated returns kNotAllocated and frees nothing.
  virtual absl::Status DeallocId(std::size_t start, std::size_t count) = 0;

  // Returns true if `id` is managed and allocated.
  virtual bool IsAllocated(std::size_t id) const = 0;

  // Allocates exactly `id`. Fails with kMemoryOverlap if it is already
  // allocated and kInvalidParam if it is not managed.
  virtual absl::Status AllocFixedId(std::size_t id) = 0;

  // Returns the number of IDs managed, allocated, and free.
  virtual std::size_t Size() const = 0;
  virtual std::size_t Used() const = 0;
  std::size_t Available() const { return Size() - Used(); }
};

}  // namespace heapkit

#endif  // HEAPKIT_CORE_ID_ALLOCATOR_H_
