#ifndef HEAPKIT_ADAPTERS_STATISTICS_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_STATISTICS_ALLOCATOR_H_

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "adapters/internal/forwarding_allocator.h"
#include "core/concepts.h"
#include "core/internal/fatal.h"
#include "core/layout.h"
#include "fmt/format.h"

namespace heapkit {

// What a StatisticsAllocator counted in one scope (see PushScope): a plain
// copyable snapshot. Print it with fmt ("{}"): a few lines of text.
struct Statistics {
  // A quantity that rises and falls, counted from the start of the scope.
  struct Counter {
    // The net change: increments minus decrements. Negative inside a scope
    // that frees more than it allocates (blocks allocated before it began).
    std::int64_t current = 0;
    // The highest `current` reached in the scope, so 0 or more.
    std::int64_t peak = 0;
    // The sum of the increments.
    std::int64_t total = 0;

    friend bool operator==(const Counter&, const Counter&) = default;
  };

  // One bucket for size 0 and one per bit width of a size_t.
  static constexpr std::size_t kHistogramBuckets =
      std::numeric_limits<std::size_t>::digits + 1;

  // Returns the histogram bucket of a request of `size` bytes: 0 for size 0,
  // else k for a size in [2^(k-1), 2^k).
  static constexpr std::size_t HistogramBucket(std::size_t size) {
    return static_cast<std::size_t>(std::bit_width(size));
  }

  // Requested bytes (layout.size) of live blocks: each successful Alloc adds
  // its size, each Dealloc subtracts it. What the backend really spends on
  // them, rounding and headers included, is the allocator's UsedBytes().
  Counter bytes;
  // Live blocks: each successful Alloc adds one, each Dealloc of a non-null
  // pointer takes one away. So blocks.total counts the successful Allocs.
  Counter blocks;
  // Dealloc calls with a non-null pointer.
  std::int64_t deallocs = 0;
  // Failed Alloc calls, whatever the error.
  std::int64_t failures = 0;
  // Every Alloc call, successful or not, counted in the bucket of its
  // layout.size (see HistogramBucket), so the buckets add up to
  // blocks.total + failures.
  std::array<std::int64_t, kHistogramBuckets> size_histogram{};

  friend bool operator==(const Statistics&, const Statistics&) = default;
};

// Counts what goes through the allocator it wraps: requested bytes and blocks
// (current, peak and total), frees, failed allocations and a histogram of
// requested sizes (see Statistics). Each call is forwarded unchanged and fails
// exactly as the wrapped allocator's does; a failed Alloc is counted as a
// failure and changes no other counter but the histogram.
//
// Counters live in nested scopes, as RMM's statistics_resource_adaptor's
// push/pop: PushScope() starts a scope whose counters start at zero (its peaks
// measured from where the scope began), PopScope() ends it, returns its
// counters and adds them into the enclosing scope. GetStatistics() shows the
// innermost scope only; the outer ones catch up when it is popped.
//
//   heapkit::StatisticsAllocator<heapkit::TlsfByteAllocator> counted;
//   ... counted.Init(start, size) ...
//   counted.PushScope();
//   RunPhase(counted);
//   fmt::print("{}\n", counted.PopScope());
//
// Owns the allocator it wraps, constructed in place from the constructor's
// arguments (wrap a BorrowedAllocator to count calls on one the caller owns).
// Counting costs a few integer additions per call and never allocates; only
// PushScope() may, from the process heap.
//
// Not thread-safe. Stacked under a lock,
// SynchronizedAllocator<StatisticsAllocator<A>>, it counts every thread's
// calls; read the counters, push and pop through the SynchronizedAllocator's
// WithLock(). Stacked over one,
// StatisticsAllocator<BorrowedAllocator<SynchronizedAllocator<A>>>, it counts
// only the calls made through it: one thread's share of a shared allocator,
// for that thread alone to use.
template <ByteBackend A>
class StatisticsAllocator final : public internal::ForwardingAllocator<A> {
  using Base = internal::ForwardingAllocator<A>;

 public:
  // Constructs the wrapped allocator from `args`, with every counter at zero.
  template <class... Args>
  explicit StatisticsAllocator(Args&&... args)
      : Base(std::forward<Args>(args)...) {}

  // Initialises the wrapped allocator, which forgets every block, so zeroes
  // every counter of every open scope, even if Init fails (the scopes stay
  // open). Fails as the wrapped Init does.
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    current_ = Statistics{};
    for (Statistics& parent : parents_) parent = Statistics{};
    return Base::Init(start, size);
  }

  // Forwards to the wrapped allocator and counts the request (see the class
  // comment). Returns the wrapped allocator's result.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override {
    ++current_.size_histogram[Statistics::HistogramBucket(layout.size)];
    absl::StatusOr<void*> block = Base::Alloc(layout);
    if (!block.ok()) {
      ++current_.failures;
      return block;
    }
    // A size the backend served fits in the region, far below INT64_MAX.
    Add(current_.bytes, static_cast<std::int64_t>(layout.size));
    Add(current_.blocks, 1);
    return block;
  }

  // Forwards to the wrapped allocator and, for a non-null `ptr`, counts the
  // free of layout.size bytes.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Dealloc(void* ptr, Layout layout) override {
    Base::Dealloc(ptr, layout);
    if (ptr == nullptr) return;
    current_.bytes.current -= static_cast<std::int64_t>(layout.size);
    --current_.blocks.current;
    ++current_.deallocs;
  }

  // Returns the innermost open scope's counters (the whole history if no scope
  // was pushed, since the last Init).
  const Statistics& GetStatistics() const { return current_; }

  // Starts a scope nested in the current one, with every counter at zero.
  // Until it is popped, calls count in it alone.
  void PushScope() {
    parents_.push_back(current_);
    current_ = Statistics{};
  }

  // Ends the innermost scope: returns its counters and adds them into the
  // enclosing scope's (the enclosing peak becomes at least its current value
  // at the push plus the inner peak). Aborts with a message if no scope is
  // open: an unmatched PopScope() is a bug in the caller.
  Statistics PopScope() {
    if (parents_.empty()) {
      internal::Fatal("StatisticsAllocator::PopScope() without a PushScope()");
    }
    Statistics popped = std::exchange(current_, parents_.back());
    parents_.pop_back();
    Merge(current_.bytes, popped.bytes);
    Merge(current_.blocks, popped.blocks);
    current_.deallocs += popped.deallocs;
    current_.failures += popped.failures;
    for (std::size_t k = 0; k < Statistics::kHistogramBuckets; ++k) {
      current_.size_histogram[k] += popped.size_histogram[k];
    }
    return popped;
  }

  // Returns how many scopes are open: 0 until the first PushScope().
  std::size_t ScopeDepth() const { return parents_.size(); }

  // Returns the wrapped allocator's CheckInvariants() if it fails, else OK or
  // an InternalError naming the first broken invariant of the counters: in
  // each scope, peak between current and total, failed and successful Allocs
  // adding up to the histogram, blocks.current equal to successful Allocs less
  // deallocs; over all scopes, live bytes and blocks not negative and the live
  // bytes not more than the wrapped UsedBytes(). Calls made on wrapped()
  // directly, and frees with another layout than the Alloc's, break them.
  absl::Status CheckInvariants() const {
    if (absl::Status status = Base::CheckInvariants(); !status.ok()) {
      return status;
    }
    std::int64_t live_bytes = 0;
    std::int64_t live_blocks = 0;
    for (std::size_t depth = 0; depth <= parents_.size(); ++depth) {
      const Statistics& scope =
          depth < parents_.size() ? parents_[depth] : current_;
      if (absl::Status status = CheckScope(scope, depth); !status.ok()) {
        return status;
      }
      live_bytes += scope.bytes.current;
      live_blocks += scope.blocks.current;
    }
    if (live_bytes < 0 || live_blocks < 0) {
      return absl::InternalError(absl::StrCat(
          "StatisticsAllocator: more freed than allocated: ", live_bytes,
          " live bytes in ", live_blocks, " live blocks"));
    }
    if (static_cast<std::uint64_t>(live_bytes) > this->UsedBytes()) {
      return absl::InternalError(absl::StrCat(
          "StatisticsAllocator: ", live_bytes,
          " requested bytes are live but the wrapped allocator uses only ",
          this->UsedBytes()));
    }
    return absl::OkStatus();
  }

 private:
  // Adds `n` to the counter. A branch rather than std::max for the peak: in a
  // steady state the peak stands still, and then it costs no store.
  static void Add(Statistics::Counter& counter, std::int64_t n) {
    counter.current += n;
    counter.total += n;
    if (counter.current > counter.peak) [[unlikely]] {
      counter.peak = counter.current;
    }
  }

  // Adds a popped scope's counter into its parent's, which stood at
  // parent.current when the scope was pushed.
  static void Merge(Statistics::Counter& parent,
                    const Statistics::Counter& popped) {
    parent.peak = std::max(parent.peak, parent.current + popped.peak);
    parent.current += popped.current;
    parent.total += popped.total;
  }

  static absl::Status CheckCounter(const Statistics::Counter& counter,
                                   const char* name, std::size_t depth) {
    if (counter.current <= counter.peak && counter.peak <= counter.total &&
        counter.peak >= 0) {
      return absl::OkStatus();
    }
    return absl::InternalError(absl::StrCat(
        "StatisticsAllocator: scope ", depth, " ", name, " has current ",
        counter.current, ", peak ", counter.peak, ", total ", counter.total));
  }

  static absl::Status CheckScope(const Statistics& scope, std::size_t depth) {
    if (absl::Status status = CheckCounter(scope.bytes, "bytes", depth);
        !status.ok()) {
      return status;
    }
    if (absl::Status status = CheckCounter(scope.blocks, "blocks", depth);
        !status.ok()) {
      return status;
    }
    std::int64_t requests = 0;
    for (std::int64_t count : scope.size_histogram) requests += count;
    if (requests != scope.blocks.total + scope.failures) {
      return absl::InternalError(absl::StrCat(
          "StatisticsAllocator: scope ", depth, " histogram counts ", requests,
          " requests but ", scope.blocks.total, " succeeded and ",
          scope.failures, " failed"));
    }
    if (scope.blocks.current != scope.blocks.total - scope.deallocs) {
      return absl::InternalError(absl::StrCat(
          "StatisticsAllocator: scope ", depth, " has ", scope.blocks.current,
          " live blocks after ", scope.blocks.total, " allocs and ",
          scope.deallocs, " deallocs"));
    }
    return absl::OkStatus();
  }

  // The innermost scope, the one every call counts in.
  Statistics current_;
  // The enclosing scopes, outermost first, as they stood at each PushScope().
  std::vector<Statistics> parents_;
};

}  // namespace heapkit

// Formats Statistics as four lines, e.g.
//   bytes: current 96, peak 128, total 224
//   blocks: current 2, peak 3, total 5
//   deallocs 3, failures 1
//   sizes: 0: 1, 32-63: 4, 64-127: 1
// where the last line lists the non-empty histogram buckets by the sizes they
// hold ("sizes: none" if there were no requests). Takes no format spec.
template <>
struct fmt::formatter<heapkit::Statistics> {
  constexpr auto parse(fmt::format_parse_context& ctx) {
    auto it = ctx.begin();
    if (it != ctx.end() && *it != '}') {
      throw fmt::format_error("heapkit::Statistics takes no format spec");
    }
    return it;
  }

  template <class FormatContext>
  auto format(const heapkit::Statistics& stats, FormatContext& ctx) const {
    auto out = ctx.out();
    for (auto [name, counter] :
         {std::pair{"bytes", stats.bytes}, std::pair{"blocks", stats.blocks}}) {
      out = fmt::format_to(out, "{}: current {}, peak {}, total {}\n", name,
                           counter.current, counter.peak, counter.total);
    }
    out =
        fmt::format_to(out, "deallocs {}, failures {}\nsizes:", stats.deallocs,
                       stats.failures);
    const char* separator = " ";
    for (std::size_t k = 0; k < heapkit::Statistics::kHistogramBuckets; ++k) {
      const std::int64_t count = stats.size_histogram[k];
      if (count == 0) continue;
      if (k <= 1) {
        out = fmt::format_to(out, "{}{}: {}", separator, k, count);
      } else {
        const std::size_t low = std::size_t{1} << (k - 1);
        out = fmt::format_to(out, "{}{}-{}: {}", separator, low,
                             low + (low - 1), count);
      }
      separator = ", ";
    }
    if (*separator == ' ') out = fmt::format_to(out, " none");
    return out;
  }
};

#endif  // HEAPKIT_ADAPTERS_STATISTICS_ALLOCATOR_H_
