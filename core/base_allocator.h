#ifndef HEAPKIT_CORE_BASE_ALLOCATOR_H_
#define HEAPKIT_CORE_BASE_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"

namespace heapkit {

// The part every allocator shares: it is handed memory (or an ID range) to
// manage.
//
// Backends are `final`, default-constructible and non-copyable:
//   heapkit::BuddyByteAllocator buddy;
//   absl::Status status = buddy.Init(reinterpret_cast<std::uintptr_t>(arena),
//   size);
class BaseAllocator {
 public:
  BaseAllocator() = default;
  BaseAllocator(const BaseAllocator&) = delete;
  BaseAllocator& operator=(const BaseAllocator&) = delete;
  virtual ~BaseAllocator() = default;

  // Forgets any previous state and starts managing [start, start + size) alone.
  // Fails as AddMemory does; after a failure the allocator manages nothing.
  virtual absl::Status Init(std::uintptr_t start, std::size_t size) = 0;

  // Adds [start, start + size) to the memory already managed. Returns
  // kInvalidParam for an empty region, one that wraps past the top of the
  // address space, or one too small for the backend's minimum; kMemoryOverlap
  // if it overlaps a region the allocator already manages. On failure nothing
  // changes.
  virtual absl::Status AddMemory(std::uintptr_t start, std::size_t size) = 0;
};

}  // namespace heapkit

#endif  // HEAPKIT_CORE_BASE_ALLOCATOR_H_
