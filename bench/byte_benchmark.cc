// HeapKit's byte backends against the allocators users would otherwise pick,
// every workload in one binary so ratios are taken side by side. Build with
// --config=opt; docs/benchmarks.md has the command and the numbers.

#include <string>

#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "bench/subjects.h"
#include "bench/workloads.h"
#include "benchmark/benchmark.h"

namespace heapkit::bench {
namespace {

// Registers every workload for one subject, named "<workload>/<subject>".
template <class Subject, class... Args>
void RegisterSubject(const std::string& name, Args... args) {
  auto full = [&](const char* workload) {
    return std::string(workload) + "/" + name;
  };
  benchmark::RegisterBenchmark(full("random_pairs_16_4096").c_str(),
                               RandomPairs<Subject, Args...>, 16, 4096, args...)
      ->Iterations(1'000'000);
  benchmark::RegisterBenchmark(full("random_pairs_16_256").c_str(),
                               RandomPairs<Subject, Args...>, 16, 256, args...)
      ->Iterations(1'000'000);
  benchmark::RegisterBenchmark(full("hot_pair_64").c_str(),
                               HotPair<Subject, Args...>, args...);
  benchmark::RegisterBenchmark(full("vec_push_3M").c_str(),
                               VectorPush<Subject, Args...>, args...)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(full("shuffled_free_25000x512").c_str(),
                               ShuffledFree<Subject, Args...>, 25'000, 512,
                               args...)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(full("shuffled_free_7500x4160").c_str(),
                               ShuffledFree<Subject, Args...>, 7'500, 4'160,
                               args...)
      ->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark(full("string_map_50K").c_str(),
                               StringMap<Subject, Args...>, args...)
      ->Unit(benchmark::kMillisecond);
}

// A HeapKit backend: every workload directly, the pairs through the pmr adapter
// too, and its footprint.
template <class Backend>
void RegisterBackend(const std::string& name) {
  RegisterSubject<BackendSubject<Backend>>(name);
  benchmark::RegisterBenchmark(
      ("random_pairs_16_4096/" + name + "+pmr").c_str(),
      RandomPairs<ThroughPmrSubject<Backend>>, 16, 4096)
      ->Iterations(1'000'000);
  benchmark::RegisterBenchmark(("hot_pair_64/" + name + "+pmr").c_str(),
                               HotPair<ThroughPmrSubject<Backend>>);
  benchmark::RegisterBenchmark(("footprint_16_4096/" + name).c_str(),
                               Footprint<BackendSubject<Backend>>, 16, 4096)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
}

void RegisterAll() {
  benchmark::RegisterBenchmark("random_pairs_16_4096/rng_floor",
                               RandomPairsFloor, 16, 4096)
      ->Iterations(1'000'000);
  benchmark::RegisterBenchmark("random_pairs_16_256/rng_floor",
                               RandomPairsFloor, 16, 256)
      ->Iterations(1'000'000);
  RegisterBackend<SlabByteAllocator<>>("slab");
  RegisterBackend<TlsfByteAllocator>("tlsf");
  RegisterBackend<BuddyByteAllocator>("buddy");
  RegisterSubject<PeerSubject>("glibc", std::string("glibc"));
  RegisterSubject<PmrPoolSubject>("pmr_pool");
  for (const char* peer : {"jemalloc", "mimalloc", "tcmalloc"}) {
    RegisterSubject<PeerSubject>(peer, std::string(peer));
  }
}

}  // namespace
}  // namespace heapkit::bench

int main(int argc, char** argv) {
  heapkit::bench::ReserveStaticTlsForPeers(argv);
  heapkit::bench::RegisterAll();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
