#ifndef HEAPKIT_ADAPTERS_TESTING_GROWING_OVER_PAGES_H_
#define HEAPKIT_ADAPTERS_TESTING_GROWING_OVER_PAGES_H_

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "adapters/growing_allocator.h"
#include "allocators/bitmap/bitmap_page_allocator.h"
#include "core/alloc_error.h"
#include "core/byte_allocator.h"
#include "core/concepts.h"
#include "core/internal/hex.h"
#include "core/layout.h"
#include "core/region.h"

namespace heapkit::testing {

// How much of the region given to GrowingOverPages::Init its byte allocator
// starts with.
enum class GrowingStart {
  kOnePage,   // One page: every later byte comes from growing.
  kAllPages,  // Every page, in one run: growing is tried and fails when full.
};

// A GrowingAllocator<Byte> together with the BitmapPageAllocator it grows
// from, as one default-constructible ByteBackend, so that the shared suites of
// tests/ (byte_backend_suites()) run on GrowingAllocator. Test-only.
//
// Init(start, size) hands the whole pages of [start, start + size) to the page
// allocator and starts a fresh byte allocator with one page of them, or all
// (kStart). AddMemory(start, size) adds the caller's memory directly, and
// returns kMemoryOverlap for a region that overlaps the one given to Init:
// those pages belong to the page allocator. Not thread-safe.
template <ByteBackend Byte, GrowingStart kStart = GrowingStart::kOnePage>
class GrowingOverPages final : public ByteAllocator {
 public:
  using Pages = BitmapPageAllocator<>;
  using Growing = GrowingAllocator<Byte, Pages>;

  GrowingOverPages() { growing_.emplace(pages_); }

  // Forgets everything, then manages [start, start + size) as the class
  // comment says. Fails as the page allocator's Init does (and then manages
  // nothing), or as Growing::Grow does.
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    // The old allocator returns its pages before the page allocator forgets
    // them.
    growing_.reset();
    growing_.emplace(pages_);
    page_region_.reset();
    if (absl::Status status = pages_.Init(start, size); !status.ok()) {
      return status;
    }
    page_region_ = Region{start, start + size};
    const std::size_t pages =
        kStart == GrowingStart::kOnePage ? 1 : pages_.AvailablePages();
    return growing_->Grow(pages * pages_.PageSize());
  }

  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    if (page_region_.has_value() && size <= ~std::uintptr_t{0} - start &&
        page_region_->Overlaps(Region{start, start + size})) {
      return MakeError(
          AllocError::kMemoryOverlap,
          absl::StrCat("GrowingOverPages::AddMemory: [", internal::Hex(start),
                       ", +", size, ") overlaps the page allocator's region ",
                       internal::Describe(*page_region_)));
    }
    return growing_->AddMemory(start, size);
  }

  absl::StatusOr<void*> Alloc(Layout layout) override {
    return growing_->Alloc(layout);
  }
  void Dealloc(void* ptr, Layout layout) override {
    growing_->Dealloc(ptr, layout);
  }
  std::size_t TotalBytes() const override { return growing_->TotalBytes(); }
  std::size_t UsedBytes() const override { return growing_->UsedBytes(); }
  absl::Status CheckInvariants() const { return growing_->CheckInvariants(); }

  Growing& growing() { return *growing_; }
  Pages& pages() { return pages_; }

 private:
  Pages pages_;
  // Engaged always; re-made by Init. Declared after pages_, so destroyed
  // first, returning its pages.
  std::optional<Growing> growing_;
  std::optional<Region> page_region_;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_ADAPTERS_TESTING_GROWING_OVER_PAGES_H_
