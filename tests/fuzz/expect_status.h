#ifndef HEAPKIT_TESTS_FUZZ_EXPECT_STATUS_H_
#define HEAPKIT_TESTS_FUZZ_EXPECT_STATUS_H_

#include <optional>
#include <string>

#include "absl/base/internal/raw_logging.h"
#include "absl/status/status.h"
#include "core/alloc_error.h"

namespace heapkit::fuzz {

// Aborts, naming `what`, unless `status` is OK (`expected` is nullopt) or
// carries the AllocError `expected`: a breach the fuzzer reports as a crash.
inline void ExpectStatus(const absl::Status& status,
                         std::optional<AllocError> expected, const char* what) {
  if (status.ok() == !expected.has_value() &&
      GetAllocError(status) == expected) {
    return;
  }
  ABSL_RAW_LOG(FATAL, "%s: expected %s, got %s", what,
               expected ? std::string(AllocErrorName(*expected)).c_str() : "OK",
               status.ToString().c_str());
}

}  // namespace heapkit::fuzz

#endif  // HEAPKIT_TESTS_FUZZ_EXPECT_STATUS_H_
