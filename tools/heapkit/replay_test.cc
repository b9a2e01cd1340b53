// Replays, snapshots, reports and built-in workloads of the heapkit command,
// on traces written here so the expected results are known.

#include "tools/heapkit/replay.h"

#include <algorithm>
#include <string>
#include <vector>

#include "adapters/trace/trace_reader.h"
#include "adapters/trace/trace_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tools/heapkit/report.h"
#include "tools/heapkit/workloads.h"

namespace heapkit::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr std::uint64_t kMiB = 1 << 20;

// A trace of `count` blocks of 1000 bytes at made-up addresses, every other
// one freed, then one realloc of the first to 5000 bytes.
trace::Trace HalfFreed(int count) {
  std::string bytes;
  trace::StringSink sink(&bytes);
  trace::TraceWriter writer(&sink, 0);
  const std::uintptr_t base = 0x10000000;
  for (int i = 0; i < count; ++i) writer.Alloc(0, i, 1000, 16, base + 4096 * i);
  for (int i = 1; i < count; i += 2) writer.Free(0, count + i, base + 4096 * i);
  writer.Realloc(0, 3 * count, 5000, 16, base, base + 4096 * count);
  writer.Flush();
  absl::StatusOr<trace::Trace> trace = trace::ParseTrace(bytes);
  EXPECT_TRUE(trace.ok()) << trace.status();
  return *std::move(trace);
}

ReplayOptions Quick(std::vector<std::string> allocators) {
  ReplayOptions options;
  options.rounds = 1;
  options.allocators = std::move(allocators);
  return options;
}

TEST(ReplayTest, EveryBackendCompletesATraceThatFits) {
  const trace::Trace trace = HalfFreed(1000);
  const std::vector<ReplayResult> results =
      Replay(trace, Quick({"slab", "tlsf", "buddy", "glibc"}));
  ASSERT_EQ(results.size(), 4u);
  for (const ReplayResult& r : results) {
    SCOPED_TRACE(r.allocator);
    EXPECT_EQ(r.error, "");
    EXPECT_EQ(r.failures, 0u);
    EXPECT_GT(r.ns_per_op, 0);
    EXPECT_LE(r.alloc.p50, r.alloc.max);
    EXPECT_LE(r.free.p99, r.free.max);
    if (IsBackend(r.allocator)) {
      // No backend can place the peak in less than the peak.
      EXPECT_GE(r.footprint, 1.0);
      EXPECT_GE(r.min_region, trace.peak_live_bytes);
      EXPECT_LE(r.min_region, DefaultRegionSize(trace));
    } else {
      EXPECT_EQ(r.footprint, 0);
      EXPECT_EQ(r.min_region, 0u);
    }
  }
  EXPECT_EQ(results[0].allocator, "slab");
  EXPECT_EQ(results[3].allocator, "glibc");
}

TEST(ReplayTest, SmallestRegionIsTight) {
  const trace::Trace trace = HalfFreed(2000);
  ReplayOptions options = Quick({"tlsf"});
  const ReplayResult tlsf = Replay(trace, options)[0];
  ASSERT_GT(tlsf.min_region, 0u);
  // The trace completes in the region found and fails in a clearly smaller
  // one.
  options.find_min_region = false;
  options.region = tlsf.min_region;
  EXPECT_EQ(Replay(trace, options)[0].failures, 0u);
  options.region = tlsf.min_region * 9 / 10 & ~std::uint64_t{4095};
  EXPECT_GT(Replay(trace, options)[0].failures, 0u);
}

TEST(ReplayTest, CountsFailuresInATooSmallRegion) {
  ReplayOptions options = Quick({"tlsf", "buddy", "slab"});
  options.region = kMiB;  // The trace needs about 2 MB at its peak.
  for (const ReplayResult& r : Replay(HalfFreed(2000), options)) {
    SCOPED_TRACE(r.allocator);
    EXPECT_GT(r.failures, 0u);
    EXPECT_EQ(r.min_region, 0u);  // Not searched when the region failed.
  }
}

TEST(ReplayTest, ReportsAPeerThatCannotLoad) {
  const std::vector<ReplayResult> results =
      Replay(HalfFreed(10), Quick({"no_such_allocator", "tlsf"}));
  EXPECT_THAT(results[0].error, HasSubstr("unknown peer"));
  EXPECT_EQ(results[1].error, "");
}

TEST(SnapshotTest, HoldsTheLiveBlocksAtTheMoment) {
  const trace::Trace trace = HalfFreed(100);
  for (const char* backend : {"slab", "tlsf", "buddy"}) {
    SCOPED_TRACE(backend);
    HeapSnapshot at_peak, at_end;
    std::string error;
    ASSERT_TRUE(SnapshotAt(trace, backend, 0, trace.peak_event, at_peak, error))
        << error;
    ASSERT_TRUE(
        SnapshotAt(trace, backend, 0, trace.events.size(), at_end, error));
    EXPECT_EQ(at_peak.blocks.size(), 100u);
    EXPECT_EQ(at_end.blocks.size(), 50u);
    std::uint64_t bytes = 0;
    for (const MapBlock& block : at_end.blocks) {
      bytes += block.size;
      EXPECT_LE(block.offset + block.size, at_end.high_water);
    }
    EXPECT_EQ(bytes, trace.end_live_bytes);
    EXPECT_LE(at_end.high_water, at_end.region_size);
    // Blocks never overlap.
    std::vector<MapBlock> sorted = at_end.blocks;
    std::sort(sorted.begin(), sorted.end(),
              [](const MapBlock& a, const MapBlock& b) {
                return a.offset < b.offset;
              });
    for (std::size_t i = 1; i < sorted.size(); ++i) {
      EXPECT_LE(sorted[i - 1].offset + sorted[i - 1].size, sorted[i].offset);
    }
  }
  HeapSnapshot snapshot;
  std::string error;
  EXPECT_FALSE(SnapshotAt(trace, "glibc", 0, 0, snapshot, error));
  EXPECT_THAT(error, HasSubstr("unknown backend \"glibc\""));
}

ReplayResult Made(const std::string& name, double ns, double p999,
                  std::uint64_t region) {
  ReplayResult r;
  r.allocator = name;
  r.ns_per_op = ns;
  r.alloc.p999 = p999;
  r.free.p999 = p999 / 2;
  r.min_region = region;
  return r;
}

TEST(AdviseTest, PicksTheFastestAndGivesTheOthersReasons) {
  const std::string advice =
      Advise({Made("slab", 10, 880, 3 * kMiB), Made("tlsf", 31, 400, 1 * kMiB),
              Made("buddy", 20, 2000, 2 * kMiB), Made("glibc", 40, 500, 0)});
  EXPECT_THAT(advice, StartsWith("Recommendation: slab\n"));
  EXPECT_THAT(advice, HasSubstr("- why: the fastest on this trace"));
  EXPECT_THAT(advice, HasSubstr("tlsf 3.1x slower, buddy 2.0x slower"));
  EXPECT_THAT(advice,
              HasSubstr("- worst case: tlsf has the lowest p99.9 latency, "
                        "400 ns; slab 2.2x later, buddy 5.0x later"));
  EXPECT_THAT(advice, HasSubstr("- region: tlsf needs the smallest, 1.0 MiB; "
                                "slab 3.0x larger, buddy 2.0x larger"));
  EXPECT_THAT(advice, HasSubstr("- against glibc: slab is 4.0x faster"));
}

TEST(AdviseTest, PrefersASmallerRegionWithinTenPercentOfTheFastest) {
  const std::string advice = Advise(
      {Made("slab", 10, 900, 3 * kMiB), Made("tlsf", 10.5, 400, 1 * kMiB)});
  EXPECT_THAT(advice, StartsWith("Recommendation: tlsf\n"));
  EXPECT_THAT(advice, HasSubstr("within 5% of the fastest (slab)"));
}

TEST(AdviseTest, LeavesOutBackendsThatFailed) {
  ReplayResult failed = Made("slab", 1, 1, kMiB);
  failed.failures = 3;
  EXPECT_THAT(Advise({failed, Made("tlsf", 10, 400, kMiB)}),
              StartsWith("Recommendation: tlsf\n"));
  EXPECT_THAT(Advise({failed}), HasSubstr("No HeapKit backend completed"));
}

TEST(ReportTest, TableAndJsonHoldEveryAllocator) {
  const trace::Trace trace = HalfFreed(10);
  ReplayResult missing;
  missing.allocator = "jemalloc";
  missing.error = "not \"installed\"";
  const std::vector<ReplayResult> results = {Made("tlsf", 12.5, 400, kMiB),
                                             missing};
  const std::string table = FormatTable(results, trace);
  EXPECT_THAT(table, HasSubstr("tlsf"));
  EXPECT_THAT(table, HasSubstr("jemalloc   not run: not \"installed\""));
  const std::string json = FormatJson(results, trace);
  EXPECT_THAT(json, HasSubstr("\"allocator\": \"tlsf\", \"ns_per_op\": 12.50"));
  EXPECT_THAT(json, HasSubstr("\"error\": \"not \\\"installed\\\"\""));
  EXPECT_THAT(json, HasSubstr("\"events\": 16"));
  EXPECT_EQ(ChartRows(results, trace).size(), 1u);
}

// The traces tests/data ships (recorded by tools/heapkit/record_samples.sh)
// read and replay on every backend without a failure.
TEST(ShippedTracesTest, ReplayOnEveryBackend) {
  for (const char* name : {"python", "sqlite", "compile"}) {
    SCOPED_TRACE(name);
    absl::StatusOr<trace::Trace> trace =
        trace::ReadTraceFile(std::string("tests/data/") + name + ".hktrace");
    ASSERT_TRUE(trace.ok()) << trace.status();
    EXPECT_GT(trace->events.size(), 10'000u);
    ReplayOptions options = Quick({"slab", "tlsf", "buddy"});
    options.find_min_region = false;
    for (const ReplayResult& r : Replay(*trace, options)) {
      EXPECT_EQ(r.error, "") << r.allocator;
      EXPECT_EQ(r.failures, 0u) << r.allocator;
      EXPECT_GE(r.footprint, 1.0) << r.allocator;
    }
  }
}

TEST(WorkloadsTest, EachRecordsATraceThatFreesEverything) {
  for (const std::string& name : BuiltInWorkloads()) {
    SCOPED_TRACE(name);
    absl::StatusOr<trace::Trace> trace = RecordBuiltIn(name);
    ASSERT_TRUE(trace.ok()) << trace.status();
    EXPECT_GT(trace->events.size(), 10u);
    EXPECT_GT(trace->peak_live_bytes, 0u);
    EXPECT_EQ(trace->end_live_blocks, 0u);
  }
  EXPECT_FALSE(RecordBuiltIn("nonsense").ok());
}

}  // namespace
}  // namespace heapkit::cli
