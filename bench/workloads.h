#ifndef HEAPKIT_BENCH_WORKLOADS_H_
#define HEAPKIT_BENCH_WORKLOADS_H_

// The workloads every subject runs, as Google Benchmark bodies templated on the
// subject (see subjects.h), so each call inlines where the subject allows.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory_resource>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"

namespace heapkit::bench {

inline constexpr std::size_t kLiveBlocks = 10'000;
// Untimed pairs before the timed ones, ten per live block, so that the timing
// is of the steady state: the prefill's blocks have been freed and reused, and
// the pages an allocator first writes on a free (its list links, in a block
// carved from memory it never touched) have been faulted in.
inline constexpr std::size_t kWarmUpPairs = 10 * kLiveBlocks;
inline constexpr std::size_t kPairAlign = 8;

// A small, fast generator (wyrand) so the random workloads measure the
// allocator, not the generator; Below() maps to [0, n) with a multiply, not a
// division.
class FastRandom {
 public:
  explicit FastRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t Next() {
    state_ += 0xa0761d6478bd642f;
    const __uint128_t product =
        static_cast<__uint128_t>(state_) * (state_ ^ 0xe7037ed1a0b428db);
    return static_cast<std::uint64_t>(product >> 64) ^
           static_cast<std::uint64_t>(product);
  }
  std::size_t Below(std::size_t n) {
    return static_cast<std::size_t>((static_cast<__uint128_t>(Next()) * n) >>
                                    64);
  }

 private:
  std::uint64_t state_;
};

// Makes the compiler assume `pointer` is used, without letting it rewrite the
// variable: benchmark::DoNotOptimize on an lvalue ("+m,r") is miscompiled by
// GCC 12 here, which then hands a stale value back (seen as frees of bogus
// pointers).
inline void Escape(const void* pointer) {
  asm volatile("" : : "g"(pointer) : "memory");
}

// Returns false, marking the benchmark skipped with the reason, if the subject
// could not be set up (a peer library that is not installed, say).
template <class Subject>
bool Ready(benchmark::State& state, const Subject& subject) {
  if (subject.ok()) return true;
  state.SkipWithError(subject.error().c_str());
  return false;
}

// Each step frees a random one of 10,000 live blocks and allocates a new one of
// a uniform random size in [min, max]: one iteration is one pair, timed after
// kWarmUpPairs untimed ones.
template <class Subject, class... Args>
void RandomPairs(benchmark::State& state, std::size_t min, std::size_t max,
                 Args... args) {
  Subject subject(args...);
  if (!Ready(state, subject)) return;
  FastRandom random(42);
  std::vector<void*> blocks(kLiveBlocks);
  std::vector<std::size_t> sizes(kLiveBlocks);
  for (std::size_t i = 0; i < kLiveBlocks; ++i) {
    sizes[i] = min + random.Below(max - min + 1);
    blocks[i] = subject.Allocate(sizes[i], kPairAlign);
  }
  // Inlined into both loops, as the loop body was before the warm-up.
  const auto pair = [&]() __attribute__((always_inline)) {
    const std::size_t victim = random.Below(kLiveBlocks);
    subject.Free(blocks[victim], sizes[victim], kPairAlign);
    sizes[victim] = min + random.Below(max - min + 1);
    blocks[victim] = subject.Allocate(sizes[victim], kPairAlign);
    Escape(blocks[victim]);
  };
  for (std::size_t i = 0; i < kWarmUpPairs; ++i) pair();
  for (auto _ : state) pair();
  for (std::size_t i = 0; i < kLiveBlocks; ++i) {
    subject.Free(blocks[i], sizes[i], kPairAlign);
  }
}

// The random-pairs loop with the allocator calls taken out: the floor that the
// generator and the bookkeeping cost.
inline void RandomPairsFloor(benchmark::State& state, std::size_t min,
                             std::size_t max) {
  FastRandom random(42);
  std::vector<void*> blocks(kLiveBlocks);
  std::vector<std::size_t> sizes(kLiveBlocks);
  for (auto _ : state) {
    const std::size_t victim = random.Below(kLiveBlocks);
    Escape(blocks[victim]);
    sizes[victim] = min + random.Below(max - min + 1);
    blocks[victim] = &sizes[victim];
    Escape(blocks[victim]);
  }
}

// Alloc(64) then Dealloc of the same block.
template <class Subject, class... Args>
void HotPair(benchmark::State& state, Args... args) {
  Subject subject(args...);
  if (!Ready(state, subject)) return;
  for (auto _ : state) {
    void* block = subject.Allocate(64, kPairAlign);
    Escape(block);
    subject.Free(block, 64, kPairAlign);
  }
}

// Alloc(64) then Dealloc of the same block with one live block behind it, so
// that the freed block has no free neighbour to merge with: every block in L1,
// no split and no merge, the shortest path through an allocator.
template <class Subject, class... Args>
void PinnedPair(benchmark::State& state, Args... args) {
  Subject subject(args...);
  if (!Ready(state, subject)) return;
  void* const first = subject.Allocate(64, kPairAlign);
  void* const behind = subject.Allocate(64, kPairAlign);
  subject.Free(first, 64, kPairAlign);
  for (auto _ : state) {
    void* block = subject.Allocate(64, kPairAlign);
    Escape(block);
    subject.Free(block, 64, kPairAlign);
  }
  subject.Free(behind, 64, kPairAlign);
}

// The seed's vec_push: 3,000,000 uint32_t pushed into a std::pmr::vector.
template <class Subject, class... Args>
void VectorPush(benchmark::State& state, Args... args) {
  Subject subject(args...);
  if (!Ready(state, subject)) return;
  for (auto _ : state) {
    std::pmr::vector<std::uint32_t> numbers(subject.resource());
    for (std::uint32_t i = 0; i < 3'000'000; ++i) numbers.push_back(i);
    benchmark::DoNotOptimize(numbers.data());
  }
}

// The seed's vec_rand_free: `count` blocks of `size` bytes held in a
// std::pmr::vector, freed in shuffled order.
template <class Subject, class... Args>
void ShuffledFree(benchmark::State& state, std::size_t count, std::size_t size,
                  Args... args) {
  Subject subject(args...);
  if (!Ready(state, subject)) return;
  std::vector<std::size_t> order(count);
  for (std::size_t i = 0; i < count; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937_64(count));
  std::pmr::memory_resource* resource = subject.resource();
  for (auto _ : state) {
    std::pmr::vector<void*> blocks(count, resource);
    for (void*& block : blocks) block = resource->allocate(size, 8);
    for (std::size_t i : order) resource->deallocate(blocks[i], size, 8);
  }
}

// The seed's btree_map: 50,000 operations on a string-keyed std::pmr::map, 20%
// of them popping the first entry.
template <class Subject, class... Args>
void StringMap(benchmark::State& state, Args... args) {
  Subject subject(args...);
  if (!Ready(state, subject)) return;
  for (auto _ : state) {
    std::pmr::map<std::pmr::string, std::uint64_t> map(subject.resource());
    FastRandom random(50'000);
    char key[32];
    for (int op = 0; op < 50'000; ++op) {
      if (random.Below(5) == 0 && !map.empty()) {
        map.erase(map.begin());
      } else {
        const std::uint64_t n = random.Below(100'000);
        const int length = std::snprintf(key, sizeof key, "key_%llu",
                                         static_cast<unsigned long long>(n));
        map[std::pmr::string(key, length, subject.resource())] = n;
      }
    }
    benchmark::DoNotOptimize(map.size());
  }
}

// Keeps `live_blocks` blocks of [min, max] bytes live through `steps` random
// pairs on a region allocator (a subject built from `args`) and reports its
// footprint: the high-water mark of the region (the highest block end seen,
// from the region's start) divided by the peak of the live bytes requested.
template <class Subject, class... Args>
void Footprint(benchmark::State& state, std::size_t min, std::size_t max,
               std::size_t live_blocks, int steps, Args... args) {
  Subject subject(args...);
  if (!Ready(state, subject)) return;
  std::uintptr_t high_water = 0;
  std::size_t live = 0, peak_live = 0;
  for (auto _ : state) {
    FastRandom random(42);
    std::vector<void*> blocks(live_blocks);
    std::vector<std::size_t> sizes(live_blocks);
    // Returns false, leaving blocks[i] null, if the region ran out.
    auto allocate = [&](std::size_t i) {
      sizes[i] = min + random.Below(max - min + 1);
      blocks[i] = subject.Allocate(sizes[i], kPairAlign);
      if (blocks[i] == nullptr) return false;
      live += sizes[i];
      peak_live = std::max(peak_live, live);
      high_water =
          std::max(high_water, reinterpret_cast<std::uintptr_t>(blocks[i]) +
                                   sizes[i] - subject.region_start());
      return true;
    };
    bool ran_out = false;
    for (std::size_t i = 0; !ran_out && i < live_blocks; ++i) {
      ran_out = !allocate(i);
    }
    for (int step = 0; !ran_out && step < steps; ++step) {
      const std::size_t victim = random.Below(live_blocks);
      subject.Free(blocks[victim], sizes[victim], kPairAlign);
      live -= sizes[victim];
      ran_out = !allocate(victim);
    }
    for (std::size_t i = 0; i < live_blocks; ++i) {  // Null ones are ignored.
      subject.Free(blocks[i], sizes[i], kPairAlign);
    }
    live = 0;
    if (ran_out) {
      state.SkipWithError("the region ran out");
      break;
    }
  }
  state.counters["footprint"] = static_cast<double>(high_water) / peak_live;
}

// Grows a random live set on a region allocator (a subject built from `args`)
// until its first failure: each step allocates [min, max] bytes with
// probability 0.55, else frees a random live block. Reports the live bytes
// requested at that failure divided by the region's size, the median over
// five seeds: how much of its memory the allocator can really hand out.
template <class Subject, class... Args>
void UtilizationAtFirstFailure(benchmark::State& state, std::size_t min,
                               std::size_t max, Args... args) {
  std::vector<double> utilizations;
  for (auto _ : state) {
    for (std::uint64_t seed = 1; seed <= 5; ++seed) {
      Subject subject(args...);
      if (!Ready(state, subject)) return;
      FastRandom random(seed);
      std::vector<std::pair<void*, std::size_t>> blocks;
      std::size_t live = 0;
      for (;;) {
        if (blocks.empty() || random.Below(100) < 55) {
          const std::size_t size = min + random.Below(max - min + 1);
          void* block = subject.Allocate(size, kPairAlign);
          if (block == nullptr) break;
          blocks.emplace_back(block, size);
          live += size;
        } else {
          const std::size_t victim = random.Below(blocks.size());
          subject.Free(blocks[victim].first, blocks[victim].second, kPairAlign);
          live -= blocks[victim].second;
          blocks[victim] = blocks.back();
          blocks.pop_back();
        }
      }
      utilizations.push_back(static_cast<double>(live) / subject.region_size());
      for (const auto& [block, size] : blocks) {
        subject.Free(block, size, kPairAlign);
      }
    }
  }
  std::sort(utilizations.begin(), utilizations.end());
  state.counters["utilization"] = utilizations[utilizations.size() / 2];
}

}  // namespace heapkit::bench

#endif  // HEAPKIT_BENCH_WORKLOADS_H_
