#ifndef HEAPKIT_ALLOCATORS_BITMAP_INTERNAL_SEGMENTED_BITMAP_H_
#define HEAPKIT_ALLOCATORS_BITMAP_INTERNAL_SEGMENTED_BITMAP_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "allocators/bitmap/internal/hierarchical_bitmap.h"
#include "core/internal/region_table.h"
#include "core/region.h"

namespace heapkit::internal {

// Tracks which units (page numbers or IDs) of a set of disjoint ranges are
// used: one HierarchicalBitmap per range, kept in a RegionTable sorted by first
// unit. It is the part that BitmapPageAllocator and BitmapIdAllocator share;
// they validate arguments and turn the plain results here into errors.
// Internal to //allocators/bitmap.
//
// Each range's bitmap starts at its first unit rounded down to a multiple of 64
// and the units before the range are marked used for good. That costs at most
// 63 bits per range and makes alignment cheap: bit index and unit agree modulo
// 64, so any alignment up to 64 units is one on the index, and larger ones are
// given to the search as a phase, (-origin) mod align.
//
// Allocate searches the ranges in address order (first fit by address
// overall); the lookups by unit (Contains, AllocateAt, Free, IsUsed) and the
// overlap check cost O(log ranges). Runs never cross from one range to the
// next, even when two ranges touch. Not thread-safe.
class SegmentedBitmap {
 public:
  SegmentedBitmap() = default;
  SegmentedBitmap(const SegmentedBitmap&) = delete;
  SegmentedBitmap& operator=(const SegmentedBitmap&) = delete;

  // Returns the words of storage a range [first, end) needs (first < end).
  static std::size_t StorageWords(std::uintptr_t first, std::uintptr_t end);

  // Forgets every range.
  void Clear();

  // Returns true if [first, end) shares a unit with a range already added.
  bool Overlaps(std::uintptr_t first, std::uintptr_t end) const;

  // Adds the range [first, end), all free, which must be non-empty and overlap
  // no other (checked only by assert()). The first form allocates the bitmap
  // on the process heap and returns false (adding nothing) if that fails; the
  // second keeps it in `storage`, which must hold StorageWords(first, end)
  // words and outlive this object or the next Clear().
  bool Add(std::uintptr_t first, std::uintptr_t end);
  void Add(std::uintptr_t first, std::uintptr_t end,
           std::span<std::uint64_t> storage);

  // Marks used and returns the lowest unit u of a run of `count` free units
  // inside one range with u % align == 0, or nullopt. `count` must be positive
  // and `align` a power of two.
  std::optional<std::uintptr_t> Allocate(std::size_t count, std::size_t align);

  // Returns true if [first, first + count) lies inside one range (count > 0).
  bool Contains(std::uintptr_t first, std::size_t count) const;

  // Marks [first, first + count) used and returns true if it lies inside one
  // range and is all free; otherwise changes nothing and returns false.
  bool AllocateAt(std::uintptr_t first, std::size_t count);

  // Marks [first, first + count) free and returns true if it lies inside one
  // range and is all used; otherwise changes nothing and returns false.
  bool Free(std::uintptr_t first, std::size_t count);

  // Returns true if `unit` lies in a range and is used.
  bool IsUsed(std::uintptr_t unit) const;

  // Returns the number of units in all ranges, and how many are used. O(1).
  std::size_t total() const { return total_; }
  std::size_t used() const { return used_; }

 private:
  struct Segment {
    Region units;               // The range [first, end) of units.
    std::uintptr_t origin = 0;  // The unit of bitmap bit 0: first & ~63.
    std::unique_ptr<std::uint64_t[]> owned;  // Null for caller-given storage.
    HierarchicalBitmap bits;
  };
  struct SegmentRegion {
    Region operator()(const Segment& segment) const { return segment.units; }
  };

  // Returns the segment holding all of [first, first + count), or null.
  Segment* Find(std::uintptr_t first, std::size_t count);
  const Segment* Find(std::uintptr_t first, std::size_t count) const;

  void Insert(Segment segment, std::span<std::uint64_t> storage);

  // Entries live on the process heap even when the bitmaps are caller-given:
  // one per range, added rarely.
  RegionTable<Segment, kUnbounded, SegmentRegion> segments_;
  std::size_t total_ = 0;
  std::size_t used_ = 0;
};

}  // namespace heapkit::internal

#endif  // HEAPKIT_ALLOCATORS_BITMAP_INTERNAL_SEGMENTED_BITMAP_H_
