#include "tools/heapkit/record.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

namespace heapkit::cli {

std::string FindMallocLibrary(const std::string& argv0) {
  namespace fs = std::filesystem;
  std::error_code error;
  fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error) self = argv0;
  const fs::path relative = "adapters/global/libheapkit_malloc.so";
  const fs::path candidates[] = {
      // bazel run and bazel test: the data dependency, in the runfiles.
      fs::path(self.string() + ".runfiles") / "heapkit" / relative,
      fs::path(argv0 + ".runfiles") / "heapkit" / relative,
      // bazel-bin/tools/heapkit/heapkit: bazel-bin/adapters/global/...
      self.parent_path().parent_path().parent_path() / relative,
  };
  for (const fs::path& candidate : candidates) {
    if (fs::exists(candidate, error)) return fs::absolute(candidate).string();
  }
  return "";
}

int RecordProgram(const std::string& library, const std::string& output,
                  const std::vector<std::string>& command, std::string& error) {
  if (command.empty()) {
    error = "no program to record (heapkit record -o FILE -- PROGRAM ARGS)";
    return -1;
  }
  std::vector<char*> argv;
  for (const std::string& arg : command) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  std::string preload = library;
  if (const char* existing = std::getenv("LD_PRELOAD")) {
    preload += std::string(":") + existing;
  }
  const pid_t child = fork();
  if (child < 0) {
    error = std::string("fork: ") + std::strerror(errno);
    return -1;
  }
  if (child == 0) {
    // Only this process records: the pid stays the same across exec.
    setenv("HEAPKIT_TRACE", output.c_str(), 1);
    setenv("HEAPKIT_TRACE_PID", std::to_string(getpid()).c_str(), 1);
    setenv("LD_PRELOAD", preload.c_str(), 1);
    execvp(argv[0], argv.data());
    const std::string message = std::string("heapkit record: cannot run ") +
                                argv[0] + ": " + std::strerror(errno) + "\n";
    [[maybe_unused]] ssize_t n = write(2, message.data(), message.size());
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace heapkit::cli
