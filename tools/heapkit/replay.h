#ifndef HEAPKIT_TOOLS_HEAPKIT_REPLAY_H_
#define HEAPKIT_TOOLS_HEAPKIT_REPLAY_H_

// Replays an allocation trace on HeapKit's backends and on general-purpose
// allocators, and measures what `heapkit replay` reports.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "adapters/trace/trace_reader.h"
#include "tools/heapkit/svg.h"

namespace heapkit::cli {

// Latency percentiles of one kind of operation, in nanoseconds.
struct Latency {
  double p50 = 0;
  double p99 = 0;
  double p999 = 0;
  double max = 0;
};

// What one allocator did with a trace.
struct ReplayResult {
  std::string allocator;
  // Why the allocator could not run (a peer library that is missing); the
  // other fields are then unset.
  std::string error;
  // Median over the rounds of the mean time per event.
  double ns_per_op = 0;
  Latency alloc;  // Allocations and reallocations.
  Latency free;
  // Allocations that failed (null) in the warm-up round.
  std::uint64_t failures = 0;
  // The highest block end reached above the region's start, over the trace's
  // peak live bytes; 0 where unknown (the general-purpose allocators).
  double footprint = 0;
  // The smallest region in which the trace completed without a failure,
  // found by bisection; 0 where unknown or not searched.
  std::uint64_t min_region = 0;
};

struct ReplayOptions {
  // Interleaved rounds, after one warm-up round; ns_per_op is their median.
  int rounds = 3;
  // The region each HeapKit backend gets; 0 chooses DefaultRegionSize().
  std::uint64_t region = 0;
  // Search for each backend's smallest region.
  bool find_min_region = true;
  // The allocators to run: HeapKit backends ("slab", "tlsf", "buddy") and
  // peers ("glibc", "jemalloc", "mimalloc", "tcmalloc"); empty for all.
  std::vector<std::string> allocators;
  // Called after each step with (steps done, steps in all), for a progress
  // bar; may be empty.
  std::function<void(int, int)> progress;
};

// Returns every allocator name Replay knows, backends first.
std::vector<std::string> AllAllocatorNames();

// Returns true for the name of a HeapKit backend.
bool IsBackend(const std::string& name);

// Returns the region a backend gets by default: 64 MiB, or four times the
// trace's peak live bytes rounded up to a power of two if that is more.
std::uint64_t DefaultRegionSize(const trace::Trace& trace);

// Replays `trace` on each allocator, one event after another on one thread,
// rounds interleaved, and returns one result per allocator in the order asked.
// A realloc is replayed as allocate, copy and free on every allocator alike.
std::vector<ReplayResult> Replay(const trace::Trace& trace,
                                 const ReplayOptions& options);

// The live blocks of a backend at one moment of a trace.
struct HeapSnapshot {
  std::uint64_t region_size = 0;
  // The highest block end reached so far, above the region's start.
  std::uint64_t high_water = 0;
  std::vector<MapBlock> blocks;
  // Allocations that failed before the moment.
  std::uint64_t failures = 0;
};

// Replays `trace` on `backend` over a region of `region` bytes (0: the
// default) up to and including event `stop` (clamped to the last event), and
// returns the live blocks then. Returns false, with the reason, for an
// unknown backend or a region that cannot be mapped.
bool SnapshotAt(const trace::Trace& trace, const std::string& backend,
                std::uint64_t region, std::size_t stop, HeapSnapshot& snapshot,
                std::string& error);

}  // namespace heapkit::cli

#endif  // HEAPKIT_TOOLS_HEAPKIT_REPLAY_H_
