#include "adapters/tracking_allocator.h"

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/attributes.h"
#include "absl/debugging/symbolize.h"
#include "adapters/internal/forwarding_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/internal/hex.h"
#include "gmock/gmock.h"
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
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

using Tracked = TrackingAllocator<TlsfByteAllocator>;

std::string HexOf(const void* ptr) {
  return internal::Hex(reinterpret_cast<std::uintptr_t>(ptr));
}

class TrackingAllocatorTest : public ::testing::Test {
 protected:
  TrackingAllocatorTest() : arena_(kMiB) {
    EXPECT_THAT(tracked_.Init(arena_.start(), arena_.size()), IsOk());
  }

  Arena arena_;
  Tracked tracked_;
};

TEST_F(TrackingAllocatorTest, ListsBlocksWhileLiveAndForgetsThemWhenFreed) {
  ASSERT_OK_AND_ASSIGN(void* a, tracked_.Alloc(Layout{64, 8}));
  ASSERT_OK_AND_ASSIGN(void* b, tracked_.Alloc(Layout{100, 32}));
  EXPECT_EQ(tracked_.LiveCount(), 2u);
  std::vector<Tracked::LiveBlock> live = tracked_.live_blocks();
  ASSERT_EQ(live.size(), 2u);
  EXPECT_EQ(live[0].address, a);
  EXPECT_EQ(live[0].layout, (Layout{64, 8}));
  EXPECT_EQ(live[1].address, b);
  EXPECT_EQ(live[1].layout, (Layout{100, 32}));
  EXPECT_TRUE(live[0].stack.empty());  // Traces are off by default.

  tracked_.Dealloc(a, Layout{64, 8});
  live = tracked_.live_blocks();
  ASSERT_EQ(live.size(), 1u);
  EXPECT_EQ(live[0].address, b);
  tracked_.Dealloc(b, Layout{100, 32});
  EXPECT_EQ(tracked_.LiveCount(), 0u);
  EXPECT_EQ(tracked_.UsedBytes(), tracked_.wrapped().UsedBytes());
  EXPECT_THAT(tracked_.CheckInvariants(), IsOk());
}

TEST_F(TrackingAllocatorTest, FailedAllocRecordsNothing) {
  EXPECT_THAT(tracked_.Alloc(Layout{2 * kMiB, 8}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(tracked_.Alloc(Layout{16, 3}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(tracked_.LiveCount(), 0u);
}

TEST_F(TrackingAllocatorTest, SequenceNumbersIncreaseInAllocationOrder) {
  std::vector<void*> blocks;
  for (int i = 0; i < 5; ++i) {
    ASSERT_OK_AND_ASSIGN(void* block, tracked_.Alloc(Layout{32, 8}));
    blocks.push_back(block);
  }
  // Free one in the middle, then allocate again: the new block comes last,
  // even if it reuses the freed address.
  tracked_.Dealloc(blocks[1], Layout{32, 8});
  ASSERT_OK_AND_ASSIGN(void* again, tracked_.Alloc(Layout{32, 8}));
  std::vector<std::uint64_t> sequences;
  for (const Tracked::LiveBlock& block : tracked_.live_blocks()) {
    sequences.push_back(block.sequence);
  }
  EXPECT_THAT(sequences, ElementsAre(0, 2, 3, 4, 5));
  EXPECT_EQ(tracked_.live_blocks().back().address, again);
}

TEST_F(TrackingAllocatorTest, LeakReportNamesOnlyTheLeakedBlocks) {
  EXPECT_EQ(tracked_.ReportLeaks(), "TrackingAllocator: no live blocks\n");
  ASSERT_OK_AND_ASSIGN(void* freed, tracked_.Alloc(Layout{48, 16}));
  ASSERT_OK_AND_ASSIGN(void* leaked, tracked_.Alloc(Layout{200, 64}));
  tracked_.Dealloc(freed, Layout{48, 16});
  const std::string report = tracked_.ReportLeaks();
  EXPECT_EQ(report,
            "TrackingAllocator: 1 live block, 200 bytes\n  block #1 at " +
                HexOf(leaked) + ": 200 bytes, align 64\n");
  EXPECT_THAT(report, Not(HasSubstr(HexOf(freed))));
}

// Allocates through `tracked`: a frame of its own, which the trace names.
ABSL_ATTRIBUTE_NOINLINE void* AllocateForTheTrace(Tracked& tracked) {
  absl::StatusOr<void*> block = tracked.Alloc(Layout{24, 8});
  return block.ok() ? *block : nullptr;
}

TEST_F(TrackingAllocatorTest, LeakReportShowsTheAllocatingStack) {
  tracked_.set_capture_stack_traces(true);
  void* block = AllocateForTheTrace(tracked_);
  ASSERT_NE(block, nullptr);
  const std::vector<Tracked::LiveBlock> live = tracked_.live_blocks();
  ASSERT_EQ(live.size(), 1u);
  ASSERT_FALSE(live[0].stack.empty());
  EXPECT_LE(live[0].stack.size(),
            static_cast<std::size_t>(Tracked::kMaxStackFrames));
  const std::string report = tracked_.ReportLeaks();
  // Every frame is printed with its address, named or not.
  for (void* frame : live[0].stack) {
    EXPECT_THAT(report, HasSubstr(HexOf(frame)));
  }
  char name[256];
  if (absl::Symbolize(reinterpret_cast<void*>(&AllocateForTheTrace), name,
                      sizeof name)) {
    // The binary has symbols: the report names the function that allocated,
    // and the test that called it.
    EXPECT_THAT(report, HasSubstr("AllocateForTheTrace"));
    EXPECT_THAT(report, HasSubstr("LeakReportShowsTheAllocatingStack"));
  } else {
    EXPECT_THAT(report, HasSubstr("(no symbol)"));
  }
  tracked_.Dealloc(block, Layout{24, 8});
}

TEST_F(TrackingAllocatorTest, TablesLiveOffTheManagedRegion) {
  // The same calls on a bare TLSF allocator give the same addresses and byte
  // counts: the table took nothing from the region.
  Arena bare_arena(kMiB);
  TlsfByteAllocator bare;
  ASSERT_THAT(bare.Init(bare_arena.start(), bare_arena.size()), IsOk());
  tracked_.set_capture_stack_traces(true);
  for (int i = 0; i < 1000; ++i) {
    const Layout layout{static_cast<std::size_t>(i % 97) * 8, 8};
    ASSERT_OK_AND_ASSIGN(void* tracked_block, tracked_.Alloc(layout));
    ASSERT_OK_AND_ASSIGN(void* bare_block, bare.Alloc(layout));
    ASSERT_EQ(
        reinterpret_cast<std::uintptr_t>(tracked_block) - arena_.start(),
        reinterpret_cast<std::uintptr_t>(bare_block) - bare_arena.start());
  }
  EXPECT_EQ(tracked_.UsedBytes(), bare.UsedBytes());
  EXPECT_EQ(tracked_.TotalBytes(), bare.TotalBytes());
  // And the recorded data itself is outside the arena.
  for (const Tracked::LiveBlock& block : tracked_.live_blocks()) {
    const auto stack = reinterpret_cast<std::uintptr_t>(block.stack.data());
    ASSERT_TRUE(stack < arena_.start() || stack >= arena_.start() + kMiB);
  }
}

TEST_F(TrackingAllocatorTest, InitForgetsEveryBlock) {
  ASSERT_OK_AND_ASSIGN(void* block, tracked_.Alloc(Layout{64, 8}));
  ASSERT_NE(block, nullptr);
  ASSERT_THAT(tracked_.Init(arena_.start(), arena_.size()), IsOk());
  EXPECT_EQ(tracked_.LiveCount(), 0u);
  ASSERT_OK_AND_ASSIGN(block, tracked_.Alloc(Layout{64, 8}));
  EXPECT_EQ(tracked_.live_blocks()[0].sequence, 1u);  // Still counting.
  tracked_.Dealloc(block, Layout{64, 8});
}

// Returns 0x10000, 0x11000, then 0x10800 (inside the first block): a broken
// backend, whose bug CheckInvariants() must catch.
class OverlappingAllocator final
    : public internal::ForwardingAllocator<TlsfByteAllocator> {
 public:
  absl::StatusOr<void*> Alloc(Layout) override {
    constexpr std::uintptr_t kAddresses[] = {0x10000, 0x11000, 0x10800};
    return reinterpret_cast<void*>(kAddresses[calls_++ % 3]);
  }
  void Dealloc(void*, Layout) override {}

 private:
  int calls_ = 0;
};

TEST(TrackingAllocatorCheckTest, CheckInvariantsReportsOverlappingBlocks) {
  TrackingAllocator<OverlappingAllocator> tracked;
  ASSERT_THAT(tracked.Alloc(Layout{4096, 8}), IsOk());
  ASSERT_THAT(tracked.Alloc(Layout{4096, 8}), IsOk());
  EXPECT_THAT(tracked.CheckInvariants(), IsOk());  // Touching, not overlapping.
  ASSERT_THAT(tracked.Alloc(Layout{16, 8}), IsOk());
  EXPECT_THAT(tracked.CheckInvariants(),
              IsAllocError(AllocError::kMemoryOverlap));
}

}  // namespace
}  // namespace heapkit
