#include "bench/instruction_counter.h"

#include <signal.h>

#include <cstdint>

#include "absl/base/attributes.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace heapkit::bench {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Runs a loop of exactly two instructions `n` times (n >= 1).
ABSL_ATTRIBUTE_NOINLINE int Spin(std::uint64_t n) {
  asm volatile("1: dec %0\n\tjnz 1b" : "+r"(n));
  return 0;
}

TEST(InstructionCounterTest, CountsEveryInstructionOfTheCall) {
  absl::StatusOr<InstructionCounts> counts = CountInstructions([] {
    MeasureInstructions(0, [] { return Spin(1); });
    MeasureInstructions(1, [] { return Spin(101); });
    MeasureInstructions(1, [] { return Spin(1001); });
  });
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ(counts->size(), 2u);
  ASSERT_EQ((*counts)[0].size(), 1u);
  ASSERT_EQ((*counts)[1].size(), 2u);
  const std::uint64_t base = (*counts)[0][0];
  EXPECT_GT(base, 2u);  // The call, the loop's two and the return at least.
  EXPECT_EQ((*counts)[1][0] - base, 200u);
  EXPECT_EQ((*counts)[1][1] - base, 2000u);
}

TEST(InstructionCounterTest, CountsVoidCallsInOrderPerTag) {
  absl::StatusOr<InstructionCounts> counts = CountInstructions([] {
    for (std::uint64_t n : {1, 11, 21}) {
      MeasureInstructions(7, [n] { Spin(n); });
    }
  });
  ASSERT_TRUE(counts.ok()) << counts.status();
  const std::vector<std::uint64_t>& seven = (*counts)[7];
  ASSERT_EQ(seven.size(), 3u);
  EXPECT_THAT(
      (std::vector<std::uint64_t>{seven[1] - seven[0], seven[2] - seven[0]}),
      ElementsAre(20u, 40u));
}

TEST(InstructionCounterTest, RelabelsTheLastCount) {
  absl::StatusOr<InstructionCounts> counts = CountInstructions([] {
    MeasureInstructions(0, [] { return Spin(1); });
    MeasureInstructions(0, [] { return Spin(11); });
    RelabelLastMeasurement(5);
    MeasureInstructions(0, [] { return Spin(1); });
  });
  ASSERT_TRUE(counts.ok()) << counts.status();
  ASSERT_EQ((*counts)[0].size(), 2u);
  ASSERT_EQ((*counts)[5].size(), 1u);
  EXPECT_EQ((*counts)[0][0], (*counts)[0][1]);
  EXPECT_EQ((*counts)[5][0] - (*counts)[0][0], 20u);
}

TEST(InstructionCounterTest, OutsideCountingOnlyCalls) {
  RelabelLastMeasurement(1);  // Nothing to do, and no trap.
  EXPECT_EQ(MeasureInstructions(0, [] { return 42; }), 42);
}

TEST(InstructionCounterTest, ReportsAChildThatDies) {
  absl::StatusOr<InstructionCounts> counts =
      CountInstructions([] { raise(SIGKILL); });
  EXPECT_THAT(counts.status().message(), HasSubstr("killed by signal 9"));
}

TEST(InstructionCounterTest, ReportsAChildThatFails) {
  absl::StatusOr<InstructionCounts> counts =
      CountInstructions([] { _exit(3); });
  EXPECT_THAT(counts.status().message(), HasSubstr("exited with status 3"));
}

TEST(InstructionCounterTest, ReportsASignalInsideAMeasuredCall) {
  absl::StatusOr<InstructionCounts> counts = CountInstructions(
      [] { MeasureInstructions(0, [] { return raise(SIGUSR1); }); });
  EXPECT_THAT(counts.status().message(), HasSubstr("inside a measured call"));
}

}  // namespace
}  // namespace heapkit::bench
