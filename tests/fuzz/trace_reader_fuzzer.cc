// Feeds arbitrary bytes to the trace reader: it must refuse bad input with a
// status naming an offset, never crash, and on input it accepts return a
// trace whose summary agrees with its events.

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "adapters/trace/trace_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
  using heapkit::trace::RecordType;
  const absl::StatusOr<heapkit::trace::Trace> trace =
      heapkit::trace::ParseTrace(
          absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!trace.ok()) {
    ABSL_RAW_CHECK(absl::StartsWith(trace.status().message(), "offset "),
                   "an error that does not name its offset");
    return 0;
  }
  std::uint64_t live = 0;
  std::uint64_t peak = 0;
  std::uint64_t last_time = 0;
  std::vector<std::uint64_t> sizes(trace->max_blocks, 0);
  std::vector<bool> in_use(trace->max_blocks, false);
  for (const heapkit::trace::TraceEvent& event : trace->events) {
    ABSL_RAW_CHECK(event.block < trace->max_blocks, "block out of range");
    ABSL_RAW_CHECK(event.thread < trace->threads, "thread out of range");
    ABSL_RAW_CHECK(event.time_ns >= last_time, "time goes back");
    last_time = event.time_ns;
    const bool alloc = event.type == RecordType::kAlloc;
    ABSL_RAW_CHECK(in_use[event.block] != alloc, "block state");
    live -= sizes[event.block];
    sizes[event.block] = event.type == RecordType::kFree ? 0 : event.size;
    in_use[event.block] = event.type != RecordType::kFree;
    live += sizes[event.block];
    if (live > peak) peak = live;
  }
  ABSL_RAW_CHECK(peak == trace->peak_live_bytes, "peak live bytes");
  ABSL_RAW_CHECK(live == trace->end_live_bytes, "end live bytes");
  return 0;
}
