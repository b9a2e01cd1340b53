#include "core/internal/fatal.h"

#include <cstdarg>
#include <cstdio>
#include <cstdlib>

#include "absl/base/internal/raw_logging.h"

namespace heapkit::internal {

void Fatal(const char* format, ...) {
  char message[2048];
  va_list args;
  va_start(args, format);
  std::vsnprintf(message, sizeof message, format, args);
  va_end(args);
  ABSL_RAW_LOG(FATAL, "%s", message);
  std::abort();  // RAW_LOG(FATAL) aborts, but is not declared noreturn.
}

}  // namespace heapkit::internal
