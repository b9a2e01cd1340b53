#ifndef HEAPKIT_ALLOCATORS_BITMAP_BITMAP_PAGE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_BITMAP_BITMAP_PAGE_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "allocators/bitmap/internal/segmented_bitmap.h"
#include "core/alloc_error.h"
#include "core/internal/bits.h"
#include "core/internal/hex.h"
#include "core/page_allocator.h"
#include "core/region.h"

namespace heapkit {

// A PageAllocator that keeps one bit per page in a hierarchical bitmap (see
// internal/hierarchical_bitmap.h), first fit by address:
//
//   heapkit::BitmapPageAllocator<> pages;  // 4 KiB pages.
//   absl::Status status = pages.Init(0x4000'0000, std::size_t{1} << 30);
//   absl::StatusOr<std::uintptr_t> huge = pages.AllocPages(512, 2 << 20);
//
// The bitmap never lives in the managed range: the allocator never reads or
// writes the pages, so it can manage physical memory or any address range. Init
// and AddMemory take the bitmap from the process heap; InitWithStorage and
// AddMemoryWithStorage keep it in caller-given words instead (StorageWords()
// says how many). The cost is about 1.03 bits per page plus at most 63 bits and
// one small table entry per region: 33 KiB for 1 GiB of 4 KiB pages.
//
// Finding a free page costs O(log n) in the number of pages; a run of n pages
// costs O(n / 64) more to check and mark. Regions may be far apart; each has
// its own bitmap and they are searched in address order. A run never spans two
// regions, even touching ones. Page 0 may be handed out if it is managed. Not
// thread-safe.
template <std::size_t kPageSize = 4096>
class BitmapPageAllocator final : public PageAllocator {
  static_assert(internal::IsPowerOfTwo(kPageSize),
                "the page size must be a power of two");
  using SegmentedBitmap = internal::SegmentedBitmap;

 public:
  BitmapPageAllocator() = default;

  // Returns the 64-bit words of storage AddMemoryWithStorage(start, size, ...)
  // needs, or 0 if [start, start + size) holds no whole page.
  static std::size_t StorageWords(std::uintptr_t start, std::size_t size) {
    absl::StatusOr<Region> pages = WholePages(start, size, "StorageWords");
    return pages.ok() ? SegmentedBitmap::StorageWords(pages->start, pages->end)
                      : 0;
  }

  // Forgets every region (and allocation) and manages the whole pages of
  // [start, start + size) alone, with the bitmap on the process heap. Fails as
  // AddMemory does and then manages nothing.
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    pages_.Clear();
    return AddMemory(start, size);
  }

  // Adds the whole pages of [start, start + size), all free. Returns
  // kInvalidParam if the region wraps or holds no whole page, kMemoryOverlap if
  // it shares a page with a region already managed, kNoMemory if the heap
  // cannot hold its bitmap. On failure nothing changes.
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    absl::StatusOr<Region> pages = NewPages(start, size, "AddMemory");
    if (!pages.ok()) return pages.status();
    if (!pages_.Add(pages->start, pages->end)) {
      return MakeError(
          AllocError::kNoMemory,
          absl::StrCat(
              "BitmapPageAllocator::AddMemory: cannot allocate a ",
              SegmentedBitmap::StorageWords(pages->start, pages->end) * 8,
              "-byte bitmap"));
    }
    return absl::OkStatus();
  }

  // As Init and AddMemory, but keep the region's bitmap in `storage`, which
  // must hold StorageWords(start, size) words (else kInvalidParam) and outlive
  // the allocator or its next Init. Its contents are overwritten.
  absl::Status InitWithStorage(std::uintptr_t start, std::size_t size,
                               std::span<std::uint64_t> storage) {
    pages_.Clear();
    return AddMemoryWithStorage(start, size, storage);
  }
  absl::Status AddMemoryWithStorage(std::uintptr_t start, std::size_t size,
                                    std::span<std::uint64_t> storage) {
    absl::StatusOr<Region> pages =
        NewPages(start, size, "AddMemoryWithStorage");
    if (!pages.ok()) return pages.status();
    const std::size_t words =
        SegmentedBitmap::StorageWords(pages->start, pages->end);
    if (storage.size() < words) {
      return MakeError(
          AllocError::kInvalidParam,
          absl::StrCat("BitmapPageAllocator::AddMemoryWithStorage: the region "
                       "needs ",
                       words, " words of storage, got ", storage.size()));
    }
    pages_.Add(pages->start, pages->end, storage);
    return absl::OkStatus();
  }

  std::size_t PageSize() const override { return kPageSize; }

  // Returns the lowest address of `num_pages` free contiguous pages inside one
  // region, aligned to `align_bytes`, now allocated. Fails with kInvalidParam
  // for num_pages == 0 or an alignment that is not a power of two of at least a
  // page, kNoMemory if no run fits.
  absl::StatusOr<std::uintptr_t> AllocPages(std::size_t num_pages,
                                            std::size_t align_bytes) override {
    if (absl::Status status =
            CheckRequest(num_pages, align_bytes, "AllocPages");
        !status.ok()) {
      return status;
    }
    const std::optional<std::uintptr_t> page =
        pages_.Allocate(num_pages, align_bytes / kPageSize);
    if (!page.has_value()) {
      return MakeError(
          AllocError::kNoMemory,
          absl::StrCat("BitmapPageAllocator::AllocPages: no run of ", num_pages,
                       " free pages aligned to ", align_bytes, " bytes"));
    }
    return *page * kPageSize;
  }

  // Allocates exactly the `num_pages` pages at `base` and returns `base`. Fails
  // with kInvalidParam for num_pages == 0, a bad alignment or a `base` not
  // aligned to it, kNoMemory if any page is taken or not managed (including a
  // range that runs past the end of the address space); then nothing changes.
  absl::StatusOr<std::uintptr_t> AllocPagesAt(
      std::uintptr_t base, std::size_t num_pages,
      std::size_t align_bytes) override {
    if (absl::Status status =
            CheckRequest(num_pages, align_bytes, "AllocPagesAt");
        !status.ok()) {
      return status;
    }
    if (!internal::IsAligned(base, align_bytes)) {
      return MakeError(AllocError::kInvalidParam,
                       absl::StrCat("BitmapPageAllocator::AllocPagesAt: base ",
                                    internal::Hex(base), " is not aligned to ",
                                    align_bytes, " bytes"));
    }
    const std::uintptr_t first = base / kPageSize;
    if (!pages_.AllocateAt(first, num_pages)) {
      return MakeError(
          AllocError::kNoMemory,
          absl::StrCat("BitmapPageAllocator::AllocPagesAt: ", num_pages,
                       " pages at ", internal::Hex(base), " are ",
                       pages_.Contains(first, num_pages) ? "partly taken"
                                                         : "not all managed"));
    }
    return base;
  }

  // Frees the `num_pages` pages at `pos`, all or nothing. Returns kInvalidParam
  // if `pos` is not page-aligned or num_pages == 0, kNotAllocated (freeing
  // nothing) unless every page of the range is managed, in one region, and
  // allocated.
  absl::Status DeallocPages(std::uintptr_t pos,
                            std::size_t num_pages) override {
    if (!internal::IsAligned(pos, kPageSize) || num_pages == 0) {
      return MakeError(
          AllocError::kInvalidParam,
          absl::StrCat("BitmapPageAllocator::DeallocPages: ", num_pages,
                       " pages at ", internal::Hex(pos),
                       num_pages == 0 ? ": count is 0" : ": not page-aligned"));
    }
    if (!pages_.Free(pos / kPageSize, num_pages)) {
      return MakeError(AllocError::kNotAllocated,
                       absl::StrCat("BitmapPageAllocator::DeallocPages: ",
                                    num_pages, " pages at ", internal::Hex(pos),
                                    " are not all allocated; nothing freed"));
    }
    return absl::OkStatus();
  }

  // Returns true if the page holding `address` is managed and allocated.
  bool IsAllocated(std::uintptr_t address) const {
    return pages_.IsUsed(address / kPageSize);
  }

  std::size_t TotalPages() const override { return pages_.total(); }
  std::size_t UsedPages() const override { return pages_.used(); }

 private:
  // Returns the page numbers [start, end) of the whole pages of the region, or
  // kInvalidParam.
  static absl::StatusOr<Region> WholePages(std::uintptr_t start,
                                           std::size_t size,
                                           absl::string_view method) {
    const std::string who = absl::StrCat("BitmapPageAllocator::", method);
    absl::StatusOr<Region> region = CheckRegion(start, size, 1, who);
    if (!region.ok()) return region.status();
    // Not internal::AlignUp(start, kPageSize): that wraps to 0 for a region in
    // the last partial page of the address space.
    const std::uintptr_t first = region->start / kPageSize +
                                 !internal::IsAligned(region->start, kPageSize);
    const std::uintptr_t end = region->end / kPageSize;
    if (first >= end) {
      return MakeError(
          AllocError::kInvalidParam,
          absl::StrCat(who, ": region ", internal::Describe(*region),
                       " holds no whole ", kPageSize, "-byte page"));
    }
    return Region{first, end};
  }

  // As WholePages, and kMemoryOverlap if a page is already managed.
  absl::StatusOr<Region> NewPages(std::uintptr_t start, std::size_t size,
                                  absl::string_view method) const {
    absl::StatusOr<Region> pages = WholePages(start, size, method);
    if (pages.ok() && pages_.Overlaps(pages->start, pages->end)) {
      return MakeError(
          AllocError::kMemoryOverlap,
          absl::StrCat("BitmapPageAllocator::", method, ": pages [",
                       internal::Hex(pages->start * kPageSize), ", ",
                       internal::Hex(pages->end * kPageSize),
                       ") overlap memory already managed"));
    }
    return pages;
  }

  // Returns kInvalidParam for a zero count or an alignment that is not a power
  // of two of at least one page (which makes it a multiple of the page size).
  static absl::Status CheckRequest(std::size_t num_pages,
                                   std::size_t align_bytes,
                                   absl::string_view method) {
    if (num_pages == 0) {
      return MakeError(
          AllocError::kInvalidParam,
          absl::StrCat("BitmapPageAllocator::", method, ": num_pages is 0"));
    }
    if (align_bytes < kPageSize || !internal::IsPowerOfTwo(align_bytes)) {
      return MakeError(
          AllocError::kInvalidParam,
          absl::StrCat("BitmapPageAllocator::", method, ": alignment ",
                       align_bytes, " is not a power of two of at least ",
                       kPageSize, " bytes"));
    }
    return absl::OkStatus();
  }

  SegmentedBitmap pages_;  // Units are page numbers: address / kPageSize.
};

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_BITMAP_BITMAP_PAGE_ALLOCATOR_H_
