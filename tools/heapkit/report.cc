#include "tools/heapkit/report.h"

#include <algorithm>
#include <iterator>

#include "fmt/format.h"

namespace heapkit::cli {
namespace {

std::string Nanoseconds(double ns) {
  if (ns >= 1e6) return fmt::format("{:.1f} ms", ns / 1e6);
  if (ns >= 1e3) return fmt::format("{:.1f} us", ns / 1e3);
  return fmt::format("{:.0f} ns", ns);
}

std::string Bytes(std::uint64_t bytes) {
  if (bytes >= (std::uint64_t{1} << 30)) {
    return fmt::format("{:.1f} GiB", bytes / double(std::uint64_t{1} << 30));
  }
  if (bytes >= (1u << 20))
    return fmt::format("{:.1f} MiB", bytes / double(1u << 20));
  if (bytes >= (1u << 10))
    return fmt::format("{:.1f} KiB", bytes / double(1u << 10));
  return fmt::format("{} B", bytes);
}

// Returns "2.3x" for a ratio, or "-" for an unknown (zero) one.
std::string Ratio(double ratio) {
  return ratio > 0 ? fmt::format("{:.2f}x", ratio) : "-";
}

double RegionRatio(const ReplayResult& result, const trace::Trace& trace) {
  return result.min_region != 0 && trace.peak_live_bytes != 0
             ? double(result.min_region) / double(trace.peak_live_bytes)
             : 0;
}

// The worse of the two 99.9th percentiles: what a real-time user budgets.
double WorstCase(const ReplayResult& result) {
  return std::max(result.alloc.p999, result.free.p999);
}

std::string JsonString(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", c);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string JsonLatency(const Latency& l) {
  return fmt::format(
      "{{\"p50_ns\": {:.1f}, \"p99_ns\": {:.1f}, \"p999_ns\": {:.1f}, "
      "\"max_ns\": {:.1f}}}",
      l.p50, l.p99, l.p999, l.max);
}

// The backends that completed the trace.
std::vector<const ReplayResult*> Completed(
    const std::vector<ReplayResult>& results) {
  std::vector<const ReplayResult*> completed;
  for (const ReplayResult& result : results) {
    if (IsBackend(result.allocator) && result.error.empty() &&
        result.failures == 0) {
      completed.push_back(&result);
    }
  }
  return completed;
}

// Returns "a 2.0x ..., b 3.1x ..." comparing `best` with each other one by
// `value` (higher is worse), or "" if there is no other.
template <class F>
std::string Against(const std::vector<const ReplayResult*>& all,
                    const ReplayResult* best, F value, const char* what) {
  std::vector<std::string> parts;
  for (const ReplayResult* other : all) {
    if (other == best || value(*best) <= 0) continue;
    parts.push_back(fmt::format("{} {:.1f}x {}", other->allocator,
                                value(*other) / value(*best), what));
  }
  return fmt::format("{}", fmt::join(parts, ", "));
}

}  // namespace

std::string DescribeTrace(const trace::Trace& trace) {
  const double seconds =
      trace.events.empty() ? 0 : trace.events.back().time_ns / 1e9;
  return fmt::format(
      "{} events from {} thread{} over {:.2f} s; peak {} live in {} blocks "
      "at most; {} still live at the end",
      trace.events.size(), trace.threads, trace.threads == 1 ? "" : "s",
      seconds, Bytes(trace.peak_live_bytes), trace.max_blocks,
      Bytes(trace.end_live_bytes));
}

std::string FormatTable(const std::vector<ReplayResult>& results,
                        const trace::Trace& trace) {
  std::string out;
  auto row = std::back_inserter(out);
  fmt::format_to(row, "{:<10} {:>8} {:>26} {:>26} {:>9} {:>12} {:>8}\n",
                 "allocator", "ns/op", "alloc p50 / p99 / max",
                 "free p50 / p99 / max", "footprint", "min region", "failures");
  for (const ReplayResult& r : results) {
    if (!r.error.empty()) {
      fmt::format_to(row, "{:<10} not run: {}\n", r.allocator, r.error);
      continue;
    }
    auto latency = [](const Latency& l) {
      return fmt::format("{} / {} / {}", Nanoseconds(l.p50), Nanoseconds(l.p99),
                         Nanoseconds(l.max));
    };
    const std::string region = r.min_region != 0
                                   ? fmt::format("{} {}", Bytes(r.min_region),
                                                 Ratio(RegionRatio(r, trace)))
                                   : "-";
    fmt::format_to(row, "{:<10} {:>8.1f} {:>26} {:>26} {:>9} {:>12} {:>8}\n",
                   r.allocator, r.ns_per_op, latency(r.alloc), latency(r.free),
                   Ratio(r.footprint), region, r.failures);
  }
  return out;
}

std::string FormatJson(const std::vector<ReplayResult>& results,
                       const trace::Trace& trace) {
  std::vector<std::string> rows;
  for (const ReplayResult& r : results) {
    if (!r.error.empty()) {
      rows.push_back(fmt::format("{{\"allocator\": {}, \"error\": {}}}",
                                 JsonString(r.allocator), JsonString(r.error)));
      continue;
    }
    rows.push_back(fmt::format(
        "{{\"allocator\": {}, \"ns_per_op\": {:.2f}, \"alloc\": {}, "
        "\"free\": {}, \"footprint\": {:.3f}, \"min_region_bytes\": {}, "
        "\"failures\": {}}}",
        JsonString(r.allocator), r.ns_per_op, JsonLatency(r.alloc),
        JsonLatency(r.free), r.footprint, r.min_region, r.failures));
  }
  return fmt::format(
      "{{\"trace\": {{\"events\": {}, \"threads\": {}, \"peak_live_bytes\": "
      "{}, \"max_blocks\": {}}},\n \"results\": [\n  {}\n]}}\n",
      trace.events.size(), trace.threads, trace.peak_live_bytes,
      trace.max_blocks, fmt::join(rows, ",\n  "));
}

std::string Advise(const std::vector<ReplayResult>& results) {
  const std::vector<const ReplayResult*> completed = Completed(results);
  if (completed.empty()) {
    return "No HeapKit backend completed this trace: give it a larger "
           "--region.\n";
  }
  auto speed = [](const ReplayResult& r) { return r.ns_per_op; };
  auto region = [](const ReplayResult& r) {
    return r.min_region != 0 ? double(r.min_region) : 1e300;
  };
  auto least = [&](auto value) {
    return *std::min_element(completed.begin(), completed.end(),
                             [&](const ReplayResult* a, const ReplayResult* b) {
                               return value(*a) < value(*b);
                             });
  };
  const ReplayResult* fastest = least(speed);
  const ReplayResult* steadiest = least(WorstCase);
  const ReplayResult* smallest = least(region);
  // Speed first; but within 10% of the fastest, the smaller region wins.
  const ReplayResult* pick = fastest;
  for (const ReplayResult* r : completed) {
    if (r->ns_per_op <= 1.10 * fastest->ns_per_op &&
        region(*r) < region(*pick)) {
      pick = r;
    }
  }

  std::string out = fmt::format("Recommendation: {}\n", pick->allocator);
  auto line = std::back_inserter(out);
  fmt::format_to(
      line, "- why: {}\n",
      pick == fastest
          ? "the fastest on this trace"
          : fmt::format("within {:.0f}% of the fastest ({}) and "
                        "needs a smaller region",
                        100 * (pick->ns_per_op / fastest->ns_per_op - 1),
                        fastest->allocator));
  const std::string slower = Against(completed, fastest, speed, "slower");
  fmt::format_to(line, "- speed: {} is fastest, {} per operation{}{}\n",
                 fastest->allocator, Nanoseconds(fastest->ns_per_op),
                 slower.empty() ? "" : "; ", slower);
  const std::string later = Against(completed, steadiest, WorstCase, "later");
  fmt::format_to(line,
                 "- worst case: {} has the lowest p99.9 latency, {}{}{}\n",
                 steadiest->allocator, Nanoseconds(WorstCase(*steadiest)),
                 later.empty() ? "" : "; ", later);
  if (smallest->min_region != 0) {
    const std::string larger = Against(completed, smallest, region, "larger");
    fmt::format_to(line, "- region: {} needs the smallest, {}{}{}\n",
                   smallest->allocator, Bytes(smallest->min_region),
                   larger.empty() ? "" : "; ", larger);
  }
  for (const ReplayResult& peer : results) {
    if (IsBackend(peer.allocator) || !peer.error.empty() ||
        peer.ns_per_op <= 0) {
      continue;
    }
    const double ratio = peer.ns_per_op / pick->ns_per_op;
    fmt::format_to(line, "- against {}: {} is {:.1f}x {}\n", peer.allocator,
                   pick->allocator, ratio >= 1 ? ratio : 1 / ratio,
                   ratio >= 1 ? "faster" : "slower");
  }
  return out;
}

std::vector<ChartRow> ChartRows(const std::vector<ReplayResult>& results,
                                const trace::Trace& trace) {
  std::vector<ChartRow> rows;
  for (const ReplayResult& r : results) {
    if (!r.error.empty()) continue;
    rows.push_back(
        ChartRow{r.allocator, r.ns_per_op, r.footprint, RegionRatio(r, trace)});
  }
  return rows;
}

}  // namespace heapkit::cli
