#ifndef HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <new>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/alloc_error.h"
#include "core/byte_allocator.h"
#include "core/layout.h"

namespace heapkit {
namespace slab_internal {

static_assert(sizeof(void*) == 8, "slab keys use the top byte of a word");

// The geometry, size classes and magazine sizes, shared by every
// SlabByteAllocator<Backing>; the class comment explains them.

inline constexpr std::size_t kSlabSize = std::size_t{1} << 16;
// The bytes at the end of the window left to the backing allocator.
inline constexpr std::size_t kBackingTail = 16;
// Objects fill a slab from offset 0 up to kObjectBytes, where its metadata
// (a header line and a bitmap of kBitmapWords words) begins.
inline constexpr std::size_t kBitmapWords = 64;
inline constexpr std::size_t kMetadataBytes = 64 + kBitmapWords * 8;
inline constexpr std::size_t kObjectBytes = kSlabSize - 128 - kBitmapWords * 8;
inline constexpr std::size_t kGranularity = 16;
inline constexpr std::size_t kMaxSmallSize = 4096;
// Classes are kGranularity apart up to kLinearLimit, then kStepsPerDoubling
// per power of two.
inline constexpr std::size_t kLinearLimit = 256;
inline constexpr std::size_t kStepsPerDoubling = 4;
// A magazine holds up to kMaxMagazine objects and kMagazineBytes of them.
inline constexpr std::size_t kMagazineBytes = 64 * 1024;
inline constexpr std::size_t kMaxMagazine = 256;

static_assert(kObjectBytes / kGranularity <= kBitmapWords * 64,
              "one bit per object of the smallest class");
static_assert(kObjectBytes + kMetadataBytes <= kSlabSize - kBackingTail);

constexpr std::size_t CountClasses() {
  std::size_t count = kLinearLimit / kGranularity;
  for (std::size_t base = kLinearLimit; base < kMaxSmallSize; base *= 2) {
    count += kStepsPerDoubling;
  }
  return count;
}
inline constexpr std::size_t kNumClasses = CountClasses();

template <class T>
using PerClass = std::array<T, kNumClasses>;

constexpr PerClass<std::uint32_t> MakeClassSizes() {
  PerClass<std::uint32_t> sizes{};
  std::size_t next = 0;
  for (std::size_t size = kGranularity; size <= kLinearLimit;
       size += kGranularity) {
    sizes[next++] = static_cast<std::uint32_t>(size);
  }
  for (std::size_t base = kLinearLimit; base < kMaxSmallSize; base *= 2) {
    for (std::size_t step = 1; step <= kStepsPerDoubling; ++step) {
      sizes[next++] =
          static_cast<std::uint32_t>(base + step * (base / kStepsPerDoubling));
    }
  }
  return sizes;
}
inline constexpr PerClass<std::uint32_t> kClassSizes = MakeClassSizes();

// kClassOfUnits[(size + 15) / 16] is the smallest class holding `size` bytes,
// for every size up to kMaxSmallSize: a lookup, no search or division.
constexpr std::array<std::uint8_t, kMaxSmallSize / kGranularity + 1>
MakeClassOfUnits() {
  std::array<std::uint8_t, kMaxSmallSize / kGranularity + 1> index{};
  std::size_t size_class = 0;
  for (std::size_t units = 0; units < index.size(); ++units) {
    while (kClassSizes[size_class] < units * kGranularity) ++size_class;
    index[units] = static_cast<std::uint8_t>(size_class);
  }
  return index;
}
inline constexpr std::array<std::uint8_t, kMaxSmallSize / kGranularity + 1>
    kClassOfUnits = MakeClassOfUnits();

// (offset * kReciprocals[c]) >> 32 == offset / kClassSizes[c] for every
// offset below kSlabSize: the reciprocal is rounded up, so the product errs
// high by less than offset / 2^32 < 2^-16, less than the 1 / size the true
// quotient is from the next integer.
constexpr PerClass<std::uint64_t> MakeReciprocals() {
  PerClass<std::uint64_t> reciprocals{};
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    reciprocals[c] =
        ((std::uint64_t{1} << 32) + kClassSizes[c] - 1) / kClassSizes[c];
  }
  return reciprocals;
}
inline constexpr PerClass<std::uint64_t> kReciprocals = MakeReciprocals();

constexpr PerClass<std::uint32_t> MakeMagazineSizes() {
  PerClass<std::uint32_t> sizes{};
  for (std::size_t c = 0; c < kNumClasses; ++c) {
    sizes[c] = static_cast<std::uint32_t>(
        std::min(kMagazineBytes / kClassSizes[c], kMaxMagazine));
  }
  return sizes;
}
inline constexpr PerClass<std::uint32_t> kMagazineSizes = MakeMagazineSizes();

// The magazines share one array; class c's starts at kMagazineStarts[c].
constexpr PerClass<std::uint32_t> MakeMagazineStarts() {
  PerClass<std::uint32_t> starts{};
  for (std::size_t c = 1; c < kNumClasses; ++c) {
    starts[c] = starts[c - 1] + kMagazineSizes[c - 1];
  }
  return starts;
}
inline constexpr PerClass<std::uint32_t> kMagazineStarts = MakeMagazineStarts();
inline constexpr std::size_t kMagazineSlots =
    kMagazineStarts[kNumClasses - 1] + kMagazineSizes[kNumClasses - 1];

static_assert(kNumClasses == 32);
static_assert(kClassSizes[kNumClasses - 1] == kMaxSmallSize);
static_assert(kClassOfUnits[kMaxSmallSize / kGranularity] == kNumClasses - 1);
static_assert(kMagazineSizes[kNumClasses - 1] >= 2, "flushes move half");

// Aborts with a message naming `ptr` and saying `what` is wrong with it. Out
// of line and cold.
[[noreturn]] void ReportBadPointer(const void* ptr, const char* what);

}  // namespace slab_internal

// A slab allocator of bytes over caller-given memory, for small, frequent
// objects, with a general allocator behind it for everything else.
//
// Routing. Dealloc gets the layout Alloc got, so the layout alone decides
// where a block lives. A layout whose size, rounded up to its alignment (a
// size of 0 counts as 1), is at most kMaxSmallSize (4 KiB) is "small" and is
// served by its size class; every other layout, including any alignment over
// 4 KiB, goes to the backing allocator, a `Backing` member (TLSF by default;
// any ByteAllocator type works, such as BuddyByteAllocator). Init and
// AddMemory hand the memory to the backing allocator and fail exactly as it
// does.
//
// Size classes. 32 classes: 16 to 256 bytes in steps of 16, then 4 per power
// of two (320, 384, 448, 512, 640, ..., 3584, 4096). A request takes the
// smallest class that holds it, found with one table lookup indexed by
// (size + 15) >> 4. The worst-case internal waste of a class, for a request
// one byte over the class below, is the step to it less one byte:
//   classes 16 to 256:        15 bytes: 94% of 16, 47% of 32, 23% of 64,
//                             12% of 128, 5.9% of 256 (15/S in general);
//   320, 384, 448, 512:       63 bytes: 19.7%, 16.4%, 14.1%, 12.3%;
//   640, 768, 896, 1024:     127 bytes: the same percentages;
//   1280, 1536, 1792, 2048:  255 bytes: the same;
//   2560, 3072, 3584, 4096:  511 bytes: the same.
// So above 256 bytes a request wastes under 20%, and from 64 bytes under
// 25%. Packing objects into a slab loses less than one object per slab,
// besides the last 640 bytes (1%), which hold the slab's metadata.
//
// Alignment. Every class size is a multiple of 16 and objects are packed from
// the start of their 64 KiB-aligned slab, so an object of class S is aligned
// to the largest power of two dividing S (at least 16). A small layout with
// an alignment A over 16 is rounded up to a multiple of A before the lookup;
// the class found is then always a multiple of A (the classes of each power
// of two are multiples of a quarter of it), so every power-of-two alignment
// is honoured, up to 4 KiB in slabs and beyond that by the backing allocator.
//
// Slabs. A slab is a kSlabSize (64 KiB) window obtained from the backing
// allocator as Layout{kSlabSize - 16, kSlabSize}: the 16 bytes left at the
// end let a backend with a block header there (TLSF) lay slabs out back to
// back. Objects carry no header and are packed from offset 0 up to
// kSlabObjectBytes (64896), so a slab holds floor(64896 / S) of them. The
// slab's metadata follows at kSlabObjectBytes, so Dealloc finds it from the
// address alone: `ptr & ~(kSlabSize - 1)`, plus that offset. It is a header
// line and a two-level bitmap of the free objects: one bit per object in 64
// words, and a summary word with a bit per non-empty word. Taking a free
// object is two count-trailing-zeros, returning one sets two bits, both O(1)
// with no search and no division (a multiply by a reciprocal maps an address
// to its bit). The allocator never writes into objects, and a slab hands out
// its lowest free object first, so fresh and refilled slabs are used in
// address order. The header holds a key made of this allocator's address and
// the class, so Dealloc recognises a pointer that is not in a live slab of
// this allocator, or is freed with a layout of another class.
//
// Magazines. In front of the slabs, each class has a magazine: a stack of up
// to 256 recently freed objects (64 KiB worth for classes over 256 bytes, 16
// for 4 KiB) in an array inside the allocator, as in Bonwick's magazine
// layer. Dealloc pushes onto it and Alloc pops from it, so the object freed
// last, still in cache, is handed out next, and Dealloc reads only the key
// of its slab. Alloc falls back to the class's current slab when the
// magazine is empty; Dealloc onto a full magazine first returns its older
// half to their slabs, out of line. Both paths are O(1) and inline at the
// call site. All magazines together hold at most about 1.5 MiB of objects.
//
// Slab states. A class's current slab hands out objects; when it runs out it
// goes to the class's full list and the partial slab (one that has had
// objects returned) at the front of the class's partial list takes over,
// being the one that has had the longest to collect free objects; failing
// that a cached empty slab, or a new slab from the backing allocator. A full
// slab that gets an object back moves to the back of the partial list; a
// partial slab that empties is retired. These transitions happen only on
// the slow paths, out of line: when Alloc finds both the magazine and the
// current slab empty, and when a magazine passes objects back.
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
// allocator holds, plus the class size of every live small object (one
// handed out and not freed; those parked in magazines are free). So slab
// metadata, free objects and cached empty slabs count as available (they are
// reusable), UsedBytes() returns to its value after Init once everything is
// freed, and UsedBytes() + AvailableBytes() == TotalBytes() exactly.
// UsedBytes() takes O(kNumSizeClasses) to sum the magazines, which keeps
// that work off the fast paths.
//
// Checks. Dealloc of a small layout aborts with a message if the slab key
// does not match: a foreign pointer, a free into a slab already retired, or a
// layout of another class. An object returned to a slab whose bit says it is
// free already is a double free, and aborts. Without NDEBUG, Dealloc also
// checks that the pointer is an object the slab has handed out and that it
// is neither free in its slab nor in the magazine, so every double free
// aborts at once; release builds skip that search and catch a double free
// only when the magazine passes the object back to its slab.
//
// Like every backend, not synchronised.
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
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    Reset();
    return backing_.Init(start, size);
  }

  // Adds memory through the backing allocator's AddMemory, failing as it
  // does.
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    return backing_.AddMemory(start, size);
  }

  // Returns a block for `layout`: an object in O(1) for a small layout, else
  // the backing allocator's block. Fails with kInvalidParam if
  // !layout.IsValid(), and kNoMemory if no slab can be had for a small layout
  // or the backing allocator has no room for a large one even after empty
  // slabs are released; the allocator stays usable.
  absl::StatusOr<void*> Alloc(Layout layout) override;

  // Frees a block from Alloc, given its layout: O(1) for a small layout.
  // Ignores null. Aborts on the bad frees the class comment lists.
  void Dealloc(void* ptr, Layout layout) override;

  // Returns the backing allocator's total; see the class comment.
  std::size_t TotalBytes() const override { return backing_.TotalBytes(); }

  // Returns the bytes live blocks take; see the class comment.
  std::size_t UsedBytes() const override;

  // Returns every object parked in a magazine to its slab, then every cached
  // empty slab and every class's current slab that holds no live object to
  // the backing allocator, and returns how many slabs went back. Takes time
  // linear in the magazines' size.
  std::size_t ReleaseEmptySlabs();

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
  absl::Status CheckInvariants() const;

  // Returns the backing allocator, for tests and statistics. Allocating from
  // it directly is fine; freeing slabs through it is not.
  Backing& backing() { return backing_; }
  const Backing& backing() const { return backing_; }

 private:
  enum class SlabState : std::uint8_t { kCurrent, kPartial, kFull, kCached };

  using Bitmap = std::array<std::uint64_t, slab_internal::kBitmapWords>;

  // The metadata at kSlabObjectBytes in each slab: a header line, then the
  // bitmap.
  struct alignas(64) Slab {
    // KeyFor(size_class) while the slab is in use; 0 when cached or returned,
    // so a free into such a slab is recognised.
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
  static_assert(sizeof(Slab) == slab_internal::kMetadataBytes);
  static_assert(offsetof(Slab, free_bits) == 64);

  // A doubly linked list of slabs threaded through their headers; taken from
  // the front, added at the back.
  struct SlabList {
    Slab* head = nullptr;
    Slab* tail = nullptr;
  };

  static Slab* SlabOf(std::uintptr_t address) {
    return reinterpret_cast<Slab*>((address & ~(kSlabSize - 1)) +
                                   kSlabObjectBytes);
  }
  static std::uintptr_t BaseOf(const Slab* slab) {
    return reinterpret_cast<std::uintptr_t>(slab) - kSlabObjectBytes;
  }
  // Returns the index of the object at `address`, or of the object it points
  // into, within a slab of `size_class`.
  static std::size_t IndexOf(std::uintptr_t address, std::size_t size_class) {
    return ((address & (kSlabSize - 1)) *
            slab_internal::kReciprocals[size_class]) >>
           32;
  }

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
           (layout.align & (layout.align - 1)) == 0;
  }
  static constexpr std::size_t PlainClassOf(std::size_t size) {
    constexpr std::size_t kUnit = slab_internal::kGranularity;
    return slab_internal::kClassOfUnits[(size + kUnit - 1) / kUnit];
  }

  std::uintptr_t* MagazineOf(std::size_t size_class) {
    return &magazine_slots_[slab_internal::kMagazineStarts[size_class]];
  }
  const std::uintptr_t* MagazineOf(std::size_t size_class) const {
    return &magazine_slots_[slab_internal::kMagazineStarts[size_class]];
  }

  // The fast paths, forced inline so that Alloc and Dealloc stay small
  // enough to inline at every call site.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> AllocSmall(
      std::size_t size_class);
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> AllocFromSlab(
      std::size_t size_class);
  ABSL_ATTRIBUTE_ALWAYS_INLINE void DeallocSmall(void* ptr,
                                                 std::size_t size_class);

  // Out of line: the backing allocator's blocks, aligned small layouts and
  // invalid ones, and the cold paths. The first two take the layout as two
  // words: GCC copies a Layout argument through the stack and reloads it
  // with one 16-byte load, which stalls on the two 8-byte stores.
  absl::StatusOr<void*> AllocOther(std::size_t size, std::size_t align);
  void DeallocOther(void* ptr, std::size_t size, std::size_t align);
  absl::StatusOr<void*> Refill(std::size_t size_class);
  std::uint32_t FlushMagazine(std::size_t size_class);
  std::size_t FlushAllMagazines();
  void ReturnToSlab(std::uintptr_t object);
  void OnReturnTransition(Slab* slab);
  Slab* TakeSlab(std::size_t size_class);
  Slab* TakeSlabOnce(std::size_t size_class);
  Slab* NewSlab();
  Slab* StealEmptySlab();
  void Format(Slab* slab, std::size_t size_class);
  void Retire(Slab* slab);
  void ReturnSlabToBacking(Slab* slab);
  void CheckFree(const Slab* slab, std::uintptr_t object,
                 std::size_t size_class) const;
  absl::Status CheckSlab(const Slab* slab, std::size_t size_class,
                         SlabState state, std::size_t& handed_bytes) const;
  void Reset();

  static void PushBack(SlabList& list, Slab* slab) {
    slab->prev = list.tail;
    slab->next = nullptr;
    (list.tail != nullptr ? list.tail->next : list.head) = slab;
    list.tail = slab;
  }
  static void Unlink(SlabList& list, Slab* slab) {
    (slab->prev != nullptr ? slab->prev->next : list.head) = slab->next;
    (slab->next != nullptr ? slab->next->prev : list.tail) = slab->prev;
    slab->prev = slab->next = nullptr;
  }

  // Hot: the magazines, and each class's current slab or &no_slab_ (which
  // has no free object, so Alloc needs no null check).
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

// Implementation details: the hot paths are inline so that a call through the
// final type compiles to straight-line code at the call site.

template <class Backing>
constexpr std::size_t SlabByteAllocator<Backing>::SizeClassFor(Layout layout) {
  if (!layout.IsValid() || layout.size > kMaxSmallSize ||
      layout.align > kMaxSmallSize) {
    return kLarge;
  }
  std::size_t size = layout.size == 0 ? 1 : layout.size;
  size = (size + layout.align - 1) & ~(layout.align - 1);
  if (size > kMaxSmallSize) return kLarge;
  return PlainClassOf(size);
}

template <class Backing>
inline absl::StatusOr<void*> SlabByteAllocator<Backing>::AllocFromSlab(
    std::size_t size_class) {
  Slab* const slab = current_[size_class];
  const std::uint64_t summary = slab->summary;
  if (ABSL_PREDICT_FALSE(summary == 0)) return Refill(size_class);
  const int word = std::countr_zero(summary);
  const std::uint64_t bits = slab->free_bits[word];
  const int bit = std::countr_zero(bits);
  const std::uint64_t rest = bits & (bits - 1);
  slab->free_bits[word] = rest;
  // The word emptied: its summary bit, the lowest, goes too.
  if (rest == 0) slab->summary = summary & (summary - 1);
  ++slab->live;
  handed_bytes_ += slab->object_size;
  return reinterpret_cast<void*>(BaseOf(slab) + (std::size_t{64} * word + bit) *
                                                    slab->object_size);
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
    return AllocSmall(PlainClassOf(layout.size));
  }
  return AllocOther(layout.size, layout.align);
}

template <class Backing>
inline void SlabByteAllocator<Backing>::DeallocSmall(void* ptr,
                                                     std::size_t size_class) {
  const std::uintptr_t object = reinterpret_cast<std::uintptr_t>(ptr);
  const Slab* const slab = SlabOf(object);
  if (ABSL_PREDICT_FALSE(slab->key != KeyFor(size_class))) {
    slab_internal::ReportBadPointer(
        ptr,
        "bad free: not in a live slab of this allocator for this layout (a "
        "foreign pointer, a free into a slab already released, or a layout "
        "of another size class)");
  }
#ifndef NDEBUG
  CheckFree(slab, object, size_class);
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
    DeallocSmall(ptr, PlainClassOf(layout.size));
    return;
  }
  DeallocOther(ptr, layout.size, layout.align);
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
  if (size_class != kLarge) return AllocSmall(size_class);
  absl::StatusOr<void*> block = backing_.Alloc(layout);
  // Memory held for reuse must not make a large request fail.
  if (ABSL_PREDICT_FALSE(!block.ok()) &&
      absl::IsResourceExhausted(block.status()) && ReleaseEmptySlabs() != 0) {
    block = backing_.Alloc(layout);
  }
  return block;
}

template <class Backing>
ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<void*>
SlabByteAllocator<Backing>::Refill(std::size_t size_class) {
  if (Slab* const slab = current_[size_class]; slab != &no_slab_) {
    // Every object is handed out: unpin the slab and park it until one comes
    // back.
    --slab->live;
    slab->state = SlabState::kFull;
    PushBack(full_[size_class], slab);
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
    Unlink(partial_[size_class], slab);
    slab->state = SlabState::kCurrent;
    ++slab->live;
    return slab;
  }
  Slab* slab = cached_.head;
  if (slab != nullptr) {
    Unlink(cached_, slab);
    --cached_count_;
  } else {
    slab = NewSlab();
    if (slab == nullptr) slab = StealEmptySlab();
    if (slab == nullptr) return nullptr;
  }
  Format(slab, size_class);
  return slab;
}

template <class Backing>
typename SlabByteAllocator<Backing>::Slab*
SlabByteAllocator<Backing>::NewSlab() {
  const std::size_t used_before = backing_.UsedBytes();
  absl::StatusOr<void*> block = backing_.Alloc(kSlabLayout);
  if (!block.ok()) return nullptr;
  const std::uintptr_t base = reinterpret_cast<std::uintptr_t>(*block);
  if (ABSL_PREDICT_FALSE((base & (kSlabSize - 1)) != 0)) {
    slab_internal::ReportBadPointer(
        *block,
        "the backing allocator returned a slab not aligned to its size");
  }
  Slab* const slab = new (SlabOf(base)) Slab{};
  slab->backing_bytes =
      static_cast<std::uint32_t>(backing_.UsedBytes() - used_before);
  slab_backing_bytes_ += slab->backing_bytes;
  ++slab_count_;
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

// Makes `slab` the empty, pinned current slab of `size_class`: every object
// free. Writes at most kBitmapWords words.
template <class Backing>
void SlabByteAllocator<Backing>::Format(Slab* slab, std::size_t size_class) {
  const std::size_t capacity = ObjectsPerSlab(size_class);
  const std::size_t whole_words = capacity / 64;
  const std::size_t rest = capacity % 64;
  slab->free_bits.fill(0);
  std::fill_n(slab->free_bits.begin(), whole_words, ~std::uint64_t{0});
  if (rest != 0) slab->free_bits[whole_words] = (std::uint64_t{1} << rest) - 1;
  const std::size_t used_words = whole_words + (rest != 0 ? 1 : 0);
  slab->summary = used_words == 64 ? ~std::uint64_t{0}
                                   : (std::uint64_t{1} << used_words) - 1;
  slab->key = KeyFor(size_class);
  slab->live = 1;
  slab->object_size = static_cast<std::uint32_t>(ClassSize(size_class));
  slab->prev = slab->next = nullptr;
  slab->capacity = static_cast<std::uint16_t>(capacity);
  slab->size_class = static_cast<std::uint8_t>(size_class);
  slab->state = SlabState::kCurrent;
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
  Slab* const slab = SlabOf(object);
  const std::size_t index = IndexOf(object, slab->size_class);
  const std::uint64_t bit = std::uint64_t{1} << (index % 64);
  std::uint64_t& word = slab->free_bits[index / 64];
  if (ABSL_PREDICT_FALSE((word & bit) != 0)) {
    slab_internal::ReportBadPointer(
        reinterpret_cast<void*>(object),
        "double free: the object is free in its slab");
  }
  const bool was_full = slab->summary == 0;
  word |= bit;
  slab->summary |= std::uint64_t{1} << (index / 64);
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
      Unlink(full_[size_class], slab);
      slab->state = SlabState::kPartial;
      PushBack(partial_[size_class], slab);
      break;
    case SlabState::kPartial:
      break;
    case SlabState::kCached:
      slab_internal::ReportBadPointer(reinterpret_cast<void*>(BaseOf(slab)),
                                      "an object returned to a cached slab");
  }
  if (slab->live == 0) {
    Unlink(partial_[size_class], slab);
    Retire(slab);
  }
}

template <class Backing>
void SlabByteAllocator<Backing>::Retire(Slab* slab) {
  if (cached_count_ < kMaxCachedSlabs) {
    slab->key = 0;
    slab->state = SlabState::kCached;
    PushBack(cached_, slab);
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
  backing_.Dealloc(reinterpret_cast<void*>(BaseOf(slab)), kSlabLayout);
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
    Unlink(cached_, slab);
    ReturnSlabToBacking(slab);
    ++released;
  }
  cached_count_ = 0;
  return released;
}

template <class Backing>
void SlabByteAllocator<Backing>::CheckFree(const Slab* slab,
                                           std::uintptr_t object,
                                           std::size_t size_class) const {
  const void* const ptr = reinterpret_cast<const void*>(object);
  const std::size_t index = IndexOf(object, size_class);
  if (index >= slab->capacity ||
      index * slab->object_size != (object & (kSlabSize - 1))) {
    slab_internal::ReportBadPointer(ptr,
                                    "bad free: not the start of an object");
  }
  const std::uintptr_t* const magazine = MagazineOf(size_class);
  const std::uintptr_t* const end = magazine + magazine_counts_[size_class];
  if (((slab->free_bits[index / 64] >> (index % 64)) & 1) != 0 ||
      std::find(magazine, end, object) != end) {
    slab_internal::ReportBadPointer(ptr, "double free: the object is free");
  }
}

template <class Backing>
absl::Status SlabByteAllocator<Backing>::CheckSlab(
    const Slab* slab, std::size_t size_class, SlabState state,
    std::size_t& handed_bytes) const {
  auto broken = [slab](auto&&... parts) {
    return absl::InternalError(
        absl::StrCat("SlabByteAllocator invariant broken: slab at ",
                     absl::Hex(BaseOf(slab)), ": ", parts...));
  };
  if ((BaseOf(slab) & (kSlabSize - 1)) != 0) return broken("misaligned");
  if (slab->state != state) {
    return broken("state ", static_cast<int>(slab->state), " on the list of ",
                  static_cast<int>(state));
  }
  if (state == SlabState::kCached) {
    if (slab->key != 0) return broken("cached but keyed");
    return absl::OkStatus();  // Its other fields are stale.
  }
  if (slab->key != KeyFor(size_class) || slab->size_class != size_class ||
      slab->object_size != ClassSize(size_class) ||
      slab->capacity != ObjectsPerSlab(size_class)) {
    return broken("key, class ", slab->size_class, ", size ", slab->object_size,
                  " or capacity ", slab->capacity, " does not match class ",
                  size_class);
  }
  std::size_t free_objects = 0;
  for (std::size_t w = 0; w < slab_internal::kBitmapWords; ++w) {
    const std::uint64_t bits = slab->free_bits[w];
    if (((slab->summary >> w) & 1) != (bits != 0 ? 1u : 0u)) {
      return broken("summary bit ", w, " disagrees with its word");
    }
    for (std::size_t b = 0; b < 64; ++b) {
      if (((bits >> b) & 1) != 0 && 64 * w + b >= slab->capacity) {
        return broken("object ", 64 * w + b, " past the capacity ",
                      slab->capacity, " is marked free");
      }
    }
    free_objects += static_cast<std::size_t>(std::popcount(bits));
  }
  const std::size_t pinned = state == SlabState::kCurrent ? 1 : 0;
  if (slab->live < pinned) return broken("the current slab is not pinned");
  const std::size_t live = slab->live - pinned;
  if (live + free_objects != slab->capacity) {
    return broken(live, " live + ", free_objects, " free objects != capacity ",
                  slab->capacity);
  }
  if (state == SlabState::kFull && free_objects != 0) {
    return broken("on the full list with free objects");
  }
  if (state == SlabState::kPartial && (free_objects == 0 || live == 0)) {
    return broken("on the partial list but full or empty");
  }
  handed_bytes += live * slab->object_size;
  return absl::OkStatus();
}

template <class Backing>
absl::Status SlabByteAllocator<Backing>::CheckInvariants() const {
  auto broken = [](auto&&... parts) {
    return absl::InternalError(
        absl::StrCat("SlabByteAllocator invariant broken: ", parts...));
  };
  if (no_slab_.summary != 0) {
    return broken("the placeholder slab has free objects");
  }

  // The magazines first: every entry a distinct object of a slab of its
  // class, handed out (the slab checks below confirm the slab is live).
  std::set<std::uintptr_t> parked;
  std::map<const Slab*, std::size_t> parked_per_slab;
  std::size_t parked_bytes = 0;
  for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
    if (magazine_counts_[c] > MagazineSize(c)) {
      return broken("magazine ", c, " holds ", magazine_counts_[c],
                    " objects, more than its ", MagazineSize(c));
    }
    for (std::uint32_t i = 0; i < magazine_counts_[c]; ++i) {
      const std::uintptr_t object = MagazineOf(c)[i];
      const Slab* const slab = SlabOf(object);
      const std::size_t index = IndexOf(object, c);
      if (slab->key != KeyFor(c) || index >= slab->capacity ||
          index * ClassSize(c) != (object & (kSlabSize - 1)) ||
          ((slab->free_bits[index / 64] >> (index % 64)) & 1) != 0 ||
          !parked.insert(object).second) {
        return broken("magazine ", c, " holds ", absl::Hex(object),
                      ", not a distinct object handed out by a slab of its "
                      "class");
      }
      ++parked_per_slab[slab];
    }
    parked_bytes += std::size_t{magazine_counts_[c]} * ClassSize(c);
  }

  std::vector<const Slab*> slabs;
  std::size_t handed_bytes = 0;
  std::size_t cached = 0;
  auto check_slab = [&](const Slab* slab, std::size_t size_class,
                        SlabState state) -> absl::Status {
    absl::Status status = CheckSlab(slab, size_class, state, handed_bytes);
    if (!status.ok()) return status;
    const std::size_t pinned = state == SlabState::kCurrent ? 1 : 0;
    if (auto it = parked_per_slab.find(slab); it != parked_per_slab.end()) {
      if (it->second > slab->live - pinned) {
        return broken("slab at ", absl::Hex(BaseOf(slab)), " has ",
                      slab->live - pinned, " live objects but ", it->second,
                      " in a magazine");
      }
      parked_per_slab.erase(it);
    }
    slabs.push_back(slab);
    return absl::OkStatus();
  };
  // Walks one list, checking its links; at most slab_count_ + 1 steps.
  auto check_list = [&](const SlabList& list, std::size_t size_class,
                        SlabState state) -> absl::Status {
    const Slab* prev = nullptr;
    for (const Slab* slab = list.head; slab != nullptr; slab = slab->next) {
      if (slabs.size() > slab_count_) {
        return broken("more slabs on the lists than the ", slab_count_,
                      " taken");
      }
      if (slab->prev != prev) {
        return broken("slab at ", absl::Hex(BaseOf(slab)),
                      " has a wrong back link");
      }
      absl::Status status = check_slab(slab, size_class, state);
      if (!status.ok()) return status;
      if (state == SlabState::kCached) ++cached;
      prev = slab;
    }
    if (list.tail != prev) return broken("a list's tail is not its last slab");
    return absl::OkStatus();
  };
  for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
    absl::Status status = absl::OkStatus();
    if (current_[c] != &no_slab_) {
      status = check_slab(current_[c], c, SlabState::kCurrent);
    }
    if (status.ok()) status = check_list(partial_[c], c, SlabState::kPartial);
    if (status.ok()) status = check_list(full_[c], c, SlabState::kFull);
    if (!status.ok()) return status;
  }
  absl::Status status = check_list(cached_, 0, SlabState::kCached);
  if (!status.ok()) return status;
  if (!parked_per_slab.empty()) {
    return broken("a magazine holds an object of the slab at ",
                  absl::Hex(BaseOf(parked_per_slab.begin()->first)),
                  ", which is on no list");
  }

  std::sort(slabs.begin(), slabs.end());
  if (std::adjacent_find(slabs.begin(), slabs.end()) != slabs.end()) {
    return broken("a slab is current or listed twice");
  }
  if (slabs.size() != slab_count_) {
    return broken(slabs.size(), " slabs found, ", slab_count_, " taken");
  }
  if (cached != cached_count_ || cached > kMaxCachedSlabs) {
    return broken(cached, " slabs cached, the count says ", cached_count_);
  }
  std::size_t backing_bytes = 0;
  for (const Slab* slab : slabs) backing_bytes += slab->backing_bytes;
  if (backing_bytes != slab_backing_bytes_ ||
      backing_bytes > backing_.UsedBytes()) {
    return broken("slabs take ", backing_bytes, " backing bytes, the count is ",
                  slab_backing_bytes_, ", the backing uses ",
                  backing_.UsedBytes());
  }
  if (handed_bytes != handed_bytes_ || parked_bytes > handed_bytes) {
    return broken("slabs have handed out ", handed_bytes,
                  " bytes of objects, the count is ", handed_bytes_, ", ",
                  parked_bytes, " of them in magazines");
  }
  if constexpr (requires(const Backing& b) { b.CheckInvariants(); }) {
    return backing_.CheckInvariants();
  }
  return absl::OkStatus();
}

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_SLAB_SLAB_BYTE_ALLOCATOR_H_
