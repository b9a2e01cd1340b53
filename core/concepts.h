#ifndef HEAPKIT_CORE_CONCEPTS_H_
#define HEAPKIT_CORE_CONCEPTS_H_

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/byte_allocator.h"
#include "core/layout.h"
#include "core/page_allocator.h"

namespace heapkit {

// What the shared suites in tests/ and the adapters in adapters/ require of a
// byte allocator they are templated on. Checked at compile time, so a backend
// missing a piece fails with the name of the piece rather than deep in a
// template. Beyond the ByteAllocator interface, it asks for CheckInvariants(),
// which the suites call after every step.
template <class A>
concept ByteBackend = std::derived_from<A, ByteAllocator> &&
    requires(A& allocator, const A& view, std::uintptr_t start,
             std::size_t size, Layout layout, void* ptr) {
  { allocator.Init(start, size) } -> std::same_as<absl::Status>;
  { allocator.AddMemory(start, size) } -> std::same_as<absl::Status>;
  { allocator.Alloc(layout) } -> std::same_as<absl::StatusOr<void*>>;
  { allocator.Dealloc(ptr, layout) } -> std::same_as<void>;
  { view.TotalBytes() } -> std::same_as<std::size_t>;
  { view.UsedBytes() } -> std::same_as<std::size_t>;
  { view.AvailableBytes() } -> std::same_as<std::size_t>;
  { view.CheckInvariants() } -> std::same_as<absl::Status>;
};

// As ByteBackend, for allocators of pages.
template <class A>
concept PageBackend = std::derived_from<A, PageAllocator> &&
    requires(A& allocator, const A& view, std::uintptr_t address,
             std::size_t n) {
  { allocator.Init(address, n) } -> std::same_as<absl::Status>;
  { allocator.AddMemory(address, n) } -> std::same_as<absl::Status>;
  {
    allocator.AllocPages(n, n)
    } -> std::same_as<absl::StatusOr<std::uintptr_t>>;
  { allocator.DeallocPages(address, n) } -> std::same_as<absl::Status>;
  { view.PageSize() } -> std::same_as<std::size_t>;
  { view.TotalPages() } -> std::same_as<std::size_t>;
  { view.UsedPages() } -> std::same_as<std::size_t>;
};

}  // namespace heapkit

#endif  // HEAPKIT_CORE_CONCEPTS_H_
