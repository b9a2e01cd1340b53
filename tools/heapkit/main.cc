// heapkit: record a program's allocations, replay them on every backend and
// on the general-purpose allocators, get advice, and see the heap
// (docs/heapkit_command.md).

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "adapters/trace/trace_reader.h"
#include "bench/peers.h"
#include "fmt/format.h"
#include "tools/heapkit/record.h"
#include "tools/heapkit/replay.h"
#include "tools/heapkit/report.h"
#include "tools/heapkit/svg.h"
#include "tools/heapkit/workloads.h"

ABSL_FLAG(std::string, o, "", "record: the trace file to write");
ABSL_FLAG(std::string, lib, "",
          "record: the malloc replacement to preload (default: the one built "
          "beside heapkit)");
ABSL_FLAG(bool, json, false, "replay, bench: print JSON instead of a table");
ABSL_FLAG(std::string, svg, "",
          "replay, bench: draw the comparison into this SVG file; map: draw "
          "the heap into it");
ABSL_FLAG(int, rounds, 3,
          "replay, advise: interleaved rounds (ns/op is their median)");
ABSL_FLAG(std::vector<std::string>, allocators, {},
          "replay, advise, bench: only these, comma-separated (slab, tlsf, "
          "buddy, glibc, jemalloc, mimalloc, tcmalloc; default all)");
ABSL_FLAG(std::string, region, "",
          "the region each backend gets, e.g. 64M or 1G (default: 64 MiB or "
          "4x the trace's peak live bytes)");
ABSL_FLAG(bool, min_region, true,
          "replay, advise, bench: find each backend's smallest region");
ABSL_FLAG(std::string, backend, "tlsf", "map: the backend to draw");
ABSL_FLAG(std::string, at, "peak",
          "map: when to draw the heap: peak (most live bytes), end, or an "
          "event number");
ABSL_FLAG(std::vector<std::string>, workloads, {},
          "bench: only these built-in workloads (default all)");

namespace heapkit::cli {
namespace {

constexpr char kUsage[] = R"(heapkit COMMAND [FLAGS] [ARGS]

  record -o FILE -- PROGRAM [ARGS]  record PROGRAM's allocations to FILE
  replay FILE                       replay FILE on every allocator: a table
  advise FILE                       which backend for FILE, and why
  bench                             the built-in workloads on every allocator
  map FILE [--backend B] [--at peak|end|N] --svg OUT
                                    draw backend B's heap at one moment

Flags are listed by --help.)";

int Fail(const std::string& message) {
  fmt::print(stderr, "heapkit: {}\n", message);
  return 1;
}

// Parses "4096", "64K", "64M" or "1G" (powers of 1024).
absl::StatusOr<std::uint64_t> ParseBytes(std::string text) {
  if (text.empty()) return 0;
  std::uint64_t unit = 1;
  switch (text.back()) {
    case 'K':
      unit = 1 << 10;
      break;
    case 'M':
      unit = 1 << 20;
      break;
    case 'G':
      unit = 1 << 30;
      break;
    default:
      break;
  }
  if (unit != 1) text.pop_back();
  std::uint64_t value;
  if (!absl::SimpleAtoi(text, &value) || value == 0 ||
      value > (std::uint64_t{1} << 46) / unit) {
    return absl::InvalidArgumentError(
        absl::StrCat("--region: \"", absl::GetFlag(FLAGS_region),
                     "\" is not a size such as 64M or 1G"));
  }
  return value * unit;
}

// Draws "[#####.....] 3/40" on stderr, when it is a terminal.
void Progress(int done, int total) {
  if (!isatty(2)) return;
  constexpr int kWidth = 30;
  const int filled = total > 0 ? done * kWidth / total : kWidth;
  fmt::print(stderr, "\r[{}{}] {}/{}", std::string(filled, '#'),
             std::string(kWidth - filled, '.'), done, total);
  if (done == total)
    fmt::print(stderr, "\r{}\r", std::string(kWidth + 12, ' '));
}

absl::Status WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream file(path, std::ios::binary);
  file << contents;
  file.close();
  if (!file) return absl::UnavailableError(path + ": cannot write");
  return absl::OkStatus();
}

absl::StatusOr<ReplayOptions> Options() {
  ReplayOptions options;
  options.rounds = absl::GetFlag(FLAGS_rounds);
  options.allocators = absl::GetFlag(FLAGS_allocators);
  options.find_min_region = absl::GetFlag(FLAGS_min_region);
  options.progress = Progress;
  for (const std::string& name : options.allocators) {
    const std::vector<std::string> known = AllAllocatorNames();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      return absl::InvalidArgumentError("--allocators: unknown allocator \"" +
                                        name + "\"");
    }
  }
  absl::StatusOr<std::uint64_t> region =
      ParseBytes(absl::GetFlag(FLAGS_region));
  if (!region.ok()) return region.status();
  options.region = *region;
  return options;
}

absl::StatusOr<trace::Trace> OneTrace(const std::vector<char*>& args) {
  if (args.size() != 1) {
    return absl::InvalidArgumentError("expects one trace file");
  }
  return trace::ReadTraceFile(args[0]);
}

int Record(const std::vector<char*>& args, const char* argv0) {
  const std::string output = absl::GetFlag(FLAGS_o);
  if (output.empty()) return Fail("record: -o FILE is required");
  std::string library = absl::GetFlag(FLAGS_lib);
  if (library.empty()) library = FindMallocLibrary(argv0);
  if (library.empty()) {
    return Fail(
        "record: cannot find libheapkit_malloc.so beside heapkit; build "
        "//adapters/global:libheapkit_malloc.so and pass --lib");
  }
  std::string error;
  const int status =
      RecordProgram(library, output,
                    std::vector<std::string>(args.begin(), args.end()), error);
  if (status < 0) return Fail("record: " + error);
  absl::StatusOr<trace::Trace> trace = trace::ReadTraceFile(output);
  if (!trace.ok()) return Fail(std::string(trace.status().message()));
  fmt::print(stderr, "heapkit: recorded {} to {}: {}\n", args[0], output,
             DescribeTrace(*trace));
  return status;  // The program's own exit status.
}

int ReplayCommand(const std::vector<char*>& args, bool advise) {
  absl::StatusOr<trace::Trace> trace = OneTrace(args);
  if (!trace.ok()) return Fail(std::string(trace.status().message()));
  absl::StatusOr<ReplayOptions> options = Options();
  if (!options.ok()) return Fail(std::string(options.status().message()));
  const std::vector<ReplayResult> results = Replay(*trace, *options);
  if (advise) {
    fmt::print("{}", Advise(results));
  } else if (absl::GetFlag(FLAGS_json)) {
    fmt::print("{}", FormatJson(results, *trace));
  } else {
    fmt::print("{}\n{}", DescribeTrace(*trace), FormatTable(results, *trace));
  }
  const std::string svg = absl::GetFlag(FLAGS_svg);
  if (!svg.empty()) {
    absl::Status written =
        WriteFile(svg, ComparisonChartSvg(args[0], ChartRows(results, *trace)));
    if (!written.ok()) return Fail(std::string(written.message()));
  }
  return 0;
}

int Bench(const std::vector<char*>& args) {
  if (!args.empty()) return Fail("bench: takes no arguments");
  absl::StatusOr<ReplayOptions> options = Options();
  if (!options.ok()) return Fail(std::string(options.status().message()));
  std::vector<std::string> workloads = absl::GetFlag(FLAGS_workloads);
  if (workloads.empty()) workloads = BuiltInWorkloads();
  if (absl::GetFlag(FLAGS_rounds) == 3) options->rounds = 1;  // Default: fast.
  std::vector<std::string> json;
  std::vector<ChartRow> chart;
  for (std::size_t i = 0; i < workloads.size(); ++i) {
    absl::StatusOr<trace::Trace> trace = RecordBuiltIn(workloads[i]);
    if (!trace.ok()) return Fail(std::string(trace.status().message()));
    options->progress = [&](int done, int total) {
      Progress(static_cast<int>(i) * total + done,
               static_cast<int>(workloads.size()) * total);
    };
    const std::vector<ReplayResult> results = Replay(*trace, *options);
    if (absl::GetFlag(FLAGS_json)) {
      json.push_back(fmt::format("{{\"workload\": \"{}\", \"replay\": {}}}",
                                 workloads[i], FormatJson(results, *trace)));
    } else {
      fmt::print("{}: {}\n{}\n", workloads[i], DescribeTrace(*trace),
                 FormatTable(results, *trace));
    }
    for (ChartRow row : ChartRows(results, *trace)) {
      row.allocator = workloads[i] + "/" + row.allocator;
      chart.push_back(row);
    }
  }
  if (absl::GetFlag(FLAGS_json)) {
    fmt::print("[{}]\n", fmt::join(json, ",\n"));
  }
  const std::string svg = absl::GetFlag(FLAGS_svg);
  if (!svg.empty()) {
    absl::Status written =
        WriteFile(svg, ComparisonChartSvg("heapkit bench", chart));
    if (!written.ok()) return Fail(std::string(written.message()));
  }
  return 0;
}

int Map(const std::vector<char*>& args) {
  absl::StatusOr<trace::Trace> trace = OneTrace(args);
  if (!trace.ok()) return Fail(std::string(trace.status().message()));
  const std::string svg = absl::GetFlag(FLAGS_svg);
  if (svg.empty()) return Fail("map: --svg FILE is required");
  absl::StatusOr<std::uint64_t> region =
      ParseBytes(absl::GetFlag(FLAGS_region));
  if (!region.ok()) return Fail(std::string(region.status().message()));
  const std::string at = absl::GetFlag(FLAGS_at);
  std::size_t stop = trace->events.size();
  if (at == "peak") {
    stop = trace->peak_event;
  } else if (at != "end" && !absl::SimpleAtoi(at, &stop)) {
    return Fail("map: --at takes peak, end or an event number, not \"" + at +
                "\"");
  }
  const std::string backend = absl::GetFlag(FLAGS_backend);
  HeapSnapshot snapshot;
  std::string error;
  if (!SnapshotAt(*trace, backend, *region, stop, snapshot, error)) {
    return Fail("map: " + error);
  }
  // The part of the region the backend reached, so the blocks can be seen.
  const std::uint64_t shown =
      std::max<std::uint64_t>(snapshot.high_water, 4096);
  const std::string title = fmt::format(
      "{} on {} at {} (first {} bytes of a {}-byte region{})", args[0], backend,
      at, shown, snapshot.region_size,
      snapshot.failures != 0
          ? fmt::format("; {} allocations failed", snapshot.failures)
          : "");
  absl::Status written =
      WriteFile(svg, HeapMapSvg(title, shown, snapshot.blocks));
  if (!written.ok()) return Fail(std::string(written.message()));
  fmt::print("{}: {} live blocks\n", title, snapshot.blocks.size());
  return 0;
}

}  // namespace
}  // namespace heapkit::cli

int main(int argc, char** argv) {
  using namespace heapkit::cli;
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  if (args.size() < 2) {
    fmt::print(stderr, "{}\n", kUsage);
    return 2;
  }
  const std::string command = args[1];
  args.erase(args.begin(), args.begin() + 2);
  if (command == "replay" || command == "advise" || command == "bench") {
    heapkit::bench::ReserveStaticTlsForPeers(argv);  // For jemalloc.
  }
  if (command == "record") return Record(args, argv[0]);
  if (command == "replay") return ReplayCommand(args, /*advise=*/false);
  if (command == "advise") return ReplayCommand(args, /*advise=*/true);
  if (command == "bench") return Bench(args);
  if (command == "map") return Map(args);
  return Fail("unknown command \"" + command + "\"\n" + kUsage);
}
