#include "allocators/bitmap/internal/segmented_bitmap.h"

#include <cassert>
#include <new>
#include <utility>

#include "core/internal/bits.h"

namespace heapkit::internal {

std::size_t SegmentedBitmap::StorageWords(std::uintptr_t first,
                                          std::uintptr_t end) {
  assert(first < end);
  return HierarchicalBitmap::StorageWords(end - AlignDown(first, 64));
}

void SegmentedBitmap::Clear() {
  segments_.Clear();
  total_ = 0;
  used_ = 0;
}

bool SegmentedBitmap::Overlaps(std::uintptr_t first, std::uintptr_t end) const {
  return segments_.FindOverlap(Region{first, end}) != nullptr;
}

bool SegmentedBitmap::Add(std::uintptr_t first, std::uintptr_t end) {
  const std::size_t words = StorageWords(first, end);
  // nothrow: a bitmap too large for the heap is an ordinary kNoMemory, not a
  // crash.
  std::unique_ptr<std::uint64_t[]> owned(new (std::nothrow)
                                             std::uint64_t[words]);
  if (owned == nullptr) return false;
  const std::span<std::uint64_t> storage(owned.get(), words);
  Segment segment;
  segment.owned = std::move(owned);
  segment.units = Region{first, end};
  Insert(std::move(segment), storage);
  return true;
}

void SegmentedBitmap::Add(std::uintptr_t first, std::uintptr_t end,
                          std::span<std::uint64_t> storage) {
  Segment segment;
  segment.units = Region{first, end};
  Insert(std::move(segment), storage);
}

void SegmentedBitmap::Insert(Segment segment,
                             std::span<std::uint64_t> storage) {
  const Region units = segment.units;
  assert(units.start < units.end);
  assert(!Overlaps(units.start, units.end));
  assert(storage.size() >= StorageWords(units.start, units.end));
  segment.origin = AlignDown(units.start, 64);
  segment.bits.Init(storage, units.end - segment.origin);
  segment.bits.MarkUsed(0, units.start - segment.origin);
  total_ += units.size();
  // Moving the segment moves only the bitmap's pointers, not its storage.
  segments_.Insert(std::move(segment));
}

std::optional<std::uintptr_t> SegmentedBitmap::Allocate(std::size_t count,
                                                        std::size_t align) {
  for (Segment& segment : segments_.Entries()) {
    // Alignment is on the unit number itself, not on the bit index.
    const std::size_t phase =
        (std::uintptr_t{0} - segment.origin) & (align - 1);
    const std::size_t index = segment.bits.FindFreeRun(count, align, phase);
    if (index != HierarchicalBitmap::kNotFound) {
      segment.bits.MarkUsed(index, count);
      used_ += count;
      return segment.origin + index;
    }
  }
  return std::nullopt;
}

const SegmentedBitmap::Segment* SegmentedBitmap::Find(std::uintptr_t first,
                                                      std::size_t count) const {
  const Segment* segment = segments_.Find(first);
  // Subtracting, not adding: first + count may wrap past the top of the space.
  if (segment == nullptr || count > segment->units.end - first) return nullptr;
  return segment;
}

SegmentedBitmap::Segment* SegmentedBitmap::Find(std::uintptr_t first,
                                                std::size_t count) {
  return const_cast<Segment*>(std::as_const(*this).Find(first, count));
}

bool SegmentedBitmap::Contains(std::uintptr_t first, std::size_t count) const {
  return count > 0 && Find(first, count) != nullptr;
}

bool SegmentedBitmap::AllocateAt(std::uintptr_t first, std::size_t count) {
  Segment* segment = Find(first, count);
  if (segment == nullptr || count == 0) return false;
  const std::size_t index = first - segment->origin;
  if (!segment->bits.IsRangeFree(index, count)) return false;
  segment->bits.MarkUsed(index, count);
  used_ += count;
  return true;
}

bool SegmentedBitmap::Free(std::uintptr_t first, std::size_t count) {
  Segment* segment = Find(first, count);
  if (segment == nullptr || count == 0) return false;
  const std::size_t index = first - segment->origin;
  // Check the whole range before touching it, so a bad free changes nothing.
  if (!segment->bits.IsRangeUsed(index, count)) return false;
  segment->bits.MarkFree(index, count);
  used_ -= count;
  return true;
}

bool SegmentedBitmap::IsUsed(std::uintptr_t unit) const {
  const Segment* segment = Find(unit, 1);
  return segment != nullptr && !segment->bits.IsFree(unit - segment->origin);
}

}  // namespace heapkit::internal
