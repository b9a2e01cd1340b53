#include "tests/matchers.h"

#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/alloc_error.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"

namespace heapkit::testing {
namespace {

using ::testing::DescribeMatcher;
using ::testing::HasSubstr;
using ::testing::Matches;
using ::testing::Not;

// Returns what `matcher` says about `value` when asked to explain.
template <class M, class T>
std::string Explain(const M& matcher, const T& value) {
  ::testing::StringMatchResultListener listener;
  ::testing::ExplainMatchResult(matcher, value, &listener);
  return listener.str();
}

constexpr AllocError kAllErrors[] = {
    AllocError::kInvalidParam, AllocError::kMemoryOverlap,
    AllocError::kNoMemory, AllocError::kNotAllocated};

TEST(IsOkTest, MatchesOkStatusAndStatusOr) {
  EXPECT_TRUE(Matches(IsOk())(absl::OkStatus()));
  EXPECT_TRUE(Matches(IsOk())(absl::StatusOr<int>(5)));
  EXPECT_TRUE(Matches(IsOk())(absl::StatusOr<void*>(nullptr)));
  EXPECT_THAT(absl::StatusOr<std::unique_ptr<int>>(std::make_unique<int>(1)),
              IsOk());
}

TEST(IsOkTest, DoesNotMatchErrors) {
  for (AllocError error : kAllErrors) {
    const absl::Status status = MakeError(error, "no");
    EXPECT_FALSE(Matches(IsOk())(status)) << status;
    EXPECT_FALSE(Matches(IsOk())(absl::StatusOr<void*>(status))) << status;
  }
  EXPECT_FALSE(Matches(IsOk())(absl::InternalError("broken")));
  EXPECT_THAT(absl::StatusOr<int>(absl::CancelledError()), Not(IsOk()));
}

TEST(IsOkTest, DescribesItself) {
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsOk()), "is OK");
  EXPECT_EQ(DescribeMatcher<absl::StatusOr<int>>(IsOk(), /*negation=*/true),
            "is not OK");
}

TEST(IsOkTest, ExplainsWithTheStatus) {
  EXPECT_EQ(Explain(IsOk(), absl::StatusOr<int>(
                                MakeError(AllocError::kNoMemory, "full"))),
            "whose status is RESOURCE_EXHAUSTED: full");
  EXPECT_EQ(Explain(IsOk(), absl::OkStatus()), "whose status is OK");
}

TEST(IsAllocErrorTest, MatchesTheSameErrorOnly) {
  for (AllocError expected : kAllErrors) {
    for (AllocError actual : kAllErrors) {
      const absl::Status status = MakeError(actual, "message");
      EXPECT_EQ(Matches(IsAllocError(expected))(status), actual == expected)
          << AllocErrorName(expected) << " vs " << status;
      EXPECT_EQ(Matches(IsAllocError(expected))(absl::StatusOr<int>(status)),
                actual == expected)
          << AllocErrorName(expected) << " vs " << status;
    }
  }
}

TEST(IsAllocErrorTest, DoesNotMatchOkOrForeignCodes) {
  for (AllocError expected : kAllErrors) {
    EXPECT_FALSE(Matches(IsAllocError(expected))(absl::OkStatus()));
    EXPECT_FALSE(Matches(IsAllocError(expected))(absl::StatusOr<int>(3)));
    EXPECT_FALSE(
        Matches(IsAllocError(expected))(absl::InternalError("broken")));
  }
  EXPECT_THAT(absl::OkStatus(), Not(IsAllocError(AllocError::kNoMemory)));
}

TEST(IsAllocErrorTest, DescribesItselfWithTheErrorAndItsCode) {
  EXPECT_EQ(DescribeMatcher<absl::Status>(IsAllocError(AllocError::kNoMemory)),
            "fails with kNoMemory (RESOURCE_EXHAUSTED)");
  EXPECT_EQ(DescribeMatcher<absl::StatusOr<void*>>(
                IsAllocError(AllocError::kInvalidParam), /*negation=*/true),
            "does not fail with kInvalidParam (INVALID_ARGUMENT)");
}

TEST(IsAllocErrorTest, ExplainsWithTheStatusAndTheErrorItCarries) {
  const auto matcher = IsAllocError(AllocError::kNoMemory);
  EXPECT_EQ(Explain(matcher, MakeError(AllocError::kNotAllocated, "gone")),
            "whose status is NOT_FOUND: gone, which carries kNotAllocated");
  EXPECT_EQ(Explain(matcher, absl::StatusOr<int>(absl::InternalError("x"))),
            "whose status is INTERNAL: x, which carries no AllocError");
  EXPECT_EQ(Explain(matcher, absl::StatusOr<int>(1)), "whose status is OK");
}

TEST(IsAllocErrorTest, FailureMessageNamesTheExpectedError) {
  EXPECT_NONFATAL_FAILURE(
      EXPECT_THAT(absl::OkStatus(), IsAllocError(AllocError::kMemoryOverlap)),
      "fails with kMemoryOverlap (ALREADY_EXISTS)");
}

TEST(AssertOkAndAssignTest, AssignsTheValue) {
  ASSERT_OK_AND_ASSIGN(int number, absl::StatusOr<int>(42));
  EXPECT_EQ(number, 42);
  // Move-only values, and commas in the expression.
  ASSERT_OK_AND_ASSIGN(auto pointer, absl::StatusOr<std::unique_ptr<int>>(
                                         std::make_unique<int>(7)));
  EXPECT_EQ(*pointer, 7);
  ASSERT_OK_AND_ASSIGN(auto pair, absl::StatusOr<std::pair<int, char>>(
                                      std::pair<int, char>{1, 'a'}));
  EXPECT_EQ(pair.second, 'a');
  // Assigns to an existing variable, twice in one scope.
  std::string text;
  ASSERT_OK_AND_ASSIGN(text, absl::StatusOr<std::string>("first"));
  ASSERT_OK_AND_ASSIGN(text, absl::StatusOr<std::string>("second"));
  EXPECT_EQ(text, "second");
}

bool reached_after_failure = false;

absl::StatusOr<int> FullPool() {
  return MakeError(AllocError::kNoMemory, "pool is full");
}

void AssignAnError() {
  ASSERT_OK_AND_ASSIGN(int number, FullPool());
  reached_after_failure = true;
  (void)number;
}

TEST(AssertOkAndAssignTest, FailsFatallyWithTheExpressionAndStatus) {
  EXPECT_FATAL_FAILURE(
      AssignAnError(),
      "FullPool() is not OK: RESOURCE_EXHAUSTED: pool is full");
  EXPECT_FALSE(reached_after_failure);
}

}  // namespace
}  // namespace heapkit::testing
