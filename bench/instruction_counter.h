#ifndef HEAPKIT_BENCH_INSTRUCTION_COUNTER_H_
#define HEAPKIT_BENCH_INSTRUCTION_COUNTER_H_

// Counts the machine instructions of single calls exactly, for worst-case
// bounds: this VM has no hardware counters, and callgrind totals the cost of a
// function over all its calls, where a bound needs the largest single call.
// The code runs in a forked child that this process single-steps with ptrace
// through each measured call, one instruction per step (x86-64 Linux only).
//
//   absl::StatusOr<InstructionCounts> counts = CountInstructions([&] {
//     ... set up: runs at full speed, not counted ...
//     MeasureInstructions(/*tag=*/0, [&] { return backend.Alloc(layout); });
//   });
//   // (*counts)[0] holds one count per measured call, in order.
//
// A count covers what runs between two int3 markers around the call: the call
// itself, including everything it calls and any system call as one
// instruction, plus what the compiler places between the markers to pass the
// arguments and keep the result (a few instructions, the same for every
// call). Single-stepping costs some microseconds per instruction, so measure
// thousands of calls, not millions.

#include <cstdint>
#include <map>
#include <type_traits>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"

namespace heapkit::bench {

// The counts of each tag's measured calls, in the order they ran.
using InstructionCounts = std::map<int, std::vector<std::uint64_t>>;

namespace internal {
// Set in the child of CountInstructions; the tag of the call being measured,
// which the parent reads from the child's memory.
inline volatile bool counting = false;
inline volatile int measured_tag = 0;
}  // namespace internal

// Runs `body` in a forked child and returns the instruction count of every
// MeasureInstructions call it makes, by tag. Fails with the reason if fork or
// ptrace fails (a sandbox may forbid ptrace), or if the child is killed by a
// signal, exits with a non-zero status, or gets a signal inside a measured
// call. Fork without exec: call it while this process has one thread.
absl::StatusOr<InstructionCounts> CountInstructions(
    absl::FunctionRef<void()> body);

// Calls `call()` and returns its result; inside CountInstructions' body, its
// instructions are counted under `tag`. Outside, it only calls.
template <class F>
inline decltype(auto) MeasureInstructions(int tag, F&& call) {
  if (!internal::counting) return call();
  internal::measured_tag = tag;
  asm volatile("int3" ::: "memory");
  if constexpr (std::is_void_v<decltype(call())>) {
    call();
    asm volatile("int3" ::: "memory");
  } else {
    auto result = call();
    asm volatile("int3" ::: "memory");
    return result;
  }
}

// Moves the count of the last measured call to `tag` (>= 0): for a tag that
// depends on the call's outcome, such as a failed allocation, decided after
// the count. Costs the measured code nothing. Outside counting, does nothing.
inline void RelabelLastMeasurement(int tag) {
  if (!internal::counting) return;
  internal::measured_tag = ~tag;  // Negative: a relabelling, not a call.
  asm volatile("int3" ::: "memory");
}

}  // namespace heapkit::bench

#endif  // HEAPKIT_BENCH_INSTRUCTION_COUNTER_H_
