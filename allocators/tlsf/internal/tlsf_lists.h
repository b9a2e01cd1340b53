// The free-list mapping of TlsfByteAllocator: which of its segregated free
// lists a block size is filed under, and from which list on a request can be
// served. Pure arithmetic on sizes; the lists themselves and their bitmaps are
// the allocator's (tlsf_byte_allocator.h), the block format is in
// tlsf_block.h. Not part of the public API.
//
// Lists. A request is mapped to one of kFlCount x kSlCount (33 x 32) lists. A
// list is numbered fl * kSlCount + sl: fl is the first level (the power of two,
// 0 for the linear lists below kSmallSize, 512 bytes), sl the second (which
// 1/32 of it). The allocator keeps a first-level bitmap (one bit per power of
// two, one word) and a second-level bitmap per first level (one bit per list),
// so two count-trailing-zeros find the first non-empty list at or after a
// given one; numbering the lists in order of size lets that search step from
// the last list of one power of two to the first of the next by adding 1.
//
// Good fit. Lists below 512 bytes are 16 bytes apart; above, each power of two
// is split into 32 lists. Alloc rounds the request up to the next list
// boundary (FirstListHolding), so any block on the list it finds fits, and
// exceeds the request by less than two list widths (under 1/16 of it); if that
// finds nothing, it also tries the head of the request's own list (ListFor),
// which keeps a request for the whole of a lone free block satisfiable. The
// block is then split, and a tail left over by less than 1/32 stays with it
// (MinTailSize): within the waste the list spacing allows anyway, and cheaper
// than a free fragment that few requests could use. So a block handed out
// exceeds its rounded request by under max(32 bytes, 1/32). Dealloc files a
// block under its size rounded down (ListFor).

#ifndef HEAPKIT_ALLOCATORS_TLSF_INTERNAL_TLSF_LISTS_H_
#define HEAPKIT_ALLOCATORS_TLSF_INTERNAL_TLSF_LISTS_H_

#include <algorithm>
#include <bit>
#include <cstddef>

#include "allocators/tlsf/internal/tlsf_block.h"
#include "core/internal/bits.h"

namespace heapkit::tlsf_internal {

// A free list's number, fl * kSlCount + sl (see the file comment).
using List = unsigned;

// How many lists split each power of two: 2^kSlLog2.
inline constexpr int kSlLog2 = 5;
inline constexpr unsigned kSlCount = 1u << kSlLog2;
// Sizes below this sit on the linear lists of first level 0, kGranularity
// apart.
inline constexpr std::size_t kSmallSize = std::size_t{kSlCount}
                                          << kGranularityLog2;
inline constexpr int kSmallSizeLog2 = kSlLog2 + kGranularityLog2;
// First levels: 0 for sizes below kSmallSize, then one per power of two up to
// that of kMaxBlockSize.
inline constexpr unsigned kFlCount =
    std::bit_width(kMaxBlockSize) - kSmallSizeLog2 + 1;
inline constexpr List kListCount = kFlCount * kSlCount;

static_assert(kFlCount <= 64, "the first-level bitmap is one word");
static_assert(kSlCount <= 32, "a second-level bitmap is one 32-bit word");

// Returns log2(max(size, kSmallSize)): below kSmallSize the lists are 16
// bytes apart, as they are within [kSmallSize, 2 * kSmallSize), so one
// formula without a branch serves both.
constexpr unsigned LevelLog2(std::size_t size) {
  return static_cast<unsigned>(internal::FloorLog2(size | kSmallSize));
}

// Returns the list a block of `size` bytes belongs on: the one whose range
// holds `size` (kListCount or more for sizes above kMaxBlockSize, which
// callers must check). Above kSmallSize the top bit picks the first level
// and the next five bits the second.
constexpr List ListFor(std::size_t size) {
  const unsigned log2 = LevelLog2(size);
  return ((log2 - kSmallSizeLog2) << kSlLog2) +
         static_cast<List>(size >> (log2 - kSlLog2));
}

// Returns the first list all of whose blocks hold at least `size` bytes (a
// multiple of 16): ListFor(size), or the one after when `size` is not the
// lower bound of its list's range. kListCount or more when no list qualifies.
constexpr List FirstListHolding(std::size_t size) {
  const unsigned log2 = LevelLog2(size);
  const unsigned shift = log2 - kSlLog2;
  return ((log2 - kSmallSizeLog2) << kSlLog2) +
         static_cast<List>((size + (std::size_t{1} << shift) - 1) >> shift);
}

// Returns the smallest tail that the allocator splits off a block it hands out
// for a request of `size` bytes: one that can form a block and is at least
// 1/32 of `size`. A smaller tail stays with the block: the list spacing lets a
// block exceed its request by that much anyway, and as a free block of its own
// it would cost a list insertion now and a merge later, and be too small for
// most requests.
constexpr std::size_t MinTailSize(std::size_t size) {
  return std::max(kMinBlockSize, size >> kSlLog2);
}

// The allocator sizes its list heads by kListCount and tests ListFor(size) <
// kListCount to tell a size no list holds: the largest block must land on the
// last list, and anything larger on none.
static_assert(ListFor(kMaxBlockSize) == kListCount - 1);
static_assert(ListFor(kMaxBlockSize + kGranularity) == kListCount);

}  // namespace heapkit::tlsf_internal

#endif  // HEAPKIT_ALLOCATORS_TLSF_INTERNAL_TLSF_LISTS_H_
