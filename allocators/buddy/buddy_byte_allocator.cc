#include "allocators/buddy/buddy_byte_allocator.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/alloc_error.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"
#include "core/internal/hex.h"

namespace heapkit {
namespace {

// Returns Alloc's kNoMemory when no block is free: one status built once and
// then copied (a reference count), so that a failed Alloc costs a bounded few
// dozen instructions and does not allocate. Only the first failure in the
// process builds it, which allocates: not AddMemory, which the malloc
// replacement calls while it builds its heap, when nothing may allocate.
absl::Status NoFitError() {
  static const absl::Status* const kNoFit = new absl::Status(
      MakeError(AllocError::kNoMemory,
                "BuddyByteAllocator: no free block is large enough"));
  return *kNoFit;
}

using internal::AlignDown;
using internal::AlignUp;
using internal::FloorLog2;
using internal::Hex;
using internal::IsAligned;

// Returns the number of blocks of `order` that can start in [start, end).
constexpr std::size_t BitsFor(std::uintptr_t start, std::uintptr_t end,
                              int order) {
  return ((end - 1) >> order) - (start >> order) + 1;
}

constexpr std::size_t WordsFor(std::size_t bits) { return (bits + 63) / 64; }

}  // namespace

#ifdef HEAPKIT_HAVE_ASAN
BuddyByteAllocator::~BuddyByteAllocator() {
  for (const Region& region : asan_regions_.Entries()) {
    internal::UnpoisonRegion(reinterpret_cast<const void*>(region.start),
                             region.size());
  }
}
#endif

int BuddyByteAllocator::OrderFor(Layout layout) {
  const int size_order =
      internal::CeilLog2(std::max<std::size_t>(layout.size, 1));
  const int align_order = std::countr_zero(layout.align);
  return std::max({size_order, align_order, kMinOrder});
}

bool BuddyByteAllocator::TestBit(const RegionHeader& region, int order,
                                 std::uintptr_t address) {
  const std::size_t index = BitIndex(region, order, address);
  return (region.free_bits[order][index / 64] >> (index % 64)) & 1;
}

absl::Status BuddyByteAllocator::Init(std::uintptr_t start, std::size_t size) {
#ifdef HEAPKIT_HAVE_ASAN
  for (const Region& region : asan_regions_.Entries()) {
    internal::UnpoisonRegion(reinterpret_cast<const void*>(region.start),
                             region.size());
  }
  asan_regions_.Clear();
#endif
  free_lists_.fill(nullptr);
  nonempty_orders_ = 0;
  regions_.Clear();
  total_bytes_ = 0;
  used_bytes_ = 0;
  return AddMemory(start, size);
}

absl::Status BuddyByteAllocator::AddMemory(std::uintptr_t start,
                                           std::size_t size) {
  absl::StatusOr<Region> whole =
      CheckRegion(start, size, 1, "BuddyByteAllocator");
  if (!whole.ok()) return whole.status();
  if (regions_.FindOverlap(*whole) != nullptr) {
    return MakeError(AllocError::kMemoryOverlap,
                     "BuddyByteAllocator: region overlaps a managed region");
  }
  if (regions_.full()) {
    return MakeError(AllocError::kNoMemory,
                     absl::StrCat("BuddyByteAllocator: region table is full (",
                                  kMaxRegions, " regions)"));
  }

  // Size the metadata for the whole region (a slight overestimate of what the
  // usable part needs), then place it at the end. Rounding a start in the last
  // 16 bytes of the address space up wraps to 0: `first < whole->start` below
  // rejects that region.
  const std::uintptr_t first = std::max(AlignUp(whole->start, kMinBlockSize),
                                        std::uintptr_t{kMinBlockSize});
  std::size_t meta_bytes = sizeof(RegionHeader);
  const int whole_max_order = std::min(kMaxOrder, FloorLog2(whole->size()));
  for (int order = kMinOrder; order <= whole_max_order; ++order) {
    meta_bytes += 8 * WordsFor(BitsFor(whole->start, whole->end, order));
  }
  const std::uintptr_t meta_start =
      whole->size() > meta_bytes
          ? AlignDown(whole->end - meta_bytes, kMinBlockSize)
          : 0;
  if (first < whole->start || meta_start <= first ||
      meta_start - first < kMinBlockSize) {
    return MakeError(
        AllocError::kInvalidParam,
        absl::StrCat("BuddyByteAllocator: region of ", size,
                     " bytes is too small for a block and its metadata (",
                     meta_bytes, " bytes)"));
  }

  auto* region = reinterpret_cast<RegionHeader*>(meta_start);
  // Under ASan, the metadata is written unpoisoned and the whole region
  // poisoned at the end.
  internal::UnpoisonMemory(region, start + size - meta_start);
  region->whole = *whole;
  region->usable = Region{first, meta_start};
  region->max_order = std::min(kMaxOrder, FloorLog2(meta_start - first));
  region->free_bits.fill(nullptr);
  auto* words = reinterpret_cast<std::uint64_t*>(region + 1);
  for (int order = kMinOrder; order <= region->max_order; ++order) {
    const std::size_t count = WordsFor(BitsFor(first, meta_start, order));
    std::memset(words, 0, count * 8);
    region->free_bits[order] = words;
    words += count;
  }

  regions_.Insert(region);  // Not full and no overlap: checked above.

  // Cut the usable range into maximal self-aligned blocks.
  for (std::uintptr_t address = first; meta_start - address >= kMinBlockSize;) {
    const int order =
        std::min({std::countr_zero(address), FloorLog2(meta_start - address),
                  region->max_order});
    Push(*region, address, order);
    total_bytes_ += std::size_t{1} << order;
    address += std::size_t{1} << order;
  }
  internal::PoisonMemory(reinterpret_cast<const void*>(start), size);
#ifdef HEAPKIT_HAVE_ASAN
  asan_regions_.Insert(*whole);  // As roomy as regions_, and as disjoint.
#endif
  return absl::OkStatus();
}

absl::StatusOr<void*> BuddyByteAllocator::Alloc(Layout layout) {
  if (!layout.IsValid()) {
    return MakeError(
        AllocError::kInvalidParam,
        "BuddyByteAllocator: alignment is not a power of two or the "
        "size overflows when rounded up");
  }
  if (layout.size > kMaxBlockSize || layout.align > kMaxBlockSize) {
    return MakeError(
        AllocError::kNoMemory,
        "BuddyByteAllocator: request exceeds the largest block size");
  }
  const int order = OrderFor(layout);
  const std::uint64_t candidates = nonempty_orders_ >> order << order;
  if (candidates == 0) {
    return NoFitError();
  }
  int found = std::countr_zero(candidates);
  const auto address = reinterpret_cast<std::uintptr_t>(free_lists_[found]);
  RegionHeader& region = *FindRegion(address);
  Unlink(region, address, found);
  while (found > order) {  // Split, keeping the lower half each time.
    --found;
    Push(region, address + (std::uintptr_t{1} << found), found);
  }
  used_bytes_ += std::size_t{1} << order;
  internal::UnpoisonMemory(reinterpret_cast<void*>(address), layout.size);
  return reinterpret_cast<void*>(address);
}

void BuddyByteAllocator::Dealloc(void* ptr, Layout layout) {
  if (ptr == nullptr) return;
  int order = OrderFor(layout);
  auto address = reinterpret_cast<std::uintptr_t>(ptr);
  RegionHeader* region = FindRegion(address);
  if (region == nullptr || !IsAligned(address, std::size_t{1} << order) ||
      order > region->max_order) {
    internal::Fatal(
        "BuddyByteAllocator::Dealloc: %p (size %zu, align %zu) is not a "
        "block of this allocator",
        ptr, layout.size, layout.align);
  }
#ifdef NDEBUG
  const int checked_orders =
      order;  // Only the block's own order: one bit test.
#else
  const int checked_orders = region->max_order;  // Any free block holding it.
#endif
  for (int above = order; above <= checked_orders; ++above) {
    const std::uintptr_t holder = AlignDown(address, std::size_t{1} << above);
    if (InUsable(*region, holder) && TestBit(*region, above, holder)) {
      internal::Fatal(
          "BuddyByteAllocator::Dealloc: double free of %p (size %zu)", ptr,
          layout.size);
    }
  }
  internal::PoisonMemory(ptr, std::size_t{1} << order);
  used_bytes_ -= std::size_t{1} << order;
  while (order < region->max_order) {  // Merge with free buddies, upwards.
    const std::size_t block_size = std::size_t{1} << order;
    const std::uintptr_t buddy = address ^ block_size;
    if (buddy < region->usable.start ||
        region->usable.end - buddy < block_size ||
        !TestBit(*region, order, buddy)) {
      break;
    }
    Unlink(*region, buddy, order);
    address &= ~block_size;
    ++order;
  }
  Push(*region, address, order);
}

BuddyByteAllocator::RegionHeader* BuddyByteAllocator::FindRegion(
    std::uintptr_t address) const {
  // On the Dealloc path: one binary search over at most kMaxRegions entries,
  // then two compares for the usable part (the metadata at the end and any
  // slack at the start hold no blocks).
  RegionHeader* const* region = regions_.Find(address);
  if (region == nullptr || !InUsable(**region, address)) return nullptr;
  return *region;
}

void BuddyByteAllocator::Push(RegionHeader& region, std::uintptr_t address,
                              int order) {
  auto* block = reinterpret_cast<FreeBlock*>(address);
  block->next = free_lists_[order];
  block->prev = nullptr;
  if (block->next != nullptr) block->next->prev = block;
  free_lists_[order] = block;
  nonempty_orders_ |= std::uint64_t{1} << order;
  const std::size_t index = BitIndex(region, order, address);
  region.free_bits[order][index / 64] |= std::uint64_t{1} << (index % 64);
}

void BuddyByteAllocator::Unlink(RegionHeader& region, std::uintptr_t address,
                                int order) {
  auto* block = reinterpret_cast<FreeBlock*>(address);
  if (block->prev != nullptr) {
    block->prev->next = block->next;
  } else {
    free_lists_[order] = block->next;
    if (block->next == nullptr)
      nonempty_orders_ &= ~(std::uint64_t{1} << order);
  }
  if (block->next != nullptr) block->next->prev = block->prev;
  const std::size_t index = BitIndex(region, order, address);
  region.free_bits[order][index / 64] &= ~(std::uint64_t{1} << (index % 64));
}

std::size_t BuddyByteAllocator::LargestFreeBlock() const {
  return nonempty_orders_ == 0 ? 0
                               : std::size_t{1} << FloorLog2(nonempty_orders_);
}

absl::Status BuddyByteAllocator::CheckFreeList(int order,
                                               std::size_t& free_bytes,
                                               std::size_t& blocks) const {
  const std::size_t block_size = std::size_t{1} << order;
  const FreeBlock* prev = nullptr;
  for (const FreeBlock* block = free_lists_[order]; block != nullptr;
       prev = block, block = block->next) {
    const auto address = reinterpret_cast<std::uintptr_t>(block);
    const RegionHeader* region = FindRegion(address);
    if (block->prev != prev) {
      return absl::InternalError(
          absl::StrCat("buddy: broken prev link in list ", order));
    }
    if (region == nullptr || !IsAligned(address, block_size) ||
        order > region->max_order ||
        region->usable.end - address < block_size) {
      return absl::InternalError(absl::StrCat("buddy: free block ",
                                              Hex(address), " of order ", order,
                                              " is misplaced"));
    }
    if (!TestBit(*region, order, address)) {
      return absl::InternalError(absl::StrCat("buddy: free block ",
                                              Hex(address), " of order ", order,
                                              " has no bitmap bit"));
    }
    const std::uintptr_t buddy = address ^ block_size;
    if (order < region->max_order && buddy >= region->usable.start &&
        region->usable.end - buddy >= block_size &&
        TestBit(*region, order, buddy)) {
      return absl::InternalError(absl::StrCat("buddy: free buddies ",
                                              Hex(address), " and ", Hex(buddy),
                                              " left unmerged"));
    }
    free_bytes += block_size;
    ++blocks;
  }
  if ((free_lists_[order] != nullptr) != ((nonempty_orders_ >> order) & 1)) {
    return absl::InternalError(
        absl::StrCat("buddy: nonempty mask disagrees with list ", order));
  }
  return absl::OkStatus();
}

absl::Status BuddyByteAllocator::CheckInvariants() const {
  std::size_t free_bytes = 0;
  std::size_t blocks = 0;
  for (int order = 0; order < kNumOrders; ++order) {
    if (order < kMinOrder && free_lists_[order] != nullptr) {
      return absl::InternalError("buddy: block below the minimum order");
    }
    if (absl::Status status = CheckFreeList(order, free_bytes, blocks);
        !status.ok()) {
      return status;
    }
  }
  if (!regions_.IsSortedAndDisjoint()) {
    return absl::InternalError(
        "buddy: region table is not sorted and disjoint");
  }
  // Every set bit is a listed block (bits == blocks), and listed blocks never
  // overlap.
  std::size_t bits = 0;
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> free_ranges;
  for (const RegionHeader* header : regions_.Entries()) {
    const RegionHeader& region = *header;
    for (int order = kMinOrder; order <= region.max_order; ++order) {
      const std::size_t words =
          WordsFor(BitsFor(region.usable.start, region.usable.end, order));
      for (std::size_t word = 0; word < words; ++word) {
        for (std::uint64_t set = region.free_bits[order][word]; set != 0;
             set &= set - 1) {
          ++bits;
          const std::size_t index = word * 64 + std::countr_zero(set);
          const std::uintptr_t start = ((region.usable.start >> order) + index)
                                       << order;
          free_ranges.emplace_back(start, start + (std::size_t{1} << order));
        }
      }
    }
  }
  if (bits != blocks) {
    return absl::InternalError(absl::StrCat(
        "buddy: ", bits, " bitmap bits for ", blocks, " listed free blocks"));
  }
  std::sort(free_ranges.begin(), free_ranges.end());
  for (std::size_t i = 1; i < free_ranges.size(); ++i) {
    if (free_ranges[i].first < free_ranges[i - 1].second) {
      return absl::InternalError("buddy: free blocks overlap");
    }
  }
  if (free_bytes + used_bytes_ != total_bytes_) {
    return absl::InternalError(absl::StrCat("buddy: free ", free_bytes,
                                            " + used ", used_bytes_,
                                            " != total ", total_bytes_));
  }
  return absl::OkStatus();
}

}  // namespace heapkit
