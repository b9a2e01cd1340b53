#ifndef HEAPKIT_ADAPTERS_CHECKED_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_CHECKED_ALLOCATOR_H_

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/internal/forwarding_allocator.h"
#include "core/alloc_error.h"
#include "core/concepts.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"
#include "core/internal/hex.h"
#include "core/layout.h"
#include "fmt/format.h"

namespace heapkit {

// What a CheckedAllocator does with the blocks still live when it is destroyed
// or re-initialised (Init), which ends their life.
enum class LeakPolicy {
  kAbort,   // Prints the list to stderr, then aborts (internal::Fatal).
  kReport,  // Prints the list to stderr and goes on. The default.
  kSilent,  // Says nothing.
};

// Checks every use of the allocator it wraps, to find memory bugs: turn it on
// when memory goes wrong (or build with --define heapkit_checked=on to wrap
// heapkit::DefaultByteAllocator in it).
//
//   heapkit::CheckedAllocator<heapkit::TlsfByteAllocator> checked;
//   ... checked.Init(start, size) ...
//   absl::Status freed = checked.Free(ptr, layout);  // Says what is wrong.
//
// Owns the allocator it wraps: `A` is constructed in place from the
// constructor's arguments (wrap BorrowedAllocator<A> to check one the caller
// owns). Not thread-safe: wrap it in SynchronizedAllocator to share it.
//
// Each block takes more from `A` than asked, to put guards of kGuardByte
// (0xFD) around the caller's bytes:
//
//   | front guard | user bytes (layout.size) | back guard |
//   ^ from A      ^ returned: aligned to layout.align
//
// For an alignment up to kMaxFrontGuardAlign (4 KiB), the block is taken
// 16-aligned and max(align, 16) + size + 16 bytes long: the user bytes start
// at the first aligned address at least kGuardBytes (16) in, so the front
// guard is 16 to max(align, 16) bytes (a multiple of 16) and the back guard
// gets the rest, at least 16. Both guards hold every spare byte of the block.
// (A 16-aligned block costs what an align-aligned one with a front guard of
// `align` would, without making `A` search for an aligned one.) For a larger
// alignment a front guard would cost a whole alignment unit, up to 1 MiB for
// a 1 MiB-aligned block, enough to turn a run that fits into kNoMemory: the
// block is taken align-aligned, size + 16 bytes long, with the user bytes at
// its start and a back guard only, so overruns are still caught but not
// underruns.
//
// Fresh user bytes read kFreshByte (0xCD), so a read of uninitialised memory
// shows; freed user bytes are scribbled with kFreedByte (0xDD) before going
// back to `A`, so a use after free shows. (These are the MSVC debug heap's
// bytes, which many people recognise.)
//
// A table on the process heap (never in the managed regions) records each
// live block's layout, sequence number (successful Allocs counted from 0 over
// this object's life) and the block taken from `A`; another remembers up to
// kFreedHistory freed blocks, to tell a double free from a foreign pointer.
//
// Failures. Alloc returns kInvalidParam for an invalid layout, before adding
// guards; kNoMemory when the size plus guards does not fit in a size_t or `A`
// has no room for it; otherwise `A`'s error unchanged. Free returns, and
// changes nothing, on a pointer that is not a live block (kNotAllocated: double
// free, foreign pointer, or an interior pointer, whose block and offset the
// message names), a layout other than the allocation's (kInvalidParam), or
// damaged guards (absl::DataLossError, not an AllocError: the heap is
// corrupt, no argument is wrong; the message names the block, its sequence
// number and the offset of the first damaged byte from the user pointer).
// Dealloc runs the same checks and aborts with Free's message on any problem.
//
// TotalBytes() and UsedBytes() are `A`'s: guards and slack count as used.
//
// Under AddressSanitizer (core/internal/asan.h) the guards are poisoned while
// the block is live, so ASan reports an overrun or underrun at the faulting
// instruction rather than at the Free that would find the damage.
template <ByteBackend A>
class CheckedAllocator final : public internal::ForwardingAllocator<A> {
 public:
  // The least bytes of each guard, and the alignment of front-guarded blocks.
  static constexpr std::size_t kGuardBytes = 16;
  // The largest alignment whose blocks get a front guard.
  static constexpr std::size_t kMaxFrontGuardAlign = 4096;
  // What the guards hold.
  static constexpr unsigned char kGuardByte = 0xFD;
  // What a fresh block's user bytes hold.
  static constexpr unsigned char kFreshByte = 0xCD;
  // What a freed block's user bytes are scribbled with.
  static constexpr unsigned char kFreedByte = 0xDD;
  // How many freed blocks are remembered to recognise a double free. When the
  // history is full it is forgotten at once (an older double free is then
  // reported as a foreign pointer, still kNotAllocated); a block allocated
  // over a remembered one forgets it.
  static constexpr std::size_t kFreedHistory = std::size_t{1} << 16;

  using internal::ForwardingAllocator<A>::ForwardingAllocator;

  // Applies the leak policy to the blocks still live.
  ~CheckedAllocator() override { HandleLeaks("destroyed"); }

  // Applies the leak policy to the blocks still live, forgets them, then
  // initialises the wrapped allocator. Sequence numbers go on counting.
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    HandleLeaks("re-initialised");
    live_.clear();
    freed_.clear();
    return this->wrapped_.Init(start, size);
  }

  // Returns a block of `layout`, its user bytes set to kFreshByte, between
  // guards. Fails as the class comment says.
  //
  // Alloc, Dealloc and Free are forced inline, so that the wrapped
  // allocator's inline fast path stays inline in them; the checks, the
  // patterns and the tables are out of line.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override {
    if (!layout.IsValid()) [[unlikely]] {
      return InvalidLayoutError(layout);
    }
    // Front-guarded blocks are 16-aligned and max(align, 16) + 16 bytes
    // longer; larger alignments get only the back guard. The overhead is at
    // most 2^63 + 16, so it cannot wrap.
    const bool front_guard = layout.align <= kMaxFrontGuardAlign;
    const std::size_t block_align = front_guard ? kGuardBytes : layout.align;
    const std::size_t overhead =
        front_guard ? std::max(layout.align, kGuardBytes) + kGuardBytes
                    : kGuardBytes;
    // The block must be a valid Layout too: its size rounded up to its
    // alignment fits in a size_t.
    if (layout.size > kMaxSize - (block_align - 1) - overhead) [[unlikely]] {
      return TooLargeError(layout, overhead);
    }
    const Layout block_layout{layout.size + overhead, block_align};
    absl::StatusOr<void*> block = this->wrapped_.Alloc(block_layout);
    if (!block.ok()) [[unlikely]] {
      return block;
    }
    return SetUpBlock(reinterpret_cast<std::uintptr_t>(*block), layout,
                      block_layout);
  }

  // Frees `ptr` as Free does; aborts with Free's message if Free fails. A null
  // `ptr` is ignored.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Dealloc(void* ptr, Layout layout) override {
    if (absl::Status status = Free(ptr, layout); !status.ok()) [[unlikely]] {
      ReportBadDealloc(status);
    }
  }

  // Frees a live block after checking the call and the block's guards; OK for
  // a null `ptr`, which is ignored. On failure (see the class comment)
  // returns the status and leaves the heap and tables as they were, so the
  // block can still be inspected, repaired and freed.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::Status Free(void* ptr, Layout layout) {
    if (ptr == nullptr) return absl::OkStatus();
    absl::Status error;
    const auto found =
        CheckFree(reinterpret_cast<std::uintptr_t>(ptr), layout, error);
    if (!error.ok()) [[unlikely]] {
      return error;
    }
    this->wrapped_.Dealloc(reinterpret_cast<void*>(found->second.base),
                           found->second.block);
    ForgetLive(found);
    return absl::OkStatus();
  }

  // Sets what happens to blocks still live at destruction or Init().
  void set_leak_policy(LeakPolicy policy) { leak_policy_ = policy; }
  LeakPolicy leak_policy() const { return leak_policy_; }

  // Returns how many blocks are live.
  std::size_t LiveCount() const { return live_.size(); }

  // Returns the live blocks in sequence (allocation) order, one line each
  // ("  block #3 at 0x7f...: 64 bytes, align 8") after a count: what the leak
  // policy prints.
  std::string ReportLeaks() const {
    return FormatLiveBlocks("CheckedAllocator: ");
  }

  // Checks every live block's guards (DataLossError naming the first damaged
  // block in address order), then the wrapped allocator's invariants.
  absl::Status CheckInvariants() const {
    for (const auto& [user, block] : live_) {
      if (absl::Status guards = CheckGuards(user, block); !guards.ok()) {
        return guards;
      }
    }
    return internal::ForwardingAllocator<A>::CheckInvariants();
  }

 private:
  static constexpr std::size_t kMaxSize =
      std::numeric_limits<std::size_t>::max();

  struct LiveBlock {
    Layout layout;
    std::uint64_t sequence;
    std::uintptr_t base;  // The block taken from `A`, and its layout.
    Layout block;
  };
  struct FreedBlock {
    Layout layout;
    std::uint64_t sequence;
  };

  using LiveMap = absl::btree_map<std::uintptr_t, LiveBlock>;

  // Alloc's errors, out of line.
  ABSL_ATTRIBUTE_NOINLINE static absl::StatusOr<void*> InvalidLayoutError(
      Layout layout) {
    return MakeError(AllocError::kInvalidParam,
                     fmt::format("CheckedAllocator: invalid layout ({} "
                                 "bytes, align {})",
                                 layout.size, layout.align));
  }
  ABSL_ATTRIBUTE_NOINLINE static absl::StatusOr<void*> TooLargeError(
      Layout layout, std::size_t overhead) {
    return MakeError(
        AllocError::kNoMemory,
        fmt::format("CheckedAllocator: {} bytes plus {} bytes of guards do "
                    "not fit in a size_t",
                    layout.size, overhead));
  }

  // Fills the guards and the user bytes of `block_layout` at `base`, just
  // taken from `A` for `layout`, records it as live and returns the user
  // pointer.
  ABSL_ATTRIBUTE_NOINLINE void* SetUpBlock(std::uintptr_t base, Layout layout,
                                           Layout block_layout) {
    // With a front guard, `base` is 16-aligned, so the user bytes start 16 to
    // max(align, 16) bytes in, which leaves the back guard at least 16; the
    // sum cannot wrap, as the block ends past it.
    const std::uintptr_t user =
        layout.align <= kMaxFrontGuardAlign
            ? internal::AlignUp(base + kGuardBytes, layout.align)
            : base;
    const std::size_t front = user - base;
    auto* bytes = reinterpret_cast<unsigned char*>(base);
    std::memset(bytes, kGuardByte, front);
    std::memset(bytes + front, kFreshByte, layout.size);
    std::memset(bytes + front + layout.size, kGuardByte,
                block_layout.size - front - layout.size);
    internal::PoisonMemory(bytes, front);
    internal::PoisonMemory(bytes + front + layout.size,
                           block_layout.size - front - layout.size);
    live_.insert_or_assign(
        user, LiveBlock{layout, next_sequence_++, base, block_layout});
    // Freed blocks under the new one are gone. (Usually there are none: then
    // one search is enough.)
    const auto first = freed_.lower_bound(base);
    if (first != freed_.end() && first->first < base + block_layout.size) {
      freed_.erase(first, freed_.lower_bound(base + block_layout.size));
    }
    return reinterpret_cast<void*>(user);
  }

  // Checks a Free of `user` with `layout`. Returns the live block's entry,
  // its user bytes scribbled with kFreedByte and its guards unpoisoned (the
  // whole block is live to `A` until `A` frees it), if it may be freed;
  // otherwise sets `error` and changes nothing.
  ABSL_ATTRIBUTE_NOINLINE typename LiveMap::iterator CheckFree(
      std::uintptr_t user, Layout layout, absl::Status& error) {
    const auto found = live_.find(user);
    if (found == live_.end()) {
      error = DiagnoseUnknown(user);
      return found;
    }
    const LiveBlock& block = found->second;
    if (layout != block.layout) {
      error = MakeError(
          AllocError::kInvalidParam,
          fmt::format("CheckedAllocator: free of {} with the wrong layout ({} "
                      "bytes, align {}; it was allocated with {} bytes, align "
                      "{})",
                      Describe(user, block), layout.size, layout.align,
                      block.layout.size, block.layout.align));
      return found;
    }
    error = CheckGuards(user, block);
    if (error.ok()) {
      std::memset(reinterpret_cast<void*>(user), kFreedByte, block.layout.size);
      internal::UnpoisonMemory(reinterpret_cast<void*>(block.base),
                               block.block.size);
    }
    return found;
  }

  // Moves a live block, just given back to `A`, to the freed history.
  ABSL_ATTRIBUTE_NOINLINE void ForgetLive(typename LiveMap::iterator found) {
    if (freed_.size() >= kFreedHistory) freed_.clear();
    freed_.insert_or_assign(
        found->first, FreedBlock{found->second.layout, found->second.sequence});
    live_.erase(found);
  }

  // Aborts with Free's message: a Dealloc that Free refused.
  [[noreturn]] ABSL_ATTRIBUTE_NOINLINE static void ReportBadDealloc(
      const absl::Status& status) {
    internal::Fatal("%s", std::string(status.message()).c_str());
  }

  // Returns e.g. "0x7f0012345670 (block #12, 64 bytes, align 8)".
  static std::string Describe(std::uintptr_t user, const LiveBlock& block) {
    return fmt::format("{} (block #{}, {} bytes, align {})",
                       internal::Hex(user), block.sequence, block.layout.size,
                       block.layout.align);
  }

  // Returns the index of the first byte of [begin, begin + size) that is not
  // kGuardByte, or nullopt. Compares a chunk at a time: front guards of
  // aligned blocks can be kilobytes, and every Free checks them.
  static std::optional<std::size_t> FirstDamaged(const unsigned char* begin,
                                                 std::size_t size) {
    static constexpr std::size_t kChunk = 256;
    static constexpr std::array<unsigned char, kChunk> kPattern = [] {
      std::array<unsigned char, kChunk> pattern;
      pattern.fill(kGuardByte);
      return pattern;
    }();
    for (std::size_t at = 0; at < size; at += kChunk) {
      const std::size_t n = std::min(kChunk, size - at);
      if (std::memcmp(begin + at, kPattern.data(), n) == 0) continue;
      for (std::size_t i = at;; ++i) {
        if (begin[i] != kGuardByte) return i;
      }
    }
    return std::nullopt;
  }

  // Returns OK if both guards of `block` are intact, else a DataLossError.
  static absl::Status CheckGuards(std::uintptr_t user, const LiveBlock& block) {
    const auto* base = reinterpret_cast<const unsigned char*>(block.base);
    const std::size_t front = user - block.base;
    const std::size_t back_start = front + block.layout.size;
    // Reads the guards where ASan cannot object, and poisons them again after.
    internal::UnpoisonMemory(base, front);
    internal::UnpoisonMemory(base + back_start, block.block.size - back_start);
    absl::Status status = CheckUnpoisonedGuards(user, block);
    internal::PoisonMemory(base, front);
    internal::PoisonMemory(base + back_start, block.block.size - back_start);
    return status;
  }

  // CheckGuards, once the guards are addressable.
  static absl::Status CheckUnpoisonedGuards(std::uintptr_t user,
                                            const LiveBlock& block) {
    const auto* base = reinterpret_cast<const unsigned char*>(block.base);
    const std::size_t front = user - block.base;
    const std::size_t back_start = front + block.layout.size;
    std::ptrdiff_t offset;
    if (std::optional<std::size_t> at = FirstDamaged(base, front)) {
      offset =
          static_cast<std::ptrdiff_t>(*at) - static_cast<std::ptrdiff_t>(front);
    } else if (std::optional<std::size_t> at = FirstDamaged(
                   base + back_start, block.block.size - back_start)) {
      offset = static_cast<std::ptrdiff_t>(block.layout.size + *at);
    } else {
      return absl::OkStatus();
    }
    const auto damaged = static_cast<unsigned>(
        base[static_cast<std::ptrdiff_t>(front) + offset]);
    return absl::DataLossError(fmt::format(
        "CheckedAllocator: guard {} of {}: first damaged byte at "
        "offset {:+} from the user pointer (0x{:02x}, not 0x{:02x})",
        offset < 0 ? "underrun" : "overrun", Describe(user, block), offset,
        damaged, kGuardByte));
  }

  // Returns kNotAllocated with what `user`, which is not a live block, is: a
  // freed block, a pointer into a live block, or a foreign pointer.
  absl::Status DiagnoseUnknown(std::uintptr_t user) const {
    if (const auto freed = freed_.find(user); freed != freed_.end()) {
      return MakeError(
          AllocError::kNotAllocated,
          fmt::format("CheckedAllocator: double free of {} (block #{}, {} "
                      "bytes, align {})",
                      internal::Hex(user), freed->second.sequence,
                      freed->second.layout.size, freed->second.layout.align));
    }
    // Blocks taken from `A` do not overlap, so at most one holds `user`: the
    // last starting at or before it (its user pointer is below `user`), or
    // the next one, if `user` is in its front guard.
    auto next = live_.upper_bound(user);
    auto holder = live_.end();
    if (next != live_.end() && next->second.base <= user) {
      holder = next;
    } else if (next != live_.begin()) {
      const auto prev = std::prev(next);
      if (user - prev->second.base < prev->second.block.size) holder = prev;
    }
    if (holder != live_.end()) {
      const std::ptrdiff_t offset =
          static_cast<std::ptrdiff_t>(user - holder->first);
      return MakeError(
          AllocError::kNotAllocated,
          fmt::format("CheckedAllocator: free of interior pointer {}: offset "
                      "{:+} into {}",
                      internal::Hex(user), offset,
                      Describe(holder->first, holder->second)));
    }
    return MakeError(AllocError::kNotAllocated,
                     fmt::format("CheckedAllocator: free of foreign pointer "
                                 "{}: no block was allocated there",
                                 internal::Hex(user)));
  }

  // Returns `prefix`, then "<n> live block(s), <bytes> bytes", then a line
  // per live block in sequence order.
  std::string FormatLiveBlocks(const std::string& prefix) const {
    std::vector<std::pair<std::uintptr_t, const LiveBlock*>> blocks;
    std::size_t bytes = 0;
    for (const auto& [user, block] : live_) {
      blocks.emplace_back(user, &block);
      bytes += block.layout.size;
    }
    std::sort(blocks.begin(), blocks.end(), [](const auto& a, const auto& b) {
      return a.second->sequence < b.second->sequence;
    });
    std::string report = prefix;
    auto out = std::back_inserter(report);
    fmt::format_to(out, "{} live block{}, {} bytes\n", blocks.size(),
                   blocks.size() == 1 ? "" : "s", bytes);
    for (const auto& [user, block] : blocks) {
      fmt::format_to(out, "  block #{} at {}: {} bytes, align {}\n",
                     block->sequence, internal::Hex(user), block->layout.size,
                     block->layout.align);
    }
    return report;
  }

  // Applies the leak policy to the live blocks; `when` says what ends them.
  void HandleLeaks(const char* when) const {
    if (live_.empty() || leak_policy_ == LeakPolicy::kSilent) return;
    fmt::print(
        stderr, "{}",
        FormatLiveBlocks(fmt::format("CheckedAllocator {} with ", when)));
    std::fflush(stderr);
    if (leak_policy_ == LeakPolicy::kAbort) {
      internal::Fatal("CheckedAllocator: %zu block%s leaked when %s",
                      live_.size(), live_.size() == 1 ? "" : "s", when);
    }
  }

  // Keyed by user pointer; ordered, to find the block holding an interior
  // pointer. Both on the process heap. B-trees rather than std::map: a lookup
  // in a table of thousands of blocks touches a few nodes of many entries each
  // instead of a cache line per level, and an insertion rarely allocates.
  LiveMap live_;
  absl::btree_map<std::uintptr_t, FreedBlock> freed_;
  std::uint64_t next_sequence_ = 0;
  LeakPolicy leak_policy_ = LeakPolicy::kReport;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_CHECKED_ALLOCATOR_H_
