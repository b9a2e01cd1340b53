#ifndef HEAPKIT_ADAPTERS_TRACKING_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_TRACKING_ALLOCATOR_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/container/flat_hash_map.h"
#include "absl/debugging/stacktrace.h"
#include "absl/debugging/symbolize.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/forwarding_allocator.h"
#include "core/alloc_error.h"
#include "core/concepts.h"
#include "core/internal/hex.h"
#include "core/layout.h"
#include "fmt/format.h"

namespace heapkit {

// Records every live block of the allocator it wraps, to find leaks:
//
//   heapkit::TrackingAllocator<heapkit::TlsfByteAllocator> tracked;
//   tracked.set_capture_stack_traces(true);  // Slow: off by default.
//   ... tracked.Init(start, size); Alloc and Dealloc as usual ...
//   std::cerr << tracked.ReportLeaks();
//
// Owns the allocator it wraps: `A` is constructed in place from the
// constructor's arguments (wrap BorrowedAllocator<A> to track an allocator the
// caller owns). Each block Alloc returns is recorded with its layout, a
// sequence number (successful Allocs counted from 0 over this object's life)
// and, while enabled, the stack that allocated it; Dealloc forgets it. The
// table lives on the process heap, never in the managed regions, so tracking
// changes no address, byte count or result of the wrapped allocator.
//
// Failures are the wrapped allocator's, unchanged: a failed Alloc records
// nothing, and Dealloc of a pointer that is not recorded is forwarded as it is
// (the wrapped allocator decides; CheckedAllocator diagnoses such frees). If
// the process heap runs out, recording throws std::bad_alloc as any container
// does. Not thread-safe: wrap it in SynchronizedAllocator to share it.
template <ByteBackend A>
class TrackingAllocator final : public internal::ForwardingAllocator<A> {
 public:
  // The most frames recorded per block while stack traces are on.
  static constexpr int kMaxStackFrames = 32;

  // A block that Alloc returned and Dealloc has not freed yet.
  struct LiveBlock {
    void* address;
    Layout layout;
    std::uint64_t sequence;
    // Return addresses, innermost first; empty while traces are off.
    std::vector<void*> stack;
  };

  using internal::ForwardingAllocator<A>::ForwardingAllocator;

  // Forgets every recorded block, as the wrapped allocator forgets them, then
  // initialises it. Sequence numbers go on counting.
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    blocks_.clear();
    return this->wrapped_.Init(start, size);
  }

  // Returns the wrapped allocator's block or error; records a block.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override {
    absl::StatusOr<void*> block = this->wrapped_.Alloc(layout);
    if (block.ok()) RecordBlock(*block, layout);
    return block;
  }

  // Forgets `ptr`, if it is recorded, and forwards the call.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Dealloc(void* ptr, Layout layout) override {
    if (ptr != nullptr) ForgetBlock(ptr);
    this->wrapped_.Dealloc(ptr, layout);
  }

  // Turns on or off the recording of a stack trace (absl::GetStackTrace) with
  // each later Alloc. Off by default: each trace walks the stack and takes a
  // heap allocation. Blocks already recorded keep what they have.
  // Abseil's x86-64 unwinder follows frame pointers: build the calling code
  // with -fno-omit-frame-pointer for complete traces in optimised builds.
  void set_capture_stack_traces(bool capture) {
    capture_stack_traces_ = capture;
  }
  bool capture_stack_traces() const { return capture_stack_traces_; }

  // Returns how many blocks are live.
  std::size_t LiveCount() const { return blocks_.size(); }

  // Returns every live block, in sequence (allocation) order.
  std::vector<LiveBlock> live_blocks() const {
    std::vector<LiveBlock> live;
    live.reserve(blocks_.size());
    for (const auto& [address, record] : blocks_) {
      live.push_back(
          LiveBlock{address, record.layout, record.sequence, record.stack});
    }
    std::sort(live.begin(), live.end(),
              [](const LiveBlock& a, const LiveBlock& b) {
                return a.sequence < b.sequence;
              });
    return live;
  }

  // Returns a report of the live blocks in sequence order, one line each
  // ("  block #3 at 0x7f...: 64 bytes, align 8"), each followed by its stack
  // if one was recorded: a line per frame with its address and, when
  // absl::Symbolize can name it, its function. Reads symbols only here, so the
  // report is slow; it is meant for the end of a run.
  std::string ReportLeaks() const {
    const std::vector<LiveBlock> live = live_blocks();
    std::string report;
    auto out = std::back_inserter(report);
    if (live.empty()) {
      fmt::format_to(out, "TrackingAllocator: no live blocks\n");
      return report;
    }
    std::size_t bytes = 0;
    for (const LiveBlock& block : live) bytes += block.layout.size;
    fmt::format_to(out, "TrackingAllocator: {} live block{}, {} bytes\n",
                   live.size(), live.size() == 1 ? "" : "s", bytes);
    for (const LiveBlock& block : live) {
      fmt::format_to(
          out, "  block #{} at {}: {} bytes, align {}\n", block.sequence,
          internal::Hex(reinterpret_cast<std::uintptr_t>(block.address)),
          block.layout.size, block.layout.align);
      for (void* frame : block.stack) {
        fmt::format_to(out, "      {} {}\n",
                       internal::Hex(reinterpret_cast<std::uintptr_t>(frame)),
                       Symbol(frame));
      }
    }
    return report;
  }

  // Checks that no two live blocks overlap (which would be the wrapped
  // allocator's bug), then the wrapped allocator's invariants.
  absl::Status CheckInvariants() const {
    std::vector<std::pair<std::uintptr_t, std::size_t>> spans;
    spans.reserve(blocks_.size());
    for (const auto& [address, record] : blocks_) {
      spans.emplace_back(reinterpret_cast<std::uintptr_t>(address),
                         record.layout.size);
    }
    std::sort(spans.begin(), spans.end());
    for (std::size_t i = 1; i < spans.size(); ++i) {
      if (spans[i - 1].first + spans[i - 1].second > spans[i].first) {
        return MakeError(
            AllocError::kMemoryOverlap,
            fmt::format("TrackingAllocator: live blocks at {} ({} bytes) and "
                        "{} overlap",
                        internal::Hex(spans[i - 1].first), spans[i - 1].second,
                        internal::Hex(spans[i].first)));
      }
    }
    return internal::ForwardingAllocator<A>::CheckInvariants();
  }

 private:
  struct Record {
    Layout layout;
    std::uint64_t sequence = 0;
    std::vector<void*> stack;
  };

  // Records a block that the wrapped Alloc returned, with the stack that
  // allocated it while traces are on: from the caller of this function, which
  // is Alloc or, where Alloc is inlined, its caller. Out of line (the hash
  // table's insertion is large), so that the inlined Alloc stays small.
  ABSL_ATTRIBUTE_NOINLINE void RecordBlock(void* address, Layout layout) {
    Record& record = blocks_[address];
    record.layout = layout;
    record.sequence = next_sequence_++;
    record.stack.clear();
    if (capture_stack_traces_) {
      void* frames[kMaxStackFrames];
      const int depth = std::max(
          absl::GetStackTrace(frames, kMaxStackFrames, /*skip_count=*/0), 0);
      // Whether the trace holds a frame for this function depends on how
      // Abseil was built (Debian's GetStackTrace has no frame pointer, so its
      // caller's frame is not seen): start at the return address here.
      void* const caller = __builtin_return_address(0);
      const int first =
          static_cast<int>(std::find(frames, frames + depth, caller) - frames);
      record.stack.assign(frames + (first < depth ? first : 0), frames + depth);
    }
  }

  // Forgets `address`, if it is recorded. Out of line, as RecordBlock.
  ABSL_ATTRIBUTE_NOINLINE void ForgetBlock(void* address) {
    blocks_.erase(address);
  }

  // Returns the name of the function holding return address `frame`, or
  // "(no symbol)". Looks up frame - 1: a return address may already belong to
  // the next function when the call was the last instruction.
  static std::string Symbol(void* frame) {
    char name[1024];
    if (absl::Symbolize(static_cast<char*>(frame) - 1, name, sizeof name)) {
      return name;
    }
    return "(no symbol)";
  }

  absl::flat_hash_map<void*, Record> blocks_;
  std::uint64_t next_sequence_ = 0;
  bool capture_stack_traces_ = false;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_TRACKING_ALLOCATOR_H_
