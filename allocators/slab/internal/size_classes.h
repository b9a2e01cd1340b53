#ifndef HEAPKIT_ALLOCATORS_SLAB_INTERNAL_SIZE_CLASSES_H_
#define HEAPKIT_ALLOCATORS_SLAB_INTERNAL_SIZE_CLASSES_H_

// The slab allocator's geometry and size classes: compile-time constants and
// tables shared by every SlabByteAllocator<Backing>.
//
// Geometry. A slab is a kSlabSize (64 KiB) window aligned to its size, taken
// from the backing allocator as Layout{kSlabSize - kBackingTail, kSlabSize}:
// the 16 bytes left at the end let a backend with a block header there (TLSF)
// lay slabs out back to back. Objects carry no header and are packed from
// offset 0 up to kObjectBytes (64896); the slab's metadata, kMetadataBytes
// (a header line and a bitmap, see slab_page.h), follows there.
//
// Size classes. 32 classes: 16 to 256 bytes in steps of 16, then 4 per power
// of two (320, 384, 448, 512, 640, ..., 3584, 4096). A request takes the
// smallest class that holds it, found with one table lookup indexed by
// (size + 15) >> 4 (ClassOfSize). The worst-case internal waste of a class,
// for a request one byte over the class below, is the step to it less one
// byte:
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
// Magazines (their behaviour is in ../slab_byte_allocator_impl.h). Each class's
// magazine holds up to kMaxMagazine (256) freed objects and at most
// kMagazineBytes (64 KiB) of them, so 16 objects for 4 KiB; all magazines
// share one array of kMagazineSlots entries, about 1.5 MiB of objects at
// most.

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>

namespace heapkit::slab_internal {

static_assert(sizeof(void*) == 8, "slab keys use the top byte of a word");

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

// Returns the smallest class holding `size` bytes (0 counts as 1). The caller
// guarantees size <= kMaxSmallSize; a larger size reads past the table.
constexpr std::size_t ClassOfSize(std::size_t size) {
  return kClassOfUnits[(size + kGranularity - 1) / kGranularity];
}

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

}  // namespace heapkit::slab_internal

#endif  // HEAPKIT_ALLOCATORS_SLAB_INTERNAL_SIZE_CLASSES_H_
