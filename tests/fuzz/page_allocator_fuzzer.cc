// Fuzzes BitmapPageAllocator<4096>: regions of any bytes anywhere in the
// address space (near 0, near the top, partial pages, overlapping, adjacent,
// with the bitmap on the heap or in caller storage that may be too small),
// AllocPages of any count and alignment, AllocPagesAt and DeallocPages of any
// address, each result checked against the interval model
// (tests/interval_model.h) in page numbers: the exact AllocError, the lowest
// fitting run, all-or-nothing frees, IsAllocated, and the counts. The
// allocator never touches the pages, so no memory backs them.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <limits>
#include <optional>
#include <span>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/statusor.h"
#include "allocators/bitmap/bitmap_page_allocator.h"
#include "core/alloc_error.h"
#include "tests/fuzz/expect_status.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/interval_model.h"

namespace heapkit::fuzz {
namespace {

constexpr std::uintptr_t kMax = std::numeric_limits<std::uintptr_t>::max();
constexpr std::uintptr_t kPage = 4096;

class PageFuzzer {
 public:
  explicit PageFuzzer(FuzzInput& in) : in_(in) {}

  void Run() {
    AddRegion(/*init=*/true);
    while (!in_.empty()) {
      switch (in_.Byte() % 7) {
        case 0:
          AddRegion(/*init=*/in_.Byte() % 16 == 0);
          break;
        case 1:
        case 2:
          AllocPages();
          break;
        case 3:
          AllocPagesAt();
          break;
        case 4:
          DeallocPages(SomeAddress(), in_.Below(8));
          break;
        case 5:
          DeallocUsed();
          break;
        case 6:
          CheckIsAllocated();
          break;
      }
      if (pages_.TotalPages() != model_.total() ||
          pages_.UsedPages() != model_.used()) {
        ABSL_RAW_LOG(FATAL, "counts: %zu/%zu pages, model %zu/%zu",
                     pages_.UsedPages(), pages_.TotalPages(), model_.used(),
                     model_.total());
      }
    }
  }

 private:
  // An address near 0, near a region already managed, or near the top; often
  // not page-aligned.
  std::uintptr_t SomeAddress() {
    const std::uintptr_t offset =
        in_.Byte() % 2 ? in_.Below(1 << 24) : in_.Below(1 << 12) * kPage;
    switch (in_.Byte() % 4) {
      case 0:
        return kMax - offset;
      case 1:
        if (model_.ranges().empty()) return offset;
        return model_.ranges()[in_.Below(model_.ranges().size())].first *
                   kPage +
               offset - (std::uintptr_t{1} << 23);
      default:
        return offset;
    }
  }

  void AddRegion(bool init) {
    const std::uintptr_t start = SomeAddress();
    // Up to 8 Ki pages, or a size that wraps or reaches the last address
    // (kept small otherwise: a valid region of 2^50 pages would need a bitmap
    // larger than the fuzzer's memory limit).
    const std::size_t size = in_.Byte() % 16 == 0
                                 ? kMax - start + 1 + in_.Below(1 << 16)
                                 : in_.Below(1 << 25);
    // What the allocator must make of it, worked out here from first
    // principles: the region must be non-empty and end below the top of the
    // address space, and hold a whole page.
    const bool bad_region = size == 0 || size - 1 >= kMax - start;
    const std::uintptr_t first = start / kPage + (start % kPage != 0);
    const std::uintptr_t end = bad_region ? 0 : (start + size) / kPage;
    const bool no_page = !bad_region && first >= end;
    bool overlaps = false;
    for (const testing::IntervalModel::Range& r : model_.ranges()) {
      overlaps = overlaps || (!init && first < r.end && r.first < end);
    }
    // Half the time the bitmap goes in caller storage, sometimes too small.
    const bool with_storage = in_.Byte() % 2 == 0;
    bool storage_short = false;
    absl::Status status;
    if (with_storage) {
      std::size_t words = BitmapPageAllocator<>::StorageWords(start, size);
      if (words > 0 && in_.Byte() % 4 == 0) {
        --words;
        storage_short = true;
      }
      std::vector<std::uint64_t>& storage = storage_.emplace_back(words);
      status = init ? pages_.InitWithStorage(start, size, storage)
                    : pages_.AddMemoryWithStorage(start, size, storage);
    } else {
      status = init ? pages_.Init(start, size) : pages_.AddMemory(start, size);
    }
    if (init) model_ = testing::IntervalModel();
    if (bad_region || no_page) {
      ExpectStatus(status, AllocError::kInvalidParam,
                   "a region with no whole page");
    } else if (overlaps) {
      ExpectStatus(status, AllocError::kMemoryOverlap, "an overlapping region");
    } else if (storage_short) {
      ExpectStatus(status, AllocError::kInvalidParam, "storage one word short");
    } else {
      ExpectStatus(status, std::nullopt, "a good region");
    }
    if (status.ok()) model_.AddRange(first, end);
  }

  // A count of 0 to 63 pages and an alignment that is sometimes not a power
  // of two or less than a page.
  std::size_t SomeCount() { return in_.Below(64); }
  std::size_t SomeAlignment() {
    const std::uint8_t code = in_.Byte();
    return code % 16 == 0 ? code % 5 * kPage + 3
                          : std::size_t{1} << (code % 25);
  }
  static bool BadRequest(std::size_t count, std::size_t align) {
    return count == 0 || align < kPage || (align & (align - 1)) != 0;
  }

  void AllocPages() {
    const std::size_t count = SomeCount();
    const std::size_t align = SomeAlignment();
    const absl::StatusOr<std::uintptr_t> base = pages_.AllocPages(count, align);
    if (BadRequest(count, align)) {
      ExpectStatus(base.status(), AllocError::kInvalidParam,
                   "a bad AllocPages");
      return;
    }
    const std::optional<std::uintptr_t> fit =
        model_.FirstFit(count, align / kPage);
    if (!fit) {
      ExpectStatus(base.status(), AllocError::kNoMemory, "no run fits");
      return;
    }
    ExpectStatus(base.status(), std::nullopt, "AllocPages with room");
    if (*base != *fit * kPage) {
      ABSL_RAW_LOG(FATAL,
                   "AllocPages(%zu, %zu) gave %#zx, the lowest fit is "
                   "%#zx",
                   count, align, static_cast<std::size_t>(*base),
                   static_cast<std::size_t>(*fit * kPage));
    }
    model_.MarkUsed(*fit, count);
  }

  void AllocPagesAt() {
    const std::uintptr_t base = SomeAddress();
    const std::size_t count = SomeCount();
    const std::size_t align = in_.Byte() % 2 ? kPage : SomeAlignment();
    const absl::StatusOr<std::uintptr_t> got =
        pages_.AllocPagesAt(base, count, align);
    if (BadRequest(count, align) || base % align != 0) {
      ExpectStatus(got.status(), AllocError::kInvalidParam,
                   "a bad AllocPagesAt");
    } else if (!model_.CanAllocateAt(base / kPage, count)) {
      ExpectStatus(got.status(), AllocError::kNoMemory,
                   "AllocPagesAt of pages taken or not managed");
    } else {
      ExpectStatus(got.status(), std::nullopt, "AllocPagesAt of free pages");
      if (*got != base) ABSL_RAW_LOG(FATAL, "AllocPagesAt moved the run");
      model_.MarkUsed(base / kPage, count);
    }
  }

  void DeallocPages(std::uintptr_t pos, std::size_t count) {
    const absl::Status status = pages_.DeallocPages(pos, count);
    if (pos % kPage != 0 || count == 0) {
      ExpectStatus(status, AllocError::kInvalidParam, "a bad DeallocPages");
    } else if (!model_.CanFree(pos / kPage, count)) {
      ExpectStatus(status, AllocError::kNotAllocated,
                   "DeallocPages of pages not all allocated");
    } else {
      ExpectStatus(status, std::nullopt, "a good DeallocPages");
      model_.MarkFree(pos / kPage, count);
    }
  }

  // Frees part of a used interval, so that good frees are common too.
  void DeallocUsed() {
    const std::optional<testing::IntervalModel::Range> used =
        model_.UsedIntervalAfter(SomeAddress() / kPage);
    if (!used) return;
    const std::size_t length = used->end - used->first;
    const std::size_t skip = in_.Below(length);
    DeallocPages((used->first + skip) * kPage, 1 + in_.Below(length - skip));
  }

  void CheckIsAllocated() {
    const std::uintptr_t address = SomeAddress();
    if (pages_.IsAllocated(address) != model_.IsUsed(address / kPage)) {
      ABSL_RAW_LOG(FATAL, "IsAllocated(%#zx) disagrees with the model",
                   static_cast<std::size_t>(address));
    }
  }

  FuzzInput& in_;
  // Caller storage for the bitmaps; a deque, so that it never moves.
  std::deque<std::vector<std::uint64_t>> storage_;
  BitmapPageAllocator<> pages_;
  testing::IntervalModel model_;
};

}  // namespace
}  // namespace heapkit::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  heapkit::fuzz::FuzzInput in(data, size);
  heapkit::fuzz::PageFuzzer(in).Run();
  return 0;
}
