#ifndef HEAPKIT_TOOLS_HEAPKIT_REPORT_H_
#define HEAPKIT_TOOLS_HEAPKIT_REPORT_H_

// Turns replay results into what `heapkit` prints: a table, JSON, advice and
// the chart's rows.

#include <string>
#include <vector>

#include "adapters/trace/trace_reader.h"
#include "tools/heapkit/replay.h"
#include "tools/heapkit/svg.h"

namespace heapkit::cli {

// Returns a line describing the trace: events, threads, peak live bytes.
std::string DescribeTrace(const trace::Trace& trace);

// Returns the results as an aligned text table, one row per allocator, with
// a row that says why for an allocator that could not run.
std::string FormatTable(const std::vector<ReplayResult>& results,
                        const trace::Trace& trace);

// Returns the results as a JSON object: {"trace": {...}, "results": [...]}.
std::string FormatJson(const std::vector<ReplayResult>& results,
                       const trace::Trace& trace);

// Returns a recommendation among the HeapKit backends that ran without a
// failure, with its reasons (speed, worst-case latency, region needed, and
// how the best compares with the general-purpose allocators), one per line;
// says so if no backend completed the trace.
std::string Advise(const std::vector<ReplayResult>& results);

// Returns the chart's rows for the allocators that ran.
std::vector<ChartRow> ChartRows(const std::vector<ReplayResult>& results,
                                const trace::Trace& trace);

}  // namespace heapkit::cli

#endif  // HEAPKIT_TOOLS_HEAPKIT_REPORT_H_
