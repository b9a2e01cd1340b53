#ifndef HEAPKIT_CORE_BYTE_ALLOCATOR_H_
#define HEAPKIT_CORE_BYTE_ALLOCATOR_H_

#include <cstddef>

#include "absl/status/statusor.h"
#include "core/base_allocator.h"
#include "core/layout.h"

namespace heapkit {

// An allocator of byte blocks of any size and power-of-two alignment.
//
// The contract every backend keeps (the conformance suite in tests/ checks it):
// - Alloc returns a block inside a managed region, aligned to `layout.align`,
// that
//   overlaps no other live block; the memory is not initialised.
// - A size of 0 returns a unique non-null pointer that Dealloc accepts.
// - No block is ever placed at address 0.
// - UsedBytes() + AvailableBytes() == TotalBytes() at all times. UsedBytes()
// counts
//   what live blocks take from the regions (rounding and headers included) and
//   returns to its value just after Init/AddMemory once every block is freed.
// - Calls are not synchronised: wrap a backend in an adapter to share it
// between
//   threads.
class ByteAllocator : public BaseAllocator {
 public:
  // Returns a block for `layout`. Fails with kInvalidParam for a layout that is
  // not IsValid(), and kNoMemory when no free block fits (the allocator stays
  // usable).
  virtual absl::StatusOr<void*> Alloc(Layout layout) = 0;

  // Frees a block returned by Alloc, given the layout it was allocated with.
  // Freeing a pointer that is not a live block, or with another layout, is
  // undefined behaviour: a backend aborts with a message where it can tell
  // cheaply, and checks more in debug builds (without NDEBUG). A null `ptr` is
  // ignored.
  virtual void Dealloc(void* ptr, Layout layout) = 0;

  // Returns the bytes the allocator can hand out, metadata excluded.
  virtual std::size_t TotalBytes() const = 0;

  // Returns the bytes that live blocks take, rounding and headers included.
  virtual std::size_t UsedBytes() const = 0;

  // Returns TotalBytes() - UsedBytes(). Fragmentation may stop a single block
  // of this size from being allocatable.
  std::size_t AvailableBytes() const { return TotalBytes() - UsedBytes(); }
};

}  // namespace heapkit

#endif  // HEAPKIT_CORE_BYTE_ALLOCATOR_H_
