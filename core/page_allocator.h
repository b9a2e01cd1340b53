#ifndef HEAPKIT_CORE_PAGE_ALLOCATOR_H_
#define HEAPKIT_CORE_PAGE_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/base_allocator.h"

namespace heapkit {

// An allocator of runs of fixed-size pages, identified by address. It needs no
// access to the pages themselves, so it can manage physical memory or any
// address range. Regions given to Init/AddMemory are trimmed inwards to whole
// pages.
class PageAllocator : public BaseAllocator {
 public:
  // Returns the page size in bytes, a power of two.
  virtual std::size_t PageSize() const = 0;

  // Returns the address of `num_pages` free contiguous pages aligned to
  // `align_bytes` (a power of two and a multiple of PageSize()), now allocated.
  // Fails with kInvalidParam for num_pages == 0 or a bad alignment, kNoMemory
  // if no run fits.
  virtual absl::StatusOr<std::uintptr_t> AllocPages(
      std::size_t num_pages, std::size_t align_bytes) = 0;

  // Allocates exactly the `num_pages` pages starting at `base` and returns
  // `base`. Fails with kInvalidParam if `base` is not aligned to `align_bytes`
  // (rules as for AllocPages), kNoMemory if any page of the range is taken or
  // not managed.
  virtual absl::StatusOr<std::uintptr_t> AllocPagesAt(
      std::uintptr_t base, std::size_t num_pages, std::size_t align_bytes) = 0;

  // Frees the `num_pages` pages starting at `pos`, all or nothing: if any page
  // of the range is not allocated (double free, wrong count, foreign address)
  // returns kNotAllocated and frees nothing; kInvalidParam if `pos` is not
  // page-aligned.
  virtual absl::Status DeallocPages(std::uintptr_t pos,
                                    std::size_t num_pages) = 0;

  // Returns the number of pages managed, allocated, and free.
  virtual std::size_t TotalPages() const = 0;
  virtual std::size_t UsedPages() const = 0;
  std::size_t AvailablePages() const { return TotalPages() - UsedPages(); }
};

}  // namespace heapkit

#endif  // HEAPKIT_CORE_PAGE_ALLOCATOR_H_
