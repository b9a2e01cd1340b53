#ifndef HEAPKIT_ADAPTERS_TRACE_TRACE_READER_H_
#define HEAPKIT_ADAPTERS_TRACE_TRACE_READER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "adapters/trace/trace_format.h"

namespace heapkit::trace {

// The largest size and alignment a trace may hold: anything above is taken
// for corruption, as no replay could serve it.
inline constexpr std::uint64_t kMaxEventSize = std::uint64_t{1} << 40;
inline constexpr int kMaxAlignLog2 = 30;

// One record of a trace, with its block given a dense number for replay.
struct TraceEvent {
  RecordType type;
  std::uint32_t thread;
  // The block allocated (kAlloc), freed (kFree) or moved (kRealloc): blocks
  // are numbered from 0, and a number is reused once its block is freed, so
  // a replay keeps its live blocks in a vector of Trace::max_blocks entries.
  // A realloc keeps its block's number.
  std::uint32_t block;
  // The alignment's log2 (kAlloc, kRealloc).
  std::uint8_t align_log2;
  // The requested size (kAlloc, kRealloc); 0 for kFree.
  std::uint64_t size;
  // The block's address in the recorded run (the new one for kRealloc).
  std::uint64_t address;
  // Nanoseconds since the trace began.
  std::uint64_t time_ns;

  std::uint64_t align() const { return std::uint64_t{1} << align_log2; }
};

// A whole trace, checked: every free and realloc names a live block, and no
// allocation returns an address that is still live.
struct Trace {
  std::vector<TraceEvent> events;
  // The most block numbers live at once (the size a replay's table needs).
  std::uint32_t max_blocks = 0;
  std::uint32_t threads = 0;
  // The most requested bytes live at once, and the index of the event after
  // which that peak was first reached (0 for a trace without allocations).
  std::uint64_t peak_live_bytes = 0;
  std::size_t peak_event = 0;
  // Requested bytes and blocks still live at the end.
  std::uint64_t end_live_bytes = 0;
  std::uint32_t end_live_blocks = 0;
};

// Parses a trace held in memory. On bad input returns kInvalidArgument with a
// message that names the byte offset of the problem: a missing or wrong magic,
// another version, a truncated or unknown record, an overlong number, a time
// past 2^64 ns, a size or alignment past the limits above, a free or realloc of
// a block that is not live, or an allocation at an address that is still live.
absl::StatusOr<Trace> ParseTrace(absl::string_view bytes);

// Reads and parses the trace file at `path`; errors as ParseTrace, prefixed by
// the path, or the reason the file could not be read.
absl::StatusOr<Trace> ReadTraceFile(const std::string& path);

}  // namespace heapkit::trace

#endif  // HEAPKIT_ADAPTERS_TRACE_TRACE_READER_H_
