#ifndef HEAPKIT_TOOLS_HEAPKIT_WORKLOADS_H_
#define HEAPKIT_TOOLS_HEAPKIT_WORKLOADS_H_

// The built-in workloads `heapkit bench` replays: the seed crate's four and
// random pairs, each recorded once into a trace through TracingAllocator.

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/trace/trace_reader.h"

namespace heapkit::cli {

// Returns the workloads' names, in the order `heapkit bench` runs them.
std::vector<std::string> BuiltInWorkloads();

// Runs the workload `name` over a TLSF heap under TracingAllocator and returns
// its trace; kInvalidArgument for an unknown name.
absl::StatusOr<trace::Trace> RecordBuiltIn(const std::string& name);

}  // namespace heapkit::cli

#endif  // HEAPKIT_TOOLS_HEAPKIT_WORKLOADS_H_
