#ifndef HEAPKIT_ALLOCATORS_SLAB_INTERNAL_SLAB_PAGE_H_
#define HEAPKIT_ALLOCATORS_SLAB_INTERNAL_SLAB_PAGE_H_

// A slab's metadata and the O(1) operations on it.
//
// A slab is a 64 KiB window aligned to its size (size_classes.h gives the
// geometry) whose objects carry no header. Its metadata, a Slab, sits at
// kObjectBytes in the window, so Dealloc finds it from the address alone:
// `ptr & ~(kSlabSize - 1)`, plus that offset (SlabOf). It is a header line
// and a two-level bitmap of the free objects: one bit per object in
// kBitmapWords (64) words, and a summary word with a bit per non-empty word.
// Taking a free object is two count-trailing-zeros, returning one sets two
// bits, both O(1) with no search and no division (a multiply by a reciprocal
// maps an address to its bit). The allocator never writes into objects, and
// a slab hands out its lowest free object first, so fresh and refilled slabs
// are used in address order. The header holds a key made of the owning
// allocator's address and the class, so Dealloc recognises a pointer that is
// not in a live slab of that allocator, or is freed with a layout of another
// class.
//
// Nothing here checks its arguments: the callers, SlabByteAllocator's paths,
// guarantee an index below the slab's capacity and an address inside a slab.
//
// Under ASan the allocator keeps a slab's metadata poisoned (see
// core/internal/asan.h), so the functions here that read or write it are not
// instrumented (HEAPKIT_NO_SANITIZE_ADDRESS), except FormatSlab, whose callers
// unpoison the metadata around it.

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "allocators/slab/internal/size_classes.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"

// Marks the fast-path functions that touch slab metadata. Without ASan it
// forces them inline, so that Alloc and Dealloc compile to straight-line code
// at each call site. Under ASan, where the metadata is poisoned, it keeps them
// out of line and uninstrumented instead: GCC inlines an always-inline
// function whatever its attributes and instruments it as its caller is.
#ifdef HEAPKIT_HAVE_ASAN
#define HEAPKIT_SLAB_FAST_PATH HEAPKIT_NO_SANITIZE_ADDRESS
#else
#define HEAPKIT_SLAB_FAST_PATH ABSL_ATTRIBUTE_ALWAYS_INLINE
#endif

namespace heapkit::slab_internal {

// Where a slab is in its life (allocators/slab/slab_byte_allocator_impl.h tells
// the transitions): its class's current slab, on its class's partial or full
// list, or on the cache of empty slabs.
enum class SlabState : std::uint8_t { kCurrent, kPartial, kFull, kCached };

using Bitmap = std::array<std::uint64_t, kBitmapWords>;

// The metadata at kObjectBytes in each slab: a header line, then the bitmap.
struct alignas(64) Slab {
  // The owner's key while the slab is in use; 0 when cached or returned, so
  // a free into such a slab is recognised.
  std::uintptr_t key = 0;
  // Bit w is set if free_bits[w] is not 0.
  std::uint64_t summary = 0;
  // Objects handed out (to callers or magazines) and not returned, plus one
  // while the slab is its class's current slab, so that it is never retired
  // then.
  std::uint32_t live = 0;
  std::uint32_t object_size = 0;
  Slab* prev = nullptr;  // Links on a partial, full or cached list.
  Slab* next = nullptr;
  std::uint32_t backing_bytes = 0;  // What the backing counts as used.
  std::uint16_t capacity = 0;
  std::uint8_t size_class = 0;
  SlabState state = SlabState::kCached;
  // Bit b of word w is set if object 64 * w + b is free. On lines of its
  // own, after the header line.
  alignas(64) Bitmap free_bits{};
};
static_assert(sizeof(Slab) == kMetadataBytes);
static_assert(offsetof(Slab, free_bits) == 64);

// A doubly linked list of slabs threaded through their headers; taken from
// the front, added at the back.
struct SlabList {
  Slab* head = nullptr;
  Slab* tail = nullptr;
};

// Returns the metadata of the slab holding `address`.
inline Slab* SlabOf(std::uintptr_t address) {
  return reinterpret_cast<Slab*>(internal::AlignDown(address, kSlabSize) +
                                 kObjectBytes);
}

// Returns the address of the first object of `slab`, the window's start.
inline std::uintptr_t BaseOf(const Slab* slab) {
  return reinterpret_cast<std::uintptr_t>(slab) - kObjectBytes;
}

// Returns the index of the object at `address`, or of the object it points
// into, within a slab of `size_class`.
inline std::size_t IndexOf(std::uintptr_t address, std::size_t size_class) {
  return ((address & (kSlabSize - 1)) * kReciprocals[size_class]) >> 32;
}

// Returns true if object `index` of `slab` is free.
HEAPKIT_NO_SANITIZE_ADDRESS inline bool IsFree(const Slab* slab,
                                               std::size_t index) {
  return ((slab->free_bits[index / 64] >> (index % 64)) & 1) != 0;
}

// Marks the lowest free object of `slab` handed out and returns its index.
// `summary` is slab->summary, already loaded by the caller, and not 0. Forced
// inline outside ASan builds: it is Alloc's fast path.
HEAPKIT_SLAB_FAST_PATH inline std::size_t TakeLowestFree(
    Slab* slab, std::uint64_t summary) {
  const int word = std::countr_zero(summary);
  const std::uint64_t bits = slab->free_bits[word];
  const int bit = std::countr_zero(bits);
  const std::uint64_t rest = bits & (bits - 1);
  slab->free_bits[word] = rest;
  // The word emptied: its summary bit, the lowest, goes too.
  if (rest == 0) slab->summary = summary & (summary - 1);
  return std::size_t{64} * word + bit;
}

// Marks object `index` of `slab`, which is not free, free.
HEAPKIT_NO_SANITIZE_ADDRESS inline void MarkFree(Slab* slab,
                                                 std::size_t index) {
  slab->free_bits[index / 64] |= std::uint64_t{1} << (index % 64);
  slab->summary |= std::uint64_t{1} << (index / 64);
}

// Makes `slab` an empty slab of `size_class` keyed `key`, pinned as its
// class's current slab: every object free, live 1, unlinked. Writes at most
// kBitmapWords words. Under ASan, the metadata must not be poisoned.
inline void FormatSlab(Slab* slab, std::uintptr_t key, std::size_t size_class) {
  const std::size_t capacity = kObjectBytes / kClassSizes[size_class];
  const std::size_t whole_words = capacity / 64;
  const std::size_t rest = capacity % 64;
  slab->free_bits.fill(0);
  std::fill_n(slab->free_bits.begin(), whole_words, ~std::uint64_t{0});
  if (rest != 0) slab->free_bits[whole_words] = (std::uint64_t{1} << rest) - 1;
  const std::size_t used_words = whole_words + (rest != 0 ? 1 : 0);
  slab->summary = used_words == 64 ? ~std::uint64_t{0}
                                   : (std::uint64_t{1} << used_words) - 1;
  slab->key = key;
  slab->live = 1;
  slab->object_size = kClassSizes[size_class];
  slab->prev = slab->next = nullptr;
  slab->capacity = static_cast<std::uint16_t>(capacity);
  slab->size_class = static_cast<std::uint8_t>(size_class);
  slab->state = SlabState::kCurrent;
}

// Appends `slab`, on no list, to `list`.
HEAPKIT_NO_SANITIZE_ADDRESS inline void PushBack(SlabList& list, Slab* slab) {
  slab->prev = list.tail;
  slab->next = nullptr;
  (list.tail != nullptr ? list.tail->next : list.head) = slab;
  list.tail = slab;
}

// Removes `slab` from `list`, which holds it.
HEAPKIT_NO_SANITIZE_ADDRESS inline void Unlink(SlabList& list, Slab* slab) {
  (slab->prev != nullptr ? slab->prev->next : list.head) = slab->next;
  (slab->next != nullptr ? slab->next->prev : list.tail) = slab->prev;
  slab->prev = slab->next = nullptr;
}

}  // namespace heapkit::slab_internal

#endif  // HEAPKIT_ALLOCATORS_SLAB_INTERNAL_SLAB_PAGE_H_
