#ifndef HEAPKIT_CORE_INTERNAL_REGION_TABLE_H_
#define HEAPKIT_CORE_INTERNAL_REGION_TABLE_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <type_traits>
#include <utility>
#include <vector>

#include "core/region.h"

namespace heapkit::internal {

// Capacity of a RegionTable that grows on the process heap.
inline constexpr std::size_t kUnbounded = 0;

// The RegionOf of a table whose entries are the regions themselves.
struct EntryIsRegion {
  constexpr Region operator()(const Region& region) const { return region; }
};

// A table of disjoint regions sorted by start address, each region named by an
// Entry: the Region itself, a pointer to a header kept in the region, or a
// per-region bitmap. RegionOf (a stateless functor) maps an entry to its
// region. It is the one place where backends keep their regions, check a new
// one for overlap and find the region holding an address, all in O(log n).
//
// With a kCapacity the entries live inside the object (no heap, as a kernel's
// early allocator needs) and Insert fails once it is full; with kUnbounded they
// live in a std::vector on the process heap. Not thread-safe.
template <class Entry, std::size_t kCapacity, class RegionOf = EntryIsRegion>
class RegionTable {
 public:
  RegionTable() = default;
  RegionTable(const RegionTable&) = delete;
  RegionTable& operator=(const RegionTable&) = delete;

  std::size_t size() const { return Entries().size(); }
  bool empty() const { return size() == 0; }
  // Returns true if Insert would fail for want of room.
  bool full() const { return kCapacity != kUnbounded && size() == kCapacity; }

  // Returns the entries in address order. Callers may change an entry's region
  // as long as the regions stay sorted and disjoint.
  std::span<Entry> Entries() {
    if constexpr (kCapacity == kUnbounded) {
      return entries_;
    } else {
      return std::span<Entry>(entries_).first(size_);
    }
  }
  std::span<const Entry> Entries() const {
    return const_cast<RegionTable*>(this)->Entries();
  }

  // Forgets every entry.
  void Clear() {
    if constexpr (kCapacity == kUnbounded) {
      entries_.clear();
    } else {
      for (Entry& entry : Entries()) entry = Entry();
      size_ = 0;
    }
  }

  // Returns the index of the first entry whose region starts after `address`
  // (size() if none): the entry before it, if any, is the only one that can
  // hold `address`.
  std::size_t UpperBound(std::uintptr_t address) const {
    std::span<const Entry> entries = Entries();
    return std::upper_bound(entries.begin(), entries.end(), address,
                            [](std::uintptr_t a, const Entry& entry) {
                              return a < RegionOf()(entry).start;
                            }) -
           entries.begin();
  }

  // Returns the entry whose region holds `address`, or null.
  Entry* Find(std::uintptr_t address) {
    const std::size_t next = UpperBound(address);
    if (next == 0) return nullptr;
    Entry& entry = Entries()[next - 1];
    return RegionOf()(entry).Contains(address) ? &entry : nullptr;
  }
  const Entry* Find(std::uintptr_t address) const {
    return const_cast<RegionTable*>(this)->Find(address);
  }

  // Returns an entry whose region shares an address with `region`, or null.
  const Entry* FindOverlap(const Region& region) const {
    // Regions are disjoint and sorted, so only the last one starting before
    // region.end can overlap.
    if (region.end == region.start) return nullptr;
    const std::size_t next = UpperBound(region.end - 1);
    if (next == 0) return nullptr;
    const Entry& entry = Entries()[next - 1];
    return RegionOf()(entry).Overlaps(region) ? &entry : nullptr;
  }

  // Inserts `entry` in address order and returns it, or returns null (changing
  // nothing) if the table is full. The caller has checked, with FindOverlap,
  // that its region overlaps none in the table.
  Entry* Insert(Entry entry) {
    if (full()) return nullptr;
    const std::size_t at = UpperBound(RegionOf()(entry).start);
    if constexpr (kCapacity == kUnbounded) {
      return &*entries_.insert(entries_.begin() + at, std::move(entry));
    } else {
      std::move_backward(entries_.begin() + at, entries_.begin() + size_,
                         entries_.begin() + size_ + 1);
      entries_[at] = std::move(entry);
      ++size_;
      return &entries_[at];
    }
  }

  // Removes the entry at `index` (< size()).
  void Erase(std::size_t index) {
    if constexpr (kCapacity == kUnbounded) {
      entries_.erase(entries_.begin() + index);
    } else {
      std::move(entries_.begin() + index + 1, entries_.begin() + size_,
                entries_.begin() + index);
      entries_[--size_] = Entry();
    }
  }

  // Returns true if the regions are sorted by start and disjoint: for
  // CheckInvariants.
  bool IsSortedAndDisjoint() const {
    std::span<const Entry> entries = Entries();
    for (std::size_t i = 1; i < entries.size(); ++i) {
      if (RegionOf()(entries[i - 1]).end > RegionOf()(entries[i]).start) {
        return false;
      }
    }
    return true;
  }

 private:
  using Storage = std::conditional_t<
      kCapacity == kUnbounded, std::vector<Entry>,
      std::array<Entry, kCapacity == kUnbounded ? 1 : kCapacity>>;

  Storage entries_{};
  std::size_t size_ = 0;  // Unused when unbounded.
};

}  // namespace heapkit::internal

#endif  // HEAPKIT_CORE_INTERNAL_REGION_TABLE_H_
