#ifndef HEAPKIT_TESTS_FUZZ_BYTE_BACKEND_FUZZER_H_
#define HEAPKIT_TESTS_FUZZ_BYTE_BACKEND_FUZZER_H_

// The byte backends' and adapter stacks' fuzz target: decodes the input into
// Init, AddMemory (with adversarial regions), Alloc of any size and alignment,
// Dealloc of live blocks, Resize where the backend has it, and invariant
// checks, and checks every result against the shadow model
// (tests/shadow_model.h) and the contract in core/: what a call must return,
// and that no block overlaps another, leaves its region or breaks its
// alignment. Any breach aborts with a message, which the fuzzer reports as a
// crash. A stack with more to it gets one more operation:
//  - a checking allocator (Free returning a Status: CheckedAllocator) gets
//    misuse: interior, foreign, double and wrong-layout frees, which must fail
//    with their exact code and change nothing, and a damaged guard, which Free
//    must report as DataLoss and which frees once repaired;
//  - a growing allocator (page_runs(): GrowingAllocator) gets Grow, and the
//    runs it takes from its page allocator, on Grow or in Alloc, join the
//    model's regions.

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
#include "core/internal/asan.h"
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

// A checking allocator: Free reports a bad call instead of aborting.
template <class A>
concept ChecksFrees = requires(A& a, void* ptr, Layout layout) {
  { a.Free(ptr, layout) } -> std::same_as<absl::Status>;
};

// An allocator that grows from a page allocator.
template <class A>
concept GrowsFromPages = requires(A& a) {
  a.page_runs();
  a.Grow(std::size_t{1});
};

template <ByteBackend Backend>
class BackendFuzzer {
 public:
  // Fuzzes `backend`, giving it regions inside `span` only.
  BackendFuzzer(FuzzInput& in, Region span, Backend& backend)
      : in_(in), span_(span), backend_(&backend) {}

  void Run() {
    constexpr int kOperations =
        ChecksFrees<Backend> || GrowsFromPages<Backend> ? 10 : 9;
    AddRegion(/*init=*/true);
    while (!in_.empty()) {
      switch (in_.Byte() % kOperations) {
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
        case 9:
          if constexpr (ChecksFrees<Backend>) Misuse();
          if constexpr (GrowsFromPages<Backend>) Grow();
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
    const std::uintptr_t base = span_.start;
    const std::size_t span_size = span_.size();
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
        start = base + in_.Below(span_size);
        size = std::numeric_limits<std::size_t>::max() - in_.Below(1 << 12);
        must_fail = true;
        break;
      case 2:  // Empty or tiny.
        start = base + in_.Below(span_size - 64);
        size = in_.Below(64);
        break;
      case 3:  // Next to a region already managed.
        start = regions_.empty() ? base : regions_.back().end;
        size = in_.Below(1 << 20) + 1;
        break;
      default:
        start = base + in_.Below(span_size);
        size = in_.Below(std::size_t{8} << 20) + 1;
        break;
    }
    if (!must_fail) size = std::min(size, span_.end - start);
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
      // A growing allocator has given its page runs back, too.
      model_.Reset();
      regions_.clear();
      runs_seen_ = 0;
      baseline_ = 0;
      baseline_stale_ = false;
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
    AddPageRuns();
    if (!block.ok()) {
      ExpectStatus(block.status(), AllocError::kNoMemory, "a valid layout");
      return;
    }
    Expect(model_.Allocated(*block, layout), "Alloc");
  }

  // Adds the page runs a growing allocator took since the last call to the
  // model's regions. What the runs cost the byte allocator at rest is not
  // known here, so the next time no block is live, Check takes UsedBytes() as
  // the new baseline instead of comparing with it.
  void AddPageRuns() {
    if constexpr (GrowsFromPages<Backend>) {
      const std::size_t page = backend_->page_allocator().PageSize();
      const auto runs = backend_->page_runs();
      for (; runs_seen_ < runs.size(); ++runs_seen_) {
        const auto& run = runs[runs_seen_];
        const Region region{run.start, run.start + run.num_pages * page};
        model_.AddRegion(region);
        baseline_stale_ = true;
      }
    }
  }

  void Grow() {
    const std::size_t bytes = in_.Below(std::size_t{1} << (in_.Byte() % 24));
    const absl::Status status = backend_->Grow(bytes);
    if (bytes == 0) {
      ExpectStatus(status, AllocError::kInvalidParam, "Grow(0)");
    } else if (!status.ok()) {
      ExpectStatus(status, AllocError::kNoMemory, "a Grow that failed");
    }
    AddPageRuns();
  }

  // Makes a bad Free of a live block (or of memory that is not one), which
  // must fail with its exact status and change nothing.
  void Misuse() {
    if (model_.live().empty()) return;
    const auto it = PickLive();
    const std::uintptr_t address = it->first;
    const Layout layout = it->second.layout;
    void* const ptr = reinterpret_cast<void*>(address);
    std::size_t used = backend_->UsedBytes();
    std::size_t live = backend_->LiveCount();
    switch (in_.Byte() % 6) {
      case 0:  // An interior pointer.
        if (layout.size < 2) return;
        ExpectStatus(
            backend_->Free(reinterpret_cast<void*>(address + 1 +
                                                   in_.Below(layout.size - 1)),
                           layout),
            AllocError::kNotAllocated, "Free of an interior pointer");
        break;
      case 1: {  // Any address that does not start a live block.
        const std::uintptr_t foreign = span_.start + in_.Below(span_.size());
        if (model_.live().contains(foreign)) return;
        ExpectStatus(backend_->Free(reinterpret_cast<void*>(foreign), layout),
                     AllocError::kNotAllocated, "Free of a foreign pointer");
        break;
      }
      case 2:  // The wrong size.
        ExpectStatus(backend_->Free(ptr, Layout{layout.size + 1 + in_.Below(64),
                                                layout.align}),
                     AllocError::kInvalidParam, "Free with the wrong size");
        break;
      case 3:  // The wrong alignment.
        ExpectStatus(backend_->Free(ptr, Layout{layout.size, layout.align * 2}),
                     AllocError::kInvalidParam,
                     "Free with the wrong alignment");
        break;
      case 4:  // A double free.
        FreeAt(address);
        used = backend_->UsedBytes();
        live = backend_->LiveCount();
        ExpectStatus(backend_->Free(ptr, layout), AllocError::kNotAllocated,
                     "a double free");
        break;
      case 5: {  // An overrun into the back guard, then repaired.
        unsigned char* const guard = static_cast<unsigned char*>(ptr) +
                                     layout.size +
                                     in_.Below(Backend::kGuardBytes);
        internal::UnpoisonMemory(guard, 1);
        const unsigned char saved = *guard;
        *guard ^= 0xFF;
        const absl::Status status = backend_->Free(ptr, layout);
        if (!absl::IsDataLoss(status)) {
          ABSL_RAW_LOG(FATAL, "Free of a block with a damaged guard: %s",
                       status.ToString().c_str());
        }
        internal::UnpoisonMemory(guard, 1);  // Free poisoned it again.
        *guard = saved;
        break;
      }
    }
    if (backend_->UsedBytes() != used || backend_->LiveCount() != live) {
      ABSL_RAW_LOG(FATAL, "a refused Free changed the heap");
    }
  }

  // Returns the live block the input picks; one must be live.
  auto PickLive() {
    auto it = model_.live().begin();
    std::advance(it, in_.Below(model_.live().size()));
    return it;
  }

  void Free() {
    if (model_.live().empty()) return;
    const auto it = PickLive();
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
      const auto it = PickLive();
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
    if (!model_.live().empty()) return;
    if (baseline_stale_) {
      baseline_ = backend_->UsedBytes();
      baseline_stale_ = false;
    } else if (backend_->UsedBytes() != baseline_) {
      ABSL_RAW_LOG(FATAL, "no live block, yet %zu bytes used (%zu at rest)",
                   backend_->UsedBytes(), baseline_);
    }
  }

  FuzzInput& in_;
  const Region span_;
  Backend* const backend_;
  testing::ShadowModel model_;
  std::vector<Region> regions_;  // Given by Init and AddMemory, in span_.
  std::size_t runs_seen_ = 0;    // Page runs of a growing allocator modelled.
  std::size_t baseline_ = 0;     // UsedBytes() with no block live.
  bool baseline_stale_ = false;
};

// Returns the 64 MiB arena the targets share, mapped once per process.
inline Region FuzzArena() {
  static const testing::Arena* const arena = new testing::Arena(kArenaSize);
  return Region{arena->start(), arena->start() + arena->size()};
}

// Runs one input on a fresh `Backend` over the whole arena.
template <ByteBackend Backend>
int FuzzByteBackend(const std::uint8_t* data, std::size_t size) {
  FuzzInput in(data, size);
  auto backend = std::make_unique<Backend>();
  BackendFuzzer<Backend>(in, FuzzArena(), *backend).Run();
  return 0;
}

}  // namespace heapkit::fuzz

#endif  // HEAPKIT_TESTS_FUZZ_BYTE_BACKEND_FUZZER_H_
