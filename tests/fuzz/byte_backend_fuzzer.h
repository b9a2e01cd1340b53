#ifndef HEAPKIT_TESTS_FUZZ_BYTE_BACKEND_FUZZER_H_
#define HEAPKIT_TESTS_FUZZ_BYTE_BACKEND_FUZZER_H_

// The byte backends' fuzz target: decodes the input into Init, AddMemory
// (with adversarial regions), Alloc of any size and alignment, Dealloc of live
// blocks, Resize where the backend has it, and invariant checks, and checks
// every result against the shadow model (tests/shadow_model.h) and the
// contract in core/: what a call must return, and that no block overlaps
// another, leaves its region or breaks its alignment. Any breach aborts with
// a message, which the fuzzer reports as a crash.

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/status.h"
#include "core/alloc_error.h"
#include "core/concepts.h"
#include "core/layout.h"
#include "core/region.h"
#include "tests/arena.h"
#include "tests/fuzz/expect_status.h"
#include "tests/fuzz/fuzz_input.h"
#include "tests/shadow_model.h"

namespace heapkit::fuzz {

inline constexpr std::size_t kArenaSize = std::size_t{64} << 20;

inline void Expect(const ::testing::AssertionResult& result, const char* what) {
  if (!result) ABSL_RAW_LOG(FATAL, "%s: %s", what, result.message());
}

template <ByteBackend Backend>
class BackendFuzzer {
 public:
  BackendFuzzer(FuzzInput& in, const testing::Arena& arena)
      : in_(in), arena_(arena), backend_(std::make_unique<Backend>()) {}

  void Run() {
    AddRegion(/*init=*/true);
    while (!in_.empty()) {
      switch (in_.Byte() % 9) {
        case 0:
        case 1:
        case 2:
          Alloc();
          break;
        case 3:
        case 4:
          Free();
          break;
        case 5:
          AddRegion(/*init=*/false);
          break;
        case 6:
          AddRegion(/*init=*/in_.Byte() % 8 == 0);
          break;
        case 7:
          Resize();
          break;
        case 8:
          Check();
          break;
      }
    }
    while (!model_.live().empty()) FreeAt(model_.live().begin()->first);
    Check();
  }

 private:
  // Init or AddMemory with a region that may be empty, tiny, misaligned,
  // wrapping, overlapping or adjacent to one already managed.
  void AddRegion(bool init) {
    const std::uintptr_t base = arena_.start();
    std::uintptr_t start;
    std::size_t size;
    bool must_fail = false;  // Wraps past the top: kInvalidParam.
    switch (in_.Byte() % 8) {
      case 0:  // Through the top of the address space.
        start = std::numeric_limits<std::uintptr_t>::max() - in_.Below(1 << 16);
        size = std::numeric_limits<std::uintptr_t>::max() - start + 2 +
               in_.Below(1 << 20);
        must_fail = true;
        break;
      case 1:  // Sizes near SIZE_MAX.
        start = base + in_.Below(kArenaSize);
        size = std::numeric_limits<std::size_t>::max() - in_.Below(1 << 12);
        must_fail = true;
        break;
      case 2:  // Empty or tiny.
        start = base + in_.Below(kArenaSize - 64);
        size = in_.Below(64);
        break;
      case 3:  // Next to a region already managed.
        start = regions_.empty() ? base : regions_.back().end;
        size = in_.Below(1 << 20) + 1;
        break;
      default:
        start = base + in_.Below(kArenaSize);
        size = in_.Below(std::size_t{8} << 20) + 1;
        break;
    }
    if (!must_fail) size = std::min(size, base + kArenaSize - start);
    const Region region{start, start + size};
    const bool overlaps =
        !init &&
        std::any_of(regions_.begin(), regions_.end(), [&](const Region& r) {
          return start < r.end && r.start < region.end;
        });
    const std::size_t used_before = init ? 0 : backend_->UsedBytes();
    const absl::Status status =
        init ? backend_->Init(start, size) : backend_->AddMemory(start, size);
    if (init) {
      model_.Reset();
      regions_.clear();
      baseline_ = 0;
    }
    if (must_fail || size == 0) {
      ExpectStatus(status, AllocError::kInvalidParam,
                   "a wrapping or empty region");
    } else if (overlaps) {
      // Refused: as overlapping, or first as too small for the backend.
      if (GetAllocError(status) != AllocError::kInvalidParam) {
        ExpectStatus(status, AllocError::kMemoryOverlap,
                     "an overlapping region");
      }
    } else if (!status.ok()) {
      ExpectStatus(status, AllocError::kInvalidParam, "a region refused");
    }
    if (!status.ok()) {
      if (init && backend_->TotalBytes() != 0) {
        ABSL_RAW_LOG(FATAL, "a failed Init left %zu bytes managed",
                     backend_->TotalBytes());
      }
      return;
    }
    model_.AddRegion(region);
    regions_.push_back(region);
    baseline_ += backend_->UsedBytes() - used_before;
  }

  Layout NextLayout() {
    std::size_t size;
    switch (in_.Byte() % 8) {
      case 0:
        size = in_.Below(65);
        break;
      case 1:
        size = in_.Below(std::size_t{1} << 20);
        break;
      case 2:
        size = std::numeric_limits<std::size_t>::max() - in_.Below(1 << 16);
        break;
      default:
        size = in_.Below(4097);
        break;
    }
    const std::uint8_t align_code = in_.Byte();
    const std::size_t align = align_code % 32 == 0
                                  ? align_code % 7 + 3  // Often not a power.
                                  : std::size_t{1} << (align_code % 17);
    return Layout{size, align};
  }

  void Alloc() {
    const Layout layout = NextLayout();
    const absl::StatusOr<void*> block = backend_->Alloc(layout);
    if (!layout.IsValid()) {
      ExpectStatus(block.status(), AllocError::kInvalidParam,
                   "an invalid layout");
      return;
    }
    if (!block.ok()) {
      ExpectStatus(block.status(), AllocError::kNoMemory, "a valid layout");
      return;
    }
    Expect(model_.Allocated(*block, layout), "Alloc");
  }

  void Free() {
    if (model_.live().empty()) return;
    auto it = model_.live().begin();
    std::advance(it, in_.Below(model_.live().size()));
    FreeAt(it->first);
  }

  void FreeAt(std::uintptr_t address) {
    void* ptr = reinterpret_cast<void*>(address);
    Layout layout;
    Expect(model_.Freeing(ptr, layout), "Dealloc");
    backend_->Dealloc(ptr, layout);
  }

  void Resize() {
    if constexpr (requires(Backend & b, void* p, Layout l) {
                    {
                      b.Resize(p, l, std::size_t{0})
                      } -> std::same_as<absl::Status>;
                  }) {
      if (model_.live().empty()) return;
      auto it = model_.live().begin();
      std::advance(it, in_.Below(model_.live().size()));
      void* ptr = reinterpret_cast<void*>(it->first);
      const Layout old_layout = it->second.layout;
      const std::size_t new_size =
          in_.Below(std::size_t{1} << (in_.Byte() % 21));
      const absl::Status status = backend_->Resize(ptr, old_layout, new_size);
      if (status.ok()) {
        Expect(model_.Resized(ptr, new_size), "Resize");
      } else {
        ExpectStatus(status, AllocError::kNoMemory, "a Resize that failed");
        Expect(model_.ResizeFailed(ptr), "a failed Resize");
      }
    }
  }

  void Check() {
    if constexpr (requires(const Backend& b) { b.CheckInvariants(); }) {
      const absl::Status status = backend_->CheckInvariants();
      if (!status.ok()) {
        ABSL_RAW_LOG(FATAL, "CheckInvariants: %s", status.ToString().c_str());
      }
    }
    if (model_.live().empty() && backend_->UsedBytes() != baseline_) {
      ABSL_RAW_LOG(FATAL, "no live block, yet %zu bytes used (%zu at rest)",
                   backend_->UsedBytes(), baseline_);
    }
  }

  FuzzInput& in_;
  const testing::Arena& arena_;
  std::unique_ptr<Backend> backend_;
  testing::ShadowModel model_;
  std::vector<Region> regions_;
  std::size_t baseline_ = 0;
};

// Runs one input on a fresh `Backend` over a 64 MiB arena mapped once.
template <ByteBackend Backend>
int FuzzByteBackend(const std::uint8_t* data, std::size_t size) {
  static const testing::Arena* const arena = new testing::Arena(kArenaSize);
  FuzzInput in(data, size);
  BackendFuzzer<Backend>(in, *arena).Run();
  return 0;
}

}  // namespace heapkit::fuzz

#endif  // HEAPKIT_TESTS_FUZZ_BYTE_BACKEND_FUZZER_H_
