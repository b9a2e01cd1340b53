// Round trips through TraceWriter and ParseTrace, and every kind of bad input
// the reader must refuse with the offset of the problem.

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "adapters/trace/trace_reader.h"
#include "adapters/trace/trace_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace heapkit::trace {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Writes a trace with the calls `write` makes on a writer that starts at 1000.
template <class F>
std::string Write(F write) {
  std::string bytes;
  StringSink sink(&bytes);
  TraceWriter writer(&sink, 1000);
  write(writer);
  EXPECT_TRUE(writer.Flush());
  EXPECT_EQ(writer.bytes_written(), bytes.size());
  return bytes;
}

// Returns the error message ParseTrace gives for `bytes`, or "" if it parses.
std::string ParseError(const std::string& bytes) {
  absl::StatusOr<Trace> trace = ParseTrace(bytes);
  if (trace.ok()) return "";
  EXPECT_EQ(trace.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(trace.status().message());
}

TEST(TraceTest, RoundTripsEveryRecordType) {
  const std::string bytes = Write([](TraceWriter& w) {
    w.Alloc(0, 1010, 100, 16, 0x7f0000001000);
    w.Alloc(1, 1030, 5000, 4096, 0x7f0000100000);
    w.Realloc(0, 1040, 300, 16, 0x7f0000001000, 0x7f0000002000);
    w.Free(1, 1045, 0x7f0000100000);
    w.Alloc(2, 1050, 0, 1, 0x7f0000100000);  // The freed address, reused.
  });
  absl::StatusOr<Trace> trace = ParseTrace(bytes);
  ASSERT_TRUE(trace.ok()) << trace.status();
  ASSERT_EQ(trace->events.size(), 5u);
  const std::vector<TraceEvent>& e = trace->events;
  EXPECT_EQ(e[0].type, RecordType::kAlloc);
  EXPECT_EQ(e[0].size, 100u);
  EXPECT_EQ(e[0].align(), 16u);
  EXPECT_EQ(e[0].address, 0x7f0000001000u);
  EXPECT_EQ(e[0].time_ns, 10u);
  EXPECT_EQ(e[1].thread, 1u);
  EXPECT_EQ(e[1].align(), 4096u);
  EXPECT_EQ(e[2].type, RecordType::kRealloc);
  EXPECT_EQ(e[2].address, 0x7f0000002000u);
  EXPECT_EQ(e[2].block, e[0].block);  // A realloc keeps its block number.
  EXPECT_EQ(e[3].type, RecordType::kFree);
  EXPECT_EQ(e[3].block, e[1].block);
  EXPECT_EQ(e[4].block, e[1].block);  // Freed numbers are reused.
  EXPECT_EQ(e[4].time_ns, 50u);
  EXPECT_EQ(trace->max_blocks, 2u);
  EXPECT_EQ(trace->threads, 3u);
  EXPECT_EQ(trace->peak_live_bytes, 5300u);
  EXPECT_EQ(trace->peak_event, 2u);
  EXPECT_EQ(trace->end_live_bytes, 300u);
  EXPECT_EQ(trace->end_live_blocks, 2u);
}

TEST(TraceTest, KeepsNearbyAddressesShort) {
  // 1000 blocks 64 bytes apart: after the first, whose address takes 7 bytes,
  // a record takes 7 (type, thread, time, size, alignment, 2 of address).
  const std::string bytes = Write([](TraceWriter& w) {
    for (std::uintptr_t i = 0; i < 1000; ++i) {
      w.Alloc(0, 1000 + i, 48, 16, 0x7f0000000000 + 64 * i);
    }
  });
  EXPECT_EQ(bytes.size(), kHeaderSize + 1000 * 7 + 5);
  absl::StatusOr<Trace> trace = ParseTrace(bytes);
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->events.back().address, 0x7f0000000000u + 64 * 999);
}

TEST(TraceTest, FlushesFullBuffersToTheSink) {
  const std::string bytes = Write([](TraceWriter& w) {
    for (std::uintptr_t i = 0; i < 20'000; ++i) {
      w.Alloc(0, 1000 + i, i, 8, 0x100000 + 0x10000 * i);
    }
  });
  absl::StatusOr<Trace> trace = ParseTrace(bytes);
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->events.size(), 20'000u);
  EXPECT_EQ(trace->events.back().size, 19'999u);
}

class FailingSink final : public TraceSink {
 public:
  bool Write(const std::uint8_t*, std::size_t) override { return false; }
};

TEST(TraceTest, WriterReportsAFailedSink) {
  FailingSink sink;
  TraceWriter writer(&sink, 0);
  writer.Alloc(0, 1, 8, 8, 0x1000);
  EXPECT_TRUE(writer.ok());  // Nothing written yet.
  EXPECT_FALSE(writer.Flush());
  EXPECT_FALSE(writer.ok());
}

TEST(TraceTest, NumbersThreadsInOrderOfFirstUse) {
  const std::uint32_t mine = ThreadNumber();
  EXPECT_EQ(ThreadNumber(), mine);
  std::uint32_t other = mine;
  std::thread([&other] { other = ThreadNumber(); }).join();
  EXPECT_GT(other, mine);
}

TEST(TraceTest, AcceptsAnEmptyTrace) {
  absl::StatusOr<Trace> trace = ParseTrace(Write([](TraceWriter&) {}));
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_TRUE(trace->events.empty());
  EXPECT_EQ(trace->peak_live_bytes, 0u);
}

TEST(TraceTest, RefusesWhatIsNotATrace) {
  EXPECT_THAT(ParseError(""), HasSubstr("offset 0: not a HeapKit trace"));
  EXPECT_THAT(ParseError("HKTRACE"), HasSubstr("offset 0: not a HeapKit"));
  EXPECT_THAT(ParseError("#!/bin/sh\necho hello\n"),
              HasSubstr("offset 0: not a HeapKit trace"));
}

TEST(TraceTest, RefusesAnotherVersion) {
  std::string bytes = Write([](TraceWriter&) {});
  bytes[8] = 7;
  EXPECT_THAT(ParseError(bytes),
              HasSubstr("offset 8: trace format version 7; this build reads "
                        "version 1"));
}

TEST(TraceTest, NamesTheOffsetOfATruncatedRecord) {
  const std::string bytes = Write([](TraceWriter& w) {
    w.Alloc(0, 1000, 64, 16, 0x1000);
    w.Alloc(0, 1000, 64, 16, 0x2000);
  });
  const std::size_t second =
      kHeaderSize + (bytes.size() - kHeaderSize) / 2;  // Equal-sized records.
  for (std::size_t cut = second + 1; cut < bytes.size(); ++cut) {
    EXPECT_EQ(ParseError(bytes.substr(0, cut)),
              "offset " + std::to_string(second) +
                  ": record cut short at the end of the trace");
  }
  EXPECT_EQ(ParseError(bytes.substr(0, second)), "");
}

TEST(TraceTest, RefusesAnUnknownRecordType) {
  std::string bytes = Write([](TraceWriter&) {});
  bytes += '\x09';
  EXPECT_EQ(ParseError(bytes), "offset 16: unknown record type 0x09");
}

TEST(TraceTest, RefusesAnOverlongNumber) {
  std::string bytes = Write([](TraceWriter&) {});
  bytes += '\x02';  // kFree, then a thread of 11 bytes.
  bytes += std::string(10, '\xff');
  bytes += '\x01';
  EXPECT_EQ(ParseError(bytes), "offset 16: a number longer than 10 bytes");
}

// Appends an alloc record with the raw time delta `delta`.
void AppendAlloc(std::string& bytes, std::uint64_t delta, std::uint64_t addr) {
  std::uint8_t record[kMaxRecordSize];
  std::uint8_t* out = record;
  *out++ = static_cast<std::uint8_t>(RecordType::kAlloc);
  out = PutVarint(out, 0);      // Thread.
  out = PutVarint(out, delta);  // Time.
  out = PutVarint(out, 8);      // Size.
  *out++ = 3;                   // Alignment 8.
  out = PutVarint(out, ZigZag(static_cast<std::int64_t>(addr)));
  bytes.append(reinterpret_cast<const char*>(record), out - record);
}

// Found by the trace_reader fuzzer: time deltas that added up past 2^64 made
// time run backwards.
TEST(TraceTest, RefusesATimeThatOverflows) {
  std::string bytes = Write([](TraceWriter&) {});
  AppendAlloc(bytes, ~std::uint64_t{0}, 0x1000);
  EXPECT_EQ(ParseError(bytes), "");
  const std::size_t second = bytes.size();
  AppendAlloc(bytes, 1, 0x1000);
  EXPECT_EQ(ParseError(bytes),
            "offset " + std::to_string(second) + ": time passes 2^64 ns");
}

TEST(TraceTest, RefusesAbsurdSizesAndAlignments) {
  EXPECT_THAT(ParseError(Write([](TraceWriter& w) {
                w.Alloc(0, 1000, kMaxEventSize + 1, 16, 0x1000);
              })),
              HasSubstr("offset 16: size 1099511627777 is larger than any "
                        "replay serves"));
  EXPECT_THAT(ParseError(Write([](TraceWriter& w) {
                w.Alloc(0, 1000, 64, std::uint64_t{1} << 31, 0x1000);
              })),
              HasSubstr("offset 16: alignment 2^31"));
}

TEST(TraceTest, RefusesFreesOfBlocksThatAreNotLive) {
  EXPECT_EQ(ParseError(Write([](TraceWriter& w) { w.Free(0, 1000, 0x1230); })),
            "offset 16: free of 0x1230, which is not live");
  const std::string twice = Write([](TraceWriter& w) {
    w.Alloc(0, 1000, 64, 16, 0x1000);
    w.Free(0, 1000, 0x1000);
    w.Free(0, 1000, 0x1000);
  });
  EXPECT_THAT(ParseError(twice),
              HasSubstr("free of 0x1000, which is not live"));
  EXPECT_EQ(ParseError(Write(
                [](TraceWriter& w) { w.Realloc(0, 1, 8, 8, 0x40, 0x80); })),
            "offset 16: realloc of 0x40, which is not live");
}

TEST(TraceTest, RefusesAnAllocationAtALiveAddress) {
  EXPECT_THAT(ParseError(Write([](TraceWriter& w) {
                w.Alloc(0, 1000, 64, 16, 0x1000);
                w.Alloc(0, 1000, 64, 16, 0x1000);
              })),
              HasSubstr("allocation at 0x1000, which is still live"));
  EXPECT_THAT(ParseError(Write([](TraceWriter& w) {
                w.Alloc(0, 1000, 64, 16, 0x1000);
                w.Alloc(0, 1000, 64, 16, 0x2000);
                w.Realloc(0, 1000, 64, 16, 0x1000, 0x2000);
              })),
              HasSubstr("realloc to 0x2000, which is still live"));
}

TEST(TraceTest, ReadTraceFileNamesTheFile) {
  absl::StatusOr<Trace> missing = ReadTraceFile("/nonexistent/x.hktrace");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("/nonexistent/x.hktrace: cannot open"));
}

}  // namespace
}  // namespace heapkit::trace
