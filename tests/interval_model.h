#ifndef HEAPKIT_TESTS_INTERVAL_MODEL_H_
#define HEAPKIT_TESTS_INTERVAL_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <vector>

namespace heapkit::testing {

// A slow, obviously correct model of what the bitmap allocators promise, for
// the random tests: managed ranges of units (pages or IDs) and the used units
// as merged intervals in a std::map. It shares no code with the allocators.
class IntervalModel {
 public:
  struct Range {
    std::uintptr_t first;
    std::uintptr_t end;
  };

  // Adds the managed range [first, end); ranges must not overlap.
  void AddRange(std::uintptr_t first, std::uintptr_t end);

  // Returns true if [first, first + count) lies inside one managed range.
  bool InOneRange(std::uintptr_t first, std::size_t count) const;

  // Returns true if [first, first + count) lies inside one range and no unit of
  // it is used (resp. every unit of it is used).
  bool CanAllocateAt(std::uintptr_t first, std::size_t count) const;
  bool CanFree(std::uintptr_t first, std::size_t count) const;

  // Returns the lowest unit u, u % align == 0, such that [u, u + count) is free
  // and inside one range, searching ranges in order; nullopt if there is none.
  std::optional<std::uintptr_t> FirstFit(std::size_t count,
                                         std::size_t align) const;

  // Marks [first, first + count) used or free.
  void MarkUsed(std::uintptr_t first, std::size_t count);
  void MarkFree(std::uintptr_t first, std::size_t count);

  bool IsUsed(std::uintptr_t unit) const;

  // Returns the used intervals [first, end), in order.
  std::vector<Range> UsedIntervals() const;

  // Returns the first used interval that ends after `unit`, or nullopt.
  std::optional<Range> UsedIntervalAfter(std::uintptr_t unit) const;

  const std::vector<Range>& ranges() const { return ranges_; }
  std::size_t total() const { return total_; }
  std::size_t used() const { return used_; }

 private:
  std::vector<Range> ranges_;                                // Sorted by first.
  std::map<std::uintptr_t, std::uintptr_t> used_intervals_;  // first -> end.
  std::size_t total_ = 0;
  std::size_t used_ = 0;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_INTERVAL_MODEL_H_
