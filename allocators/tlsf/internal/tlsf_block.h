// The block format of TlsfByteAllocator: how a block stores its size, flags,
// free-list links and back pointer, and how a region becomes a run of blocks.
// Only address arithmetic and word loads and stores live here; the free lists,
// bitmaps and region table are the allocator's (tlsf_byte_allocator.h), and the
// mapping from sizes to lists is in tlsf_lists.h. Not part of the public API.
//
// Blocks. Every block starts with a one-word header, its size (a multiple of
// 16, header included) with two flags: "this block is free" and "the previous
// block is free". A free block also holds its free-list links in its first two
// payload words (the back link is left stale while the block heads its list)
// and, in its last word, a pointer to its own start, which the next block reads
// to find it when the two merge. A used block therefore costs 8 bytes of
// overhead. Headers sit at addresses 8 mod 16, so every payload is 16-byte
// aligned, enough for alignof(std::max_align_t). Block sizes are multiples of
// kGranularity (16), at least kMinBlockSize (32) and at most kMaxBlockSize
// (2 TiB - 16). A request of n bytes takes n + 8 rounded up to a multiple of 16
// and at least 32 (BlockSizeFor), plus the tail of the free block it came from
// when that tail is under 32 bytes or under 1/32 of that rounded size
// (MinTailSize in tlsf_lists.h).
//
// Alignment. Layouts aligned to 16 or less take the path above. A larger
// alignment A searches for size + A + 16 bytes, carves the aligned block out of
// the block it finds and frees the padding in front (at least 32 bytes, or none
// at all) and the tail behind as blocks of their own, so nothing leaks. The
// block handed out starts at the returned pointer, so Dealloc finds it in O(1)
// as for any other block.
//
// Regions. Each region gets a 16-byte-aligned run of blocks ending in a
// sentinel (a used, zero-sized header), so merging never runs off the end. A
// region that starts below address 16 loses its first bytes, so no block is at
// address 0 (FirstBlockOf, SentinelOf). The allocator keeps the managed regions
// in a sorted table of up to kMaxRegions entries inside the object, to detect
// overlaps. A region that touches a managed one (its start is that region's
// end, or its end that region's start) joins it: the sentinel between them
// becomes free space, so one block can span both, and the table entries merge.
// Joined regions take one table entry however many were added; an AddMemory
// that would need a 129th separate entry fails with kNoMemory. A run of memory
// longer than kMaxBlockSize is cut into several blocks.
//
// Statistics. TotalBytes() is the sum of all block sizes, headers included: the
// size of each separate region minus 16 to 46 bytes of alignment padding and
// sentinel (a region starting below address 16 also loses its bytes below 16).
// A region that joins another adds its size to within 15 bytes (and a
// sentinel's worth more when it fills the gap between two). UsedBytes() is the
// sum of the sizes of the used blocks, headers and rounding included, so it is
// 0 whenever nothing is allocated; free padding in front of aligned blocks is
// not counted.

#ifndef HEAPKIT_ALLOCATORS_TLSF_INTERNAL_TLSF_BLOCK_H_
#define HEAPKIT_ALLOCATORS_TLSF_INTERNAL_TLSF_BLOCK_H_

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/base/attributes.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"

namespace heapkit::tlsf_internal {

static_assert(sizeof(void*) == 8, "TLSF block layout assumes 64-bit words");

// The unit of block sizes, and the alignment of every payload.
inline constexpr std::size_t kGranularity = 16;
inline constexpr int kGranularityLog2 = 4;
static_assert(std::size_t{1} << kGranularityLog2 == kGranularity);
// The bytes a used block spends on its header.
inline constexpr std::size_t kHeaderSize = 8;
// The smallest block: a header, two free-list links and the back pointer.
inline constexpr std::size_t kMinBlockSize = 32;
// The largest block (header included); longer runs are split into several.
inline constexpr std::size_t kMaxBlockSize =
    (std::size_t{1} << 41) - kGranularity;
// The largest request a block can hold.
inline constexpr std::size_t kMaxAllocSize = kMaxBlockSize - kHeaderSize;

// A block, named by the address 8 bytes before its header (the last word of
// the previous block). Never 0.
using BlockAddr = std::uintptr_t;

// Word offsets from a BlockAddr.
// The previous block's start; valid if the previous block is free.
inline constexpr std::size_t kPrevPhysOffset = 0;
inline constexpr std::size_t kHeaderOffset = 8;  // Size | flags.
// Valid if free: the next block on the list, 0 at the end.
inline constexpr std::size_t kNextFreeOffset = 16;
// Valid if free and not the head of its list: the previous block on the
// list. The head's is left stale, so taking the head never has to write to
// (and miss in the cache on) the block after it; the allocator tells the head
// by comparing with its list heads.
inline constexpr std::size_t kPrevFreeOffset = 24;
inline constexpr std::size_t kPayloadOffset = 16;

// Header flags, in the bits that sizes (multiples of 16) leave clear.
inline constexpr std::size_t kFreeBit = 1;
inline constexpr std::size_t kPrevFreeBit = 2;
inline constexpr std::size_t kFlagMask = kGranularity - 1;

// Returns the word at `address`. Block fields live in memory that callers also
// write with other types, so they are read and written with memcpy: that keeps
// the compiler from reordering them against those writes when Alloc and
// Dealloc are inlined into the caller. They are also the only accesses to
// memory the allocator keeps poisoned under ASan (headers, links, back
// pointers: everything outside live blocks), so ASan does not check them, and
// they stay out of line in ASan builds.
HEAPKIT_NO_SANITIZE_ADDRESS inline std::uintptr_t Load(std::uintptr_t address) {
  std::uintptr_t word;
  std::memcpy(&word, reinterpret_cast<const void*>(address), sizeof(word));
  return word;
}

// Writes `word` at `address`; see Load.
HEAPKIT_NO_SANITIZE_ADDRESS inline void Store(std::uintptr_t address,
                                              std::uintptr_t word) {
  std::memcpy(reinterpret_cast<void*>(address), &word, sizeof(word));
}

// Asks for the cache line at `address` ahead of a write to it, so that its
// miss overlaps with others instead of following them. A hint only: any
// address is harmless. Always inlined, because GCC otherwise finds the
// function free of side effects and deletes the calls.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void PrefetchForWrite(
    std::uintptr_t address) {
  __builtin_prefetch(reinterpret_cast<const void*>(address), 1);
}

// Returns the size in the header of `block`, flags cleared.
inline std::size_t SizeOf(BlockAddr block) {
  return Load(block + kHeaderOffset) & ~kFlagMask;
}

// Returns the block size a request of `size` <= kMaxAllocSize bytes takes.
constexpr std::size_t BlockSizeFor(std::size_t size) {
  const std::size_t rounded =
      internal::AlignUp(size + kHeaderSize, kGranularity);
  return rounded < kMinBlockSize ? kMinBlockSize : rounded;
}

// Returns the first block of a run that starts at `start`: 16-aligned and not
// at 0.
constexpr BlockAddr FirstBlockOf(std::uintptr_t start) {
  return internal::AlignUp(start < kGranularity ? kGranularity : start,
                           kGranularity);
}

// Returns the sentinel of a run that ends at `end`: its header is the last
// whole word at an address 8 mod 16 below `end`.
constexpr BlockAddr SentinelOf(std::uintptr_t end) {
  return internal::AlignDown(end - 2 * kHeaderSize, kGranularity);
}

}  // namespace heapkit::tlsf_internal

#endif  // HEAPKIT_ALLOCATORS_TLSF_INTERNAL_TLSF_BLOCK_H_
