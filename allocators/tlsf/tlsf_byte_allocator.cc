#include "allocators/tlsf/tlsf_byte_allocator.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <span>

#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "allocators/tlsf/internal/tlsf_block.h"
#include "allocators/tlsf/internal/tlsf_lists.h"
#include "core/alloc_error.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"
#include "core/internal/hex.h"

namespace heapkit {
namespace {

using internal::Describe;
using internal::Hex;
using tlsf_internal::BlockSizeFor;
using tlsf_internal::FirstBlockOf;
using tlsf_internal::kFlagMask;
using tlsf_internal::kFlCount;
using tlsf_internal::kFreeBit;
using tlsf_internal::kHeaderOffset;
using tlsf_internal::kListCount;
using tlsf_internal::kNextFreeOffset;
using tlsf_internal::kPayloadOffset;
using tlsf_internal::kPrevFreeBit;
using tlsf_internal::kPrevFreeOffset;
using tlsf_internal::kPrevPhysOffset;
using tlsf_internal::kSlCount;
using tlsf_internal::ListFor;
using tlsf_internal::Load;
using tlsf_internal::SentinelOf;
using tlsf_internal::SizeOf;
using tlsf_internal::Store;

// Unpoisons every region in `regions` (under ASan; nothing otherwise).
void UnpoisonRegions(std::span<const Region> regions) {
  for (const Region& region : regions) {
    internal::UnpoisonRegion(reinterpret_cast<const void*>(region.start),
                             region.size());
  }
}

}  // namespace

#ifdef HEAPKIT_HAVE_ASAN
TlsfByteAllocator::~TlsfByteAllocator() { UnpoisonRegions(regions_.Entries()); }
#endif

void TlsfByteAllocator::Reset() {
  std::fill(std::begin(heads_), std::end(heads_), 0);
  std::fill(std::begin(sl_bitmaps_), std::end(sl_bitmaps_), 0u);
  fl_bitmap_ = 0;
  used_bytes_ = 0;
  total_bytes_ = 0;
  regions_.Clear();
}

absl::Status TlsfByteAllocator::Init(std::uintptr_t start, std::size_t size) {
  UnpoisonRegions(regions_.Entries());
  Reset();
  return AddMemory(start, size);
}

absl::Status TlsfByteAllocator::AddMemory(std::uintptr_t start,
                                          std::size_t size) {
  absl::StatusOr<Region> checked =
      CheckRegion(start, size, kMinRegionSize, "TlsfByteAllocator::AddMemory");
  if (!checked.ok()) return checked.status();
  const Region region = *checked;

  // The table is sorted and disjoint, so only the last region starting at or
  // before `region` and the first one after it can overlap or touch it.
  const std::span<Region> entries = regions_.Entries();
  const std::size_t next_index = regions_.UpperBound(region.start);
  Region* const prev = next_index == 0 ? nullptr : &entries[next_index - 1];
  Region* const next =
      next_index == entries.size() ? nullptr : &entries[next_index];
  for (const Region* other : {prev, next}) {
    if (other != nullptr && other->Overlaps(region)) {
      return MakeError(
          AllocError::kMemoryOverlap,
          absl::StrCat("TlsfByteAllocator::AddMemory: region ",
                       Describe(region), " overlaps the managed region ",
                       Describe(*other)));
    }
  }
  const bool join_prev = prev != nullptr && prev->end == region.start;
  const bool join_next = next != nullptr && next->start == region.end;
  if (!join_prev && !join_next && regions_.full()) {
    return MakeError(
        AllocError::kNoMemory,
        absl::StrCat("TlsfByteAllocator::AddMemory: the region table is full (",
                     kMaxRegions,
                     " separate regions); only a region touching a managed "
                     "one can still be added"));
  }

  // The new free space runs from the old sentinel of the region before (or the
  // new region's first block) to the first block of the region after (or a new
  // sentinel), so it absorbs the old sentinel and alignment padding.
  const BlockAddr from =
      join_prev ? SentinelOf(prev->end) : FirstBlockOf(region.start);
  const BlockAddr to =
      join_next ? FirstBlockOf(next->start) : SentinelOf(region.end);
  if (to < from || to - from < kMinBlockSize) {
    // kMinRegionSize rules this out; kept so a changed constant fails safely.
    return MakeError(
        AllocError::kInvalidParam,
        absl::StrCat("TlsfByteAllocator::AddMemory: region ", Describe(region),
                     " leaves no room for a block once aligned"));
  }

  // All of it is free space or metadata until Alloc hands out a block.
  internal::PoisonMemory(reinterpret_cast<const void*>(region.start),
                         region.size());

  // Lay out the run as used blocks of at most kMaxBlockSize, each remainder at
  // least kMinBlockSize, then free them in order so that they merge where they
  // can. A former sentinel keeps its prev-free flag: the block before it may be
  // free and must merge with the new space.
  std::size_t flags =
      join_prev ? (Load(from + kHeaderOffset) & kPrevFreeBit) : 0;
  BlockAddr block = from;
  std::size_t remaining = to - from;
  while (remaining > kMaxBlockSize) {
    const std::size_t chunk =
        std::min(kMaxBlockSize, remaining - kMinBlockSize);
    Store(block + kHeaderOffset, chunk | flags);
    flags = 0;
    block += chunk;
    remaining -= chunk;
  }
  Store(block + kHeaderOffset, remaining | flags);
  // A region after keeps its first block, whose prev-free flag is clear until
  // Release sets it; otherwise a fresh sentinel ends the run.
  if (!join_next) Store(to + kHeaderOffset, 0);
  for (block = from; block != to;) {
    const BlockAddr following = block + SizeOf(block);
    Release(block);
    block = following;
  }
  total_bytes_ += to - from;

  if (join_prev && join_next) {
    prev->end = next->end;
    regions_.Erase(next_index);
  } else if (join_prev) {
    prev->end = region.end;
  } else if (join_next) {
    next->start = region.start;
  } else {
    regions_.Insert(region);  // Cannot fail: the table is not full.
  }
  return absl::OkStatus();
}

TlsfByteAllocator::BlockAddr TlsfByteAllocator::TakeExactFit(std::size_t size) {
  // The rounded search skipped the request's own list, whose blocks may or may
  // not fit. Looking at its head alone keeps this O(1) and still finds a lone
  // free block big enough, e.g. a whole empty region.
  const List list = ListFor(size);
  if (list >= kListCount) return 0;
  const BlockAddr block = heads_[list];
  if (block == 0 || SizeOf(block) < size) return 0;
  RemoveFree(block, list);
  return block;
}

void TlsfByteAllocator::ReleaseTailSlow(BlockAddr tail) { Release(tail); }

absl::StatusOr<void*> TlsfByteAllocator::AllocSlow(Layout layout) {
  if (!layout.IsValid()) {
    return MakeError(
        AllocError::kInvalidParam,
        absl::StrCat("TlsfByteAllocator::Alloc: invalid layout (size ",
                     layout.size, ", align ", layout.align, ")"));
  }
  if (layout.size > kMaxAllocSize || layout.align > kMaxBlockSize) {
    return NoFitError();
  }
  const std::size_t size = BlockSizeFor(layout.size);
  if (layout.align <= kGranularity) {
    const BlockAddr block = TakeFreeBlock(size);
    if (block == 0) return NoFitError();
    void* const ptr = Use(block, size);
    internal::UnpoisonMemory(ptr, layout.size);
    return ptr;
  }

  // Every payload is 16-aligned, so the aligned payload lies 0, 16, ...,
  // align - 16 bytes into a free block. Padding of 16 cannot form a block;
  // moving on by `align` makes it align + 16. Searching for size + align + 16
  // bytes therefore always leaves room.
  const std::size_t align = layout.align;
  BlockAddr block = TakeFreeBlock(size + align + kGranularity);
  if (block == 0) return NoFitError();
  const std::uintptr_t payload = block + kPayloadOffset;
  std::size_t padding = internal::AlignUp(payload, align) - payload;
  if (padding != 0 && padding < kMinBlockSize) padding += align;
  if (padding != 0) {
    // Split the padding off and free it. The aligned block is marked used first
    // so the padding cannot merge forward into it.
    const std::size_t header = Load(block + kHeaderOffset);
    const std::size_t block_size = header & ~kFlagMask;
    Store(block + kHeaderOffset, padding | (header & kPrevFreeBit));
    Store(block + padding + kHeaderOffset, block_size - padding);
    Release(block);
    block += padding;
  }
  void* const ptr = Use(block, size);
  internal::UnpoisonMemory(ptr, layout.size);
  return ptr;
}

absl::Status TlsfByteAllocator::NoFitError() {
  static const absl::Status* const kNoFit = new absl::Status(
      MakeError(AllocError::kNoMemory,
                "TlsfByteAllocator::Alloc: no free block fits the request"));
  return *kNoFit;
}

absl::Status TlsfByteAllocator::Resize(void* ptr, Layout old_layout,
                                       std::size_t new_size) {
  if (ptr == nullptr || !old_layout.IsValid() ||
      !Layout{new_size, old_layout.align}.IsValid()) {
    return MakeError(
        AllocError::kInvalidParam,
        "TlsfByteAllocator::Resize: null pointer or invalid layout");
  }
  const BlockAddr block =
      reinterpret_cast<std::uintptr_t>(ptr) - kPayloadOffset;
  const std::size_t header = Load(block + kHeaderOffset);
  if (!internal::IsAligned(reinterpret_cast<std::uintptr_t>(ptr),
                           kGranularity) ||
      (header & kFreeBit) != 0) {
    ReportBadFree(ptr, "Resize of a pointer that is not a live block");
  }
#ifndef NDEBUG
  CheckLiveBlock(ptr, old_layout, "Resize");
#endif
  if (new_size > kMaxAllocSize) {
    return MakeError(AllocError::kNoMemory,
                     absl::StrCat("TlsfByteAllocator::Resize: ", new_size,
                                  " bytes exceed the largest block"));
  }
  const std::size_t size = BlockSizeFor(new_size);
  const std::size_t block_size = header & ~kFlagMask;
  const std::size_t flags = header & kPrevFreeBit;

  if (size <= block_size) {
    // Growing into the block's own slack or shrinking: under ASan, the bytes
    // from new_size up to the next header are free either way.
    internal::UnpoisonMemory(ptr, new_size);
    internal::PoisonMemory(static_cast<char*>(ptr) + new_size,
                           block_size - kHeaderSize - new_size);
    if (block_size - size >= kMinBlockSize) {
      Store(block + kHeaderOffset, size | flags);
      const BlockAddr tail = block + size;
      Store(tail + kHeaderOffset, block_size - size);  // Used, previous used.
      Release(tail);
      used_bytes_ -= block_size - size;
    }
    return absl::OkStatus();
  }

  const BlockAddr next = block + block_size;
  const std::size_t next_header = Load(next + kHeaderOffset);
  const std::size_t combined = block_size + (next_header & ~kFlagMask);
  // A remainder under kMinBlockSize stays with the block, which must still not
  // exceed kMaxBlockSize.
  if ((next_header & kFreeBit) == 0 || combined < size ||
      (combined - size < kMinBlockSize && combined > kMaxBlockSize)) {
    return MakeError(
        AllocError::kNoMemory,
        absl::StrCat("TlsfByteAllocator::Resize: cannot grow the block at ",
                     Hex(reinterpret_cast<std::uintptr_t>(ptr)), " to ",
                     new_size, " bytes in place"));
  }
  RemoveFree(next, ListFor(next_header & ~kFlagMask));
  // Temporarily own all of it, then hand back what is not needed; the block
  // after `next` still says its predecessor is free, which Use corrects.
  Store(block + kHeaderOffset, combined | flags);
  Use(block, size);
  used_bytes_ -= block_size;
  internal::UnpoisonMemory(ptr, new_size);
  return absl::OkStatus();
}

void TlsfByteAllocator::CheckLiveBlock(const void* ptr, Layout layout,
                                       const char* who) const {
  const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(ptr);
  const Region* const region = regions_.Find(address);
  if (region == nullptr) {
    internal::Fatal("TlsfByteAllocator::%s(%p): not in a managed region", who,
                    ptr);
  }
  const BlockAddr block = address - kPayloadOffset;
  const std::size_t size = SizeOf(block);
  if (block < FirstBlockOf(region->start) || size < kMinBlockSize ||
      size > SentinelOf(region->end) - block) {
    internal::Fatal(
        "TlsfByteAllocator::%s(%p): no block starts here, or its header is "
        "corrupt (size %zu)",
        who, ptr, size);
  }
  if ((Load(block + size + kHeaderOffset) & kPrevFreeBit) != 0) {
    internal::Fatal(
        "TlsfByteAllocator::%s(%p): the next block's header says this block "
        "is free; the heap is corrupt",
        who, ptr);
  }
  if (!layout.IsValid() || layout.size > kMaxAllocSize ||
      BlockSizeFor(layout.size) > size ||
      !internal::IsAligned(address, layout.align)) {
    internal::Fatal(
        "TlsfByteAllocator::%s(%p): layout (size %zu, align %zu) does not "
        "match the block of %zu bytes",
        who, ptr, layout.size, layout.align, size);
  }
}

void TlsfByteAllocator::ReportBadFree(const void* ptr, const char* what) {
  internal::Fatal("TlsfByteAllocator: bad free of %p: %s", ptr, what);
}

absl::Status TlsfByteAllocator::CheckInvariants() const {
  auto broken = [](auto&&... parts) {
    return absl::InternalError(
        absl::StrCat("TlsfByteAllocator invariant broken: ", parts...));
  };

  const std::span<const Region> regions = regions_.Entries();
  if (!regions_.IsSortedAndDisjoint()) {
    return broken("the region table is out of order or has overlaps");
  }
  for (std::size_t i = 0; i < regions.size(); ++i) {
    if (regions[i].size() < kMinRegionSize) {
      return broken("region ", Describe(regions[i]), " is too small");
    }
    if (i > 0 && regions[i - 1].end == regions[i].start) {
      return broken("regions ", Describe(regions[i - 1]), " and ",
                    Describe(regions[i]), " touch but were not joined");
    }
  }

  // Walk every run, checking each header against its neighbours before
  // following it, so a corrupt size cannot send the walk astray.
  absl::flat_hash_set<BlockAddr> free_blocks;
  std::size_t total = 0;
  std::size_t used = 0;
  for (const Region& region : regions) {
    const BlockAddr sentinel = SentinelOf(region.end);
    BlockAddr prev = 0;
    std::size_t prev_size = 0;
    bool prev_free = false;
    BlockAddr block = FirstBlockOf(region.start);
    for (;; block += prev_size) {
      const std::size_t header = Load(block + kHeaderOffset);
      const std::size_t size = header & ~kFlagMask;
      const bool is_free = (header & kFreeBit) != 0;
      if (((header & kPrevFreeBit) != 0) != prev_free) {
        return broken("the prev-free flag of block ", Hex(block),
                      " disagrees with its predecessor ", Hex(prev));
      }
      if (prev_free && Load(block + kPrevPhysOffset) != prev) {
        return broken("the back pointer of block ", Hex(block), " is ",
                      Hex(Load(block + kPrevPhysOffset)),
                      ", not its free predecessor ", Hex(prev));
      }
      if (block == sentinel) {
        if (size != 0 || is_free) {
          return broken("the sentinel at ", Hex(block), " of region ",
                        Describe(region), " is not a used empty block");
        }
        break;
      }
      if (size < kMinBlockSize || size > kMaxBlockSize ||
          size > sentinel - block) {
        return broken("block ", Hex(block), " has size ", size,
                      ", which does not fit region ", Describe(region));
      }
      if (is_free && prev_free && prev_size + size <= kMaxBlockSize) {
        return broken("neighbouring free blocks ", Hex(prev), " and ",
                      Hex(block), " are not merged");
      }
      if (is_free) {
        free_blocks.insert(block);
      } else {
        used += size;
      }
      total += size;
      prev = block;
      prev_size = size;
      prev_free = is_free;
    }
  }
  if (total != total_bytes_) {
    return broken("the blocks add up to ", total, " bytes, TotalBytes() is ",
                  total_bytes_);
  }
  if (used != used_bytes_) {
    return broken("the used blocks add up to ", used, " bytes, UsedBytes() is ",
                  used_bytes_);
  }

  // Each list entry must be a free block found above, seen once: erasing it
  // also stops a cyclic list.
  for (unsigned fl = 0; fl < kFlCount; ++fl) {
    if (((fl_bitmap_ >> fl) & 1) != (sl_bitmaps_[fl] != 0 ? 1u : 0u)) {
      return broken("first-level bit ", fl, " disagrees with its second level");
    }
    for (unsigned sl = 0; sl < kSlCount; ++sl) {
      const List list = fl * kSlCount + sl;
      const BlockAddr head = heads_[list];
      if (((sl_bitmaps_[fl] >> sl) & 1) != (head != 0 ? 1u : 0u)) {
        return broken("bitmap bit (", fl, ", ", sl,
                      ") disagrees with its list");
      }
      // The head's back link is unspecified (see kPrevFreeOffset); every other
      // block's must name its predecessor.
      for (BlockAddr prev = 0, block = head; block != 0;
           prev = block, block = Load(block + kNextFreeOffset)) {
        if (free_blocks.erase(block) == 0) {
          return broken("list (", fl, ", ", sl, ") holds ", Hex(block),
                        ", which is not a free block or is listed twice");
        }
        if (prev != 0 && Load(block + kPrevFreeOffset) != prev) {
          return broken("free block ", Hex(block), " on list (", fl, ", ", sl,
                        ") has a wrong back link");
        }
        const List home = ListFor(SizeOf(block));
        if (home != list) {
          return broken("free block ", Hex(block), " of size ", SizeOf(block),
                        " is on list (", fl, ", ", sl, "), not (",
                        home / kSlCount, ", ", home % kSlCount, ")");
        }
      }
    }
  }
  if ((fl_bitmap_ >> kFlCount) != 0) {
    return broken("first-level bits beyond the last list are set");
  }
  if (!free_blocks.empty()) {
    return broken("free block ", Hex(*free_blocks.begin()), " is on no list");
  }
  return absl::OkStatus();
}

}  // namespace heapkit
