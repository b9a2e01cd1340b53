// Fuzzes BitmapIdAllocator: ranges anywhere in the 64-bit ID space (near 0,
// near SIZE_MAX, overlapping, adjacent), AllocId of any count and alignment,
// AllocFixedId and DeallocId of any IDs, each result checked against the
// interval model (tests/interval_model.h): the exact AllocError, the lowest
// fitting run, all-or-nothing frees, and the counts.

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/statusor.h"
#include "allocators/bitmap/bitmap_id_allocator.h"
#include "core/alloc_error.h"
#include "tests/fuzz/expect_status.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/interval_model.h"

namespace heapkit::fuzz {
namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

class IdFuzzer {
 public:
  explicit IdFuzzer(FuzzInput& in) : in_(in) {}

  void Run() {
    AddRange(/*init=*/true);
    while (!in_.empty()) {
      switch (in_.Byte() % 6) {
        case 0:
          AddRange(/*init=*/in_.Byte() % 16 == 0);
          break;
        case 1:
        case 2:
          AllocId();
          break;
        case 3:
          AllocFixedId();
          break;
        case 4:
          DeallocId();
          break;
        case 5:
          DeallocUsed();
          break;
      }
      if (ids_.Size() != model_.total() || ids_.Used() != model_.used()) {
        ABSL_RAW_LOG(FATAL, "counts: %zu/%zu, model %zu/%zu", ids_.Used(),
                     ids_.Size(), model_.used(), model_.total());
      }
    }
  }

 private:
  // An ID near 0, near a range already managed, or near SIZE_MAX.
  std::size_t SomeId() {
    const std::size_t offset = in_.Below(1 << 12);
    switch (in_.Byte() % 4) {
      case 0:
        return kMax - offset;
      case 1:
        return model_.ranges().empty()
                   ? offset
                   : model_.ranges()[in_.Below(model_.ranges().size())].first +
                         offset - (1 << 11);
      default:
        return offset;
    }
  }

  void AddRange(bool init) {
    const std::size_t first = SomeId();
    const std::size_t count = in_.Below(1 << 13);
    bool overlaps = false;
    for (const testing::IntervalModel::Range& r : model_.ranges()) {
      overlaps = overlaps || (!init && first < r.end &&
                              (r.first < first || r.first - first < count));
    }
    const bool wraps = count == 0 || count - 1 >= kMax - first;  // Or reaches.
    const absl::Status status =
        init ? ids_.Init(first, count) : ids_.AddMemory(first, count);
    if (init) model_ = testing::IntervalModel();
    if (wraps) {
      ExpectStatus(status, AllocError::kInvalidParam, "a range that wraps");
    } else if (overlaps) {
      ExpectStatus(status, AllocError::kMemoryOverlap, "an overlapping range");
    } else {
      ExpectStatus(status, std::nullopt, "a good range");
    }
    if (status.ok()) model_.AddRange(first, first + count);
  }

  void AllocId() {
    const std::size_t count = in_.Below(64);
    const std::uint8_t code = in_.Byte();
    const std::size_t align =
        code % 16 == 0 ? code % 5 + 3 : std::size_t{1} << (code % 13);
    const absl::StatusOr<std::size_t> id = ids_.AllocId(count, align);
    if (count == 0 || (align & (align - 1)) != 0) {
      ExpectStatus(id.status(), AllocError::kInvalidParam, "a bad AllocId");
      return;
    }
    const std::optional<std::uintptr_t> fit = model_.FirstFit(count, align);
    if (!fit) {
      ExpectStatus(id.status(), AllocError::kNoMemory, "AllocId with no room");
      return;
    }
    ExpectStatus(id.status(), std::nullopt, "AllocId with room");
    if (*id != *fit) {
      ABSL_RAW_LOG(FATAL, "AllocId(%zu, %zu) gave %zu, the lowest fit is %zu",
                   count, align, *id, static_cast<std::size_t>(*fit));
    }
    model_.MarkUsed(*id, count);
  }

  void AllocFixedId() {
    const std::size_t id = SomeId();
    const absl::Status status = ids_.AllocFixedId(id);
    if (!model_.InOneRange(id, 1)) {
      ExpectStatus(status, AllocError::kInvalidParam, "a fixed ID not managed");
    } else if (model_.IsUsed(id)) {
      ExpectStatus(status, AllocError::kMemoryOverlap, "a fixed ID taken");
    } else {
      ExpectStatus(status, std::nullopt, "a free fixed ID");
      model_.MarkUsed(id, 1);
    }
  }

  void Free(std::size_t start, std::size_t count) {
    const absl::Status status = ids_.DeallocId(start, count);
    if (count == 0) {
      ExpectStatus(status, AllocError::kInvalidParam, "DeallocId of 0 IDs");
    } else if (!model_.CanFree(start, count)) {
      ExpectStatus(status, AllocError::kNotAllocated, "a bad DeallocId");
    } else {
      ExpectStatus(status, std::nullopt, "a good DeallocId");
      model_.MarkFree(start, count);
    }
  }

  void DeallocId() { Free(SomeId(), in_.Below(8)); }

  // Frees part of a used interval, so that good frees are common too.
  void DeallocUsed() {
    const std::optional<testing::IntervalModel::Range> used =
        model_.UsedIntervalAfter(SomeId());
    if (!used) return;
    const std::size_t length = used->end - used->first;
    const std::size_t skip = in_.Below(length);
    Free(used->first + skip, 1 + in_.Below(length - skip));
  }

  FuzzInput& in_;
  BitmapIdAllocator ids_;
  testing::IntervalModel model_;
};

}  // namespace
}  // namespace heapkit::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  heapkit::fuzz::FuzzInput in(data, size);
  heapkit::fuzz::IdFuzzer(in).Run();
  return 0;
}
