#ifndef HEAPKIT_ADAPTERS_MEMORY_RESOURCE_H_
#define HEAPKIT_ADAPTERS_MEMORY_RESOURCE_H_

#include <cstddef>
#include <memory_resource>
#include <new>

#include "absl/status/statusor.h"
#include "core/byte_allocator.h"
#include "core/layout.h"

namespace heapkit {

// Serves a std::pmr::memory_resource from a byte allocator, so std::pmr
// containers run on it unchanged:
//
//   heapkit::BuddyByteAllocator buddy;
//   ... buddy.Init(start, size) ...
//   heapkit::MemoryResource resource(buddy);
//   std::pmr::vector<int> numbers(&resource);
//
// `A` is a concrete backend (calls are direct and inline through its final
// type) or ByteAllocator itself (the backend is chosen at run time). The
// resource holds `A` by reference: the backend must outlive it and every block
// allocated through it. Not synchronised, like the backends.
template <class A>
class MemoryResource final : public std::pmr::memory_resource {
 public:
  explicit MemoryResource(A& backend) : backend_(backend) {}
  MemoryResource(const MemoryResource&) = delete;
  MemoryResource& operator=(const MemoryResource&) = delete;

  // Returns a block as allocate() would, or the backend's error instead of
  // throwing: for code built without exceptions.
  absl::StatusOr<void*> TryAllocate(
      std::size_t bytes, std::size_t alignment = alignof(std::max_align_t)) {
    return backend_.Alloc(Layout{bytes, alignment});
  }

  // Frees a block from allocate() or TryAllocate() with the same size and
  // alignment. Never throws.
  void Deallocate(void* ptr, std::size_t bytes,
                  std::size_t alignment = alignof(std::max_align_t)) noexcept {
    backend_.Dealloc(ptr, Layout{bytes, alignment});
  }

  A& backend() const { return backend_; }

 private:
  // Throws std::bad_alloc when the backend fails, whatever the reason.
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    absl::StatusOr<void*> block = backend_.Alloc(Layout{bytes, alignment});
    if (!block.ok()) [[unlikely]] {
      throw std::bad_alloc();
    }
    return *block;
  }

  void do_deallocate(void* ptr, std::size_t bytes,
                     std::size_t alignment) override {
    backend_.Dealloc(ptr, Layout{bytes, alignment});
  }

  // Two resources are interchangeable only if they are the same object.
  bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  A& backend_;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_MEMORY_RESOURCE_H_
