#ifndef HEAPKIT_TESTS_MATCHERS_H_
#define HEAPKIT_TESTS_MATCHERS_H_

#include <optional>
#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/alloc_error.h"
#include "gmock/gmock.h"

namespace heapkit::testing {
namespace matchers_internal {

inline const absl::Status& StatusOf(const absl::Status& status) {
  return status;
}
template <class T>
const absl::Status& StatusOf(const absl::StatusOr<T>& result) {
  return result.status();
}

class IsOkMatcher {
 public:
  template <class StatusType>
  bool MatchAndExplain(const StatusType& actual,
                       ::testing::MatchResultListener* listener) const {
    const absl::Status& status = StatusOf(actual);
    *listener << "whose status is " << status;
    return status.ok();
  }
  void DescribeTo(std::ostream* os) const { *os << "is OK"; }
  void DescribeNegationTo(std::ostream* os) const { *os << "is not OK"; }
};

class IsAllocErrorMatcher {
 public:
  explicit IsAllocErrorMatcher(AllocError expected) : expected_(expected) {}

  template <class StatusType>
  bool MatchAndExplain(const StatusType& actual,
                       ::testing::MatchResultListener* listener) const {
    const absl::Status& status = StatusOf(actual);
    const std::optional<AllocError> error = GetAllocError(status);
    *listener << "whose status is " << status;
    if (error.has_value()) {
      *listener << ", which carries " << AllocErrorName(*error);
    } else if (!status.ok()) {
      *listener << ", which carries no AllocError";
    }
    return error == expected_;
  }
  void DescribeTo(std::ostream* os) const {
    *os << "fails with " << Expected();
  }
  void DescribeNegationTo(std::ostream* os) const {
    *os << "does not fail with " << Expected();
  }

 private:
  // Returns e.g. "kNoMemory (RESOURCE_EXHAUSTED)".
  std::string Expected() const {
    return std::string(AllocErrorName(expected_)) + " (" +
           absl::StatusCodeToString(MakeError(expected_, "").code()) + ")";
  }

  AllocError expected_;
};

}  // namespace matchers_internal

// Returns a matcher of an absl::Status or absl::StatusOr<T> that is OK. Its
// failure message prints the status.
//   EXPECT_THAT(backend.Init(start, size), IsOk());
inline ::testing::PolymorphicMatcher<matchers_internal::IsOkMatcher> IsOk() {
  return ::testing::MakePolymorphicMatcher(matchers_internal::IsOkMatcher());
}

// Returns a matcher of an absl::Status or absl::StatusOr<T> that carries
// `error` (see GetAllocError). It matches no OK status and no status outside
// HeapKit's four codes; its failure message names the expected error and
// prints the actual status.
//   EXPECT_THAT(backend.Alloc(Layout{16, 3}),
//               IsAllocError(AllocError::kInvalidParam));
inline ::testing::PolymorphicMatcher<matchers_internal::IsAllocErrorMatcher>
IsAllocError(AllocError error) {
  return ::testing::MakePolymorphicMatcher(
      matchers_internal::IsAllocErrorMatcher(error));
}

}  // namespace heapkit::testing

// Evaluates the absl::StatusOr<T> expression after `lhs`. If it is not OK,
// fails the current test fatally (returning from the enclosing function, which
// must return void, as ASSERT_* do) with the expression and its status;
// otherwise moves its value into `lhs`, which may declare a variable. The
// expression may contain commas; `lhs` may not (use auto).
//   ASSERT_OK_AND_ASSIGN(void* block, backend.Alloc(Layout{64, 8}));
#define ASSERT_OK_AND_ASSIGN(lhs, ...)                                \
  HEAPKIT_ASSERT_OK_AND_ASSIGN_IMPL_(                                 \
      HEAPKIT_MATCHERS_CONCAT_(heapkit_status_or_, __COUNTER__), lhs, \
      __VA_ARGS__)

#define HEAPKIT_ASSERT_OK_AND_ASSIGN_IMPL_(result, lhs, ...)     \
  auto result = (__VA_ARGS__);                                   \
  if (!result.ok()) {                                            \
    FAIL() << #__VA_ARGS__ << " is not OK: " << result.status(); \
  }                                                              \
  lhs = *std::move(result)

#define HEAPKIT_MATCHERS_CONCAT_(a, b) HEAPKIT_MATCHERS_CONCAT_INNER_(a, b)
#define HEAPKIT_MATCHERS_CONCAT_INNER_(a, b) a##b

#endif  // HEAPKIT_TESTS_MATCHERS_H_
