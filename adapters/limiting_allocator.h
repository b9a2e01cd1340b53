#ifndef HEAPKIT_ADAPTERS_LIMITING_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_LIMITING_ALLOCATOR_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "adapters/internal/forwarding_allocator.h"
#include "core/alloc_error.h"
#include "core/concepts.h"
#include "core/internal/fatal.h"
#include "core/layout.h"

namespace heapkit {

// Caps the bytes that live blocks may take from the allocator it wraps, as
// RMM's limiting_resource_adaptor: an Alloc that would take the count past the
// limit fails with kNoMemory ("would exceed the limit of N bytes") without
// reaching the wrapped allocator.
//
// What counts is the requested size, layout.size, of every live block
// allocated through this adapter: the bytes the caller asked for and can
// predict. The backend's rounding and headers (which its UsedBytes() includes)
// are invisible to the caller and differ between backends, so they do not
// count; a size-0 block counts 0. The count never exceeds the limit, except
// after set_limit() lowers the limit below it.
//
//   // At most 1 MiB of requests, on a TLSF allocator owned by `limited`.
//   heapkit::LimitingAllocator<heapkit::TlsfByteAllocator> limited(1 << 20);
//
// Owns the allocator it wraps, constructed in place from the arguments after
// the limit (wrap a BorrowedAllocator to limit one the caller owns). Not
// thread-safe: put it under a SynchronizedAllocator to share it.
template <ByteBackend A>
class LimitingAllocator final : public internal::ForwardingAllocator<A> {
  using Base = internal::ForwardingAllocator<A>;

 public:
  // The limit of a default-constructed adapter: none.
  static constexpr std::size_t kNoLimit =
      std::numeric_limits<std::size_t>::max();

  // Wraps a default-constructed A with no limit.
  LimitingAllocator() requires std::default_initializable<A>
      : LimitingAllocator(kNoLimit) {}

  // Wraps an A constructed from `args`, allowing `limit_bytes` requested bytes
  // to be live at once.
  template <class... Args>
  explicit LimitingAllocator(std::size_t limit_bytes, Args&&... args)
      : Base(std::forward<Args>(args)...), limit_(limit_bytes) {}

  // Initialises the wrapped allocator, which forgets every block, so the count
  // restarts at 0 (the limit stays). Fails as the wrapped Init does.
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    counted_ = 0;
    return Base::Init(start, size);
  }

  // Returns a block from the wrapped allocator if layout.size more bytes keep
  // the count within the limit. Otherwise fails with kNoMemory and leaves the
  // wrapped allocator untouched; fails with kInvalidParam, also untouched, for
  // a layout that is not IsValid(); and fails as the wrapped Alloc does, with
  // the count unchanged.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override {
    if (!layout.IsValid() || counted_ > limit_ ||
        layout.size > limit_ - counted_) [[unlikely]] {
      return Refuse(layout);
    }
    absl::StatusOr<void*> block = Base::Alloc(layout);
    if (block.ok()) counted_ += layout.size;
    return block;
  }

  // Frees the block through the wrapped allocator and uncounts layout.size
  // bytes; a null `ptr` is ignored. Aborts with a message if layout.size is
  // more than the live count: a free of a block that did not come from this
  // adapter, or with a larger layout than its Alloc's.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Dealloc(void* ptr, Layout layout) override {
    if (ptr == nullptr) return;
    if (layout.size > counted_) [[unlikely]] {
      ReportOverFree(ptr, layout);
    }
    counted_ -= layout.size;
    Base::Dealloc(ptr, layout);
  }

  // Returns the limit on the requested bytes of live blocks.
  std::size_t limit() const { return limit_; }

  // Sets the limit. Lowering it below CountedBytes() frees nothing: every
  // Alloc fails until frees bring the count down.
  void set_limit(std::size_t limit_bytes) { limit_ = limit_bytes; }

  // Returns the requested bytes of the live blocks allocated through this
  // adapter: the measure the limit caps.
  std::size_t CountedBytes() const { return counted_; }

  // Returns the wrapped allocator's CheckInvariants() if it fails, else OK or
  // an InternalError if the count is more than the wrapped UsedBytes() (which
  // includes every live block's requested size), as calls made on wrapped()
  // directly can make it.
  absl::Status CheckInvariants() const {
    if (absl::Status status = Base::CheckInvariants(); !status.ok()) {
      return status;
    }
    if (counted_ > this->UsedBytes()) {
      return absl::InternalError(absl::StrCat(
          "LimitingAllocator: ", counted_,
          " requested bytes are live but the wrapped allocator uses only ",
          this->UsedBytes()));
    }
    return absl::OkStatus();
  }

 private:
  // Returns Alloc's error for `layout`, which is invalid or over the limit.
  // Out of line, with the other slow paths, so that the inlined Alloc and
  // Dealloc stay a few instructions.
  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<void*> Refuse(Layout layout) const {
    if (!layout.IsValid()) {
      return MakeError(
          AllocError::kInvalidParam,
          absl::StrCat("LimitingAllocator: invalid layout of ", layout.size,
                       " bytes aligned to ", layout.align));
    }
    return MakeError(AllocError::kNoMemory,
                     absl::StrCat("LimitingAllocator: allocating ", layout.size,
                                  " bytes would exceed the limit of ", limit_,
                                  " bytes (", counted_, " bytes are live)"));
  }

  // Aborts: Dealloc of more bytes than are live.
  [[noreturn]] ABSL_ATTRIBUTE_NOINLINE void ReportOverFree(
      void* ptr, Layout layout) const {
    internal::Fatal(
        "LimitingAllocator: freeing %p of %zu bytes, but only %zu bytes are "
        "live",
        ptr, layout.size, counted_);
  }

  std::size_t limit_;
  // Requested bytes of the live blocks, at most limit_ unless set_limit()
  // lowered it.
  std::size_t counted_ = 0;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_LIMITING_ALLOCATOR_H_
