#ifndef HEAPKIT_TOOLS_HEAPKIT_RECORD_H_
#define HEAPKIT_TOOLS_HEAPKIT_RECORD_H_

#include <string>
#include <vector>

namespace heapkit::cli {

// Returns the malloc replacement that ships beside the heapkit binary whose
// path is `argv0` (in its Bazel runfiles, or in bazel-bin), or "" if there is
// none.
std::string FindMallocLibrary(const std::string& argv0);

// Runs `command` (a program and its arguments, looked up in PATH) with the
// malloc replacement `library` preloaded in trace mode, recording its
// allocations to `output`; the programs it starts are not recorded. Returns
// the program's exit status (128 + the signal if a signal ended it), or -1
// with the reason in `error` if it could not be started.
int RecordProgram(const std::string& library, const std::string& output,
                  const std::vector<std::string>& command, std::string& error);

}  // namespace heapkit::cli

#endif  // HEAPKIT_TOOLS_HEAPKIT_RECORD_H_
