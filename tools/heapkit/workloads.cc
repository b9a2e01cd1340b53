#include "tools/heapkit/workloads.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <memory_resource>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "adapters/memory_resource.h"
#include "adapters/trace/trace_writer.h"
#include "adapters/tracing_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "tests/arena.h"

namespace heapkit::cli {
namespace {

// Each workload allocates through a std::pmr::memory_resource.
using Body = std::function<void(std::pmr::memory_resource&)>;

// 10,000 live blocks of 16-4096 B, then 200,000 pairs each freeing a random
// one and allocating a new one.
void RandomPairs(std::pmr::memory_resource& resource) {
  std::mt19937_64 random(42);
  std::uniform_int_distribution<std::size_t> size(16, 4096);
  std::vector<std::pair<void*, std::size_t>> live(10'000);
  for (auto& [ptr, bytes] : live) ptr = resource.allocate(bytes = size(random));
  for (int i = 0; i < 200'000; ++i) {
    auto& [ptr, bytes] = live[random() % live.size()];
    resource.deallocate(ptr, bytes);
    ptr = resource.allocate(bytes = size(random));
  }
  for (auto& [ptr, bytes] : live) resource.deallocate(ptr, bytes);
}

// The seed's shuffled free: `count` blocks of `bytes`, freed in random order.
void ShuffledFree(std::pmr::memory_resource& resource, int count,
                  std::size_t bytes) {
  std::mt19937_64 random(7);
  std::vector<void*> blocks(count);
  for (void*& block : blocks) block = resource.allocate(bytes);
  std::shuffle(blocks.begin(), blocks.end(), random);
  for (void* block : blocks) resource.deallocate(block, bytes);
}

// The seed's 50 rounds of 300 blocks of size 2^U[0,16) * U[1,2) and alignment
// 2^U[0,8), each round freed in random order.
void RandomAlignment(std::pmr::memory_resource& resource) {
  std::mt19937_64 random(50);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int round = 0; round < 50; ++round) {
    std::vector<std::pair<void*, std::pair<std::size_t, std::size_t>>> blocks;
    for (int i = 0; i < 300; ++i) {
      const auto size = static_cast<std::size_t>(
          std::round(std::exp2(16 * unit(random)) * (1 + unit(random))));
      const std::size_t align = std::size_t{1} << (random() % 8);
      blocks.push_back({resource.allocate(size, align), {size, align}});
    }
    std::shuffle(blocks.begin(), blocks.end(), random);
    for (auto& [ptr, layout] : blocks) {
      resource.deallocate(ptr, layout.first, layout.second);
    }
  }
}

// The seed's string-keyed map: 50,000 inserts of random 16-64 character keys,
// every fifth operation also dropping the map's first entry.
void StringMap(std::pmr::memory_resource& resource) {
  std::mt19937_64 random(3);
  std::pmr::map<std::pmr::string, int> map(&resource);
  for (int i = 0; i < 50'000; ++i) {
    std::pmr::string key(16 + random() % 49, 'a', &resource);
    for (char& c : key) c = static_cast<char>('a' + random() % 26);
    map.emplace(std::move(key), i);
    if (i % 5 == 4) map.erase(map.begin());
  }
}

// The seed's vector: 3 million pushes, then a sort.
void VectorPush(std::pmr::memory_resource& resource) {
  std::mt19937_64 random(1);
  std::pmr::vector<std::uint32_t> numbers(&resource);
  for (int i = 0; i < 3'000'000; ++i) numbers.push_back(random());
  std::sort(numbers.begin(), numbers.end());
}

const std::vector<std::pair<std::string, Body>>& Workloads() {
  static const auto* workloads = new std::vector<std::pair<std::string, Body>>{
      {"random_pairs", RandomPairs},
      {"shuffled_free_30000x512",
       [](std::pmr::memory_resource& r) { ShuffledFree(r, 30'000, 512); }},
      {"shuffled_free_7500x4160",
       [](std::pmr::memory_resource& r) { ShuffledFree(r, 7'500, 4160); }},
      {"random_alignment", RandomAlignment},
      {"string_map_50K", StringMap},
      {"vector_push_3M", VectorPush},
  };
  return *workloads;
}

}  // namespace

std::vector<std::string> BuiltInWorkloads() {
  std::vector<std::string> names;
  for (const auto& [name, body] : Workloads()) names.push_back(name);
  return names;
}

absl::StatusOr<trace::Trace> RecordBuiltIn(const std::string& name) {
  auto it = std::find_if(Workloads().begin(), Workloads().end(),
                         [&](const auto& w) { return w.first == name; });
  if (it == Workloads().end()) {
    return absl::InvalidArgumentError("unknown workload \"" + name + "\"");
  }
  const testing::Arena arena(std::size_t{256} << 20);
  if (!arena.ok()) {
    return absl::ResourceExhaustedError("cannot map 256 MiB to record in");
  }
  std::string bytes;
  trace::StringSink sink(&bytes);
  {  // The backend goes before its region, and is flushed as it goes.
    TracingAllocator<TlsfByteAllocator> traced;
    absl::Status status = traced.Init(arena.start(), arena.size());
    if (!status.ok()) return status;
    MemoryResource resource(traced);
    traced.StartTrace(&sink);
    it->second(resource);
  }
  return trace::ParseTrace(bytes);
}

}  // namespace heapkit::cli
