// Runs the heapkit binary as a user would: record a program, replay, advise,
// map and bench, and bad input, checking what it prints and writes.

#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "adapters/trace/trace_reader.h"
#include "adapters/trace/trace_writer.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace heapkit::cli {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kHeapkit[] = "tools/heapkit/heapkit";

struct Output {
  int status = -1;
  std::string text;  // stdout and stderr.
};

// Runs a shell command line from the test's runfiles directory.
Output RunShell(const std::string& command) {
  Output output;
  FILE* pipe = popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return output;
  char buffer[4096];
  std::size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, pipe)) > 0) {
    output.text.append(buffer, n);
  }
  const int status = pclose(pipe);
  output.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return output;
}

std::string TempPath(const std::string& name) {
  return absl::StrCat(std::getenv("TEST_TMPDIR"), "/", name);
}

std::string ReadFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

// Writes a small valid trace (20 blocks, 10 freed) and returns its path.
std::string SmallTrace() {
  const std::string path = TempPath("small.hktrace");
  std::string bytes;
  trace::StringSink sink(&bytes);
  trace::TraceWriter writer(&sink, 0);
  for (int i = 0; i < 20; ++i)
    writer.Alloc(0, i, 100 + i, 16, 0x1000 * (i + 1));
  for (int i = 0; i < 20; i += 2) writer.Free(0, 30 + i, 0x1000 * (i + 1));
  writer.Flush();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

int CountOf(const std::string& text, const std::string& what) {
  int count = 0;
  for (std::size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++count;
  }
  return count;
}

#ifdef HEAPKIT_RECORD_TESTABLE
TEST(HeapkitCliTest, RecordsEveryEntryPointAndThread) {
  const std::string path = TempPath("trace_me.hktrace");
  const Output out = RunShell(absl::StrCat(kHeapkit, " record -o ", path,
                                           " -- tools/heapkit/trace_me"));
  ASSERT_EQ(out.status, 0) << out.text;
  EXPECT_THAT(out.text, HasSubstr("heapkit: recorded tools/heapkit/trace_me"));
  absl::StatusOr<trace::Trace> trace = trace::ReadTraceFile(path);
  ASSERT_TRUE(trace.ok()) << trace.status();
  int pairs = 0, reallocs = 0, aligned = 0, left_live = 0;
  for (const trace::TraceEvent& event : trace->events) {
    if (event.type == trace::RecordType::kRealloc && event.size == 5000) {
      ++reallocs;
    }
    if (event.type != trace::RecordType::kAlloc) continue;
    if (event.size >= 16 && event.size < 1016 && event.thread != 0) ++pairs;
    if ((event.size == 1024 && event.align() == 256) ||
        (event.size == 64 && event.align() == 4096)) {
      ++aligned;
    }
    if (event.size == 777 && event.thread == 0) ++left_live;
  }
  EXPECT_GE(trace->threads, 3u);
  EXPECT_GE(pairs, 2000);
  EXPECT_EQ(reallocs, 1);
  EXPECT_EQ(aligned, 2);
  EXPECT_EQ(left_live, 3);
  EXPECT_GE(trace->end_live_bytes, 3 * 777u);

  // The recording replays on every backend without a failure.
  const Output replay = RunShell(absl::StrCat(
      kHeapkit, " replay ", path,
      " --json --rounds 1 --min_region=false --allocators slab,tlsf,buddy"));
  ASSERT_EQ(replay.status, 0) << replay.text;
  EXPECT_EQ(CountOf(replay.text, "\"failures\": 0}"), 3) << replay.text;
}

TEST(HeapkitCliTest, RecordPassesOnTheProgramsExitStatus) {
  const std::string path = TempPath("false.hktrace");
  EXPECT_EQ(
      RunShell(absl::StrCat(kHeapkit, " record -o ", path, " -- false")).status,
      1);
  const Output missing = RunShell(
      absl::StrCat(kHeapkit, " record -o ", path, " -- /nonexistent/program"));
  EXPECT_NE(missing.status, 0);
  EXPECT_THAT(missing.text, HasSubstr("cannot run /nonexistent/program"));
}
#endif  // HEAPKIT_RECORD_TESTABLE

TEST(HeapkitCliTest, ReplayPrintsARowPerAllocatorAndAChart) {
  const std::string chart = TempPath("chart.svg");
  const Output out = RunShell(absl::StrCat(
      kHeapkit, " replay ", SmallTrace(),
      " --rounds 1 --allocators tlsf,buddy,slab,glibc --svg ", chart));
  ASSERT_EQ(out.status, 0) << out.text;
  EXPECT_THAT(out.text, HasSubstr("30 events from 1 thread"));
  for (const char* name : {"\ntlsf ", "\nbuddy ", "\nslab ", "\nglibc "}) {
    EXPECT_THAT(out.text, HasSubstr(name));
  }
  const std::string svg = ReadFile(chart);
  EXPECT_THAT(svg, HasSubstr("<svg"));
  EXPECT_THAT(svg, HasSubstr("</svg>"));
}

TEST(HeapkitCliTest, ReplayJsonAndAdvise) {
  const std::string trace = SmallTrace();
  const Output json =
      RunShell(absl::StrCat(kHeapkit, " replay ", trace,
                            " --json --rounds 1 --allocators tlsf,slab"));
  ASSERT_EQ(json.status, 0) << json.text;
  EXPECT_THAT(json.text, HasSubstr("\"allocator\": \"tlsf\""));
  EXPECT_THAT(json.text, HasSubstr("\"events\": 30"));
  const Output advice = RunShell(absl::StrCat(
      kHeapkit, " advise ", trace, " --rounds 1 --allocators tlsf,slab"));
  ASSERT_EQ(advice.status, 0) << advice.text;
  EXPECT_THAT(advice.text, HasSubstr("Recommendation: "));
  EXPECT_THAT(advice.text, HasSubstr("- speed: "));
}

TEST(HeapkitCliTest, MapDrawsEachLiveBlock) {
  const std::string trace = SmallTrace();
  for (const char* at : {"peak", "end", "25"}) {
    SCOPED_TRACE(at);
    const std::string svg_path = TempPath(absl::StrCat("map_", at, ".svg"));
    const Output out = RunShell(absl::StrCat(kHeapkit, " map ", trace,
                                             " --backend buddy --at ", at,
                                             " --svg ", svg_path));
    ASSERT_EQ(out.status, 0) << out.text;
    // 20 live at the peak; 10 at the end; after event 25, 20 - 5.
    const int live = std::string(at) == "peak"  ? 20
                     : std::string(at) == "end" ? 10
                                                : 14;
    EXPECT_THAT(out.text, HasSubstr(absl::StrCat(": ", live, " live blocks")));
    const std::string svg = ReadFile(svg_path);
    EXPECT_EQ(CountOf(svg, "class=\"used\""), live);
    // Well-formed XML, when Python is there to parse it.
    if (std::ifstream("/usr/bin/python3").good()) {
      EXPECT_EQ(
          RunShell("/usr/bin/python3 -c 'import sys, xml.etree.ElementTree "
                   "as E; E.parse(sys.argv[1])' " +
                   svg_path)
              .status,
          0);
    }
  }
}

TEST(HeapkitCliTest, BenchRunsTheBuiltInWorkloads) {
  const Output out = RunShell(absl::StrCat(
      kHeapkit,
      " bench --workloads random_alignment --allocators tlsf --min_region=0"));
  ASSERT_EQ(out.status, 0) << out.text;
  EXPECT_THAT(out.text, HasSubstr("random_alignment: 30000 events"));
  EXPECT_THAT(out.text, HasSubstr("\ntlsf "));
}

TEST(HeapkitCliTest, BadInputGetsAClearErrorNamingTheOffset) {
  const std::string good = ReadFile(SmallTrace());
  const std::string cut = TempPath("cut.hktrace");
  std::ofstream(cut, std::ios::binary) << good.substr(0, good.size() - 1);
  Output out = RunShell(absl::StrCat(kHeapkit, " replay ", cut));
  EXPECT_EQ(out.status, 1);
  EXPECT_THAT(out.text, HasSubstr("record cut short at the end of the trace"));
  EXPECT_THAT(out.text, HasSubstr(cut + ": offset "));

  out = RunShell(absl::StrCat(kHeapkit, " replay /nonexistent.hktrace"));
  EXPECT_EQ(out.status, 1);
  EXPECT_THAT(out.text, HasSubstr("cannot open"));
  out = RunShell(
      absl::StrCat(kHeapkit, " replay ", SmallTrace(), " --region 12Q"));
  EXPECT_EQ(out.status, 1);
  EXPECT_THAT(out.text, HasSubstr("not a size such as 64M"));
  out = RunShell(absl::StrCat(kHeapkit, " map ", SmallTrace(),
                              " --backend glibc --svg /dev/null"));
  EXPECT_EQ(out.status, 1);
  EXPECT_THAT(out.text, HasSubstr("unknown backend"));
  out = RunShell(absl::StrCat(kHeapkit, " frobnicate"));
  EXPECT_EQ(out.status, 1);
  EXPECT_THAT(out.text, HasSubstr("unknown command \"frobnicate\""));
  EXPECT_THAT(out.text, Not(HasSubstr("Segmentation")));
}

}  // namespace
}  // namespace heapkit::cli
