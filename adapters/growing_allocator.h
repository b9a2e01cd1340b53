#ifndef HEAPKIT_ADAPTERS_GROWING_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_GROWING_ALLOCATOR_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "adapters/internal/forwarding_allocator.h"
#include "core/alloc_error.h"
#include "core/concepts.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"
#include "core/internal/hex.h"
#include "core/layout.h"

namespace heapkit {

// A byte allocator that grows its heap from a page allocator, as the ArceOS
// kernel's global allocator grows its byte heap from its page allocator:
//
//   heapkit::BitmapPageAllocator<> pages;
//   ... pages.Init(start, size) ...
//   heapkit::GrowingAllocator<heapkit::TlsfByteAllocator,
//                             heapkit::BitmapPageAllocator<>> heap(pages);
//   absl::StatusOr<void*> block = heap.Alloc(Layout{100, 8});  // Grows.
//
// Owns the `Byte` allocator it wraps, constructed in place from the
// constructor's arguments after `pages`; references the `Page` allocator, which
// must outlive it and manage memory that is mapped and writable. Not
// thread-safe, like the backends: wrap it in SynchronizedAllocator to share it,
// and do not let other threads use the page allocator meanwhile.
//
// Growth. When the byte allocator's Alloc fails with kNoMemory, this allocator
// takes one run of pages from the page allocator, AddMemory()s it to the byte
// allocator and retries the request once. The run is the larger of
//  - MinGrowthBytes(layout): what guarantees that the retry succeeds in the
//    fresh run on TlsfByteAllocator and BuddyByteAllocator, and
//  - TotalBytes(): the heap doubles, so n bytes of requests cost O(log n)
//    growths,
// in whole pages, capped at the free pages. If no run of that size can be had,
// a run of MinGrowthBytes(layout) is tried instead; if that fails too, Alloc
// returns kNoMemory, nothing changes, and the allocator stays usable. A run is
// aligned as RunAlignment() says, so that an allocator which rounds requests
// to self-aligned powers of two (buddy) finds its block in it, while runs much
// larger than the request stay page-aligned and so usually touch the previous
// run (TLSF joins touching regions into one).
// SlabByteAllocator serves small objects from 64 KiB slabs of its backing
// allocator, which MinGrowthBytes does not allow for: give it a first region of
// at least 256 KiB (Init, or Grow before the first Alloc).
//
// Pages are never given back while the allocator lives: a byte allocator cannot
// return part of a region, so freed blocks stay in the heap for later requests.
// The runs taken are recorded here (kMaxPageRuns of them, in the object: no
// heap), and Init and the destructor return them all to the page allocator.
//
// Starting. Init(start, size) hands the byte allocator a first region of the
// caller's memory (not from the page allocator), as for any backend. The
// allocator may also start empty: construct it and call Alloc, which grows, or
// Grow(bytes) to take a first run of a chosen size.
//
// Every call but Alloc, Init and the destructor goes to the byte allocator
// unchanged, and fails as it does.
template <ByteBackend Byte, PageBackend Page>
class GrowingAllocator final : public internal::ForwardingAllocator<Byte> {
  using Base = internal::ForwardingAllocator<Byte>;

 public:
  // A run of pages taken from the page allocator and added to the byte
  // allocator.
  struct PageRun {
    std::uintptr_t start;
    std::size_t num_pages;
  };

  // How many runs one allocator takes at most. Growth doubles the heap, so this
  // is reached only by many Grow() calls or when pages are scarce.
  static constexpr std::size_t kMaxPageRuns = 64;

  // What MinGrowthBytes allows for a byte allocator's per-region metadata
  // (TLSF's alignment and sentinel, buddy's header), besides 1/16 of the
  // request for metadata that grows with the region (buddy's bitmaps, 1/64)
  // and TLSF's segregated-list rounding (under 1/32).
  static constexpr std::size_t kRegionSlack = 4096;

  // Constructs the byte allocator from `byte_args`; it starts empty, with no
  // memory, unless the arguments give it some.
  template <class... Args>
  explicit GrowingAllocator(Page& pages, Args&&... byte_args)
      : Base(std::forward<Args>(byte_args)...), pages_(pages) {}

  // Returns every page run to the page allocator. Aborts (internal::Fatal) if
  // the page allocator refuses one: the pages were then freed behind this
  // allocator's back, and another owner may be using them.
  ~GrowingAllocator() override { ReturnPageRuns("~GrowingAllocator"); }

  // Inits the byte allocator on [start, start + size), which is the caller's
  // memory, not the page allocator's, and returns every page run taken so far
  // to the page allocator (the byte allocator forgets them, whether or not
  // Init succeeds). Fails as the byte allocator's Init does; then the allocator
  // manages nothing until it grows. Aborts as the destructor does.
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    absl::Status status = this->wrapped_.Init(start, size);
    ReturnPageRuns("Init");
    return status;
  }

  // Returns a block for `layout` from the byte allocator, growing the heap once
  // if it has none (see the class comment). Fails with kInvalidParam for an
  // invalid layout (no growth), and kNoMemory when neither the heap nor the
  // page allocator can serve the request; the message says why.
  absl::StatusOr<void*> Alloc(Layout layout) override {
    absl::StatusOr<void*> block = this->wrapped_.Alloc(layout);
    if (block.ok() || !absl::IsResourceExhausted(block.status())) [[likely]] {
      return block;
    }
    return GrowAndRetry(layout, block.status());
  }

  // Takes a run of at least `min_bytes` (in whole pages, page-aligned) from the
  // page allocator and adds it to the byte allocator. Returns kInvalidParam for
  // 0 bytes; kNoMemory if the page allocator has no such run or kMaxPageRuns
  // runs are taken; otherwise the byte allocator's AddMemory error, the pages
  // then going back. On failure nothing changes.
  absl::Status Grow(std::size_t min_bytes) {
    if (min_bytes == 0) {
      return MakeError(AllocError::kInvalidParam,
                       "GrowingAllocator::Grow: min_bytes is 0");
    }
    const std::size_t num_pages = PagesFor(min_bytes);
    const std::size_t page = pages_.PageSize();
    return TakeRun(num_pages, page, num_pages, page, "Grow");
  }

  // Returns the bytes a fresh region must hold so that the byte allocator can
  // serve `layout` from it, for TLSF and buddy: the request's size rounded up
  // to a power of two that is also at least its alignment (buddy's block), plus
  // the alignment (TLSF's padding to it), 1/16 of that power and kRegionSlack.
  // SIZE_MAX if that overflows.
  static constexpr std::size_t MinGrowthBytes(Layout layout) {
    const std::size_t fit = FitFor(layout);
    return SaturatingAdd(SaturatingAdd(fit, layout.align),
                         SaturatingAdd(fit / 16, kRegionSlack));
  }

  // Returns the alignment of a run of `run_bytes` taken for `layout`: a page
  // if the run holds at least 2 * MinGrowthBytes(layout), since any
  // page-aligned run that large holds a block of the request's power of two
  // aligned to itself, with room for metadata; otherwise that power of two (at
  // least a page).
  std::size_t RunAlignment(Layout layout, std::size_t run_bytes) const {
    const std::size_t need = MinGrowthBytes(layout);
    if (need <= kSizeMax / 2 && run_bytes >= 2 * need) return pages_.PageSize();
    return std::max(pages_.PageSize(), FitFor(layout));
  }

  // Returns the runs taken from the page allocator since construction or the
  // last Init, in the order taken.
  std::span<const PageRun> page_runs() const {
    return std::span<const PageRun>(runs_.data(), run_count_);
  }

  // Returns the page allocator this one grows from.
  Page& page_allocator() const { return pages_; }

  // Returns OK, or an InternalError naming the first broken invariant of the
  // recorded runs (page-aligned, not empty, disjoint, no more than the page
  // allocator has allocated), then the byte allocator's CheckInvariants().
  absl::Status CheckInvariants() const {
    const std::size_t page = pages_.PageSize();
    std::size_t pages_taken = 0;
    for (std::size_t i = 0; i < run_count_; ++i) {
      const PageRun& run = runs_[i];
      if (run.num_pages == 0 || !internal::IsAligned(run.start, page)) {
        return absl::InternalError(absl::StrCat(
            "GrowingAllocator: run ", i, " (", run.num_pages, " pages at ",
            internal::Hex(run.start), ") is empty or not page-aligned"));
      }
      for (std::size_t j = 0; j < i; ++j) {
        if (run.start < End(runs_[j]) && runs_[j].start < End(run)) {
          return absl::InternalError(absl::StrCat("GrowingAllocator: runs ", j,
                                                  " and ", i, " overlap at ",
                                                  internal::Hex(run.start)));
        }
      }
      pages_taken += run.num_pages;
    }
    if (pages_taken > pages_.UsedPages()) {
      return absl::InternalError(
          absl::StrCat("GrowingAllocator: holds ", pages_taken,
                       " pages but the page allocator has only ",
                       pages_.UsedPages(), " allocated"));
    }
    return Base::CheckInvariants();
  }

 private:
  static constexpr std::size_t kSizeMax =
      std::numeric_limits<std::size_t>::max();

  static constexpr std::size_t SaturatingAdd(std::size_t a, std::size_t b) {
    return a > kSizeMax - b ? kSizeMax : a + b;
  }

  // Returns the smallest power of two that is at least the size and the
  // alignment (and 1), or SIZE_MAX if there is none.
  static constexpr std::size_t FitFor(Layout layout) {
    const std::size_t bytes =
        std::max<std::size_t>({layout.size, layout.align, std::size_t{1}});
    return bytes > kSizeMax / 2 + 1 ? kSizeMax : std::bit_ceil(bytes);
  }

  std::uintptr_t End(const PageRun& run) const {
    return run.start + run.num_pages * pages_.PageSize();
  }

  // Returns the pages that hold `bytes`, rounded up, without overflow.
  std::size_t PagesFor(std::size_t bytes) const {
    const std::size_t page = pages_.PageSize();
    return bytes / page + (bytes % page != 0);
  }

  // Kept out of line so that the inlined Alloc stays a call and a test.
  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<void*> GrowAndRetry(
      Layout layout, const absl::Status& no_fit) {
    const std::size_t need = PagesFor(MinGrowthBytes(layout));
    const std::size_t doubling = std::min(PagesFor(this->wrapped_.TotalBytes()),
                                          pages_.AvailablePages());
    const std::size_t want = std::max(need, doubling);
    const std::size_t page = pages_.PageSize();
    // Neither count overflows in bytes when it fits in the free pages, and
    // TakeRun fails before using the alignment when it does not.
    const std::size_t free_pages = pages_.AvailablePages();
    absl::Status grown = TakeRun(
        want, RunAlignment(layout, std::min(want, free_pages) * page), need,
        RunAlignment(layout, std::min(need, free_pages) * page), "Alloc");
    if (!grown.ok()) {
      // Alloc's contract has no other error: the cause stays in the message.
      return MakeError(AllocError::kNoMemory,
                       absl::StrCat(no_fit.message(), "; ", grown.message()));
    }
    return this->wrapped_.Alloc(layout);
  }

  // Takes `want` pages aligned to `want_align` from the page allocator, or
  // `need` pages aligned to `need_align` if that fails, and adds them to the
  // byte allocator.
  absl::Status TakeRun(std::size_t want, std::size_t want_align,
                       std::size_t need, std::size_t need_align,
                       absl::string_view who) {
    // Only errors build a message: a growth that succeeds allocates nothing
    // on the process heap (which may be the heap being grown).
    const auto prefix = [who] {
      return absl::StrCat("GrowingAllocator::", who);
    };
    if (run_count_ == kMaxPageRuns) {
      return MakeError(AllocError::kNoMemory,
                       absl::StrCat(prefix(), ": cannot grow, all ",
                                    kMaxPageRuns, " page runs are taken"));
    }
    if (need > pages_.AvailablePages()) {
      return MakeError(AllocError::kNoMemory,
                       absl::StrCat(prefix(), ": cannot grow by ", need,
                                    " pages, the page allocator has ",
                                    pages_.AvailablePages(), " free"));
    }
    absl::StatusOr<std::uintptr_t> run = pages_.AllocPages(want, want_align);
    std::size_t taken = want;
    if (!run.ok() && (want != need || want_align != need_align)) {
      run = pages_.AllocPages(need, need_align);
      taken = need;
    }
    if (!run.ok()) {
      return MakeError(
          AllocError::kNoMemory,
          absl::StrCat(prefix(), ": cannot grow: ", run.status().message()));
    }
    const std::size_t bytes = taken * pages_.PageSize();
    if (absl::Status added = this->wrapped_.AddMemory(*run, bytes);
        !added.ok()) {
      ReturnRun(PageRun{*run, taken}, who);
      return added;
    }
    runs_[run_count_++] = PageRun{*run, taken};
    return absl::OkStatus();
  }

  void ReturnRun(const PageRun& run, absl::string_view who) {
    absl::Status status = pages_.DeallocPages(run.start, run.num_pages);
    if (!status.ok()) {
      internal::Fatal(
          "GrowingAllocator::%s: the page allocator refused back %zu pages at "
          "%#zx that it gave: %s",
          std::string(who).c_str(), run.num_pages,
          static_cast<std::size_t>(run.start), status.ToString().c_str());
    }
  }

  void ReturnPageRuns(absl::string_view who) {
    for (std::size_t i = 0; i < run_count_; ++i) ReturnRun(runs_[i], who);
    run_count_ = 0;
  }

  Page& pages_;
  std::array<PageRun, kMaxPageRuns> runs_{};
  std::size_t run_count_ = 0;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_GROWING_ALLOCATOR_H_
