// HeapKit's byte backends against the allocators users would otherwise pick,
// every workload in one binary so ratios are taken side by side. Build with
// --config=opt; docs/benchmarks.md has the command and the numbers.

#include <string>
#include <vector>

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
  // A fixed count, so that callgrind's total divides into instructions per
  // pair.
  benchmark::RegisterBenchmark(full("pinned_pair_64").c_str(),
                               PinnedPair<Subject, Args...>, args...)
      ->Iterations(10'000'000);
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
// too, its footprint (in regions of `smallest_mib` MiB and up) and its
// utilization at first failure.
template <class Backend>
void RegisterBackend(const std::string& name, std::size_t smallest_mib) {
  RegisterSubject<BackendSubject<Backend>>(name);
  benchmark::RegisterBenchmark(
      ("random_pairs_16_4096/" + name + "+pmr").c_str(),
      RandomPairs<ThroughPmrSubject<Backend>>, 16, 4096)
      ->Iterations(1'000'000);
  benchmark::RegisterBenchmark(("hot_pair_64/" + name + "+pmr").c_str(),
                               HotPair<ThroughPmrSubject<Backend>>);
  benchmark::RegisterBenchmark(("footprint_16_4096/" + name).c_str(),
                               Footprint<BackendSubject<Backend>>, 16, 4096,
                               kLiveBlocks, 1'000'000)
      ->Iterations(1)
      ->Unit(benchmark::kMillisecond);
  // The same in regions of 1 MiB to 1 GiB, with a live set of a sixteenth of
  // the region (a block per 32 KiB, 2 KiB each on average).
  for (std::size_t mib : {1, 16, 256, 1024}) {
    if (mib < smallest_mib) continue;
    const std::size_t region = mib << 20;
    benchmark::RegisterBenchmark(
        ("footprint_16_4096_in_" + std::to_string(mib) + "MiB/" + name).c_str(),
        Footprint<BackendSubject<Backend>, std::size_t>, 16, 4096,
        region / (32 << 10), 200'000, region)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
  for (std::size_t max : {4096, 65536}) {
    benchmark::RegisterBenchmark(
        ("utilization_16_" + std::to_string(max) + "/" + name).c_str(),
        UtilizationAtFirstFailure<BackendSubject<Backend>, std::size_t>, 16,
        max, std::size_t{32} << 20)
        ->Iterations(1)
        ->Unit(benchmark::kMillisecond);
  }
}

void RegisterAll() {
  benchmark::RegisterBenchmark("random_pairs_16_4096/rng_floor",
                               RandomPairsFloor, 16, 4096)
      ->Iterations(1'000'000);
  benchmark::RegisterBenchmark("random_pairs_16_256/rng_floor",
                               RandomPairsFloor, 16, 256)
      ->Iterations(1'000'000);
  // The slab takes 64 KiB slabs per size class in use, more than the live set
  // of a 1 MiB region: its footprint there would be its slabs, not placement.
  RegisterBackend<SlabByteAllocator<>>("slab", 16);
  RegisterBackend<TlsfByteAllocator>("tlsf", 1);
  RegisterBackend<BuddyByteAllocator>("buddy", 1);
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
  // Repetitions of different benchmarks interleaved in random order by
  // default, so that a slow spell of this shared machine spreads over every
  // subject instead of landing on one; a later flag on the command line wins.
  std::vector<char*> args(argv, argv + argc);
  char interleave[] = "--benchmark_enable_random_interleaving=true";
  args.insert(args.begin() + 1, interleave);
  argc = static_cast<int>(args.size());
  args.push_back(nullptr);
  argv = args.data();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
