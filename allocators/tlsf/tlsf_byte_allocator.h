#ifndef HEAPKIT_ALLOCATORS_TLSF_TLSF_BYTE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_TLSF_TLSF_BYTE_ALLOCATOR_H_

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
// payload words and, in its last word, a pointer to its own start, which the
// next block reads to find it when the two merge. A used block therefore costs
// 8 bytes of overhead. Headers sit at addresses 8 mod 16, so every payload is
// 16-byte aligned, enough for alignof(std::max_align_t). Block sizes are
// multiples of kGranularity (16), at least kMinBlockSize (32) and at most
// kMaxBlockSize (2 TiB - 16). A request of n bytes takes n + 8 rounded up to a
// multiple of 16 and at least 32, plus the tail of the free block it came from
// when that tail is under 32 bytes.
//
// Good fit. Lists below 512 bytes are 16 bytes apart; above, each power of two
// is split into 32 lists. Alloc rounds the request up to the next list
// boundary, so any block on the list it finds fits (waste under 1/32 of the
// request); if that finds nothing, it also tries the head of the request's own
// list, which keeps a request for the whole of a lone free block satisfiable.
// Dealloc files a block under its size rounded down.
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

  struct ListIndex {
    unsigned
        fl;  // First level: the power of two (0 for the linear lists < 512).
    unsigned sl;  // Second level: which 1/32 of it.
  };

  // Word offsets from a BlockAddr.
  static constexpr std::size_t kPrevPhysOffset =
      0;  // Valid if the previous is free.
  static constexpr std::size_t kHeaderOffset = 8;     // Size | flags.
  static constexpr std::size_t kNextFreeOffset = 16;  // Valid if free; 0 ends.
  static constexpr std::size_t kPrevFreeOffset =
      24;  // Valid if free; 0 at head.
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
  static constexpr unsigned kFlCount =
      std::bit_width(kMaxBlockSize) - (kSlLog2 + kGranularityLog2) + 1;

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

  static std::size_t SizeOf(BlockAddr block) {
    return Load(block + kHeaderOffset) & ~kFlagMask;
  }

  // Returns the block size a request of `size` <= kMaxAllocSize bytes takes.
  static constexpr std::size_t BlockSizeFor(std::size_t size) {
    const std::size_t rounded = (size + kHeaderSize + kFlagMask) & ~kFlagMask;
    return rounded < kMinBlockSize ? kMinBlockSize : rounded;
  }

  // Returns the list a block of `size` bytes belongs on (fl may be kFlCount or
  // more for sizes above kMaxBlockSize, which callers must check). Below 512
  // the lists are 16 bytes apart; above, the top bit picks the first level and
  // the next five bits the second.
  static constexpr ListIndex IndexFor(std::size_t size) {
    if (size < kSmallSize) {
      return {0, static_cast<unsigned>(size >> kGranularityLog2)};
    }
    const unsigned log2 = std::bit_width(size) - 1;
    return {log2 - (kSlLog2 + kGranularityLog2 - 1),
            static_cast<unsigned>(size >> (log2 - kSlLog2)) - kSlCount};
  }

  // Returns `size` (a multiple of 16) rounded up to the next list boundary, so
  // that every block on the list IndexFor() then names holds at least `size`.
  static constexpr std::size_t RoundUpToList(std::size_t size) {
    if (size < kSmallSize) return size;
    return size + (std::size_t{1} << (std::bit_width(size) - 1 - kSlLog2)) - 1;
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

  void InsertFree(BlockAddr block, std::size_t size);
  void RemoveFree(BlockAddr block, ListIndex index);
  BlockAddr TakeFreeBlock(std::size_t size);
  void Release(BlockAddr block);
  void* Use(BlockAddr block, std::size_t size);

  // Cold paths, out of line.
  BlockAddr TakeExactFit(std::size_t size);
  absl::StatusOr<void*> AllocSlow(Layout layout);
  absl::Status NoFitError(Layout layout) const;
  void CheckLiveBlock(const void* ptr, Layout layout, const char* who) const;
  [[noreturn]] static void ReportBadFree(const void* ptr, const char* what);
  void Reset();

  BlockAddr heads_[kFlCount][kSlCount] = {};
  std::uint32_t sl_bitmaps_[kFlCount] = {};
  std::uint64_t fl_bitmap_ = 0;
  std::size_t used_bytes_ = 0;
  std::size_t total_bytes_ = 0;
  std::size_t region_count_ = 0;
  Region regions_[kMaxRegions] =
      {};  // Sorted by start, disjoint, not touching.
};

// Implementation details: the hot paths are inline so that a call through the
// final type compiles to straight-line code at the call site.

inline void TlsfByteAllocator::InsertFree(BlockAddr block, std::size_t size) {
  const ListIndex index = IndexFor(size);
  const BlockAddr head = heads_[index.fl][index.sl];
  Store(block + kNextFreeOffset, head);
  Store(block + kPrevFreeOffset, 0);
  if (head != 0) Store(head + kPrevFreeOffset, block);
  heads_[index.fl][index.sl] = block;
  sl_bitmaps_[index.fl] |= std::uint32_t{1} << index.sl;
  fl_bitmap_ |= std::uint64_t{1} << index.fl;
}

inline void TlsfByteAllocator::RemoveFree(BlockAddr block, ListIndex index) {
  const BlockAddr next = Load(block + kNextFreeOffset);
  const BlockAddr prev = Load(block + kPrevFreeOffset);
  if (next != 0) Store(next + kPrevFreeOffset, prev);
  if (prev != 0) {
    Store(prev + kNextFreeOffset, next);
    return;
  }
  heads_[index.fl][index.sl] = next;
  if (next == 0) {
    sl_bitmaps_[index.fl] &= ~(std::uint32_t{1} << index.sl);
    if (sl_bitmaps_[index.fl] == 0) {
      fl_bitmap_ &= ~(std::uint64_t{1} << index.fl);
    }
  }
}

// Removes from its list and returns a free block of at least `size` bytes, or
// 0.
inline TlsfByteAllocator::BlockAddr TlsfByteAllocator::TakeFreeBlock(
    std::size_t size) {
  ListIndex index = IndexFor(RoundUpToList(size));
  if (ABSL_PREDICT_TRUE(index.fl < kFlCount)) {
    std::uint32_t sl_map =
        sl_bitmaps_[index.fl] & (~std::uint32_t{0} << index.sl);
    if (sl_map == 0) {
      const std::uint64_t fl_map =
          fl_bitmap_ & (~std::uint64_t{0} << (index.fl + 1));
      if (ABSL_PREDICT_FALSE(fl_map == 0)) return TakeExactFit(size);
      index.fl = static_cast<unsigned>(std::countr_zero(fl_map));
      sl_map = sl_bitmaps_[index.fl];
    }
    index.sl = static_cast<unsigned>(std::countr_zero(sl_map));
    const BlockAddr block = heads_[index.fl][index.sl];
    RemoveFree(block, index);
    return block;
  }
  return TakeExactFit(size);
}

// Marks `block` free and files it, first merging it with a free neighbour on
// either side unless the merged block would exceed kMaxBlockSize. The block's
// header must carry its size and a correct prev-free flag, and the next block's
// header must be valid.
inline void TlsfByteAllocator::Release(BlockAddr block) {
  std::size_t header = Load(block + kHeaderOffset);
  std::size_t size = header & ~kFlagMask;
  if (header & kPrevFreeBit) {
    const BlockAddr prev = Load(block + kPrevPhysOffset);
    const std::size_t prev_header = Load(prev + kHeaderOffset);
    const std::size_t prev_size = prev_header & ~kFlagMask;
    if (ABSL_PREDICT_TRUE(prev_size + size <= kMaxBlockSize)) {
      // The stale header, now inside the merged block, still says "free", so a
      // second Dealloc of this block is caught.
      Store(block + kHeaderOffset, header | kFreeBit);
      RemoveFree(prev, IndexFor(prev_size));
      block = prev;
      size += prev_size;
      header = prev_header;
    }
  }
  BlockAddr next = block + size;
  std::size_t next_header = Load(next + kHeaderOffset);
  if (next_header & kFreeBit) {
    const std::size_t next_size = next_header & ~kFlagMask;
    if (ABSL_PREDICT_TRUE(size + next_size <= kMaxBlockSize)) {
      RemoveFree(next, IndexFor(next_size));
      size += next_size;
      next = block + size;
      next_header = Load(next + kHeaderOffset);
    }
  }
  Store(block + kHeaderOffset, size | kFreeBit | (header & kPrevFreeBit));
  Store(next + kHeaderOffset, next_header | kPrevFreeBit);
  Store(next + kPrevPhysOffset, block);
  InsertFree(block, size);
}

// Marks `block` (off the free lists, at least `size` bytes) used with `size`
// bytes, frees its tail if that can form a block, and returns its payload.
inline void* TlsfByteAllocator::Use(BlockAddr block, std::size_t size) {
  const std::size_t header = Load(block + kHeaderOffset);
  const std::size_t block_size = header & ~kFlagMask;
  if (block_size - size >= kMinBlockSize) {
    const BlockAddr tail = block + size;
    Store(tail + kHeaderOffset, block_size - size);  // Used, previous used.
    Release(tail);
  } else {
    size = block_size;
    const BlockAddr next = block + block_size;
    Store(next + kHeaderOffset, Load(next + kHeaderOffset) & ~kPrevFreeBit);
  }
  Store(block + kHeaderOffset, size | (header & kPrevFreeBit));
  used_bytes_ += size;
  return reinterpret_cast<void*>(block + kPayloadOffset);
}

inline absl::StatusOr<void*> TlsfByteAllocator::Alloc(Layout layout) {
  // One test sends invalid, huge and over-aligned layouts to the slow path.
  if (ABSL_PREDICT_FALSE(!layout.IsValid() || layout.size > kMaxAllocSize ||
                         layout.align > kGranularity)) {
    return AllocSlow(layout);
  }
  const std::size_t size = BlockSizeFor(layout.size);
  const BlockAddr block = TakeFreeBlock(size);
  if (ABSL_PREDICT_FALSE(block == 0)) return NoFitError(layout);
  return Use(block, size);
}

inline void TlsfByteAllocator::Dealloc(void* ptr,
                                       [[maybe_unused]] Layout layout) {
  if (ptr == nullptr) return;
  const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(ptr);
  if (ABSL_PREDICT_FALSE((address & kFlagMask) != 0)) {
    ReportBadFree(ptr,
                  "the pointer is not 16-byte aligned, so no block has it");
  }
  const BlockAddr block = address - kPayloadOffset;
  const std::size_t header = Load(block + kHeaderOffset);
  if (ABSL_PREDICT_FALSE(header & kFreeBit)) {
    ReportBadFree(ptr, "double free: the block is already free");
  }
#ifndef NDEBUG
  CheckLiveBlock(ptr, layout, "Dealloc");
#endif
  used_bytes_ -= header & ~kFlagMask;
  Release(block);
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
