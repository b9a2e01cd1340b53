#ifndef HEAPKIT_ALLOCATORS_BUDDY_BUDDY_BYTE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_BUDDY_BUDDY_BYTE_ALLOCATOR_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/byte_allocator.h"
#include "core/internal/asan.h"
#include "core/internal/region_table.h"
#include "core/layout.h"
#include "core/region.h"

namespace heapkit {

// A binary buddy allocator over any number of regions.
//
// Every block is a power of two of at least kMinBlockSize bytes, aligned to its
// own size; a request takes the block of max(next power of two of size, align,
// kMinBlockSize). Each region keeps, at its end, one bitmap per order whose bit
// says "a free block of this order starts here": that is how Dealloc finds out
// in O(1) whether a block's buddy is free, so Alloc and Dealloc are O(log n)
// (at most one split or merge per order), with no list scan.
//
// Placement stays compact. Each region keeps a free middle: a range that is
// in the bitmaps as its maximal self-aligned blocks but on no list, and that
// starts as the whole region. Free blocks outside it sit on one doubly linked
// list per order, threaded through the blocks. Alloc takes the smallest listed
// block that fits (LIFO within an order, splitting it); only when none fits
// does it carve a block out of the middle of the lowest region that has room:
// from the middle's low end, or, for a block of kLargeBlockSize or more, from
// whichever end holds the smaller fitting block (best fit, so large aligned
// blocks still pack). Dealloc merges a block with its listed buddies only, so
// a block freed at the middle's edge is reused as it is, not merged and split
// again; before a request fails, Carve widens the middles with the listed
// blocks that border them, merging them back. So the blocks in use gather at
// the region's start like a stack (large ones also at its end), the middle is
// never written (in a lazily committed region it stays unfaulted), and a
// request still fails only when no free block of its order or larger exists
// once merged.
//
// Metadata: a header of ~300 bytes plus bitmaps of about 1/64 of the region
// (1.6%), all placed at the region's end so a self-aligned region keeps its
// largest block. Regions are split into maximal self-aligned blocks; one that
// starts at address 0 gives up its first kMinBlockSize bytes so that no block
// is ever at address 0.
//
// Limits: blocks up to kMaxBlockSize; up to kMaxRegions regions (AddMemory
// beyond that returns kNoMemory). TotalBytes() counts the bytes in blocks
// (metadata and the slack of unaligned region edges excluded); UsedBytes()
// counts live blocks at their rounded power-of-two size.
//
// AddressSanitizer. Under ASan (core/internal/asan.h) the regions, metadata
// included, are poisoned except [ptr, ptr + layout.size) of each live block,
// and they are returned unpoisoned when the allocator is destroyed or
// re-Init'ed.
class BuddyByteAllocator final : public ByteAllocator {
 public:
  static constexpr int kMinOrder = 4;
  static constexpr int kMaxOrder = 40;
  static constexpr std::size_t kMinBlockSize = std::size_t{1} << kMinOrder;
  static constexpr std::size_t kMaxBlockSize = std::size_t{1} << kMaxOrder;
  static constexpr std::size_t kMaxRegions = 64;
  // Blocks this large may come from the high end of a region's middle (see
  // above): glibc's threshold for serving a request with its own mapping.
  static constexpr int kLargeOrder = 17;
  static constexpr std::size_t kLargeBlockSize = std::size_t{1} << kLargeOrder;

  BuddyByteAllocator() = default;
#ifdef HEAPKIT_HAVE_ASAN
  // Unpoisons the managed regions (ASan builds only; see the class comment).
  ~BuddyByteAllocator() override;
#endif

  absl::Status Init(std::uintptr_t start, std::size_t size) override;
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override;
  absl::StatusOr<void*> Alloc(Layout layout) override;
  // Frees the block at `ptr`, allocated with `layout`, and merges it with
  // its listed free buddies (see the class comment). Aborts (internal::Fatal)
  // if `ptr` cannot be a block of this allocator of that layout, or on a double
  // free it can see. Every build tests the block's own free bit (one load) and
  // its region's free middle: that catches a second free while the block is
  // still free as it was freed, or once it is in the middle. Builds without
  // NDEBUG also test every larger order, catching a second free after the block
  // merged into a larger free one; in release builds that one corrupts the free
  // lists.
  HEAPKIT_NO_SANITIZE_ADDRESS void Dealloc(void* ptr, Layout layout) override;
  std::size_t TotalBytes() const override { return total_bytes_; }
  std::size_t UsedBytes() const override { return used_bytes_; }

  // Returns the size of the largest free block (0 if none).
  std::size_t LargestFreeBlock() const;

  // Walks every free list and region bitmap and returns OK, or an InternalError
  // naming the first broken invariant: list links, block alignment and bounds,
  // listed blocks outside their region's free middle, bitmap bits agreeing with
  // list membership and with the middle's blocks, no overlapping free blocks,
  // no free pair of buddies left unmerged, and free bytes == TotalBytes() -
  // UsedBytes(). Takes time linear in the number of free blocks and bitmap
  // words: for tests.
  HEAPKIT_NO_SANITIZE_ADDRESS absl::Status CheckInvariants() const;

 private:
  static constexpr int kNumOrders = kMaxOrder + 1;

  struct FreeBlock {
    FreeBlock* next;
    FreeBlock* prev;
  };

  // Lives at the end of its region, followed by the bitmap words.
  struct RegionHeader {
    Region whole;   // What the caller handed over, metadata included.
    Region usable;  // Where blocks live.
    int max_order;  // The largest order a block of this region can have.
    // Free, in the bitmaps as its maximal self-aligned blocks, on no list, and
    // never written while it is here. No listed block overlaps it.
    Region middle;
    std::array<std::uint64_t*, kNumOrders> free_bits;  // Null above max_order.
  };
  // Keys the region table by what the caller handed over, not by where blocks
  // live: the overlap check must cover the metadata and edge slack too, and
  // FindRegion narrows a hit to `usable` itself.
  struct WholeRegion {
    HEAPKIT_NO_SANITIZE_ADDRESS Region
    operator()(const RegionHeader* header) const {
      return header->whole;
    }
  };

  // Every function below that reads or writes a region header, a bitmap or a
  // free block's links is HEAPKIT_NO_SANITIZE_ADDRESS: under ASan all of them
  // are poisoned (see the class comment). So are Dealloc and CheckInvariants.

  static int OrderFor(Layout layout);
  // Returns the index of `address`'s block of `order` in its region's bitmap.
  HEAPKIT_NO_SANITIZE_ADDRESS static std::size_t BitIndex(
      const RegionHeader& region, int order, std::uintptr_t address) {
    return (address >> order) - (region.usable.start >> order);
  }
  // Returns region.usable.Contains(address), reading the header directly:
  // under ASan the header is poisoned and Region::Contains is instrumented.
  HEAPKIT_NO_SANITIZE_ADDRESS static bool InUsable(const RegionHeader& region,
                                                   std::uintptr_t address) {
    return address >= region.usable.start && address < region.usable.end;
  }
  // Returns region.middle.Contains(address), likewise.
  HEAPKIT_NO_SANITIZE_ADDRESS static bool InMiddle(const RegionHeader& region,
                                                   std::uintptr_t address) {
    return address >= region.middle.start && address < region.middle.end;
  }
  HEAPKIT_NO_SANITIZE_ADDRESS static bool TestBit(const RegionHeader& region,
                                                  int order,
                                                  std::uintptr_t address);
  HEAPKIT_NO_SANITIZE_ADDRESS static void SetBit(RegionHeader& region,
                                                 int order,
                                                 std::uintptr_t address);
  HEAPKIT_NO_SANITIZE_ADDRESS static void ClearBit(RegionHeader& region,
                                                   int order,
                                                   std::uintptr_t address);
  // Returns the order of the largest block of the region's middle once
  // widened (see Widen), or -1.
  HEAPKIT_NO_SANITIZE_ADDRESS static int LargestMiddleOrder(
      const RegionHeader& region);
  // Returns the order of the block of the region's middle that ends at `end`,
  // which must end one.
  HEAPKIT_NO_SANITIZE_ADDRESS static int HighBlockOrder(
      const RegionHeader& region, std::uintptr_t end);

  // Returns the region whose usable range holds `address`, or null.
  HEAPKIT_NO_SANITIZE_ADDRESS RegionHeader* FindRegion(
      std::uintptr_t address) const;
  // Returns FindRegion(address), trying the region it returned last first:
  // with one region, or a run of calls in one, that skips the search.
  HEAPKIT_NO_SANITIZE_ADDRESS RegionHeader* RegionOf(std::uintptr_t address) {
    if (last_region_ != nullptr && InUsable(*last_region_, address)) {
      return last_region_;
    }
    RegionHeader* const region = FindRegion(address);
    if (region != nullptr) last_region_ = region;
    return region;
  }
  // Takes a block of `order` out of the free middle of the lowest region that
  // has room, widening the middles before it gives up (see the class
  // comment), and returns its address, or 0 if none has room (no block is at
  // address 0).
  HEAPKIT_NO_SANITIZE_ADDRESS std::uintptr_t Carve(int order);
  // Takes a block of `order` out of the region's middle, or returns 0.
  HEAPKIT_NO_SANITIZE_ADDRESS std::uintptr_t CarveFrom(RegionHeader& region,
                                                       int order);
  // Moves the listed blocks that border the region's middle into it.
  HEAPKIT_NO_SANITIZE_ADDRESS void Widen(RegionHeader& region);
  // Adds the free block at `address`, which borders the middle and is on no
  // list, to the middle, merging it with the middle's blocks.
  HEAPKIT_NO_SANITIZE_ADDRESS static void Absorb(RegionHeader& region,
                                                 std::uintptr_t address,
                                                 int order);
  // Returns the order of the listed block that ends (starts) at the address,
  // or -1 if none does.
  HEAPKIT_NO_SANITIZE_ADDRESS static int ListedOrderEndingAt(
      const RegionHeader& region, std::uintptr_t end);
  HEAPKIT_NO_SANITIZE_ADDRESS static int ListedOrderStartingAt(
      const RegionHeader& region, std::uintptr_t start);
  // Carve's two ends: each moves the maximal blocks of the middle between its
  // end and the block onto the lists, splits the middle block holding
  // [address, address + 2^order), and narrows the middle past it.
  HEAPKIT_NO_SANITIZE_ADDRESS void CarveLow(RegionHeader& region,
                                            std::uintptr_t address, int order);
  HEAPKIT_NO_SANITIZE_ADDRESS void CarveHigh(RegionHeader& region,
                                             std::uintptr_t address, int order);
  // Merges the free block at `address`, whose bit is clear, with its listed
  // buddies and pushes the result.
  HEAPKIT_NO_SANITIZE_ADDRESS void Release(RegionHeader& region,
                                           std::uintptr_t address, int order);
  // Link and Delink move a block on or off its list; Push and Unlink also set
  // and clear its bit.
  HEAPKIT_NO_SANITIZE_ADDRESS void Link(std::uintptr_t address, int order);
  HEAPKIT_NO_SANITIZE_ADDRESS void Delink(std::uintptr_t address, int order);
  HEAPKIT_NO_SANITIZE_ADDRESS void Push(RegionHeader& region,
                                        std::uintptr_t address, int order);
  HEAPKIT_NO_SANITIZE_ADDRESS void Unlink(RegionHeader& region,
                                          std::uintptr_t address, int order);
  HEAPKIT_NO_SANITIZE_ADDRESS absl::Status CheckFreeList(
      int order, std::size_t& free_bytes, std::size_t& blocks) const;

  std::array<FreeBlock*, kNumOrders> free_lists_{};
  std::uint64_t nonempty_orders_ = 0;  // Bit k set iff free_lists_[k] != null.
  // In the object, not on a heap: the allocator may be the process's heap.
  internal::RegionTable<RegionHeader*, kMaxRegions, WholeRegion> regions_;
  RegionHeader* last_region_ = nullptr;  // RegionOf's guess; one of regions_.
  std::size_t total_bytes_ = 0;
  std::size_t used_bytes_ = 0;
#ifdef HEAPKIT_HAVE_ASAN
  // The regions as handed over, for the destructor and Init to unpoison: kept
  // in the object, because the headers may be in memory already unmapped.
  internal::RegionTable<Region, kMaxRegions> asan_regions_;
#endif
};

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_BUDDY_BUDDY_BYTE_ALLOCATOR_H_
