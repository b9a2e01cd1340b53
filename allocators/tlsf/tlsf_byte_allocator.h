#ifndef HEAPKIT_ALLOCATORS_TLSF_TLSF_BYTE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_TLSF_TLSF_BYTE_ALLOCATOR_H_

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/byte_allocator.h"
#include "core/layout.h"
#include "core/region.h"

namespace heapkit {

// A two-level segregated fit (TLSF) allocator of bytes over caller-given
// memory.
//
// Alloc and Dealloc take constant time whatever the heap size or history: a
// request is mapped to one of 33 x 32 segregated free lists, a first-level
// bitmap (one bit per power of two) and 33 second-level bitmaps (one bit per
// list) find the first non-empty list that can hold it with two
// count-trailing-zeros, and a freed block merges at once with both physical
// neighbours. There are no loops on either path.
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
// and at least 32, plus the tail of the free block it came from when that tail
// is under 32 bytes or under 1/32 of that rounded size.
//
// Good fit. Lists below 512 bytes are 16 bytes apart; above, each power of two
// is split into 32 lists. Alloc rounds the request up to the next list
// boundary, so any block on the list it finds fits (waste under 1/32 of the
// request); if that finds nothing, it also tries the head of the request's own
// list, which keeps a request for the whole of a lone free block satisfiable.
// A tail left over by less than 1/32 stays with the block, as above: within
// the waste the list spacing allows anyway, and cheaper than a free fragment
// that few requests could use. Dealloc files a block under its size rounded
// down.
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
// address 0. The allocator keeps the managed regions in a sorted table of up to
// kMaxRegions entries inside the object, to detect overlaps. A region that
// touches a managed one (its start is that region's end, or its end that
// region's start) joins it: the sentinel between them becomes free space, so
// one block can span both, and the table entries merge. Joined regions take one
// table entry however many were added; an AddMemory that would need a 129th
// separate entry fails with kNoMemory. A run of memory longer than
// kMaxBlockSize is cut into several blocks.
//
// Statistics. TotalBytes() is the sum of all block sizes, headers included: the
// size of each separate region minus 16 to 46 bytes of alignment padding and
// sentinel (a region starting below address 16 also loses its bytes below 16).
// A region that joins another adds its size to within 15 bytes (and a
// sentinel's worth more when it fills the gap between two). UsedBytes() is the
// sum of the sizes of the used blocks, headers and rounding included, so it is
// 0 whenever nothing is allocated; free padding in front of aligned blocks is
// not counted.
//
// Checks. Dealloc aborts with a message on a misaligned pointer and on a block
// already marked free (a double free); without NDEBUG it also checks that the
// pointer is in a managed region, that the neighbouring headers agree with it,
// and that the layout fits the block.
//
// Like every backend, not synchronised.
class TlsfByteAllocator final : public ByteAllocator {
 public:
  // The unit of block sizes, and the alignment of every pointer Alloc returns.
  static constexpr std::size_t kGranularity = 16;
  // The bytes a used block spends on its header.
  static constexpr std::size_t kHeaderSize = 8;
  // The smallest block: a header, two free-list links and the back pointer.
  static constexpr std::size_t kMinBlockSize = 32;
  // The largest block (header included); longer runs are split into several.
  static constexpr std::size_t kMaxBlockSize =
      (std::size_t{1} << 41) - kGranularity;
  // The largest size Alloc can ever satisfy.
  static constexpr std::size_t kMaxAllocSize = kMaxBlockSize - kHeaderSize;
  // The smallest region Init/AddMemory accept: always room for one block.
  static constexpr std::size_t kMinRegionSize = 80;
  // How many separate (non-touching) regions the allocator can manage.
  static constexpr std::size_t kMaxRegions = 128;

  TlsfByteAllocator() = default;

  // Forgets every region and block, then adds [start, start + size) as
  // AddMemory does. After a failure the allocator manages nothing.
  absl::Status Init(std::uintptr_t start, std::size_t size) override;

  // Adds [start, start + size), which must be writable, joining it to a managed
  // region it touches. Returns kInvalidParam for a region that is empty, wraps
  // or is smaller than kMinRegionSize; kMemoryOverlap if it overlaps a managed
  // region; kNoMemory if it touches none and kMaxRegions separate regions are
  // managed already. On failure nothing changes.
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override;

  // Returns a block of layout.size bytes aligned to max(layout.align, 16), in
  // O(1). Fails with kInvalidParam if !layout.IsValid(), and kNoMemory if no
  // free block fits, which includes every size over kMaxAllocSize and alignment
  // over kMaxBlockSize; the allocator is unchanged by a failure.
  absl::StatusOr<void*> Alloc(Layout layout) override;

  // Frees a block from Alloc in O(1), merging it with free neighbours. Ignores
  // null. Aborts on a double free or a misaligned pointer (see the class
  // comment).
  void Dealloc(void* ptr, Layout layout) override;

  // Grows or shrinks the live block at `ptr`, allocated (or last resized) with
  // `old_layout`, so that it holds `new_size` bytes, without moving it:
  // contents up to min(old, new) size and alignment are kept. Shrinking always
  // succeeds and frees the tail when it can form a block. Growing takes bytes
  // from a free block right after this one, and fails with kNoMemory when there
  // is none or it is too small; the block is then unchanged (allocate, copy and
  // free instead). Returns kInvalidParam for a null `ptr` or an invalid layout,
  // and aborts, as Dealloc does, on a pointer that is visibly not a live block.
  // After success, free the block with Layout{new_size, old_layout.align}.
  // O(1).
  absl::Status Resize(void* ptr, Layout old_layout, std::size_t new_size);

  // Returns the sum of all block sizes; see the class comment.
  std::size_t TotalBytes() const override { return total_bytes_; }

  // Returns the sum of the used block sizes; see the class comment.
  std::size_t UsedBytes() const override { return used_bytes_; }

  // Returns how many separate regions are managed (touching regions count
  // once).
  std::size_t RegionCount() const { return region_count_; }

  // Returns OK, or an InternalError naming the first broken invariant found:
  // region table sorted and disjoint; block sizes sane and adding up to each
  // region's run; prev-free flags and back pointers consistent; no two
  // neighbouring free blocks that could merge; every free block on exactly the
  // list its size maps to, and nothing else on the lists; bitmaps agree with
  // the lists; TotalBytes() and UsedBytes() agree with the blocks. Takes time
  // linear in the number of blocks and uses the process heap. For tests and
  // debugging.
  absl::Status CheckInvariants() const;

  // Calls visitor(address, size, used) for every block of every region, in
  // address order: `address` (a std::uintptr_t) is the block's payload, which
  // for a used block is what Alloc returned; `size` includes the header. Within
  // one region address + size is the next block's address. Assumes intact
  // invariants.
  template <class F>
  void Walk(F visitor) const;

 private:
  // A block, named by the address 8 bytes before its header (the last word of
  // the previous block). Never 0.
  using BlockAddr = std::uintptr_t;

  // A free list, numbered fl * kSlCount + sl: fl is the first level (the power
  // of two, 0 for the linear lists below 512), sl the second (which 1/32 of
  // it). Numbering them in order of size lets a search step from the last list
  // of one power of two to the first of the next by adding 1.
  using List = unsigned;

  // Word offsets from a BlockAddr.
  // The previous block's start; valid if the previous block is free.
  static constexpr std::size_t kPrevPhysOffset = 0;
  static constexpr std::size_t kHeaderOffset = 8;  // Size | flags.
  // Valid if free: the next block on the list, 0 at the end.
  static constexpr std::size_t kNextFreeOffset = 16;
  // Valid if free and not the head of its list: the previous block on the
  // list. The head's is left stale, so taking the head never has to write to
  // (and miss in the cache on) the block after it; RemoveFree tells the head
  // by comparing with heads_.
  static constexpr std::size_t kPrevFreeOffset = 24;
  static constexpr std::size_t kPayloadOffset = 16;

  static constexpr std::size_t kFreeBit = 1;
  static constexpr std::size_t kPrevFreeBit = 2;
  static constexpr std::size_t kFlagMask = kGranularity - 1;

  static constexpr int kGranularityLog2 = 4;
  static constexpr int kSlLog2 = 5;
  static constexpr unsigned kSlCount = 1u << kSlLog2;
  // Sizes below this sit on the linear lists of first level 0.
  static constexpr std::size_t kSmallSize = std::size_t{kSlCount}
                                            << kGranularityLog2;
  static constexpr int kSmallSizeLog2 = kSlLog2 + kGranularityLog2;
  static constexpr unsigned kFlCount =
      std::bit_width(kMaxBlockSize) - kSmallSizeLog2 + 1;
  static constexpr List kListCount = kFlCount * kSlCount;

  static_assert(sizeof(void*) == 8, "TLSF block layout assumes 64-bit words");
  static_assert(std::size_t{1} << kGranularityLog2 == kGranularity);
  static_assert(kFlCount <= 64, "the first-level bitmap is one word");

  // Block fields live in memory that callers also write with other types, so
  // they are read and written with memcpy: that keeps the compiler from
  // reordering them against those writes when Alloc and Dealloc are inlined
  // into the caller.
  static std::uintptr_t Load(std::uintptr_t address) {
    std::uintptr_t word;
    std::memcpy(&word, reinterpret_cast<const void*>(address), sizeof(word));
    return word;
  }
  static void Store(std::uintptr_t address, std::uintptr_t word) {
    std::memcpy(reinterpret_cast<void*>(address), &word, sizeof(word));
  }
  // Asks for the cache line at `address` ahead of a write to it, so that its
  // miss overlaps with others instead of following them. A hint only: any
  // address is harmless. Always inlined, because GCC otherwise finds the
  // function free of side effects and deletes the calls.
  ABSL_ATTRIBUTE_ALWAYS_INLINE static void PrefetchForWrite(
      std::uintptr_t address) {
    __builtin_prefetch(reinterpret_cast<const void*>(address), 1);
  }

  static std::size_t SizeOf(BlockAddr block) {
    return Load(block + kHeaderOffset) & ~kFlagMask;
  }

  // Returns the block size a request of `size` <= kMaxAllocSize bytes takes.
  static constexpr std::size_t BlockSizeFor(std::size_t size) {
    const std::size_t rounded = (size + kHeaderSize + kFlagMask) & ~kFlagMask;
    return rounded < kMinBlockSize ? kMinBlockSize : rounded;
  }

  // Returns log2(max(size, kSmallSize)): below kSmallSize the lists are 16
  // bytes apart, as they are within [kSmallSize, 2 * kSmallSize), so one
  // formula without a branch serves both.
  static constexpr unsigned LevelLog2(std::size_t size) {
    return std::bit_width(size | kSmallSize) - 1;
  }

  // Returns the list a block of `size` bytes belongs on: the one whose range
  // holds `size` (kListCount or more for sizes above kMaxBlockSize, which
  // callers must check). Above kSmallSize the top bit picks the first level
  // and the next five bits the second.
  static constexpr List ListFor(std::size_t size) {
    const unsigned log2 = LevelLog2(size);
    return ((log2 - kSmallSizeLog2) << kSlLog2) +
           static_cast<List>(size >> (log2 - kSlLog2));
  }

  // Returns the first list all of whose blocks hold at least `size` bytes (a
  // multiple of 16): ListFor(size), or the one after when `size` is not the
  // lower bound of its list's range.
  static constexpr List FirstListHolding(std::size_t size) {
    const unsigned log2 = LevelLog2(size);
    const unsigned shift = log2 - kSlLog2;
    return ((log2 - kSmallSizeLog2) << kSlLog2) +
           static_cast<List>((size + (std::size_t{1} << shift) - 1) >> shift);
  }

  // Returns the smallest tail that Use() splits off a block of `size` bytes:
  // one that can form a block and is at least 1/32 of `size`. A smaller tail
  // stays with the block: the list spacing lets a block exceed its request by
  // that much anyway, and as a free block of its own it would cost a list
  // insertion now and a merge later, and be too small for most requests.
  static constexpr std::size_t MinTailSize(std::size_t size) {
    return std::max(kMinBlockSize, size >> kSlLog2);
  }

  // The first block of a run that starts at `start`: 16-aligned and not at 0.
  static constexpr BlockAddr FirstBlockOf(std::uintptr_t start) {
    const std::uintptr_t low = start < kGranularity ? kGranularity : start;
    return (low + kFlagMask) & ~kFlagMask;
  }
  // The sentinel of a run that ends at `end`: its header is the last whole word
  // at an address 8 mod 16 below `end`.
  static constexpr BlockAddr SentinelOf(std::uintptr_t end) {
    return (end - 2 * kHeaderSize) & ~kFlagMask;
  }

  // Returns `block`, or for 0 an address whose back link is no_block_link_.
  BlockAddr OrNoBlock(BlockAddr block);
  void InsertFree(BlockAddr block, std::size_t size);
  void RemoveFree(BlockAddr block, List list);
  BlockAddr TakeFreeBlock(std::size_t size);
  void Release(BlockAddr block);
  void* Use(BlockAddr block, std::size_t size);

  // Cold paths, kept out of line so that the inlined hot paths stay small.
  ABSL_ATTRIBUTE_NOINLINE BlockAddr TakeExactFit(std::size_t size);
  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<void*> AllocSlow(Layout layout);
  ABSL_ATTRIBUTE_NOINLINE absl::Status NoFitError(Layout layout) const;
  // Release() for a tail Use() splits off when the block after it is free.
  ABSL_ATTRIBUTE_NOINLINE void ReleaseTailSlow(BlockAddr tail);
  void CheckLiveBlock(const void* ptr, Layout layout, const char* who) const;
  [[noreturn]] static void ReportBadFree(const void* ptr, const char* what);
  void Reset();

  BlockAddr heads_[kListCount] = {};
  std::uint32_t sl_bitmaps_[kFlCount] = {};
  std::uint64_t fl_bitmap_ = 0;
  // Written, never read: stands in for the back link of a missing list
  // neighbour, so that list updates need not branch on it.
  BlockAddr no_block_link_ = 0;
  std::size_t used_bytes_ = 0;
  std::size_t total_bytes_ = 0;
  std::size_t region_count_ = 0;
  Region regions_[kMaxRegions] =
      {};  // Sorted by start, disjoint, not touching.
};

// Implementation details: the hot paths are inline, and Alloc and Dealloc
// always so, so that a call through the final type compiles to straight-line
// code at the call site, with the layout's constants folded in.
//
// The heap is far larger than the cache in the workloads that matter, so each
// block header or list link touched is likely a cache miss. The hot paths are
// written to touch as few lines as they can and to start independent misses
// together (see PrefetchForWrite and the order of the loads in Release). Sizes
// are random in such workloads, so branches on them are often mispredicted;
// the list updates use selects instead where that is cheap.

inline TlsfByteAllocator::BlockAddr TlsfByteAllocator::OrNoBlock(
    BlockAddr block) {
  // A select rather than a branch: whether a list neighbour exists is as good
  // as random, so a branch on it would often be mispredicted.
  const BlockAddr no_block =
      reinterpret_cast<std::uintptr_t>(&no_block_link_) - kPrevFreeOffset;
  return block != 0 ? block : no_block;
}

inline void TlsfByteAllocator::InsertFree(BlockAddr block, std::size_t size) {
  const List list = ListFor(size);
  const BlockAddr head = heads_[list];
  // The new head's back link stays stale (see kPrevFreeOffset); the old head's
  // becomes valid now that it is not the head.
  Store(block + kNextFreeOffset, head);
  Store(OrNoBlock(head) + kPrevFreeOffset, block);
  heads_[list] = block;
  sl_bitmaps_[list / kSlCount] |= std::uint32_t{1} << (list % kSlCount);
  fl_bitmap_ |= std::uint64_t{1} << (list / kSlCount);
}

inline void TlsfByteAllocator::RemoveFree(BlockAddr block, List list) {
  const BlockAddr next = Load(block + kNextFreeOffset);
  if (ABSL_PREDICT_FALSE(heads_[list] != block)) {
    const BlockAddr prev = Load(block + kPrevFreeOffset);
    Store(prev + kNextFreeOffset, next);
    Store(OrNoBlock(next) + kPrevFreeOffset, prev);
    return;
  }
  // `next` becomes the head, so its back link may stay as it is. Whether the
  // list empties is as good as random, so the bitmaps are updated without a
  // branch.
  heads_[list] = next;
  const unsigned fl = list / kSlCount;
  sl_bitmaps_[fl] &= ~(std::uint32_t{next == 0} << (list % kSlCount));
  fl_bitmap_ &= ~(std::uint64_t{sl_bitmaps_[fl] == 0} << fl);
}

// Removes from its list and returns a free block of at least `size` bytes, or
// 0.
inline TlsfByteAllocator::BlockAddr TlsfByteAllocator::TakeFreeBlock(
    std::size_t size) {
  const List wanted = FirstListHolding(size);
  unsigned fl = wanted / kSlCount;
  if (ABSL_PREDICT_FALSE(fl >= kFlCount)) return TakeExactFit(size);
  std::uint32_t sl_map =
      sl_bitmaps_[fl] & (~std::uint32_t{0} << (wanted % kSlCount));
  if (sl_map == 0) {
    // fl + 1 <= kFlCount < 64, so the shift is defined.
    const std::uint64_t fl_map = fl_bitmap_ & (~std::uint64_t{0} << (fl + 1));
    if (ABSL_PREDICT_FALSE(fl_map == 0)) return TakeExactFit(size);
    fl = static_cast<unsigned>(std::countr_zero(fl_map));
    sl_map = sl_bitmaps_[fl];
  }
  const List list = fl * kSlCount + std::countr_zero(sl_map);
  const BlockAddr block = heads_[list];
  // The head is taken, so only its own line is read. Use() will most likely
  // write the header of a tail block `size` bytes on, or of the next block
  // near there: start that miss now rather than after this block's header
  // arrives.
  PrefetchForWrite(block + size);
  RemoveFree(block, list);
  return block;
}

// Marks `block` free and files it, first merging it with a free neighbour on
// either side unless the merged block would exceed kMaxBlockSize. The block's
// header must carry its size and a correct prev-free flag, and the next block's
// header must be valid.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void TlsfByteAllocator::Release(
    BlockAddr block) {
  std::size_t header = Load(block + kHeaderOffset);
  std::size_t size = header & ~kFlagMask;
  // Read the next header before following the back pointer: the two misses
  // are independent, so they overlap.
  BlockAddr next = block + size;
  const std::size_t next_header = Load(next + kHeaderOffset);
  if (header & kPrevFreeBit) {
    const BlockAddr prev = Load(block + kPrevPhysOffset);
    const std::size_t prev_header = Load(prev + kHeaderOffset);
    const std::size_t prev_size = prev_header & ~kFlagMask;
    if (ABSL_PREDICT_TRUE(prev_size + size <= kMaxBlockSize)) {
      // The stale header, now inside the merged block, still says "free", so a
      // second Dealloc of this block is caught.
      Store(block + kHeaderOffset, header | kFreeBit);
      RemoveFree(prev, ListFor(prev_size));
      block = prev;
      size += prev_size;
      header = prev_header;
    }
  }
  const std::size_t next_size = next_header & ~kFlagMask;
  if ((next_header & kFreeBit) &&
      ABSL_PREDICT_TRUE(size + next_size <= kMaxBlockSize)) {
    RemoveFree(next, ListFor(next_size));
    size += next_size;
    // The block after `next` already says its predecessor is free: only its
    // back pointer changes.
    Store(block + size + kPrevPhysOffset, block);
  } else {
    Store(next + kHeaderOffset, next_header | kPrevFreeBit);
    Store(next + kPrevPhysOffset, block);
  }
  Store(block + kHeaderOffset, size | kFreeBit | (header & kPrevFreeBit));
  InsertFree(block, size);
}

// Marks `block` (off the free lists, at least `size` bytes) used with `size`
// bytes, frees its tail if that is at least MinTailSize(size) (otherwise the
// block keeps it), and returns its payload. The block after `block` must still
// say that its predecessor is free, as it does after TakeFreeBlock().
inline void* TlsfByteAllocator::Use(BlockAddr block, std::size_t size) {
  const std::size_t header = Load(block + kHeaderOffset);
  const std::size_t block_size = header & ~kFlagMask;
  const BlockAddr next = block + block_size;
  const std::size_t next_header = Load(next + kHeaderOffset);
  const std::size_t tail_size = block_size - size;
  if (tail_size >= MinTailSize(size)) {
    // The tail becomes a free block. The next block already says its
    // predecessor is free and is used (free blocks never touch) unless the two
    // were kept apart by kMaxBlockSize; only then can the tail merge.
    const BlockAddr tail = block + size;
    Store(tail + kHeaderOffset, tail_size | kFreeBit);
    if (ABSL_PREDICT_FALSE(next_header & kFreeBit)) {
      ReleaseTailSlow(tail);
    } else {
      Store(next + kPrevPhysOffset, tail);
      InsertFree(tail, tail_size);
    }
  } else {
    size = block_size;
    Store(next + kHeaderOffset, next_header & ~kPrevFreeBit);
  }
  Store(block + kHeaderOffset, size | (header & kPrevFreeBit));
  used_bytes_ += size;
  return reinterpret_cast<void*>(block + kPayloadOffset);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<void*>
TlsfByteAllocator::Alloc(Layout layout) {
  // One test sends invalid, huge and over-aligned layouts to the slow path.
  // An alignment that is a power of two up to 16 and a size up to
  // kMaxAllocSize make a valid layout; this test, unlike Layout::IsValid(),
  // needs no population count, which without -mpopcnt is a library call.
  if (ABSL_PREDICT_FALSE(layout.align - 1 >= kGranularity ||
                         (layout.align & (layout.align - 1)) != 0 ||
                         layout.size > kMaxAllocSize)) {
    return AllocSlow(layout);
  }
  const std::size_t size = BlockSizeFor(layout.size);
  const BlockAddr block = TakeFreeBlock(size);
  if (ABSL_PREDICT_FALSE(block == 0)) return NoFitError(layout);
  return Use(block, size);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void TlsfByteAllocator::Dealloc(
    void* ptr, Layout layout) {
  if (ptr == nullptr) return;
  const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(ptr);
  if (ABSL_PREDICT_FALSE((address & kFlagMask) != 0)) {
    ReportBadFree(ptr,
                  "the pointer is not 16-byte aligned, so no block has it");
  }
  const BlockAddr block = address - kPayloadOffset;
  // The next block's header, which Release() reads and writes, is where the
  // layout says the block ends, or a little further on when Use() left a short
  // tail with the block: start that miss together with the one on this
  // block's header. A wrong layout only wastes the hint.
  PrefetchForWrite(block + BlockSizeFor(layout.size));
  const std::size_t header = Load(block + kHeaderOffset);
  if (ABSL_PREDICT_FALSE(header & kFreeBit)) {
    ReportBadFree(ptr, "double free: the block is already free");
  }
#ifndef NDEBUG
  CheckLiveBlock(ptr, layout, "Dealloc");
#endif
  Release(block);
  // After Release(), which then reuses `header` rather than reloading it past
  // this store.
  used_bytes_ -= header & ~kFlagMask;
}

template <class F>
void TlsfByteAllocator::Walk(F visitor) const {
  for (std::size_t i = 0; i < region_count_; ++i) {
    const BlockAddr sentinel = SentinelOf(regions_[i].end);
    for (BlockAddr block = FirstBlockOf(regions_[i].start); block < sentinel;) {
      const std::size_t header = Load(block + kHeaderOffset);
      const std::size_t size = header & ~kFlagMask;
      if (size == 0) break;  // Corrupt: do not loop forever.
      visitor(block + kPayloadOffset, size, (header & kFreeBit) == 0);
      block += size;
    }
  }
}

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_TLSF_TLSF_BYTE_ALLOCATOR_H_
