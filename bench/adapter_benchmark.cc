// What each adapter costs over the bare backend it wraps, called directly
// through the adapter's concrete type, as a program that stacks them would.
// Build with --config=opt; docs/benchmarks.md has the command and the numbers.

#include <string>

#include "absl/synchronization/mutex.h"
#include "adapters/checked_allocator.h"
#include "adapters/failure_injecting_allocator.h"
#include "adapters/limiting_allocator.h"
#include "adapters/spin_lock.h"
#include "adapters/statistics_allocator.h"
#include "adapters/synchronized_allocator.h"
#include "adapters/tracking_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "bench/subjects.h"
#include "bench/workloads.h"
#include "benchmark/benchmark.h"

namespace heapkit::bench {
namespace {

// Registers the two pair workloads for `Allocator`, named
// "<workload>/<name>", each run between `setup` and `teardown` if given.
template <class Allocator>
void Register(const std::string& name,
              void (*setup)(const benchmark::State&) = nullptr,
              void (*teardown)(const benchmark::State&) = nullptr) {
  for (benchmark::internal::Benchmark* benchmark :
       {benchmark::RegisterBenchmark(("random_pairs_16_4096/" + name).c_str(),
                                     RandomPairs<BackendSubject<Allocator>>, 16,
                                     4096)
            ->Iterations(1'000'000),
        benchmark::RegisterBenchmark(("hot_pair_64/" + name).c_str(),
                                     HotPair<BackendSubject<Allocator>>)}) {
    if (setup != nullptr) benchmark->Setup(setup);
    if (teardown != nullptr) benchmark->Teardown(teardown);
  }
}

// Debian's Abseil is built without NDEBUG, so absl::Mutex runs its deadlock
// detection (a graph of the locks each thread holds, updated on every Lock and
// Unlock) unless the program turns it off: the "synchronized_mutex" rows pay
// for it, as a program linked with it does. The "synchronized_mutex_nodeadlock"
// rows turn it off (kIgnore) for their run, which costs what a release build
// of Abseil does, then restore Abseil's default, kAbort.
void NoDeadlockDetection(const benchmark::State&) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}
void DefaultDeadlockDetection(const benchmark::State&) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kAbort);
}

// Registers `Backend` bare and under each adapter.
template <class Backend>
void RegisterStacks(const std::string& name) {
  Register<Backend>(name);
  Register<StatisticsAllocator<Backend>>("statistics+" + name);
  Register<LimitingAllocator<Backend>>("limiting+" + name);
  Register<FailureInjectingAllocator<Backend>>("failure_injecting+" + name);
  Register<SynchronizedAllocator<Backend, SpinLock>>("synchronized_spin+" +
                                                     name);
  Register<SynchronizedAllocator<Backend, absl::Mutex>>("synchronized_mutex+" +
                                                        name);
  Register<SynchronizedAllocator<Backend, absl::Mutex>>(
      "synchronized_mutex_nodeadlock+" + name, NoDeadlockDetection,
      DefaultDeadlockDetection);
  Register<TrackingAllocator<Backend>>("tracking+" + name);
  Register<CheckedAllocator<Backend>>("checked+" + name);
}

}  // namespace
}  // namespace heapkit::bench

int main(int argc, char** argv) {
  heapkit::bench::RegisterStacks<heapkit::TlsfByteAllocator>("tlsf");
  heapkit::bench::RegisterStacks<heapkit::SlabByteAllocator<>>("slab");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
