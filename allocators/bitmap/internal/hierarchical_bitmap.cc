#include "allocators/bitmap/internal/hierarchical_bitmap.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <utility>

#include "core/internal/bits.h"

namespace heapkit::internal {
namespace {

constexpr std::uint64_t kAllOnes = ~std::uint64_t{0};

constexpr std::size_t CeilDiv64(std::size_t n) {
  return n / 64 + (n % 64 != 0);
}

// Returns the bits of leaf word `w` that fall inside [begin, end).
constexpr std::uint64_t WordMask(std::size_t w, std::size_t begin,
                                 std::size_t end) {
  const std::size_t word_begin = w * 64;
  const std::size_t lo = std::max(begin, word_begin) - word_begin;
  const std::size_t hi = std::min(end - word_begin, std::size_t{64});
  const std::size_t width = hi - lo;
  return width == 64 ? kAllOnes : ((std::uint64_t{1} << width) - 1) << lo;
}

// Returns a word with bit p set for every p < 64 with p % align == phase
// (align a power of two up to 64, phase below it).
constexpr std::uint64_t StartPattern(std::size_t align, std::size_t phase) {
  const std::uint64_t every =
      align == 64 ? 1 : kAllOnes / ((std::uint64_t{1} << align) - 1);
  return every << phase;
}

// Returns a word with bit p set when bits p .. p + count - 1 of the 128-bit
// value high:low are all set (0 < count <= 64). Each step doubles the length
// checked, so it costs at most six shift-and rounds.
constexpr std::uint64_t RunStarts(std::uint64_t low, std::uint64_t high,
                                  std::size_t count) {
  std::size_t have = 1;
  while (have < count) {
    const std::size_t shift = std::min(have, count - have);  // 1..32
    low &= (low >> shift) | (high << (64 - shift));
    high &= high >> shift;
    have += shift;
  }
  return low;
}

}  // namespace

std::size_t HierarchicalBitmap::StorageWords(std::size_t num_bits) {
  const std::size_t leaf_words = CeilDiv64(num_bits);
  if (leaf_words == 0) return 0;
  std::size_t total = leaf_words;
  std::size_t words = leaf_words;
  do {
    words = CeilDiv64(words);
    total += 2 * words;  // One level of each tree.
  } while (words > 1);
  return total;
}

int HierarchicalBitmap::NumLevels(std::size_t leaf_words) {
  int levels = 0;
  std::size_t words = leaf_words;
  do {
    words = CeilDiv64(words);
    ++levels;
  } while (words > 1);
  return levels;
}

HierarchicalBitmap::HierarchicalBitmap(HierarchicalBitmap&& other) noexcept {
  *this = std::move(other);
}

HierarchicalBitmap& HierarchicalBitmap::operator=(
    HierarchicalBitmap&& other) noexcept {
  if (this != &other) {
    num_bits_ = std::exchange(other.num_bits_, 0);
    leaf_words_ = std::exchange(other.leaf_words_, 0);
    num_levels_ = std::exchange(other.num_levels_, 0);
    level_bits_ = std::exchange(other.level_bits_, {});
    leaf_ = std::exchange(other.leaf_, nullptr);
    any_free_ = std::exchange(other.any_free_, {});
    all_free_ = std::exchange(other.all_free_, {});
  }
  return *this;
}

void HierarchicalBitmap::Init(std::span<std::uint64_t> storage,
                              std::size_t num_bits) {
  assert(storage.size() >= StorageWords(num_bits));
  *this = HierarchicalBitmap();
  if (num_bits == 0) return;
  num_bits_ = num_bits;
  leaf_words_ = CeilDiv64(num_bits);
  num_levels_ = NumLevels(leaf_words_);
  leaf_ = storage.data();

  std::fill(leaf_, leaf_ + leaf_words_, kAllOnes);
  if (num_bits % 64 != 0) {
    // Bits past the end read as used, so no search ever returns them and the
    // last word is never "all free".
    leaf_[leaf_words_ - 1] = (std::uint64_t{1} << (num_bits % 64)) - 1;
  }

  std::uint64_t* next = leaf_ + leaf_words_;
  std::size_t bits = leaf_words_;
  for (int level = 0; level < num_levels_; ++level) {
    const std::size_t words = CeilDiv64(bits);
    level_bits_[level] = bits;
    any_free_.levels[level] = next;
    all_free_.levels[level] = next + words;
    std::fill(next, next + 2 * words, std::uint64_t{0});
    next += 2 * words;
    bits = words;
  }

  // Fill the trees bottom-up: level 0 from the leaves, each level above from
  // the words below it.
  for (std::size_t w = 0; w < leaf_words_; ++w) {
    if (leaf_[w] != 0)
      any_free_.levels[0][w / 64] |= std::uint64_t{1} << (w % 64);
    if (leaf_[w] == kAllOnes) {
      all_free_.levels[0][w / 64] |= std::uint64_t{1} << (w % 64);
    }
  }
  for (int level = 1; level < num_levels_; ++level) {
    for (std::size_t w = 0; w < level_bits_[level]; ++w) {
      const std::uint64_t bit = std::uint64_t{1} << (w % 64);
      if (any_free_.levels[level - 1][w] != 0) {
        any_free_.levels[level][w / 64] |= bit;
      }
      if (all_free_.levels[level - 1][w] != 0) {
        all_free_.levels[level][w / 64] |= bit;
      }
    }
  }
}

bool HierarchicalBitmap::IsRangeFreeSlow(std::size_t begin,
                                         std::size_t count) const {
  assert(begin <= num_bits_ && count <= num_bits_ - begin);
  if (count == 0) return true;
  const std::size_t end = begin + count;
  for (std::size_t w = begin / 64; w <= (end - 1) / 64; ++w) {
    const std::uint64_t mask = WordMask(w, begin, end);
    if ((leaf_[w] & mask) != mask) return false;
  }
  return true;
}

bool HierarchicalBitmap::IsRangeUsedSlow(std::size_t begin,
                                         std::size_t count) const {
  assert(begin <= num_bits_ && count <= num_bits_ - begin);
  if (count == 0) return true;
  const std::size_t end = begin + count;
  for (std::size_t w = begin / 64; w <= (end - 1) / 64; ++w) {
    if ((leaf_[w] & WordMask(w, begin, end)) != 0) return false;
  }
  return true;
}

void HierarchicalBitmap::MarkUsedSlow(std::size_t begin, std::size_t count) {
  assert(begin <= num_bits_ && count <= num_bits_ - begin);
  if (count == 0) return;
  const std::size_t end = begin + count;
  for (std::size_t w = begin / 64; w <= (end - 1) / 64; ++w) {
    const std::uint64_t old = leaf_[w];
    leaf_[w] = old & ~WordMask(w, begin, end);
    UpdateSummaries(w, old);
  }
}

void HierarchicalBitmap::MarkFreeSlow(std::size_t begin, std::size_t count) {
  assert(begin <= num_bits_ && count <= num_bits_ - begin);
  if (count == 0) return;
  const std::size_t end = begin + count;
  for (std::size_t w = begin / 64; w <= (end - 1) / 64; ++w) {
    const std::uint64_t old = leaf_[w];
    leaf_[w] = old | WordMask(w, begin, end);
    UpdateSummaries(w, old);
  }
}

void HierarchicalBitmap::SetSummaryBit(Tree& tree, std::size_t i, bool value) {
  for (int level = 0; level < num_levels_; ++level) {
    std::uint64_t& word = tree.levels[level][i / 64];
    const bool was_set = word != 0;
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    word = value ? (word | bit) : (word & ~bit);
    // The level above only records whether this word is zero; stop as soon as
    // that did not change, which is almost always after level 0.
    if ((word != 0) == was_set) return;
    value = word != 0;
    i /= 64;
  }
}

std::size_t HierarchicalBitmap::FindNextSet(const Tree& tree, int level,
                                            std::size_t i) const {
  int l = level;
  // Climb until some word holds a set bit at or after the position...
  while (true) {
    if (i >= level_bits_[l]) return kNotFound;
    const std::uint64_t word = tree.levels[l][i / 64] & (kAllOnes << (i % 64));
    if (word != 0) {
      i = AlignDown(i, 64) + std::countr_zero(word);
      break;
    }
    if (l + 1 == num_levels_) return kNotFound;
    i = i / 64 + 1;
    ++l;
  }
  // ...then follow the first set bit down; a set bit always has a non-zero word
  // below it.
  while (l > level) {
    --l;
    i = i * 64 + std::countr_zero(tree.levels[l][i]);
  }
  return i;
}

std::size_t HierarchicalBitmap::FindFreeAfterWord(std::size_t w) const {
  const std::size_t next = FindNextSet(any_free_, 0, w + 1);
  if (next == kNotFound) return kNotFound;
  return next * 64 + std::countr_zero(leaf_[next]);
}

std::size_t HierarchicalBitmap::LastUsed(std::size_t begin,
                                         std::size_t count) const {
  const std::size_t end = begin + count;
  // Scanning backwards finds the used bit that lets the search skip furthest.
  for (std::size_t w = (end - 1) / 64 + 1; w-- > begin / 64;) {
    const std::uint64_t used = ~leaf_[w] & WordMask(w, begin, end);
    if (used != 0) return w * 64 + FloorLog2(used);
  }
  return kNotFound;
}

std::size_t HierarchicalBitmap::NextStart(std::size_t pos, std::size_t align,
                                          std::size_t phase) const {
  if (pos >= num_bits_) return kNotFound;
  // The distance is (phase - pos) mod align, read from the low bits of the
  // wrapped difference: exact whether pos is below phase or not, and unlike
  // pos + (align - 1) it cannot overflow, so it is compared with the room left
  // before it is added.
  const std::size_t delta = (phase - pos) & (align - 1);
  if (delta >= num_bits_ - pos) return kNotFound;
  assert(IsAligned(pos + delta - phase, align));
  return pos + delta;
}

std::size_t HierarchicalBitmap::FindShortRun(std::size_t count,
                                             std::size_t align,
                                             std::size_t phase) const {
  // Because 64 % align == 0, the admissible starts sit at the same positions in
  // every word. A run of at most 64 bits starting in word w ends in w or w + 1,
  // so each word with a free bit is settled in one step, whatever its free bits
  // look like, and words with none are skipped through the "any free" tree.
  const std::uint64_t starts = StartPattern(align, phase);
  std::size_t w = 0;
  while (true) {
    const std::uint64_t high = w + 1 < leaf_words_ ? leaf_[w + 1] : 0;
    const std::uint64_t found = RunStarts(leaf_[w], high, count) & starts;
    // Bits past size() read as used, so a run found here always fits.
    if (found != 0) return w * 64 + std::countr_zero(found);
    w = FindNextSet(any_free_, 0, w + 1);
    if (w == kNotFound) return kNotFound;
  }
}

std::size_t HierarchicalBitmap::FindFreeRunSlow(std::size_t count,
                                                std::size_t align,
                                                std::size_t phase) const {
  assert(count > 0 && IsPowerOfTwo(align) && phase < align);
  if (count > num_bits_) return kNotFound;
  if (count <= 64 && align <= 64) return FindShortRun(count, align, phase);

  // `slack` is the most bits an admissible start can sit before the next word
  // boundary. A free run of at least 64 + slack bits then always contains a
  // whole free leaf word, and the "all free" tree finds those without visiting
  // the free bits of fragmented words in between.
  std::size_t slack;
  if (align >= 64) {
    slack = phase % 64 == 0 ? 0 : 64 - phase % 64;
  } else {
    slack = 64 - (phase != 0 ? phase : align);
  }
  const bool by_words = count >= 64 && count - 64 >= slack;

  std::size_t pos = NextStart(0, align, phase);
  while (pos != kNotFound) {
    // Every start in [pos, start) is known not to fit.
    std::size_t start;
    if (by_words) {
      // The first whole word of any run starting at or after `pos`.
      const std::size_t first_word = CeilDiv64(pos);
      if (first_word >= leaf_words_) return kNotFound;
      const std::size_t w = FindNextSet(all_free_, 0, first_word);
      if (w == kNotFound) return kNotFound;
      // A run whose first whole word is `w` may begin in the free top bits of
      // the word before.
      std::size_t lowest = w * 64;
      if (w > 0) lowest -= std::countl_one(leaf_[w - 1]);
      start = NextStart(std::max(lowest, pos), align, phase);
    } else {
      const std::size_t free_bit = FindFree(pos);
      if (free_bit == kNotFound) return kNotFound;
      start = NextStart(free_bit, align, phase);
    }
    if (start == kNotFound || count > num_bits_ - start) return kNotFound;
    const std::size_t last_used = LastUsed(start, count);
    if (last_used == kNotFound) return start;
    pos = NextStart(last_used + 1, align, phase);
  }
  return kNotFound;
}

}  // namespace heapkit::internal
