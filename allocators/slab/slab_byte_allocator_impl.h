#ifndef HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_IMPL_H_
#define HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_IMPL_H_

// The out-of-line members of SlabByteAllocator<Backing>: the cold paths here,
// the checks in slab_invariants_impl.h (included below, so this one include
// defines every member). slab_byte_allocator.cc instantiates them for the
// default backing; include this header to use another Backing.
//
// Magazines. In front of the slabs, each class has a magazine: a stack of up
// to 256 recently freed objects (internal/size_classes.h gives the sizes) in an
// array inside the allocator, as in Bonwick's magazine layer. Dealloc pushes
// onto it and Alloc pops from it, so the object freed last, still in cache, is
// handed out next, and Dealloc reads only the key of its slab. Alloc falls
// back to the class's current slab when the magazine is empty; Dealloc onto a
// full magazine first returns its older half to their slabs (FlushMagazine).
// Both fast paths are O(1) and inline at the call site.
//
// Slab states. A class's current slab hands out objects; when it runs out it
// goes to the class's full list and the partial slab (one that has had
// objects returned) at the front of the class's partial list takes over,
// being the one that has had the longest to collect free objects; failing
// that a cached empty slab, or a new slab from the backing allocator. A full
// slab that gets an object back moves to the back of the partial list; a
// partial slab that empties is retired. These transitions happen only on
// the slow paths, out of line: when Alloc finds both the magazine and the
// current slab empty (Refill), and when a magazine passes objects back
// (ReturnToSlab).
//
// Empty slabs. A retired slab goes to a cache of up to kMaxCachedSlabs (4)
// empty slabs that any class can reuse, or back to the backing allocator
// when the cache is full. The current slab of a class is never retired, even
// when empty, so a pattern that allocates and frees one object at a slab
// boundary costs no backing call; with the cache, neither does a queue that
// keeps emptying old slabs while filling new ones. An object parked in a
// magazine still keeps its slab from being empty, so up to a magazine's worth
// of objects per class can hold slabs back until more frees push them out.
// ReleaseEmptySlabs() empties every magazine, then returns every cached slab
// and every empty current slab to the backing allocator. A large request the
// backing allocator cannot serve does that first and tries again, and a
// class that needs a slab when the backing allocator has no room for one
// empties the magazines and, if need be, takes over another class's empty
// current slab, so memory held for reuse never causes a spurious kNoMemory.
//
// Statistics. TotalBytes() is the backing allocator's. UsedBytes() is the
// backing allocator's used bytes, minus what it counts for the slabs this
// allocator holds (slab_backing_bytes_), plus the class sizes of the objects
// the slabs have handed out (handed_bytes_), minus those of the objects
// parked in magazines, which are free. Summing the magazines is
// O(kNumSizeClasses), which keeps that work off the fast paths.
//
// AddressSanitizer. A new slab arrives unpoisoned over the block the backing
// allocator handed out, and is poisoned whole once its metadata is written:
// objects are unpoisoned only from Alloc to Dealloc, and metadata only while
// FormatSlab rewrites it. The functions that touch metadata otherwise are
// HEAPKIT_NO_SANITIZE_ADDRESS. A slab going back to the backing allocator is
// poisoned (or not) by it.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <new>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "allocators/slab/internal/size_classes.h"
#include "allocators/slab/internal/slab_page.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/slab/slab_invariants_impl.h"
#include "core/alloc_error.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"
#include "core/layout.h"

namespace heapkit {

template <class Backing>
absl::Status SlabByteAllocator<Backing>::Init(std::uintptr_t start,
                                              std::size_t size) {
  Reset();
  return backing_.Init(start, size);
}

template <class Backing>
absl::Status SlabByteAllocator<Backing>::AddMemory(std::uintptr_t start,
                                                   std::size_t size) {
  return backing_.AddMemory(start, size);
}

template <class Backing>
std::size_t SlabByteAllocator<Backing>::UsedBytes() const {
  std::size_t parked = 0;
  for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
    parked += std::size_t{magazine_counts_[c]} * ClassSize(c);
  }
  return backing_.UsedBytes() - slab_backing_bytes_ + handed_bytes_ - parked;
}

template <class Backing>
void SlabByteAllocator<Backing>::Reset() {
  magazine_counts_.fill(0);
  current_.fill(&no_slab_);
  handed_bytes_ = 0;
  partial_.fill(SlabList{});
  full_.fill(SlabList{});
  cached_ = SlabList{};
  cached_count_ = 0;
  slab_count_ = 0;
  slab_backing_bytes_ = 0;
  no_slab_ = Slab{};
}

template <class Backing>
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<void*>
SlabByteAllocator<Backing>::AllocOther(std::size_t size, std::size_t align) {
  const Layout layout{size, align};
  if (!layout.IsValid()) {
    return MakeError(AllocError::kInvalidParam,
                     absl::StrCat("SlabByteAllocator::Alloc: invalid layout "
                                  "(size ",
                                  size, ", align ", align, ")"));
  }
  const std::size_t size_class = SizeClassFor(layout);
  if (size_class != kLarge) {
#ifdef HEAPKIT_HAVE_ASAN
    return Unpoisoned(AllocSmall(size_class), size);
#else
    return AllocSmall(size_class);
#endif
  }
  absl::StatusOr<void*> block = backing_.Alloc(layout);
  // Memory held for reuse must not make a large request fail.
  if (ABSL_PREDICT_FALSE(!block.ok()) &&
      absl::IsResourceExhausted(block.status()) && ReleaseEmptySlabs() != 0) {
    block = backing_.Alloc(layout);
  }
  return block;
}

template <class Backing>
ABSL_ATTRIBUTE_NOINLINE void SlabByteAllocator<Backing>::DeallocOther(
    void* ptr, std::size_t size, std::size_t align) {
  const Layout layout{size, align};
  const std::size_t size_class = SizeClassFor(layout);
  if (size_class != kLarge) {
    DeallocSmall(ptr, size_class);
  } else {
    backing_.Dealloc(ptr, layout);
  }
}

template <class Backing>
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<void*>
SlabByteAllocator<Backing>::Refill(std::size_t size_class) {
  if (Slab* const slab = current_[size_class]; slab != &no_slab_) {
    // Every object is handed out: unpin the slab and park it until one comes
    // back.
    --slab->live;
    slab->state = SlabState::kFull;
    slab_internal::PushBack(full_[size_class], slab);
    current_[size_class] = &no_slab_;
  }
  Slab* const slab = TakeSlab(size_class);
  if (slab == nullptr) {
    return MakeError(
        AllocError::kNoMemory,
        absl::StrCat("SlabByteAllocator::Alloc: no memory for a new slab of ",
                     ClassSize(size_class), "-byte objects (", AvailableBytes(),
                     " of ", TotalBytes(),
                     " bytes free, the backing allocator cannot place a ",
                     kSlabLayout.size, "-byte block aligned to ",
                     kSlabLayout.align, ")"));
  }
  current_[size_class] = slab;
  return AllocFromSlab(size_class);
}

// Returns a slab to become the current one of `size_class`, pinned and with
// free objects, or null if none can be had even after the magazines are
// emptied.
template <class Backing>
typename SlabByteAllocator<Backing>::Slab* SlabByteAllocator<Backing>::TakeSlab(
    std::size_t size_class) {
  Slab* slab = TakeSlabOnce(size_class);
  if (slab == nullptr && FlushAllMagazines() != 0) {
    slab = TakeSlabOnce(size_class);
  }
  return slab;
}

template <class Backing>
typename SlabByteAllocator<Backing>::Slab*
SlabByteAllocator<Backing>::TakeSlabOnce(std::size_t size_class) {
  if (Slab* slab = partial_[size_class].head; slab != nullptr) {
    slab_internal::Unlink(partial_[size_class], slab);
    slab->state = SlabState::kCurrent;
    ++slab->live;
    return slab;
  }
  Slab* slab = cached_.head;
  if (slab != nullptr) {
    slab_internal::Unlink(cached_, slab);
    --cached_count_;
  } else {
    slab = NewSlab();
    if (slab == nullptr) slab = StealEmptySlab();
    if (slab == nullptr) return nullptr;
  }
  // FormatSlab's library calls on the metadata are instrumented.
  internal::UnpoisonMemory(slab, sizeof(Slab));
  slab_internal::FormatSlab(slab, KeyFor(size_class), size_class);
  internal::PoisonMemory(slab, sizeof(Slab));
  return slab;
}

template <class Backing>
typename SlabByteAllocator<Backing>::Slab*
SlabByteAllocator<Backing>::NewSlab() {
  const std::size_t used_before = backing_.UsedBytes();
  absl::StatusOr<void*> block = backing_.Alloc(kSlabLayout);
  if (!block.ok()) return nullptr;
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(*block);
  if (ABSL_PREDICT_FALSE(!internal::IsAligned(base, kSlabSize))) {
    internal::Fatal(
        "SlabByteAllocator: %p: the backing allocator returned a slab not "
        "aligned to its size",
        *block);
  }
  Slab* const slab = new (slab_internal::SlabOf(base)) Slab{};
  slab->backing_bytes =
      static_cast<std::uint32_t>(backing_.UsedBytes() - used_before);
  slab_backing_bytes_ += slab->backing_bytes;
  ++slab_count_;
  // The objects are free and the metadata is the allocator's.
  internal::PoisonMemory(*block, kSlabLayout.size);
  return slab;
}

// Takes an empty current slab away from its class, for a class that cannot
// get a slab otherwise. O(kNumSizeClasses).
template <class Backing>
typename SlabByteAllocator<Backing>::Slab*
SlabByteAllocator<Backing>::StealEmptySlab() {
  for (Slab*& current : current_) {
    if (current != &no_slab_ && current->live == 1) {
      Slab* const slab = current;
      current = &no_slab_;
      return slab;
    }
  }
  return nullptr;
}

// Returns the older half of a full magazine to the slabs, moves the newer
// half down, and returns the new count.
template <class Backing>
ABSL_ATTRIBUTE_NOINLINE std::uint32_t SlabByteAllocator<Backing>::FlushMagazine(
    std::size_t size_class) {
  std::uintptr_t* const magazine = MagazineOf(size_class);
  const std::uint32_t size = magazine_counts_[size_class];
  const std::uint32_t half = size / 2;
  for (std::uint32_t i = 0; i < half; ++i) ReturnToSlab(magazine[i]);
  std::copy(magazine + half, magazine + size, magazine);
  magazine_counts_[size_class] = size - half;
  return size - half;
}

// Returns every magazine entry to its slab; returns how many there were.
template <class Backing>
std::size_t SlabByteAllocator<Backing>::FlushAllMagazines() {
  std::size_t flushed = 0;
  for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
    const std::uintptr_t* const magazine = MagazineOf(c);
    for (std::uint32_t i = 0; i < magazine_counts_[c]; ++i) {
      ReturnToSlab(magazine[i]);
    }
    flushed += magazine_counts_[c];
    magazine_counts_[c] = 0;
  }
  return flushed;
}

template <class Backing>
void SlabByteAllocator<Backing>::ReturnToSlab(std::uintptr_t object) {
  Slab* const slab = slab_internal::SlabOf(object);
  const std::size_t index = slab_internal::IndexOf(object, slab->size_class);
  if (ABSL_PREDICT_FALSE(slab_internal::IsFree(slab, index))) {
    internal::Fatal(
        "SlabByteAllocator: %p: double free: the object is free in its slab",
        reinterpret_cast<void*>(object));
  }
  const bool was_full = slab->summary == 0;
  slab_internal::MarkFree(slab, index);
  handed_bytes_ -= slab->object_size;
  // A full slab now has room, or a partial one is empty. (The current slab
  // is pinned, so it never empties here.)
  if (--slab->live == 0 || was_full) OnReturnTransition(slab);
}

template <class Backing>
void SlabByteAllocator<Backing>::OnReturnTransition(Slab* slab) {
  const std::size_t size_class = slab->size_class;
  switch (slab->state) {
    case SlabState::kCurrent:
      return;  // It had run out; it stays current.
    case SlabState::kFull:
      slab_internal::Unlink(full_[size_class], slab);
      slab->state = SlabState::kPartial;
      slab_internal::PushBack(partial_[size_class], slab);
      break;
    case SlabState::kPartial:
      break;
    case SlabState::kCached:
      internal::Fatal(
          "SlabByteAllocator: %p: an object returned to a cached slab",
          reinterpret_cast<void*>(slab_internal::BaseOf(slab)));
  }
  if (slab->live == 0) {
    slab_internal::Unlink(partial_[size_class], slab);
    Retire(slab);
  }
}

template <class Backing>
void SlabByteAllocator<Backing>::Retire(Slab* slab) {
  if (cached_count_ < kMaxCachedSlabs) {
    slab->key = 0;
    slab->state = SlabState::kCached;
    slab_internal::PushBack(cached_, slab);
    ++cached_count_;
  } else {
    ReturnSlabToBacking(slab);
  }
}

template <class Backing>
void SlabByteAllocator<Backing>::ReturnSlabToBacking(Slab* slab) {
  slab->key = 0;  // A late free into this memory must not match.
  slab_backing_bytes_ -= slab->backing_bytes;
  --slab_count_;
  backing_.Dealloc(reinterpret_cast<void*>(slab_internal::BaseOf(slab)),
                   kSlabLayout);
}

template <class Backing>
std::size_t SlabByteAllocator<Backing>::ReleaseEmptySlabs() {
  FlushAllMagazines();
  std::size_t released = 0;
  for (Slab*& current : current_) {
    if (current != &no_slab_ && current->live == 1) {
      ReturnSlabToBacking(current);
      current = &no_slab_;
      ++released;
    }
  }
  while (cached_.head != nullptr) {
    Slab* const slab = cached_.head;
    slab_internal::Unlink(cached_, slab);
    ReturnSlabToBacking(slab);
    ++released;
  }
  cached_count_ = 0;
  return released;
}

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_IMPL_H_
