#include "adapters/failure_injecting_allocator.h"

#include <cstdint>
#include <limits>
#include <vector>

#include "allocators/tlsf/tlsf_byte_allocator.h"
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

class FailureInjectingAllocatorTest : public ::testing::Test {
 protected:
  FailureInjectingAllocatorTest() : arena_(kMiB) {
    EXPECT_THAT(flaky_.Init(arena_.start(), arena_.size()), IsOk());
    baseline_used_ = flaky_.UsedBytes();
  }
  ~FailureInjectingAllocatorTest() override { FreeAll(); }

  // Makes `n` Alloc calls of 64 bytes; returns the indices of those that
  // failed, and keeps the blocks of the others.
  std::vector<int> FailingCalls(int n) {
    std::vector<int> failed;
    for (int i = 0; i < n; ++i) {
      absl::StatusOr<void*> block = flaky_.Alloc(Layout{64, 8});
      if (block.ok()) {
        blocks_.push_back(*block);
      } else {
        EXPECT_THAT(block, IsAllocError(AllocError::kNoMemory));
        EXPECT_THAT(block.status().message(), HasSubstr("injected"));
        failed.push_back(i);
      }
    }
    return failed;
  }

  void FreeAll() {
    for (void* block : blocks_) flaky_.Dealloc(block, Layout{64, 8});
    blocks_.clear();
  }

  Arena arena_;
  FailureInjectingAllocator<TlsfByteAllocator> flaky_;
  std::size_t baseline_used_ = 0;
  std::vector<void*> blocks_;
};

TEST_F(FailureInjectingAllocatorTest, InjectsNothingByDefault) {
  EXPECT_THAT(FailingCalls(100), ElementsAre());
  EXPECT_EQ(flaky_.alloc_calls(), 100u);
  EXPECT_EQ(flaky_.failures_injected(), 0u);
  // Real failures still come through, with the wrapped allocator's code.
  EXPECT_THAT(flaky_.Alloc(Layout{2 * kMiB, 8}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(flaky_.Alloc(Layout{16, 3}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(flaky_.failures_injected(), 0u);
}

TEST_F(FailureInjectingAllocatorTest, FailNthAllocFailsOnlyThatCall) {
  flaky_.FailNthAlloc(3);
  EXPECT_THAT(FailingCalls(10), ElementsAre(3));
  EXPECT_EQ(flaky_.alloc_calls(), 10u);
  EXPECT_EQ(flaky_.failures_injected(), 1u);
  // Arming again counts from the arming call.
  flaky_.FailNthAlloc(0);
  EXPECT_THAT(FailingCalls(3), ElementsAre(0));
}

TEST_F(FailureInjectingAllocatorTest, FailAllocsFromFailsThatCallAndAllLater) {
  flaky_.FailAllocsFrom(5);
  EXPECT_THAT(FailingCalls(9), ElementsAre(5, 6, 7, 8));
  EXPECT_EQ(flaky_.failures_injected(), 4u);
  flaky_.StopFailing();
  EXPECT_THAT(FailingCalls(5), ElementsAre());
  EXPECT_EQ(flaky_.alloc_calls(), 5u);
}

TEST_F(FailureInjectingAllocatorTest, InjectedFailureNeverReachesTheBackend) {
  flaky_.FailAllocsFrom(0);
  const std::size_t used = flaky_.wrapped().UsedBytes();
  EXPECT_THAT(flaky_.Alloc(Layout{64, 8}), IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(flaky_.wrapped().UsedBytes(), used);
}

TEST_F(FailureInjectingAllocatorTest, InvalidLayoutStaysInvalidParamWhenArmed) {
  flaky_.FailAllocsFrom(0);
  EXPECT_THAT(flaky_.Alloc(Layout{16, 3}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(flaky_.Alloc(Layout{SIZE_MAX, 64}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(flaky_.failures_injected(), 0u);
  EXPECT_EQ(flaky_.alloc_calls(), 2u);  // They count all the same.
}

TEST_F(FailureInjectingAllocatorTest, FreesAreNeverAffected) {
  EXPECT_THAT(FailingCalls(20), ElementsAre());
  EXPECT_GT(flaky_.UsedBytes(), baseline_used_);
  flaky_.FailAllocsFrom(0);
  FreeAll();
  EXPECT_EQ(flaky_.UsedBytes(), baseline_used_);
  EXPECT_EQ(flaky_.alloc_calls(), 0u);
  EXPECT_THAT(flaky_.CheckInvariants(), IsOk());
}

TEST_F(FailureInjectingAllocatorTest, InitRestartsTheCount) {
  flaky_.FailNthAlloc(2);
  EXPECT_THAT(FailingCalls(2), ElementsAre());
  FreeAll();
  ASSERT_THAT(flaky_.Init(arena_.start(), arena_.size()), IsOk());
  EXPECT_EQ(flaky_.alloc_calls(), 0u);
  EXPECT_THAT(FailingCalls(4), ElementsAre(2));
}

TEST_F(FailureInjectingAllocatorTest, RandomFailuresFollowTheProbability) {
  ASSERT_THAT(flaky_.FailAllocsRandomly(0.25, 7), IsOk());
  const std::vector<int> failed = FailingCalls(2000);
  EXPECT_EQ(flaky_.failures_injected(), failed.size());
  // Deterministic for the seed; about a quarter (the binomial's standard
  // deviation is about 19).
  EXPECT_GT(failed.size(), 400u);
  EXPECT_LT(failed.size(), 600u);
}

TEST_F(FailureInjectingAllocatorTest, RandomFailuresRepeatForASeed) {
  ASSERT_THAT(flaky_.FailAllocsRandomly(0.5, 42), IsOk());
  const std::vector<int> first = FailingCalls(200);
  FreeAll();
  ASSERT_THAT(flaky_.FailAllocsRandomly(0.5, 42), IsOk());
  EXPECT_EQ(FailingCalls(200), first);
  FreeAll();
  // Init restarts the same stream.
  ASSERT_THAT(flaky_.Init(arena_.start(), arena_.size()), IsOk());
  EXPECT_EQ(FailingCalls(200), first);
  FreeAll();
  ASSERT_THAT(flaky_.FailAllocsRandomly(0.5, 43), IsOk());
  EXPECT_NE(FailingCalls(200), first);
}

TEST_F(FailureInjectingAllocatorTest, ProbabilityZeroAndOneAreExact) {
  ASSERT_THAT(flaky_.FailAllocsRandomly(0, 1), IsOk());
  EXPECT_THAT(FailingCalls(500), ElementsAre());
  FreeAll();
  ASSERT_THAT(flaky_.FailAllocsRandomly(1, 1), IsOk());
  EXPECT_EQ(FailingCalls(500).size(), 500u);
}

TEST_F(FailureInjectingAllocatorTest, ProbabilityOutsideUnitIntervalIsInvalid) {
  flaky_.FailNthAlloc(1);
  for (double p : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    EXPECT_THAT(flaky_.FailAllocsRandomly(p, 1),
                IsAllocError(AllocError::kInvalidParam))
        << p;
  }
  // The armed mode is unchanged.
  EXPECT_THAT(FailingCalls(3), ElementsAre(1));
}

}  // namespace
}  // namespace heapkit
