#ifndef HEAPKIT_ALLOCATORS_BITMAP_INTERNAL_HIERARCHICAL_BITMAP_H_
#define HEAPKIT_ALLOCATORS_BITMAP_INTERNAL_HIERARCHICAL_BITMAP_H_

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>

#include "core/internal/bits.h"

namespace heapkit::internal {

// A fixed-size set of bits, each "free" or "used", over storage the caller
// provides, with summary levels that make searches O(log n) instead of a linear
// scan.
//
// Layout (all in the caller's storage, one 64-bit word per 64 bits of each
// level):
// - leaf words: bit i is 1 when bit i of the set is free (bits past size() are
//   0);
// - the "any free" tree: its level 0 has one bit per leaf word, set when that
//   word has at least one free bit; each higher level has one bit per word
//   below, set when that word is non-zero;
// - the "all free" tree: the same shape, but its level 0 bit is set only when
//   the whole leaf word is free. It lets runs of 64 bits or more skip straight
//   to whole free words instead of looking at every free bit on the way.
// The cost is size() bits plus about 2/63 of that for the two trees: 1.032
// bits per managed bit, see StorageWords().
//
// This is the shared core of BitmapPageAllocator and BitmapIdAllocator (through
// SegmentedBitmap); internal to //allocators/bitmap. It checks its
// preconditions only with assert(): the allocators validate their arguments,
// and a broken precondition in a release build reads or writes out of the
// caller's storage. Not thread-safe.
class HierarchicalBitmap {
 public:
  // Returned by the searches when nothing fits.
  static constexpr std::size_t kNotFound =
      std::numeric_limits<std::size_t>::max();

  // Returns the number of 64-bit words of storage Init() needs for `num_bits`
  // bits.
  static std::size_t StorageWords(std::size_t num_bits);

  // Creates an empty bitmap of size 0 that owns no storage.
  HierarchicalBitmap() = default;

  // The bitmap points into storage it does not own, so copying would alias it.
  HierarchicalBitmap(const HierarchicalBitmap&) = delete;
  HierarchicalBitmap& operator=(const HierarchicalBitmap&) = delete;
  // Moves leave `other` empty; the storage itself does not move.
  HierarchicalBitmap(HierarchicalBitmap&& other) noexcept;
  HierarchicalBitmap& operator=(HierarchicalBitmap&& other) noexcept;

  // Makes this a bitmap of `num_bits` bits, all free, kept in `storage`, which
  // must hold at least StorageWords(num_bits) words and outlive the bitmap (or
  // the next Init). Whatever `storage` held is overwritten. Costs
  // O(num_bits / 64).
  void Init(std::span<std::uint64_t> storage, std::size_t num_bits);

  // Returns the number of bits.
  std::size_t size() const { return num_bits_; }

  // Returns true if bit `i` (< size()) is free.
  bool IsFree(std::size_t i) const { return (leaf_[i / 64] >> (i % 64)) & 1; }

  // Returns true if every bit of [begin, begin + count) is free (resp. used).
  // The range must lie inside the bitmap. Costs O(count / 64).
  bool IsRangeFree(std::size_t begin, std::size_t count) const {
    if (InOneWord(begin, count)) {
      const std::uint64_t mask = OneWordMask(begin, count);
      return (leaf_[begin / 64] & mask) == mask;
    }
    return IsRangeFreeSlow(begin, count);
  }
  bool IsRangeUsed(std::size_t begin, std::size_t count) const {
    if (InOneWord(begin, count)) {
      return (leaf_[begin / 64] & OneWordMask(begin, count)) == 0;
    }
    return IsRangeUsedSlow(begin, count);
  }

  // Marks every bit of [begin, begin + count) used (resp. free), whatever it
  // was. The range must lie inside the bitmap. Costs
  // O(count / 64 + log size()).
  void MarkUsed(std::size_t begin, std::size_t count) {
    if (InOneWord(begin, count)) {
      const std::size_t w = begin / 64;
      const std::uint64_t old = leaf_[w];
      leaf_[w] = old & ~OneWordMask(begin, count);
      UpdateSummaries(w, old);
    } else {
      MarkUsedSlow(begin, count);
    }
  }
  void MarkFree(std::size_t begin, std::size_t count) {
    if (InOneWord(begin, count)) {
      const std::size_t w = begin / 64;
      const std::uint64_t old = leaf_[w];
      leaf_[w] = old | OneWordMask(begin, count);
      UpdateSummaries(w, old);
    } else {
      MarkFreeSlow(begin, count);
    }
  }

  // Returns the first free bit at or after `from`, or kNotFound. O(log size()).
  std::size_t FindFree(std::size_t from) const {
    if (from >= num_bits_) return kNotFound;
    const std::uint64_t word =
        leaf_[from / 64] & (~std::uint64_t{0} << (from % 64));
    if (word != 0) return AlignDown(from, 64) + std::countr_zero(word);
    return FindFreeAfterWord(from / 64);
  }

  // Returns the lowest `start` such that [start, start + count) is all free and
  // start % align == phase, or kNotFound. `align` must be a power of two,
  // `phase` below it and `count` positive. Stretches with nothing free are
  // skipped through the summary trees in O(log size()); what remains costs, per
  // candidate rejected: one leaf word for count and align up to 64 (any pattern
  // of free bits in a word is settled at once), one aligned start for align
  // above 64, and one whole free word for long runs.
  std::size_t FindFreeRun(std::size_t count, std::size_t align,
                          std::size_t phase) const {
    // The most common request of all, kept inline.
    if (count == 1 && align == 1) return FindFree(0);
    return FindFreeRunSlow(count, align, phase);
  }

 private:
  // 64^11 > 2^64, so eleven levels cover any bitmap that fits in memory.
  static constexpr int kMaxLevels = 11;

  struct Tree {
    std::array<std::uint64_t*, kMaxLevels> levels{};
  };

  // Returns the number of summary levels for `leaf_words` leaf words (at least
  // 1).
  static int NumLevels(std::size_t leaf_words);

  // Returns the first set bit at or after `i` in level `level` of `tree`, or
  // kNotFound.
  std::size_t FindNextSet(const Tree& tree, int level, std::size_t i) const;

  // Returns true if [begin, begin + count) is non-empty and inside one word.
  static bool InOneWord(std::size_t begin, std::size_t count) {
    return count != 0 && begin % 64 + count <= 64;
  }
  // Returns the bits of that word the range covers.
  static std::uint64_t OneWordMask(std::size_t begin, std::size_t count) {
    const std::uint64_t ones =
        count == 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << count) - 1;
    return ones << (begin % 64);
  }

  // The general cases of the inline functions above.
  bool IsRangeFreeSlow(std::size_t begin, std::size_t count) const;
  bool IsRangeUsedSlow(std::size_t begin, std::size_t count) const;
  void MarkUsedSlow(std::size_t begin, std::size_t count);
  void MarkFreeSlow(std::size_t begin, std::size_t count);
  std::size_t FindFreeAfterWord(std::size_t w) const;
  std::size_t FindFreeRunSlow(std::size_t count, std::size_t align,
                              std::size_t phase) const;

  // Sets or clears bit `i` of level 0 of `tree` and carries the change up.
  void SetSummaryBit(Tree& tree, std::size_t i, bool value);

  // Brings both trees up to date after leaf word `w` changed from `old`. A tree
  // changes only when the word turns empty or full or stops being so, which
  // most updates do not, so the usual cost is two compares.
  void UpdateSummaries(std::size_t w, std::uint64_t old) {
    const std::uint64_t now = leaf_[w];
    if ((old == 0) != (now == 0)) SetSummaryBit(any_free_, w, now != 0);
    constexpr std::uint64_t kFull = ~std::uint64_t{0};
    if ((old == kFull) != (now == kFull)) {
      SetSummaryBit(all_free_, w, now == kFull);
    }
  }

  // FindFreeRun for count <= 64 and align <= 64: one leaf word per step.
  std::size_t FindShortRun(std::size_t count, std::size_t align,
                           std::size_t phase) const;

  // Returns the last used bit in [begin, begin + count), or kNotFound if all
  // free.
  std::size_t LastUsed(std::size_t begin, std::size_t count) const;

  // Returns the smallest s >= pos with s % align == phase (the next admissible
  // start of a run), or kNotFound if there is none below size(). Not AlignUp
  // from bits.h: the starts are offset by `phase`, and one past size() must be
  // kNotFound, never a wrapped value.
  std::size_t NextStart(std::size_t pos, std::size_t align,
                        std::size_t phase) const;

  std::size_t num_bits_ = 0;
  std::size_t leaf_words_ = 0;
  int num_levels_ = 0;
  // Number of bits in each summary level (the number of words one level below).
  std::array<std::size_t, kMaxLevels> level_bits_{};
  std::uint64_t* leaf_ = nullptr;
  Tree any_free_;
  Tree all_free_;
};

}  // namespace heapkit::internal

#endif  // HEAPKIT_ALLOCATORS_BITMAP_INTERNAL_HIERARCHICAL_BITMAP_H_
