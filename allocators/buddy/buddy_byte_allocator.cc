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

// Returns the order of the maximal self-aligned block of [address, end) that
// starts at `address`, at most `max_order`.
int MaximalOrder(std::uintptr_t address, std::uintptr_t end, int max_order) {
  return std::min(
      {std::countr_zero(address), FloorLog2(end - address), max_order});
}

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

void BuddyByteAllocator::SetBit(RegionHeader& region, int order,
                                std::uintptr_t address) {
  const std::size_t index = BitIndex(region, order, address);
  region.free_bits[order][index / 64] |= std::uint64_t{1} << (index % 64);
}

void BuddyByteAllocator::ClearBit(RegionHeader& region, int order,
                                  std::uintptr_t address) {
  const std::size_t index = BitIndex(region, order, address);
  region.free_bits[order][index / 64] &= ~(std::uint64_t{1} << (index % 64));
}

int BuddyByteAllocator::LargestMiddleOrder(const RegionHeader& region) {
  // The middle as Widen would leave it.
  Region middle = region.middle;
  for (int order; (order = ListedOrderEndingAt(region, middle.start)) >= 0;) {
    middle.start -= std::size_t{1} << order;
  }
  for (int order; (order = ListedOrderStartingAt(region, middle.end)) >= 0;) {
    middle.end += std::size_t{1} << order;
  }
  int largest = -1;
  for (std::uintptr_t address = middle.start; address < middle.end;) {
    const int order = MaximalOrder(address, middle.end, region.max_order);
    largest = std::max(largest, order);
    address += std::size_t{1} << order;
  }
  return largest;
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
  last_region_ = nullptr;
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
  region->middle = region->usable;
  region->free_bits.fill(nullptr);
  auto* words = reinterpret_cast<std::uint64_t*>(region + 1);
  for (int order = kMinOrder; order <= region->max_order; ++order) {
    const std::size_t count = WordsFor(BitsFor(first, meta_start, order));
    std::memset(words, 0, count * 8);
    region->free_bits[order] = words;
    words += count;
  }

  regions_.Insert(region);  // Not full and no overlap: checked above.

  // Cut the usable range into maximal self-aligned blocks, all in the free
  // middle: in the bitmaps, on no list, and not written.
  for (std::uintptr_t address = first; meta_start - address >= kMinBlockSize;) {
    const int order = MaximalOrder(address, meta_start, region->max_order);
    SetBit(*region, order, address);
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
  std::uintptr_t address;
  if (candidates != 0) {
    int found = std::countr_zero(candidates);
    address = reinterpret_cast<std::uintptr_t>(free_lists_[found]);
    RegionHeader& region = *RegionOf(address);
    Unlink(region, address, found);
    while (found > order) {  // Split, keeping the lower half each time.
      --found;
      Push(region, address + (std::uintptr_t{1} << found), found);
    }
  } else {
    address = Carve(order);
    if (address == 0) return NoFitError();
  }
  used_bytes_ += std::size_t{1} << order;
  internal::UnpoisonMemory(reinterpret_cast<void*>(address), layout.size);
  return reinterpret_cast<void*>(address);
}

void BuddyByteAllocator::Dealloc(void* ptr, Layout layout) {
  if (ptr == nullptr) return;
  int order = OrderFor(layout);
  auto address = reinterpret_cast<std::uintptr_t>(ptr);
  RegionHeader* region = RegionOf(address);
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
  bool already_free = InMiddle(*region, address);
  for (int above = order; !already_free && above <= checked_orders; ++above) {
    const std::uintptr_t holder = AlignDown(address, std::size_t{1} << above);
    already_free = InUsable(*region, holder) && TestBit(*region, above, holder);
  }
  if (already_free) {
    internal::Fatal("BuddyByteAllocator::Dealloc: double free of %p (size %zu)",
                    ptr, layout.size);
  }
  internal::PoisonMemory(ptr, std::size_t{1} << order);
  used_bytes_ -= std::size_t{1} << order;
  Release(*region, address, order);
}

void BuddyByteAllocator::Release(RegionHeader& region, std::uintptr_t address,
                                 int order) {
  // Merge with listed buddies, upwards. A buddy in the free middle stays
  // there: merging with it here would undo Carve's splits on every free of a
  // block at the middle's edge, and Widen merges them when a request needs it.
  while (order < region.max_order) {
    const std::size_t block_size = std::size_t{1} << order;
    const std::uintptr_t buddy = address ^ block_size;
    if (buddy < region.usable.start || region.usable.end - buddy < block_size ||
        InMiddle(region, buddy) || !TestBit(region, order, buddy)) {
      break;
    }
    Unlink(region, buddy, order);
    address &= ~block_size;
    ++order;
  }
  Push(region, address, order);
}

std::uintptr_t BuddyByteAllocator::Carve(int order) {
  // First from the middles as they are; before failing, from the middles
  // widened by the listed blocks that border them.
  for (const bool widen : {false, true}) {
    for (RegionHeader* region : regions_.Entries()) {
      if (widen) Widen(*region);
      if (const std::uintptr_t block = CarveFrom(*region, order)) return block;
    }
  }
  return 0;
}

std::uintptr_t BuddyByteAllocator::CarveFrom(RegionHeader& region, int order) {
  const Region middle = region.middle;
  const std::size_t size = std::size_t{1} << order;
  if (order > region.max_order || middle.size() < size) return 0;
  // The lowest fitting block, and for a large request the highest one.
  const std::uintptr_t low = AlignUp(middle.start, size);
  const bool low_fits =
      low >= middle.start && low <= middle.end && middle.end - low >= size;
  const std::uintptr_t high_end = AlignDown(middle.end, size);
  const bool high_fits = order >= kLargeOrder && high_end >= size &&
                         high_end - size >= middle.start;
  // Best fit between the two ends: the middle block holding `low` starts
  // there, the one holding the high block ends at high_end.
  if (high_fits &&
      (!low_fits || MaximalOrder(low, middle.end, region.max_order) >
                        HighBlockOrder(region, high_end))) {
    CarveHigh(region, high_end - size, order);
    return high_end - size;
  }
  if (!low_fits) return 0;
  CarveLow(region, low, order);
  return low;
}

void BuddyByteAllocator::Widen(RegionHeader& region) {
  Region& middle = region.middle;
  for (int order; (order = ListedOrderEndingAt(region, middle.start)) >= 0;) {
    const std::uintptr_t address = middle.start - (std::size_t{1} << order);
    Delink(address, order);
    Absorb(region, address, order);
  }
  for (int order; (order = ListedOrderStartingAt(region, middle.end)) >= 0;) {
    Delink(middle.end, order);
    Absorb(region, middle.end, order);
  }
}

void BuddyByteAllocator::Absorb(RegionHeader& region, std::uintptr_t address,
                                int order) {
  Region& middle = region.middle;
  ClearBit(region, order, address);
  while (order < region.max_order) {  // Merge with the middle's blocks.
    const std::size_t block_size = std::size_t{1} << order;
    const std::uintptr_t buddy = address ^ block_size;
    if (!InMiddle(region, buddy) || !TestBit(region, order, buddy)) break;
    ClearBit(region, order, buddy);
    address &= ~block_size;
    ++order;
  }
  SetBit(region, order, address);
  // Not std::min and std::max: they would read the poisoned header through
  // references, in code ASan instruments.
  const std::uintptr_t end = address + (std::size_t{1} << order);
  if (address < middle.start) middle.start = address;
  if (end > middle.end) middle.end = end;
}

int BuddyByteAllocator::ListedOrderEndingAt(const RegionHeader& region,
                                            std::uintptr_t end) {
  const int most = std::min(std::countr_zero(end), int{region.max_order});
  for (int order = kMinOrder; order <= most; ++order) {
    const std::size_t block_size = std::size_t{1} << order;
    if (end - region.usable.start < block_size) break;
    if (TestBit(region, order, end - block_size)) return order;
  }
  return -1;
}

int BuddyByteAllocator::ListedOrderStartingAt(const RegionHeader& region,
                                              std::uintptr_t start) {
  const int most = std::min(std::countr_zero(start), int{region.max_order});
  for (int order = kMinOrder; order <= most; ++order) {
    if (region.usable.end - start < std::size_t{1} << order) break;
    if (TestBit(region, order, start)) return order;
  }
  return -1;
}

int BuddyByteAllocator::HighBlockOrder(const RegionHeader& region,
                                       std::uintptr_t end) {
  int order = std::min(std::countr_zero(end), int{region.max_order});
  while (end - region.middle.start < (std::size_t{1} << order)) --order;
  return order;
}

void BuddyByteAllocator::CarveLow(RegionHeader& region, std::uintptr_t address,
                                  int order) {
  Region& middle = region.middle;
  // The middle's blocks below `address`, each smaller than `order`, leave it
  // one by one, upwards, and go to the lists merged with listed buddies.
  while (middle.start < address) {
    const std::uintptr_t gap = middle.start;
    const int gap_order = std::countr_zero(gap);
    middle.start += std::size_t{1} << gap_order;
    ClearBit(region, gap_order, gap);
    Release(region, gap, gap_order);
  }
  // Split the block at `address`, keeping the lower half each time.
  int split = MaximalOrder(address, middle.end, region.max_order);
  ClearBit(region, split, address);
  while (split > order) {
    --split;
    SetBit(region, split, address + (std::size_t{1} << split));
  }
  middle.start = address + (std::size_t{1} << order);
}

void BuddyByteAllocator::CarveHigh(RegionHeader& region, std::uintptr_t address,
                                   int order) {
  Region& middle = region.middle;
  const std::uintptr_t end = address + (std::size_t{1} << order);
  // The middle's blocks above `end`, each smaller than `order`, leave it one
  // by one, downwards, and go to the lists merged with listed buddies.
  while (middle.end > end) {
    const int gap_order = std::countr_zero(middle.end - end);
    middle.end -= std::size_t{1} << gap_order;
    ClearBit(region, gap_order, middle.end);
    Release(region, middle.end, gap_order);
  }
  // Split the block ending at `end`, keeping the upper half each time.
  int split = HighBlockOrder(region, end);
  ClearBit(region, split, end - (std::size_t{1} << split));
  while (split > order) {
    --split;
    SetBit(region, split, end - (std::size_t{2} << split));
  }
  middle.end = address;
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

void BuddyByteAllocator::Link(std::uintptr_t address, int order) {
  auto* block = reinterpret_cast<FreeBlock*>(address);
  block->next = free_lists_[order];
  block->prev = nullptr;
  if (block->next != nullptr) block->next->prev = block;
  free_lists_[order] = block;
  nonempty_orders_ |= std::uint64_t{1} << order;
}

void BuddyByteAllocator::Delink(std::uintptr_t address, int order) {
  auto* block = reinterpret_cast<FreeBlock*>(address);
  if (block->prev != nullptr) {
    block->prev->next = block->next;
  } else {
    free_lists_[order] = block->next;
    if (block->next == nullptr)
      nonempty_orders_ &= ~(std::uint64_t{1} << order);
  }
  if (block->next != nullptr) block->next->prev = block->prev;
}

void BuddyByteAllocator::Push(RegionHeader& region, std::uintptr_t address,
                              int order) {
  Link(address, order);
  SetBit(region, order, address);
}

void BuddyByteAllocator::Unlink(RegionHeader& region, std::uintptr_t address,
                                int order) {
  Delink(address, order);
  ClearBit(region, order, address);
}

std::size_t BuddyByteAllocator::LargestFreeBlock() const {
  int largest = nonempty_orders_ == 0 ? -1 : FloorLog2(nonempty_orders_);
  for (const RegionHeader* region : regions_.Entries()) {
    largest = std::max(largest, LargestMiddleOrder(*region));
  }
  return largest < 0 ? 0 : std::size_t{1} << largest;
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
    // A copy: Region's methods are instrumented, and the header is poisoned.
    const Region middle = region != nullptr ? region->middle : Region{};
    if (block->prev != prev) {
      return absl::InternalError(
          absl::StrCat("buddy: broken prev link in list ", order));
    }
    if (region == nullptr || !IsAligned(address, block_size) ||
        order > region->max_order ||
        region->usable.end - address < block_size ||
        // An empty middle may lie inside a listed block: two listed
        // buddies on either side of it merged.
        (middle.size() != 0 &&
         middle.Overlaps(Region{address, address + block_size}))) {
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
        region->usable.end - buddy >= block_size && !InMiddle(*region, buddy) &&
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
  // Each free middle is free, as its maximal self-aligned blocks.
  for (const RegionHeader* header : regions_.Entries()) {
    const RegionHeader& region = *header;
    const Region middle = region.middle;
    if (middle.start < region.usable.start || middle.end > region.usable.end ||
        middle.start > middle.end || !IsAligned(middle.start, kMinBlockSize) ||
        !IsAligned(middle.end, kMinBlockSize)) {
      return absl::InternalError(
          absl::StrCat("buddy: free middle [", Hex(middle.start), ", ",
                       Hex(middle.end), ") is misplaced"));
    }
    for (std::uintptr_t address = middle.start; address < middle.end;) {
      const int order = MaximalOrder(address, middle.end, region.max_order);
      if (!TestBit(region, order, address)) {
        return absl::InternalError(absl::StrCat("buddy: block ", Hex(address),
                                                " of order ", order,
                                                " in the free middle has no "
                                                "bitmap bit"));
      }
      free_bytes += std::size_t{1} << order;
      ++blocks;
      address += std::size_t{1} << order;
    }
  }
  // Every set bit is a listed block or one of a middle (bits == blocks),
  // and free blocks never overlap.
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
        "buddy: ", bits, " bitmap bits for ", blocks, " free blocks"));
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
