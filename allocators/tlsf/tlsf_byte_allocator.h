#ifndef HEAPKIT_ALLOCATORS_TLSF_TLSF_BYTE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_TLSF_TLSF_BYTE_ALLOCATOR_H_

#include <bit>
#include <cstddef>
#include <cstdint>

#include "absl/base/attributes.h"
#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/tlsf/internal/tlsf_block.h"
#include "allocators/tlsf/internal/tlsf_lists.h"
#include "core/byte_allocator.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"
#include "core/internal/region_table.h"
#include "core/layout.h"
#include "core/region.h"

namespace heapkit {

// A two-level segregated fit (TLSF) allocator of bytes over caller-given
// memory.
//
// Alloc, Dealloc and Resize take constant time whatever the heap size or
// history: a request is mapped to one of 33 x 32 segregated free lists, two
// bitmaps find the first non-empty list that can hold it with two
// count-trailing-zeros, and a freed block merges at once with both physical
// neighbours. There are no loops on either path.
//
// Contract and limits. Every pointer Alloc returns is aligned to
// max(layout.align, 16). Its block holds the request plus an 8-byte header,
// rounded up to a multiple of 16 and to at least 32 bytes, plus under max(32
// bytes, 1/32 of that) of slack. Requests go up to kMaxAllocSize (2 TiB - 24).
// Regions of at least kMinRegionSize are accepted; touching ones are joined, so
// that one block can span them, and up to kMaxRegions separate ones are
// managed. Each region loses a few bytes to alignment and an end marker (see
// TotalBytes()).
//
// The design (block format, list mapping, alignment, regions, statistics) is
// described in internal/tlsf_block.h and internal/tlsf_lists.h, next to the
// code it explains.
//
// Checks. Dealloc aborts with a message on a misaligned pointer and on a block
// already marked free (a double free); without NDEBUG it also checks that the
// pointer is in a managed region, that the neighbouring headers agree with it,
// and that the layout fits the block.
//
// AddressSanitizer. Under ASan (core/internal/asan.h) the regions are poisoned
// except [ptr, ptr + layout.size) of each live block, so headers, free blocks
// and the slack after a block's last byte are reported when touched, and the
// regions are returned unpoisoned when the allocator is destroyed or
// re-Init'ed.
//
// Like every backend, not synchronised.
class TlsfByteAllocator final : public ByteAllocator {
 public:
  // The unit of block sizes, and the alignment of every pointer Alloc returns.
  static constexpr std::size_t kGranularity = tlsf_internal::kGranularity;
  // The bytes a used block spends on its header.
  static constexpr std::size_t kHeaderSize = tlsf_internal::kHeaderSize;
  // The smallest block: a header, two free-list links and the back pointer.
  static constexpr std::size_t kMinBlockSize = tlsf_internal::kMinBlockSize;
  // The largest block (header included); longer runs are split into several.
  static constexpr std::size_t kMaxBlockSize = tlsf_internal::kMaxBlockSize;
  // The largest size Alloc can ever satisfy.
  static constexpr std::size_t kMaxAllocSize = tlsf_internal::kMaxAllocSize;
  // The smallest region Init/AddMemory accept: always room for one block.
  static constexpr std::size_t kMinRegionSize = 80;
  // How many separate (non-touching) regions the allocator can manage.
  static constexpr std::size_t kMaxRegions = 128;

  TlsfByteAllocator() = default;
#ifdef HEAPKIT_HAVE_ASAN
  // Unpoisons the managed regions (ASan builds only; see the class comment).
  ~TlsfByteAllocator() override;
#endif

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

  // Returns the sum of all block sizes, headers included: each separate
  // region's size less some alignment padding and a sentinel (see
  // internal/tlsf_block.h).
  std::size_t TotalBytes() const override { return total_bytes_; }

  // Returns the sum of the used block sizes, headers and rounding included: 0
  // whenever nothing is allocated.
  std::size_t UsedBytes() const override { return used_bytes_; }

  // Returns how many separate regions are managed (touching regions count
  // once).
  std::size_t RegionCount() const { return regions_.size(); }

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
  using BlockAddr = tlsf_internal::BlockAddr;
  using List = tlsf_internal::List;

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
  // Returns Alloc's kNoMemory: one status built once and then copied (a
  // reference count), so that a failed Alloc costs a bounded few dozen
  // instructions and does not allocate, as real-time and kernel callers need.
  // The first failure in the process builds it (and allocates). The caller
  // knows the request; the message does not repeat it.
  ABSL_ATTRIBUTE_NOINLINE static absl::Status NoFitError();
  // Release() for a tail Use() splits off when the block after it is free.
  ABSL_ATTRIBUTE_NOINLINE void ReleaseTailSlow(BlockAddr tail);
  void CheckLiveBlock(const void* ptr, Layout layout, const char* who) const;
  [[noreturn]] static void ReportBadFree(const void* ptr, const char* what);
  void Reset();

  BlockAddr heads_[tlsf_internal::kListCount] = {};
  std::uint32_t sl_bitmaps_[tlsf_internal::kFlCount] = {};
  std::uint64_t fl_bitmap_ = 0;
  // Written, never read: stands in for the back link of a missing list
  // neighbour, so that list updates need not branch on it.
  BlockAddr no_block_link_ = 0;
  std::size_t used_bytes_ = 0;
  std::size_t total_bytes_ = 0;
  // The managed regions: sorted, disjoint and not touching (touching ones are
  // joined).
  internal::RegionTable<Region, kMaxRegions> regions_;
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
//
// Use and InsertFree are forced inline as well: left to itself, GCC 12 calls
// them out of line, which cost 30 of the 147 instructions of an alloc+free
// with every block in L1 (bench: pinned_pair_64; 117 inline). RemoveFree and
// TakeFreeBlock are left to GCC: forcing them too saved 9 more instructions
// there but made the pmr seed workloads 7-10% slower (docs/benchmarks.md).

inline TlsfByteAllocator::BlockAddr TlsfByteAllocator::OrNoBlock(
    BlockAddr block) {
  // A select rather than a branch: whether a list neighbour exists is as good
  // as random, so a branch on it would often be mispredicted.
  const BlockAddr no_block = reinterpret_cast<std::uintptr_t>(&no_block_link_) -
                             tlsf_internal::kPrevFreeOffset;
  return block != 0 ? block : no_block;
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void TlsfByteAllocator::InsertFree(
    BlockAddr block, std::size_t size) {
  using tlsf_internal::kNextFreeOffset;
  using tlsf_internal::kPrevFreeOffset;
  using tlsf_internal::kSlCount;
  using tlsf_internal::Store;
  const List list = tlsf_internal::ListFor(size);
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
  using tlsf_internal::kNextFreeOffset;
  using tlsf_internal::kPrevFreeOffset;
  using tlsf_internal::kSlCount;
  using tlsf_internal::Load;
  using tlsf_internal::Store;
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
  using tlsf_internal::kSlCount;
  const List wanted = tlsf_internal::FirstListHolding(size);
  unsigned fl = wanted / kSlCount;
  if (ABSL_PREDICT_FALSE(fl >= tlsf_internal::kFlCount)) {
    return TakeExactFit(size);
  }
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
  tlsf_internal::PrefetchForWrite(block + size);
  RemoveFree(block, list);
  return block;
}

// Marks `block` free and files it, first merging it with a free neighbour on
// either side unless the merged block would exceed kMaxBlockSize. The block's
// header must carry its size and a correct prev-free flag, and the next block's
// header must be valid.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void TlsfByteAllocator::Release(
    BlockAddr block) {
  using tlsf_internal::kFlagMask;
  using tlsf_internal::kFreeBit;
  using tlsf_internal::kHeaderOffset;
  using tlsf_internal::kPrevFreeBit;
  using tlsf_internal::kPrevPhysOffset;
  using tlsf_internal::Load;
  using tlsf_internal::Store;
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
      RemoveFree(prev, tlsf_internal::ListFor(prev_size));
      block = prev;
      size += prev_size;
      header = prev_header;
    }
  }
  const std::size_t next_size = next_header & ~kFlagMask;
  if ((next_header & kFreeBit) &&
      ABSL_PREDICT_TRUE(size + next_size <= kMaxBlockSize)) {
    RemoveFree(next, tlsf_internal::ListFor(next_size));
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
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* TlsfByteAllocator::Use(
    BlockAddr block, std::size_t size) {
  using tlsf_internal::kFlagMask;
  using tlsf_internal::kFreeBit;
  using tlsf_internal::kHeaderOffset;
  using tlsf_internal::kPrevFreeBit;
  using tlsf_internal::Load;
  using tlsf_internal::Store;
  const std::size_t header = Load(block + kHeaderOffset);
  const std::size_t block_size = header & ~kFlagMask;
  const BlockAddr next = block + block_size;
  const std::size_t next_header = Load(next + kHeaderOffset);
  const std::size_t tail_size = block_size - size;
  if (tail_size >= tlsf_internal::MinTailSize(size)) {
    // The tail becomes a free block. The next block already says its
    // predecessor is free and is used (free blocks never touch) unless the two
    // were kept apart by kMaxBlockSize; only then can the tail merge.
    const BlockAddr tail = block + size;
    Store(tail + kHeaderOffset, tail_size | kFreeBit);
    if (ABSL_PREDICT_FALSE(next_header & kFreeBit)) {
      ReleaseTailSlow(tail);
    } else {
      Store(next + tlsf_internal::kPrevPhysOffset, tail);
      InsertFree(tail, tail_size);
    }
  } else {
    size = block_size;
    Store(next + kHeaderOffset, next_header & ~kPrevFreeBit);
  }
  Store(block + kHeaderOffset, size | (header & kPrevFreeBit));
  used_bytes_ += size;
  return reinterpret_cast<void*>(block + tlsf_internal::kPayloadOffset);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline absl::StatusOr<void*>
TlsfByteAllocator::Alloc(Layout layout) {
  // One test sends invalid, huge and over-aligned layouts to the slow path.
  // An alignment that is a power of two up to 16 and a size up to
  // kMaxAllocSize make a valid layout; this test, unlike Layout::IsValid(),
  // needs no bound that depends on the alignment.
  if (ABSL_PREDICT_FALSE(layout.align - 1 >= kGranularity ||
                         !internal::IsPowerOfTwo(layout.align) ||
                         layout.size > kMaxAllocSize)) {
    return AllocSlow(layout);
  }
  const std::size_t size = tlsf_internal::BlockSizeFor(layout.size);
  const BlockAddr block = TakeFreeBlock(size);
  if (ABSL_PREDICT_FALSE(block == 0)) return NoFitError();
#ifdef HEAPKIT_HAVE_ASAN
  void* const ptr = Use(block, size);
  internal::UnpoisonMemory(ptr, layout.size);
  return ptr;
#else
  // Without ASan the code must stay exactly as it was: even an empty call or a
  // named result changes GCC's choices in the callers.
  return Use(block, size);
#endif
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void TlsfByteAllocator::Dealloc(
    void* ptr, Layout layout) {
  using tlsf_internal::BlockSizeFor;
  using tlsf_internal::kHeaderOffset;
  using tlsf_internal::Load;
  if (ptr == nullptr) return;
  const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(ptr);
  if (ABSL_PREDICT_FALSE(!internal::IsAligned(address, kGranularity))) {
    ReportBadFree(ptr,
                  "the pointer is not 16-byte aligned, so no block has it");
  }
  const BlockAddr block = address - tlsf_internal::kPayloadOffset;
  // The next block's header, which Release() reads and writes, is where the
  // layout says the block ends, or a little further on when Use() left a short
  // tail with the block: start that miss together with the one on this
  // block's header. A wrong layout only wastes the hint.
  tlsf_internal::PrefetchForWrite(block + BlockSizeFor(layout.size));
  const std::size_t header = Load(block + kHeaderOffset);
  if (ABSL_PREDICT_FALSE(header & tlsf_internal::kFreeBit)) {
    ReportBadFree(ptr, "double free: the block is already free");
  }
#ifndef NDEBUG
  CheckLiveBlock(ptr, layout, "Dealloc");
#endif
  Release(block);
  // After Release(), which then reuses `header` rather than reloading it past
  // this store.
  const std::size_t block_size = header & ~tlsf_internal::kFlagMask;
#ifdef HEAPKIT_HAVE_ASAN  // See Alloc.
  // The whole block, up to the next header, slack included.
  internal::PoisonMemory(ptr, block_size - tlsf_internal::kHeaderSize);
#endif
  used_bytes_ -= block_size;
}

template <class F>
void TlsfByteAllocator::Walk(F visitor) const {
  using tlsf_internal::kFlagMask;
  using tlsf_internal::kFreeBit;
  using tlsf_internal::kHeaderOffset;
  using tlsf_internal::kPayloadOffset;
  using tlsf_internal::Load;
  for (const Region& region : regions_.Entries()) {
    const BlockAddr sentinel = tlsf_internal::SentinelOf(region.end);
    for (BlockAddr block = tlsf_internal::FirstBlockOf(region.start);
         block < sentinel;) {
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
