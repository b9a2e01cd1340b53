#ifndef HEAPKIT_ADAPTERS_INTERNAL_FORWARDING_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_INTERNAL_FORWARDING_ALLOCATOR_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/byte_allocator.h"
#include "core/layout.h"

namespace heapkit::internal {

// The base of every adapter: holds the allocator it wraps and forwards each
// ByteAllocator call to it, so an adapter overrides only the calls it changes.
// `Held` is the wrapped type, owned and constructed in place from the
// constructor's arguments, or a reference to it (BorrowedAllocator). With a
// concrete (final) type a forwarded call is direct and inlines, so a stack of
// adapters compiles to one chain of direct calls.
//
// Alloc and Dealloc, here and in every adapter, are forced inline (the
// adapter's slow paths kept out of line), so that a stack called through its
// concrete type compiles to the backend's inline fast path plus each adapter's
// few instructions: with a plain `inline`, GCC 12 runs out of inlining budget
// in a large caller and leaves a layer, or the backend's own helpers, out of
// line, and the absl::StatusOr then goes through memory at every layer.
// Calls through ByteAllocator& use the vtable as ever.
template <class Held>
requires std::derived_from<std::remove_cvref_t<Held>, ByteAllocator>
class ForwardingAllocator : public ByteAllocator {
 public:
  using Wrapped = std::remove_reference_t<Held>;

  template <class... Args>
  explicit ForwardingAllocator(Args&&... args)
      : wrapped_(std::forward<Args>(args)...) {}

  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    return wrapped_.Init(start, size);
  }
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    return wrapped_.AddMemory(start, size);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override {
    return wrapped_.Alloc(layout);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Dealloc(void* ptr, Layout layout) override {
    wrapped_.Dealloc(ptr, layout);
  }
  std::size_t TotalBytes() const override { return wrapped_.TotalBytes(); }
  std::size_t UsedBytes() const override { return wrapped_.UsedBytes(); }

  // Returns the wrapped allocator's CheckInvariants(), or OK if it has none
  // (ByteAllocator itself). Adapters with state of their own check it too.
  absl::Status CheckInvariants() const {
    if constexpr (requires(const Wrapped& a) { a.CheckInvariants(); }) {
      return wrapped_.CheckInvariants();
    } else {
      return absl::OkStatus();
    }
  }

  // Returns the allocator this one wraps. Calls made on it directly bypass
  // this adapter (its counters, checks or lock).
  Wrapped& wrapped() { return wrapped_; }
  const Wrapped& wrapped() const { return wrapped_; }

 protected:
  Held wrapped_;
};

}  // namespace heapkit::internal

#endif  // HEAPKIT_ADAPTERS_INTERNAL_FORWARDING_ALLOCATOR_H_
