#include "allocators/tlsf/tlsf_byte_allocator.h"

#include <algorithm>
#include <cstdlib>
#include <iterator>
#include <string>

#include "absl/base/attributes.h"
#include "absl/base/internal/raw_logging.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "core/alloc_error.h"

namespace heapkit {
namespace {

std::string Hex(std::uintptr_t value) { return absl::StrFormat("%#x", value); }

std::string Describe(const Region& region) {
  return absl::StrCat("[", Hex(region.start), ", ", Hex(region.end), ")");
}

}  // namespace

void TlsfByteAllocator::Reset() {
  // The largest block lands on the last list, and anything larger on none.
  static_assert(ListFor(kMaxBlockSize) == kListCount - 1);
  static_assert(ListFor(kMaxBlockSize + kGranularity) == kListCount);
  static_assert(ListFor(32) == 2 && ListFor(496) == kSlCount - 1);
  static_assert(ListFor(kSmallSize) == kSlCount);    // (1, 0)
  static_assert(ListFor(1008) == 2 * kSlCount - 1);  // (1, 31)
  static_assert(ListFor(1024) == 2 * kSlCount);      // (2, 0)
  static_assert(ListFor(1056) == 2 * kSlCount + 1);  // (2, 1)
  static_assert(FirstListHolding(496) == ListFor(496));
  static_assert(FirstListHolding(1024) == ListFor(1024));
  static_assert(FirstListHolding(1040) == ListFor(1056));  // Skips (2, 0).
  static_assert(FirstListHolding(1008) == ListFor(1008));
  static_assert(FirstListHolding(2032) == ListFor(2048));  // Next power.
  static_assert(FirstListHolding(kMaxBlockSize) == kListCount);

  std::fill(std::begin(heads_), std::end(heads_), 0);
  std::fill(std::begin(sl_bitmaps_), std::end(sl_bitmaps_), 0u);
  fl_bitmap_ = 0;
  used_bytes_ = 0;
  total_bytes_ = 0;
  region_count_ = 0;
}

absl::Status TlsfByteAllocator::Init(std::uintptr_t start, std::size_t size) {
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
  Region* const table_end = regions_ + region_count_;
  Region* const next = std::upper_bound(
      regions_, table_end, region.start,
      [](std::uintptr_t start, const Region& r) { return start < r.start; });
  Region* const prev = next == regions_ ? nullptr : next - 1;
  const Region* const neighbours[] = {prev, next == table_end ? nullptr : next};
  for (const Region* other : neighbours) {
    if (other != nullptr && other->Overlaps(region)) {
      return MakeError(
          AllocError::kMemoryOverlap,
          absl::StrCat("TlsfByteAllocator::AddMemory: region ",
                       Describe(region), " overlaps the managed region ",
                       Describe(*other)));
    }
  }
  const bool join_prev = prev != nullptr && prev->end == region.start;
  const bool join_next = next != table_end && next->start == region.end;
  if (!join_prev && !join_next && region_count_ == kMaxRegions) {
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
    std::copy(next + 1, table_end, next);
    --region_count_;
  } else if (join_prev) {
    prev->end = region.end;
  } else if (join_next) {
    next->start = region.start;
  } else {
    std::copy_backward(next, table_end, table_end + 1);
    *next = region;
    ++region_count_;
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
    return NoFitError(layout);
  }
  const std::size_t size = BlockSizeFor(layout.size);
  if (layout.align <= kGranularity) {
    const BlockAddr block = TakeFreeBlock(size);
    if (block == 0) return NoFitError(layout);
    return Use(block, size);
  }

  // Every payload is 16-aligned, so the aligned payload lies 0, 16, ...,
  // align - 16 bytes into a free block. Padding of 16 cannot form a block;
  // moving on by `align` makes it align + 16. Searching for size + align + 16
  // bytes therefore always leaves room.
  const std::size_t align = layout.align;
  BlockAddr block = TakeFreeBlock(size + align + kGranularity);
  if (block == 0) return NoFitError(layout);
  const std::uintptr_t payload = block + kPayloadOffset;
  std::size_t padding = ((payload + align - 1) & ~(align - 1)) - payload;
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
  return Use(block, size);
}

absl::Status TlsfByteAllocator::NoFitError(Layout layout) const {
  return MakeError(
      AllocError::kNoMemory,
      absl::StrCat("TlsfByteAllocator::Alloc: no free block fits ", layout.size,
                   " bytes aligned to ", layout.align, " (", AvailableBytes(),
                   " of ", TotalBytes(), " bytes free)"));
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
  if ((reinterpret_cast<std::uintptr_t>(ptr) & kFlagMask) != 0 ||
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
  return absl::OkStatus();
}

void TlsfByteAllocator::CheckLiveBlock(const void* ptr, Layout layout,
                                       const char* who) const {
  const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(ptr);
  const Region* const table_end = regions_ + region_count_;
  const Region* const after = std::upper_bound(
      regions_, table_end, address,
      [](std::uintptr_t a, const Region& r) { return a < r.start; });
  if (after == regions_ || !(after - 1)->Contains(address)) {
    ABSL_RAW_LOG(FATAL, "TlsfByteAllocator::%s(%p): not in a managed region",
                 who, ptr);
    std::abort();
  }
  const Region& region = *(after - 1);
  const BlockAddr block = address - kPayloadOffset;
  const std::size_t size = SizeOf(block);
  if (block < FirstBlockOf(region.start) || size < kMinBlockSize ||
      size > SentinelOf(region.end) - block) {
    ABSL_RAW_LOG(FATAL,
                 "TlsfByteAllocator::%s(%p): no block starts here, or its "
                 "header is corrupt (size %zu)",
                 who, ptr, size);
    std::abort();
  }
  if ((Load(block + size + kHeaderOffset) & kPrevFreeBit) != 0) {
    ABSL_RAW_LOG(FATAL,
                 "TlsfByteAllocator::%s(%p): the next block's header says this "
                 "block is free; the heap is corrupt",
                 who, ptr);
    std::abort();
  }
  if (!layout.IsValid() || layout.size > kMaxAllocSize ||
      BlockSizeFor(layout.size) > size || (address & (layout.align - 1)) != 0) {
    ABSL_RAW_LOG(FATAL,
                 "TlsfByteAllocator::%s(%p): layout (size %zu, align %zu) does "
                 "not match the block of %zu bytes",
                 who, ptr, layout.size, layout.align, size);
    std::abort();
  }
}

void TlsfByteAllocator::ReportBadFree(const void* ptr, const char* what) {
  ABSL_RAW_LOG(FATAL, "TlsfByteAllocator: bad free of %p: %s", ptr, what);
  std::abort();  // RawLog(FATAL) aborts, but is not declared noreturn.
}

absl::Status TlsfByteAllocator::CheckInvariants() const {
  auto broken = [](auto&&... parts) {
    return absl::InternalError(
        absl::StrCat("TlsfByteAllocator invariant broken: ", parts...));
  };

  for (std::size_t i = 0; i < region_count_; ++i) {
    if (regions_[i].end - regions_[i].start < kMinRegionSize) {
      return broken("region ", Describe(regions_[i]), " is too small");
    }
    if (i > 0 && regions_[i - 1].end >= regions_[i].start) {
      return broken("regions ", Describe(regions_[i - 1]), " and ",
                    Describe(regions_[i]),
                    " are out of order, overlap or touch");
    }
  }

  // Walk every run, checking each header against its neighbours before
  // following it, so a corrupt size cannot send the walk astray.
  absl::flat_hash_set<BlockAddr> free_blocks;
  std::size_t total = 0;
  std::size_t used = 0;
  for (std::size_t i = 0; i < region_count_; ++i) {
    const BlockAddr sentinel = SentinelOf(regions_[i].end);
    BlockAddr prev = 0;
    std::size_t prev_size = 0;
    bool prev_free = false;
    BlockAddr block = FirstBlockOf(regions_[i].start);
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
                        Describe(regions_[i]), " is not a used empty block");
        }
        break;
      }
      if (size < kMinBlockSize || size > kMaxBlockSize ||
          size > sentinel - block) {
        return broken("block ", Hex(block), " has size ", size,
                      ", which does not fit region ", Describe(regions_[i]));
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
