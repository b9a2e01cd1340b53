#include "tests/interval_model.h"

#include <algorithm>
#include <cassert>
#include <iterator>
#include <limits>

namespace heapkit::testing {

void IntervalModel::AddRange(std::uintptr_t first, std::uintptr_t end) {
  assert(first < end);
  ranges_.push_back({first, end});
  std::sort(ranges_.begin(), ranges_.end(),
            [](const Range& a, const Range& b) { return a.first < b.first; });
  total_ += end - first;
}

bool IntervalModel::InOneRange(std::uintptr_t first, std::size_t count) const {
  for (const Range& range : ranges_) {
    if (first >= range.first && first < range.end &&
        count <= range.end - first) {
      return true;
    }
  }
  return false;
}

bool IntervalModel::CanAllocateAt(std::uintptr_t first,
                                  std::size_t count) const {
  if (count == 0 || !InOneRange(first, count)) return false;
  const std::uintptr_t end = first + count;
  auto next = used_intervals_.upper_bound(first);
  if (next != used_intervals_.begin() && std::prev(next)->second > first) {
    return false;
  }
  return next == used_intervals_.end() || next->first >= end;
}

bool IntervalModel::CanFree(std::uintptr_t first, std::size_t count) const {
  if (count == 0 || !InOneRange(first, count)) return false;
  // Intervals are merged, so a fully used range lies inside a single one.
  auto next = used_intervals_.upper_bound(first);
  if (next == used_intervals_.begin()) return false;
  const auto& [start, end] = *std::prev(next);
  return start <= first && first < end && end - first >= count;
}

std::optional<std::uintptr_t> IntervalModel::FirstFit(std::size_t count,
                                                      std::size_t align) const {
  constexpr std::uintptr_t kMax = std::numeric_limits<std::uintptr_t>::max();
  for (const Range& range : ranges_) {
    std::uintptr_t cursor = range.first;
    auto next = used_intervals_.upper_bound(cursor);
    if (next != used_intervals_.begin() && std::prev(next)->second > cursor) {
      cursor = std::prev(next)->second;
    }
    // Walk the free gaps of this range in order.
    while (cursor < range.end) {
      const std::uintptr_t gap_end =
          next != used_intervals_.end() && next->first < range.end ? next->first
                                                                   : range.end;
      const std::uintptr_t delta = (0 - cursor) & (align - 1);
      if (delta <= kMax - cursor) {
        const std::uintptr_t start = cursor + delta;
        if (start < gap_end && gap_end - start >= count) return start;
      }
      if (next == used_intervals_.end() || next->first >= range.end) break;
      cursor = next->second;
      ++next;
    }
  }
  return std::nullopt;
}

void IntervalModel::MarkUsed(std::uintptr_t first, std::size_t count) {
  std::uintptr_t start = first;
  std::uintptr_t end = first + count;
  auto it = used_intervals_.upper_bound(start);
  if (it != used_intervals_.begin() && std::prev(it)->second >= start) {
    --it;
    start = it->first;
  }
  while (it != used_intervals_.end() && it->first <= end) {
    end = std::max(end, it->second);
    it = used_intervals_.erase(it);
  }
  used_intervals_[start] = end;
  used_ += count;
}

void IntervalModel::MarkFree(std::uintptr_t first, std::size_t count) {
  auto it = std::prev(used_intervals_.upper_bound(first));
  const std::uintptr_t start = it->first;
  const std::uintptr_t end = it->second;
  assert(start <= first && end - first >= count);
  used_intervals_.erase(it);
  if (start < first) used_intervals_[start] = first;
  if (first + count < end) used_intervals_[first + count] = end;
  used_ -= count;
}

bool IntervalModel::IsUsed(std::uintptr_t unit) const {
  auto next = used_intervals_.upper_bound(unit);
  return next != used_intervals_.begin() && std::prev(next)->second > unit;
}

std::vector<IntervalModel::Range> IntervalModel::UsedIntervals() const {
  std::vector<Range> intervals;
  for (const auto& [first, end] : used_intervals_) {
    intervals.push_back({first, end});
  }
  return intervals;
}

std::optional<IntervalModel::Range> IntervalModel::UsedIntervalAfter(
    std::uintptr_t unit) const {
  auto next = used_intervals_.upper_bound(unit);
  if (next != used_intervals_.begin() && std::prev(next)->second > unit) {
    --next;
  }
  if (next == used_intervals_.end()) return std::nullopt;
  return Range{next->first, next->second};
}

}  // namespace heapkit::testing
