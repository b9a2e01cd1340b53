#include "bench/instruction_counter.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace heapkit::bench {
namespace {

constexpr int kPtraceRefused = 121;  // The child's exit code.
constexpr unsigned char kInt3 = 0xCC;
constexpr std::size_t kRipOffset = offsetof(user_regs_struct, rip);

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat(what, ": ", std::strerror(errno)));
}

// Describes how the child ended, from waitpid's status.
std::string Ending(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status) == kPtraceRefused
               ? "could not be traced (ptrace refused)"
               : absl::StrCat("exited with status ", WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return absl::StrCat("was killed by signal ", WTERMSIG(status), " (",
                        strsignal(WTERMSIG(status)), ")");
  }
  return absl::StrCat("stopped by signal ", WSTOPSIG(status));
}

// Traces one child from its first stop to its exit.
class Tracer {
 public:
  explicit Tracer(pid_t child) : child_(child) {}

  // Kills the child if it still runs (PTRACE_O_EXITKILL covers this
  // process dying).
  ~Tracer() {
    if (!done_) {
      kill(child_, SIGKILL);
      waitpid(child_, nullptr, 0);
    }
  }

  absl::StatusOr<InstructionCounts> Run() {
    int status;
    if (absl::Status s = Wait(status); !s.ok()) return s;
    if (!WIFSTOPPED(status)) {
      done_ = true;
      return absl::FailedPreconditionError(
          absl::StrCat("the child ", Ending(status)));
    }
    if (ptrace(PTRACE_SETOPTIONS, child_, nullptr, PTRACE_O_EXITKILL) != 0) {
      return Errno("ptrace(PTRACE_SETOPTIONS)");
    }
    InstructionCounts counts;
    int signal = 0;  // To deliver with the next continue.
    for (;;) {
      if (ptrace(PTRACE_CONT, child_, nullptr, signal) != 0) {
        return Errno("ptrace(PTRACE_CONT)");
      }
      if (absl::Status s = Wait(status); !s.ok()) return s;
      if (WIFEXITED(status) || WIFSIGNALED(status)) {
        done_ = true;
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return counts;
        return absl::InternalError(absl::StrCat("the child ", Ending(status)));
      }
      signal = WSTOPSIG(status);
      if (signal != SIGTRAP) continue;  // Not ours: deliver it.
      signal = 0;
      // A begin marker: the child stopped just after its int3.
      errno = 0;
      // PEEKDATA reads a word; the tag is its low 32 bits (little-endian).
      const int tag = static_cast<int>(
          ptrace(PTRACE_PEEKDATA, child_, &internal::measured_tag, nullptr));
      if (errno != 0) return Errno("ptrace(PTRACE_PEEKDATA)");
      if (tag < 0) {  // RelabelLastMeasurement(~tag).
        if (last_tag_ < 0) {
          return absl::FailedPreconditionError(
              "RelabelLastMeasurement before any measured call");
        }
        std::vector<std::uint64_t>& from = counts[last_tag_];
        counts[~tag].push_back(from.back());
        from.pop_back();
        last_tag_ = ~tag;
        continue;
      }
      absl::StatusOr<std::uint64_t> steps = StepToEndMarker();
      if (!steps.ok()) return steps.status();
      counts[tag].push_back(*steps);
      last_tag_ = tag;
    }
  }

 private:
  absl::Status Wait(int& status) {
    if (waitpid(child_, &status, 0) != child_) return Errno("waitpid");
    return absl::OkStatus();
  }

  // Single-steps until the next instruction is the end marker's int3, then
  // moves past it; returns the instructions stepped.
  absl::StatusOr<std::uint64_t> StepToEndMarker() {
    std::uint64_t steps = 0;
    for (;;) {
      errno = 0;
      const long rip = ptrace(PTRACE_PEEKUSER, child_, kRipOffset, nullptr);
      const long text = ptrace(PTRACE_PEEKTEXT, child_, rip, nullptr);
      if (errno != 0) return Errno("ptrace(PTRACE_PEEKUSER/PEEKTEXT)");
      if (static_cast<unsigned char>(text & 0xFF) == kInt3) {
        if (ptrace(PTRACE_POKEUSER, child_, kRipOffset, rip + 1) != 0) {
          return Errno("ptrace(PTRACE_POKEUSER)");
        }
        return steps;
      }
      if (ptrace(PTRACE_SINGLESTEP, child_, nullptr, 0) != 0) {
        return Errno("ptrace(PTRACE_SINGLESTEP)");
      }
      int status;
      if (absl::Status s = Wait(status); !s.ok()) return s;
      if (!WIFSTOPPED(status)) {
        done_ = true;
        return absl::InternalError(absl::StrCat("the child ", Ending(status),
                                                " inside a measured call"));
      }
      if (WSTOPSIG(status) != SIGTRAP) {
        return absl::InternalError(absl::StrCat(
            "signal ", WSTOPSIG(status), " (", strsignal(WSTOPSIG(status)),
            ") inside a measured call, after ", steps, " instructions"));
      }
      ++steps;
    }
  }

  const pid_t child_;
  bool done_ = false;
  int last_tag_ = -1;  // Of the last count recorded.
};

}  // namespace

absl::StatusOr<InstructionCounts> CountInstructions(
    absl::FunctionRef<void()> body) {
  const pid_t child = fork();
  if (child < 0) return Errno("fork");
  if (child == 0) {
    if (ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) _exit(kPtraceRefused);
    internal::counting = true;
    raise(SIGSTOP);  // Wait for the parent to set its options.
    body();
    _exit(0);
  }
  return Tracer(child).Run();
}

}  // namespace heapkit::bench
