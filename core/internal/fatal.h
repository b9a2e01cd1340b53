#ifndef HEAPKIT_CORE_INTERNAL_FATAL_H_
#define HEAPKIT_CORE_INTERNAL_FATAL_H_

#include "absl/base/attributes.h"

namespace heapkit::internal {

// Reports a broken contract that HeapKit cannot recover from (a double free, a
// foreign pointer, a corrupted block) and aborts. `format` is printf-style;
// give addresses with %p or as "%#zx" so the message names them in hex. Writes
// with Abseil's raw logging, which takes no memory from any allocator: the heap
// that failed may be the process's own. Messages longer than about 2,000
// characters are cut.
[[noreturn]] void Fatal(const char* format, ...) ABSL_PRINTF_ATTRIBUTE(1, 2);

}  // namespace heapkit::internal

#endif  // HEAPKIT_CORE_INTERNAL_FATAL_H_
