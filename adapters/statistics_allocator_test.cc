#include "adapters/statistics_allocator.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "adapters/borrowed_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "fmt/format.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using testing::Arena;
using ::testing::HasSubstr;
using testing::IsAllocError;
using testing::IsOk;
using testing::kMax;
using testing::kMiB;
using Counter = Statistics::Counter;

class StatisticsAllocatorTest : public ::testing::Test {
 protected:
  StatisticsAllocatorTest() : arena_(kMiB) {
    EXPECT_THAT(counted_.Init(arena_.start(), arena_.size()), IsOk());
  }

  // Allocates `size` bytes aligned to 8, failing the test if that fails.
  void* Alloc(std::size_t size) {
    absl::StatusOr<void*> block = counted_.Alloc(Layout{size, 8});
    EXPECT_THAT(block, IsOk()) << "size " << size;
    return block.ok() ? *block : nullptr;
  }
  void Free(void* block, std::size_t size) {
    counted_.Dealloc(block, Layout{size, 8});
  }

  Arena arena_;
  StatisticsAllocator<TlsfByteAllocator> counted_;
};

TEST_F(StatisticsAllocatorTest, StartsAtZero) {
  EXPECT_EQ(counted_.GetStatistics(), Statistics{});
  EXPECT_EQ(counted_.ScopeDepth(), 0u);
  EXPECT_THAT(counted_.CheckInvariants(), IsOk());
}

TEST_F(StatisticsAllocatorTest, CountsRequestedBytesAndBlocks) {
  void* a = Alloc(100);
  void* b = Alloc(200);
  void* c = Alloc(0);
  Free(b, 200);
  void* d = Alloc(50);

  const Statistics& stats = counted_.GetStatistics();
  EXPECT_EQ(stats.bytes, (Counter{.current = 150, .peak = 300, .total = 350}));
  EXPECT_EQ(stats.blocks, (Counter{.current = 3, .peak = 3, .total = 4}));
  EXPECT_EQ(stats.deallocs, 1);
  EXPECT_EQ(stats.failures, 0);
  // The backend rounds each block up and adds a header: UsedBytes() shows it.
  EXPECT_GT(counted_.UsedBytes(), 150u);
  EXPECT_EQ(counted_.UsedBytes(), counted_.wrapped().UsedBytes());
  EXPECT_THAT(counted_.CheckInvariants(), IsOk());

  Free(a, 100);
  Free(c, 0);
  Free(d, 50);
  EXPECT_EQ(stats.bytes, (Counter{.current = 0, .peak = 300, .total = 350}));
  EXPECT_EQ(stats.blocks, (Counter{.current = 0, .peak = 3, .total = 4}));
  EXPECT_EQ(stats.deallocs, 4);
  EXPECT_EQ(counted_.UsedBytes(), 0u);
}

TEST_F(StatisticsAllocatorTest, NullDeallocIsNotCounted) {
  counted_.Dealloc(nullptr, Layout{64, 8});
  EXPECT_EQ(counted_.GetStatistics(), Statistics{});
}

TEST_F(StatisticsAllocatorTest, FailuresAreCountedAndChangeNoByteCounter) {
  // A 4 KiB region runs out after a few blocks of 1000 bytes.
  ASSERT_THAT(counted_.Init(arena_.start(), 4096), IsOk());
  std::vector<void*> blocks;
  absl::StatusOr<void*> block;
  while ((block = counted_.Alloc(Layout{1000, 8})).ok()) {
    blocks.push_back(*block);
  }
  EXPECT_THAT(block, IsAllocError(AllocError::kNoMemory));
  ASSERT_GE(blocks.size(), 1u);
  EXPECT_THAT(counted_.Alloc(Layout{kMax, 1}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(counted_.Alloc(Layout{16, 3}),
              IsAllocError(AllocError::kInvalidParam));

  const Statistics& stats = counted_.GetStatistics();
  const auto n = static_cast<std::int64_t>(blocks.size());
  EXPECT_EQ(stats.failures, 3);
  EXPECT_EQ(stats.blocks, (Counter{.current = n, .peak = n, .total = n}));
  EXPECT_EQ(
      stats.bytes,
      (Counter{.current = 1000 * n, .peak = 1000 * n, .total = 1000 * n}));
  // Failed requests still land in the histogram.
  EXPECT_EQ(stats.size_histogram[Statistics::HistogramBucket(1000)], n + 1);
  EXPECT_EQ(stats.size_histogram[64], 1);
  EXPECT_EQ(stats.size_histogram[5], 1);
  EXPECT_THAT(counted_.CheckInvariants(), IsOk());
  for (void* p : blocks) Free(p, 1000);
}

TEST_F(StatisticsAllocatorTest, HistogramBucketKHoldsSizesFrom2ToTheKMinus1) {
  EXPECT_EQ(Statistics::HistogramBucket(0), 0u);
  EXPECT_EQ(Statistics::HistogramBucket(1), 1u);
  EXPECT_EQ(Statistics::HistogramBucket(2), 2u);
  EXPECT_EQ(Statistics::HistogramBucket(3), 2u);
  EXPECT_EQ(Statistics::HistogramBucket(4), 3u);
  EXPECT_EQ(Statistics::HistogramBucket(1023), 10u);
  EXPECT_EQ(Statistics::HistogramBucket(1024), 11u);
  EXPECT_EQ(Statistics::HistogramBucket(kMax), 64u);

  const std::size_t sizes[] = {0, 0, 1, 2, 3, 4, 7, 8, 1000, 1024};
  for (std::size_t size : sizes) Free(Alloc(size), size);
  const Statistics& stats = counted_.GetStatistics();
  std::vector<std::int64_t> expected(Statistics::kHistogramBuckets, 0);
  expected[0] = 2;   // 0, 0
  expected[1] = 1;   // 1
  expected[2] = 2;   // 2, 3
  expected[3] = 2;   // 4, 7
  expected[4] = 1;   // 8
  expected[10] = 1;  // 1000
  expected[11] = 1;  // 1024
  EXPECT_THAT(stats.size_histogram, ::testing::ElementsAreArray(expected));
}

TEST_F(StatisticsAllocatorTest, ScopesNestTwoDeepAndMergeIntoTheirParent) {
  void* a = Alloc(100);

  counted_.PushScope();
  EXPECT_EQ(counted_.ScopeDepth(), 1u);
  EXPECT_EQ(counted_.GetStatistics(), Statistics{});
  void* b = Alloc(50);
  void* c = Alloc(30);
  Free(c, 30);

  counted_.PushScope();
  EXPECT_EQ(counted_.ScopeDepth(), 2u);
  void* d = Alloc(40);
  // Freeing a block from before the scope takes its counters below zero.
  Free(a, 100);
  EXPECT_THAT(counted_.CheckInvariants(), IsOk());

  const Statistics inner = counted_.PopScope();
  EXPECT_EQ(inner.bytes, (Counter{.current = -60, .peak = 40, .total = 40}));
  EXPECT_EQ(inner.blocks, (Counter{.current = 0, .peak = 1, .total = 1}));
  EXPECT_EQ(inner.deallocs, 1);
  EXPECT_EQ(counted_.ScopeDepth(), 1u);
  // The middle scope stood at 50 bytes (peak 80) when the inner one began, so
  // the inner peak of 40 lifts its peak to 90.
  EXPECT_EQ(counted_.GetStatistics().bytes,
            (Counter{.current = -10, .peak = 90, .total = 120}));

  const Statistics middle = counted_.PopScope();
  EXPECT_EQ(middle.bytes, (Counter{.current = -10, .peak = 90, .total = 120}));
  EXPECT_EQ(middle.blocks, (Counter{.current = 1, .peak = 2, .total = 3}));
  EXPECT_EQ(middle.deallocs, 2);
  // b (50 bytes) and d (40 bytes) share the bucket [32, 64).
  EXPECT_EQ(middle.size_histogram[Statistics::HistogramBucket(40)], 2);
  EXPECT_EQ(middle.size_histogram[Statistics::HistogramBucket(100)], 0);
  EXPECT_EQ(counted_.ScopeDepth(), 0u);

  // The outermost scope now holds the whole history: a, b and d were live
  // together (190 bytes); b and d are live now.
  const Statistics& outer = counted_.GetStatistics();
  EXPECT_EQ(outer.bytes, (Counter{.current = 90, .peak = 190, .total = 220}));
  EXPECT_EQ(outer.blocks, (Counter{.current = 2, .peak = 3, .total = 4}));
  EXPECT_EQ(outer.deallocs, 2);
  EXPECT_EQ(outer.size_histogram[Statistics::HistogramBucket(40)], 2);
  EXPECT_EQ(outer.size_histogram[Statistics::HistogramBucket(100)], 1);
  EXPECT_THAT(counted_.CheckInvariants(), IsOk());
  Free(b, 50);
  Free(d, 40);
}

TEST_F(StatisticsAllocatorTest, InitZeroesEveryScopeAndKeepsThemOpen) {
  Alloc(100);
  counted_.PushScope();
  Alloc(200);
  ASSERT_THAT(counted_.Init(arena_.start(), arena_.size()), IsOk());
  EXPECT_EQ(counted_.ScopeDepth(), 1u);
  EXPECT_EQ(counted_.GetStatistics(), Statistics{});
  EXPECT_EQ(counted_.PopScope(), Statistics{});
  EXPECT_EQ(counted_.GetStatistics(), Statistics{});
  EXPECT_THAT(counted_.CheckInvariants(), IsOk());
}

TEST_F(StatisticsAllocatorTest, UnmatchedPopScopeAborts) {
  EXPECT_DEATH(counted_.PopScope(), "PopScope\\(\\) without a PushScope\\(\\)");
}

TEST_F(StatisticsAllocatorTest, CheckInvariantsCatchesCallsThatBypassIt) {
  // Allocated behind the adapter's back, freed through it.
  ASSERT_OK_AND_ASSIGN(void* block, counted_.wrapped().Alloc(Layout{64, 8}));
  Free(block, 64);
  const absl::Status status = counted_.CheckInvariants();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("more freed than allocated"));
}

TEST_F(StatisticsAllocatorTest, FormatsEveryNumber) {
  void* a = Alloc(40);
  void* b = Alloc(100);
  Free(Alloc(0), 0);
  Free(a, 40);
  EXPECT_THAT(counted_.Alloc(Layout{2 * kMiB, 8}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(fmt::format("{}", counted_.GetStatistics()),
            "bytes: current 100, peak 140, total 140\n"
            "blocks: current 1, peak 3, total 3\n"
            "deallocs 2, failures 1\n"
            "sizes: 0: 1, 32-63: 1, 64-127: 1, 2097152-4194303: 1");
  Free(b, 100);
}

TEST(StatisticsFormatTest, EmptyStatisticsShowNoSizes) {
  EXPECT_EQ(fmt::format("{}", Statistics{}),
            "bytes: current 0, peak 0, total 0\n"
            "blocks: current 0, peak 0, total 0\n"
            "deallocs 0, failures 0\n"
            "sizes: none");
}

TEST(StatisticsAllocatorBorrowedTest, CountsCallsOnABorrowedAllocator) {
  Arena arena(kMiB);
  TlsfByteAllocator tlsf;
  StatisticsAllocator<BorrowedAllocator<TlsfByteAllocator>> counted(tlsf);
  ASSERT_THAT(counted.Init(arena.start(), arena.size()), IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, counted.Alloc(Layout{24, 8}));
  EXPECT_EQ(counted.GetStatistics().bytes.current, 24);
  EXPECT_EQ(tlsf.UsedBytes(), counted.UsedBytes());
  counted.Dealloc(block, Layout{24, 8});
  EXPECT_EQ(tlsf.UsedBytes(), 0u);
}

}  // namespace
}  // namespace heapkit
