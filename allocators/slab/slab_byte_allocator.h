#ifndef HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/slab/internal/size_classes.h"
#include "allocators/slab/internal/slab_page.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/byte_allocator.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"
#include "core/layout.h"

namespace heapkit {

// A slab allocator of bytes over caller-given memory: size-classed slabs serve
// small, frequent objects in O(1), and a `Backing` allocator member (TLSF by
// default; any default-constructible ByteAllocator, such as
// BuddyByteAllocator) serves everything else.
//
// Routing. Dealloc gets the layout Alloc got, so the layout alone decides
// where a block lives. A valid layout whose size (0 counts as 1), rounded up
// to its alignment, is at most kMaxSmallSize (4 KiB) is "small": it takes the
// smallest of the kNumSizeClasses classes that holds it, aligned as asked.
// Every other layout, including any alignment over 4 KiB, goes to the backing
// allocator. Init and AddMemory hand the memory to the backing allocator and
// fail exactly as it does. Memory held for reuse (freed objects, empty slabs)
// never causes a spurious kNoMemory: it is released and the request retried.
//
// Limits. A small object wastes up to 15 bytes up to 256 bytes and under 20%
// above; each slab gives 1% to its metadata. Freed objects parked in the
// per-class magazines, about 1.5 MiB at most, keep their slabs until
// ReleaseEmptySlabs() or more frees push them out. 64-bit only. Like every
// backend, not synchronised.
//
// Statistics. UsedBytes() counts each live small object at its class size
// and each large block as the backing allocator does; slab metadata, free
// objects and cached empty slabs count as available, so UsedBytes() +
// AvailableBytes() == TotalBytes() exactly and UsedBytes() returns to its
// value after Init once everything is freed.
//
// Checks. Dealloc of a small layout aborts with a message for a pointer that
// is not in a live slab of this allocator for that layout's class (a foreign
// pointer, a free into a slab already retired, or a layout of another class),
// and for a double free. Without NDEBUG it also checks that the pointer starts
// an object and that the object is not free already, so every double free
// aborts at once; release builds catch a double free when the magazine
// returns the object to its slab.
//
// AddressSanitizer. Under ASan (core/internal/asan.h) a small object is
// unpoisoned over exactly [ptr, ptr + layout.size) while it is live; free
// objects, those parked in magazines included, and slab metadata are
// poisoned, large blocks are as the backing allocator leaves them, and the
// backing allocator returns everything unpoisoned when destroyed.
//
// Design: internal/size_classes.h (geometry, size classes, alignment),
// internal/slab_page.h (a slab's header and bitmap) and
// slab_byte_allocator_impl.h (magazines, slab states, empty slabs,
// statistics).
//
// Backings. The fast paths are inline here; the rest of
// SlabByteAllocator<TlsfByteAllocator> is compiled once, in
// slab_byte_allocator.cc. With any other Backing, also include
// "allocators/slab/slab_byte_allocator_impl.h" in each file that
// uses it (or in one file that instantiates it explicitly); without it,
// linking fails with undefined members.
template <class Backing = TlsfByteAllocator>
class SlabByteAllocator final : public ByteAllocator {
  static_assert(std::is_base_of_v<ByteAllocator, Backing> &&
                    std::is_default_constructible_v<Backing>,
                "Backing must be a default-constructible ByteAllocator");

 public:
  // The size and alignment of a slab.
  static constexpr std::size_t kSlabSize = slab_internal::kSlabSize;
  // What a slab asks of the backing allocator.
  static constexpr Layout kSlabLayout{kSlabSize - slab_internal::kBackingTail,
                                      kSlabSize};
  // The largest size (after rounding up to the alignment) served by a slab.
  static constexpr std::size_t kMaxSmallSize = slab_internal::kMaxSmallSize;
  static constexpr std::size_t kNumSizeClasses = slab_internal::kNumClasses;
  // SizeClassFor() returns this for a layout the backing allocator serves.
  static constexpr std::size_t kLarge = kNumSizeClasses;
  // The bytes of a slab that hold objects, from its start.
  static constexpr std::size_t kSlabObjectBytes = slab_internal::kObjectBytes;
  // How many empty slabs are kept for reuse before they go back.
  static constexpr std::size_t kMaxCachedSlabs = 4;

  SlabByteAllocator() { Reset(); }

  // Returns the class of a small layout, or kLarge for a layout served by the
  // backing allocator (including an invalid one).
  static constexpr std::size_t SizeClassFor(Layout layout);

  // Returns the object size of a class (< kNumSizeClasses).
  static constexpr std::size_t ClassSize(std::size_t size_class) {
    return slab_internal::kClassSizes[size_class];
  }

  // Returns how many objects of a class one slab holds.
  static constexpr std::size_t ObjectsPerSlab(std::size_t size_class) {
    return kSlabObjectBytes / ClassSize(size_class);
  }

  // Returns how many freed objects of a class its magazine holds at most.
  static constexpr std::size_t MagazineSize(std::size_t size_class) {
    return slab_internal::kMagazineSizes[size_class];
  }

  // Forgets every slab and block, then manages [start, start + size) through
  // the backing allocator's Init, failing as it does.
  absl::Status Init(std::uintptr_t start, std::size_t size) override;

  // Adds memory through the backing allocator's AddMemory, failing as it
  // does.
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override;

  // Returns a block for `layout`: an object in O(1) for a small layout, else
  // the backing allocator's block. Fails with kInvalidParam if
  // !layout.IsValid(), and kNoMemory if no slab can be had for a small layout
  // or the backing allocator has no room for a large one even after empty
  // slabs are released; the allocator stays usable.
  //
  // Alloc and Dealloc are forced inline: a call through the final type must
  // compile to the straight-line fast path even in a file that has spent its
  // inlining budget (GCC 12 leaves a merely inline Alloc out of line in
  // bench/byte_benchmark.cc). Calls through ByteAllocator& use the vtable.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override;

  // Frees a block from Alloc, given its layout: O(1) for a small layout.
  // Ignores null. Aborts on the bad frees the class comment lists.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Dealloc(void* ptr, Layout layout) override;

  // Returns the backing allocator's total; see the class comment.
  std::size_t TotalBytes() const override { return backing_.TotalBytes(); }

  // Returns the bytes live blocks take; see the class comment. Takes
  // O(kNumSizeClasses) to sum the magazines, which keeps that work off the
  // fast paths.
  std::size_t UsedBytes() const override;

  // Returns every object parked in a magazine to its slab, then every cached
  // empty slab and every class's current slab that holds no live object to
  // the backing allocator, and returns how many slabs went back. Takes time
  // linear in the magazines' size.
  HEAPKIT_NO_SANITIZE_ADDRESS std::size_t ReleaseEmptySlabs();

  // Returns how many slabs are taken from the backing allocator, cached empty
  // ones included.
  std::size_t SlabCount() const { return slab_count_; }

  // Returns how many empty slabs are cached for reuse.
  std::size_t CachedSlabCount() const { return cached_count_; }

  // Returns OK, or an InternalError naming the first broken invariant found:
  // every slab on exactly one list (or current) with a state, key and class
  // to match; list links consistent; each slab's bitmap agreeing with its
  // summary, marking no object past its capacity, and adding up with its
  // live objects to its capacity; every magazine entry a distinct object
  // handed out by a live slab of its class; the live objects and slab bytes
  // adding up to the statistics; then the backing allocator's own
  // CheckInvariants() if it has one. Takes time linear in the slabs and
  // magazines and uses the process heap. For tests and debugging.
  HEAPKIT_NO_SANITIZE_ADDRESS absl::Status CheckInvariants() const;

  // Returns the backing allocator, for tests and statistics. Allocating from
  // it directly is fine; freeing slabs through it is not.
  Backing& backing() { return backing_; }
  const Backing& backing() const { return backing_; }

 private:
  using Slab = slab_internal::Slab;
  using SlabList = slab_internal::SlabList;
  using SlabState = slab_internal::SlabState;

  // The slab key: this allocator's address with the class in bits 56 to 60,
  // which no user-space address uses. Never 0.
  std::uintptr_t KeyFor(std::size_t size_class) const {
    return reinterpret_cast<std::uintptr_t>(this) ^
           (std::uintptr_t{size_class} << 56);
  }

  // True for a valid layout of at most kMaxSmallSize bytes aligned to at most
  // 16: those need no rounding before the class lookup.
  static constexpr bool IsPlainSmall(Layout layout) {
    return layout.size <= kMaxSmallSize &&
           layout.align - 1 < slab_internal::kGranularity &&
           internal::IsPowerOfTwo(layout.align);
  }

  std::uintptr_t* MagazineOf(std::size_t size_class) {
    return &magazine_slots_[slab_internal::kMagazineStarts[size_class]];
  }
  const std::uintptr_t* MagazineOf(std::size_t size_class) const {
    return &magazine_slots_[slab_internal::kMagazineStarts[size_class]];
  }

  // The fast paths, forced inline so that Alloc and Dealloc stay small
  // enough to inline at every call site. Under ASan, those that touch slab
  // metadata are out of line instead (see HEAPKIT_SLAB_FAST_PATH), and
  // AllocSmall returns a poisoned object for its caller to unpoison.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> AllocSmall(
      std::size_t size_class);
  HEAPKIT_SLAB_FAST_PATH absl::StatusOr<void*> AllocFromSlab(
      std::size_t size_class);
  HEAPKIT_SLAB_FAST_PATH void DeallocSmall(void* ptr, std::size_t size_class);
#ifdef HEAPKIT_HAVE_ASAN
  // Unpoisons the first `size` bytes of `object` from AllocSmall if it is OK,
  // and returns it.
  static absl::StatusOr<void*> Unpoisoned(absl::StatusOr<void*> object,
                                          std::size_t size) {
    if (object.ok()) internal::UnpoisonMemory(*object, size);
    return object;
  }
#endif

  // Out of line (slab_byte_allocator_impl.h): the backing allocator's
  // blocks, aligned small layouts and invalid ones, and the cold paths. The
  // first two take the layout as two words: GCC copies a Layout argument
  // through the stack and reloads it with one 16-byte load, which stalls on
  // the two 8-byte stores. Those that touch slab metadata, poisoned under
  // ASan, are HEAPKIT_NO_SANITIZE_ADDRESS.
  absl::StatusOr<void*> AllocOther(std::size_t size, std::size_t align);
  void DeallocOther(void* ptr, std::size_t size, std::size_t align);
  HEAPKIT_NO_SANITIZE_ADDRESS absl::StatusOr<void*> Refill(
      std::size_t size_class);
  std::uint32_t FlushMagazine(std::size_t size_class);
  std::size_t FlushAllMagazines();
  HEAPKIT_NO_SANITIZE_ADDRESS void ReturnToSlab(std::uintptr_t object);
  HEAPKIT_NO_SANITIZE_ADDRESS void OnReturnTransition(Slab* slab);
  Slab* TakeSlab(std::size_t size_class);
  HEAPKIT_NO_SANITIZE_ADDRESS Slab* TakeSlabOnce(std::size_t size_class);
  Slab* NewSlab();
  HEAPKIT_NO_SANITIZE_ADDRESS Slab* StealEmptySlab();
  HEAPKIT_NO_SANITIZE_ADDRESS void Retire(Slab* slab);
  HEAPKIT_NO_SANITIZE_ADDRESS void ReturnSlabToBacking(Slab* slab);
  void Reset();
  // The checks (slab_invariants_impl.h).
  HEAPKIT_NO_SANITIZE_ADDRESS void CheckFree(const Slab* slab,
                                             std::uintptr_t object,
                                             std::size_t size_class) const;
  HEAPKIT_NO_SANITIZE_ADDRESS absl::Status CheckSlab(
      const Slab* slab, std::size_t size_class, SlabState state,
      std::size_t& handed_bytes) const;

  // Hot: the magazines (class c's entries are MagazineOf(c)[0] up to
  // magazine_counts_[c], newest last), and each class's current slab or
  // &no_slab_ (which has no free object, so Alloc needs no null check).
  slab_internal::PerClass<std::uint32_t> magazine_counts_{};
  slab_internal::PerClass<Slab*> current_;
  // Class sizes of the objects slabs have handed out and not got back.
  std::size_t handed_bytes_ = 0;
  std::array<std::uintptr_t, slab_internal::kMagazineSlots> magazine_slots_;
  // Cold.
  slab_internal::PerClass<SlabList> partial_;
  slab_internal::PerClass<SlabList> full_;
  SlabList cached_;
  std::size_t cached_count_ = 0;
  std::size_t slab_count_ = 0;
  std::size_t slab_backing_bytes_ = 0;
  Slab no_slab_;
  Backing backing_;
};

// The fast paths: inline so that a call through the final type compiles to
// straight-line code at the call site.

template <class Backing>
constexpr std::size_t SlabByteAllocator<Backing>::SizeClassFor(Layout layout) {
  if (!layout.IsValid() || layout.size > kMaxSmallSize ||
      layout.align > kMaxSmallSize) {
    return kLarge;
  }
  const std::size_t size =
      internal::AlignUp(layout.size == 0 ? 1 : layout.size, layout.align);
  if (size > kMaxSmallSize) return kLarge;
  return slab_internal::ClassOfSize(size);
}

template <class Backing>
inline absl::StatusOr<void*> SlabByteAllocator<Backing>::AllocFromSlab(
    std::size_t size_class) {
  Slab* const slab = current_[size_class];
  const std::uint64_t summary = slab->summary;
  if (ABSL_PREDICT_FALSE(summary == 0)) return Refill(size_class);
  const std::size_t index = slab_internal::TakeLowestFree(slab, summary);
  ++slab->live;
  handed_bytes_ += slab->object_size;
  return reinterpret_cast<void*>(slab_internal::BaseOf(slab) +
                                 index * slab->object_size);
}

template <class Backing>
inline absl::StatusOr<void*> SlabByteAllocator<Backing>::AllocSmall(
    std::size_t size_class) {
  const std::uint32_t count = magazine_counts_[size_class];
  if (ABSL_PREDICT_TRUE(count != 0)) {
    magazine_counts_[size_class] = count - 1;
    return reinterpret_cast<void*>(MagazineOf(size_class)[count - 1]);
  }
  return AllocFromSlab(size_class);
}

template <class Backing>
inline absl::StatusOr<void*> SlabByteAllocator<Backing>::Alloc(Layout layout) {
  if (ABSL_PREDICT_TRUE(IsPlainSmall(layout))) {
    // Objects wait poisoned in the magazines and slabs. Under #ifdef: without
    // ASan the fast paths must compile exactly as they did (see
    // TlsfByteAllocator::Alloc).
#ifdef HEAPKIT_HAVE_ASAN
    return Unpoisoned(AllocSmall(slab_internal::ClassOfSize(layout.size)),
                      layout.size);
#else
    return AllocSmall(slab_internal::ClassOfSize(layout.size));
#endif
  }
  return AllocOther(layout.size, layout.align);
}

template <class Backing>
inline void SlabByteAllocator<Backing>::DeallocSmall(void* ptr,
                                                     std::size_t size_class) {
  const std::uintptr_t object = reinterpret_cast<std::uintptr_t>(ptr);
  const Slab* const slab = slab_internal::SlabOf(object);
  if (ABSL_PREDICT_FALSE(slab->key != KeyFor(size_class))) {
    internal::Fatal(
        "SlabByteAllocator: %p: bad free: not in a live slab of this "
        "allocator for this layout (a foreign pointer, a free into a slab "
        "already released, or a layout of another size class)",
        ptr);
  }
#ifndef NDEBUG
  CheckFree(slab, object, size_class);
#endif
#ifdef HEAPKIT_HAVE_ASAN  // See Alloc.
  internal::PoisonMemory(ptr, ClassSize(size_class));
#endif
  std::uint32_t count = magazine_counts_[size_class];
  if (ABSL_PREDICT_FALSE(count == MagazineSize(size_class))) {
    count = FlushMagazine(size_class);
  }
  MagazineOf(size_class)[count] = object;
  magazine_counts_[size_class] = count + 1;
}

template <class Backing>
inline void SlabByteAllocator<Backing>::Dealloc(void* ptr, Layout layout) {
  if (ptr == nullptr) return;
  if (ABSL_PREDICT_TRUE(IsPlainSmall(layout))) {
    DeallocSmall(ptr, slab_internal::ClassOfSize(layout.size));
    return;
  }
  DeallocOther(ptr, layout.size, layout.align);
}

// The default backing's out-of-line members are compiled once, in
// slab_byte_allocator.cc.
extern template class SlabByteAllocator<TlsfByteAllocator>;

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_H_
