#include "allocators/bitmap/segmented_bitmap.h"

#include <algorithm>
#include <cassert>
#include <new>
#include <utility>

namespace heapkit {
namespace {

constexpr std::uintptr_t RoundDown64(std::uintptr_t unit) {
  return unit & ~std::uintptr_t{63};
}

}  // namespace

std::size_t SegmentedBitmap::StorageWords(std::uintptr_t first,
                                          std::uintptr_t end) {
  assert(first < end);
  return HierarchicalBitmap::StorageWords(end - RoundDown64(first));
}

void SegmentedBitmap::Clear() {
  segments_.clear();
  total_ = 0;
  used_ = 0;
}

bool SegmentedBitmap::Overlaps(std::uintptr_t first, std::uintptr_t end) const {
  // Adding memory is rare and the list short, so a plain scan is enough.
  return std::any_of(segments_.begin(), segments_.end(),
                     [&](const Segment& segment) {
                       return first < segment.end && segment.first < end;
                     });
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
  segment.first = first;
  segment.end = end;
  Insert(std::move(segment), storage);
  return true;
}

void SegmentedBitmap::Add(std::uintptr_t first, std::uintptr_t end,
                          std::span<std::uint64_t> storage) {
  Segment segment;
  segment.first = first;
  segment.end = end;
  Insert(std::move(segment), storage);
}

void SegmentedBitmap::Insert(Segment segment,
                             std::span<std::uint64_t> storage) {
  assert(segment.first < segment.end);
  assert(!Overlaps(segment.first, segment.end));
  assert(storage.size() >= StorageWords(segment.first, segment.end));
  segment.origin = RoundDown64(segment.first);
  segment.bits.Init(storage, segment.end - segment.origin);
  segment.bits.MarkUsed(0, segment.first - segment.origin);
  total_ += segment.end - segment.first;
  const auto after = std::upper_bound(
      segments_.begin(), segments_.end(), segment.first,
      [](std::uintptr_t first, const Segment& s) { return first < s.first; });
  segments_.insert(after, std::move(segment));
}

std::optional<std::uintptr_t> SegmentedBitmap::Allocate(std::size_t count,
                                                        std::size_t align) {
  for (Segment& segment : segments_) {
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
  // The last segment starting at or before `first` is the only candidate.
  auto after = std::upper_bound(
      segments_.begin(), segments_.end(), first,
      [](std::uintptr_t unit, const Segment& s) { return unit < s.first; });
  if (after == segments_.begin()) return nullptr;
  const Segment& segment = *std::prev(after);
  if (first >= segment.end || count > segment.end - first) return nullptr;
  return &segment;
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

}  // namespace heapkit
