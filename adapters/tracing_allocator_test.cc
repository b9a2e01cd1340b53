#include "adapters/tracing_allocator.h"

#include <cstdint>
#include <string>
#include <vector>

#include "adapters/trace/trace_reader.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using ::heapkit::testing::Arena;
using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::kMiB;
using trace::RecordType;

std::uint64_t AddressOf(const void* ptr) {
  return reinterpret_cast<std::uintptr_t>(ptr);
}

class TracingAllocatorTest : public ::testing::Test {
 protected:
  TracingAllocatorTest() : arena_(kMiB), sink_(&bytes_) {
    EXPECT_THAT(traced_.Init(arena_.start(), arena_.size()), IsOk());
  }

  trace::Trace Parsed() {
    absl::StatusOr<trace::Trace> trace = trace::ParseTrace(bytes_);
    EXPECT_TRUE(trace.ok()) << trace.status();
    return trace.ok() ? *std::move(trace) : trace::Trace{};
  }

  Arena arena_;
  std::string bytes_;
  trace::StringSink sink_;
  TracingAllocator<TlsfByteAllocator> traced_;
};

TEST_F(TracingAllocatorTest, RecordsEachAllocAndDeallocInOrder) {
  traced_.StartTrace(&sink_);
  ASSERT_OK_AND_ASSIGN(void* a, traced_.Alloc(Layout{100, 8}));
  ASSERT_OK_AND_ASSIGN(void* b, traced_.Alloc(Layout{3000, 256}));
  traced_.Dealloc(a, Layout{100, 8});
  ASSERT_OK_AND_ASSIGN(void* c, traced_.Alloc(Layout{0, 1}));
  traced_.Dealloc(nullptr, Layout{1, 1});  // Ignored, as by the backend.
  ASSERT_TRUE(traced_.StopTrace());

  const trace::Trace trace = Parsed();
  ASSERT_EQ(trace.events.size(), 4u);
  EXPECT_EQ(trace.events[0].type, RecordType::kAlloc);
  EXPECT_EQ(trace.events[0].address, AddressOf(a));
  EXPECT_EQ(trace.events[0].size, 100u);
  EXPECT_EQ(trace.events[0].align(), 8u);
  EXPECT_EQ(trace.events[1].address, AddressOf(b));
  EXPECT_EQ(trace.events[1].align(), 256u);
  EXPECT_EQ(trace.events[2].type, RecordType::kFree);
  EXPECT_EQ(trace.events[2].address, AddressOf(a));
  EXPECT_EQ(trace.events[3].address, AddressOf(c));
  EXPECT_EQ(trace.events[3].size, 0u);
  EXPECT_LE(trace.events[0].time_ns, trace.events[3].time_ns);
  EXPECT_EQ(trace.end_live_bytes, 3000u);
}

TEST_F(TracingAllocatorTest, LeavesOutFailedAllocsAndCallsOutsideATrace) {
  ASSERT_OK_AND_ASSIGN(void* before, traced_.Alloc(Layout{64, 8}));
  traced_.StartTrace(&sink_);
  EXPECT_THAT(traced_.Alloc(Layout{2 * kMiB, 8}),
              IsAllocError(AllocError::kNoMemory));
  ASSERT_OK_AND_ASSIGN(void* during, traced_.Alloc(Layout{64, 8}));
  ASSERT_TRUE(traced_.StopTrace());
  traced_.Dealloc(before, Layout{64, 8});
  traced_.Dealloc(during, Layout{64, 8});

  const trace::Trace trace = Parsed();
  ASSERT_EQ(trace.events.size(), 1u);
  EXPECT_EQ(trace.events[0].address, AddressOf(during));
}

TEST_F(TracingAllocatorTest, ForwardsResultsUnchanged) {
  traced_.StartTrace(&sink_);
  ASSERT_OK_AND_ASSIGN(void* a, traced_.Alloc(Layout{500, 16}));
  EXPECT_EQ(traced_.UsedBytes(), traced_.wrapped().UsedBytes());
  EXPECT_GE(traced_.UsedBytes(), 500u);
  traced_.Dealloc(a, Layout{500, 16});
  EXPECT_EQ(traced_.UsedBytes(), 0u);
}

TEST_F(TracingAllocatorTest, FlushesWhenDestroyed) {
  std::string bytes;
  trace::StringSink sink(&bytes);
  {
    TracingAllocator<TlsfByteAllocator> traced;
    ASSERT_THAT(traced.Init(arena_.start(), arena_.size()), IsOk());
    traced.StartTrace(&sink);
    ASSERT_OK_AND_ASSIGN(void* a, traced.Alloc(Layout{8, 8}));
    traced.Dealloc(a, Layout{8, 8});
    EXPECT_EQ(bytes, "");  // Still buffered.
  }
  absl::StatusOr<trace::Trace> trace = trace::ParseTrace(bytes);
  ASSERT_TRUE(trace.ok()) << trace.status();
  EXPECT_EQ(trace->events.size(), 2u);
}

TEST_F(TracingAllocatorTest, StartingAgainBeginsANewTrace) {
  traced_.StartTrace(&sink_);
  ASSERT_OK_AND_ASSIGN(void* a, traced_.Alloc(Layout{8, 8}));
  std::string second;
  trace::StringSink second_sink(&second);
  traced_.StartTrace(&second_sink);
  traced_.Dealloc(a, Layout{8, 8});
  traced_.StopTrace();
  EXPECT_EQ(Parsed().events.size(), 1u);
  // The second trace starts with a free of a block it never saw.
  EXPECT_FALSE(trace::ParseTrace(second).ok());
}

}  // namespace
}  // namespace heapkit
