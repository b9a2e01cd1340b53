#include "tools/heapkit/replay.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <memory>

#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "bench/peers.h"
#include "tests/arena.h"

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

namespace heapkit::cli {
namespace {

using trace::RecordType;
using trace::Trace;
using trace::TraceEvent;

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

// An allocator under replay.
class Subject {
 public:
  virtual ~Subject() = default;
  virtual void* Allocate(std::size_t size, std::size_t align) = 0;
  virtual void Free(void* ptr, std::size_t size, std::size_t align) = 0;
  // Forgets every block, ready for another run over the same (now warm)
  // memory.
  virtual void Reset() {}
  // The start of the backend's region; 0 for a general-purpose allocator.
  virtual std::uintptr_t region_start() const { return 0; }
};

// A HeapKit backend over a fresh anonymous mapping of its own. The arena is
// declared first, so the backend goes before its region.
template <class Backend>
class BackendSubject final : public Subject {
 public:
  explicit BackendSubject(std::uint64_t size) : arena_(size) {}

  // Returns the reason the backend cannot run, or "".
  std::string Start() {
    if (!arena_.ok()) return "cannot map the region";
    absl::Status status = backend_.Init(arena_.start(), arena_.size());
    return status.ok() ? "" : std::string(status.message());
  }

  void* Allocate(std::size_t size, std::size_t align) override {
    absl::StatusOr<void*> block = backend_.Alloc(Layout{size, align});
    return block.ok() ? *block : nullptr;
  }
  void Free(void* ptr, std::size_t size, std::size_t align) override {
    backend_.Dealloc(ptr, Layout{size, align});
  }
  std::uintptr_t region_start() const override { return arena_.start(); }
  void Reset() override {
    backend_.Init(arena_.start(), arena_.size()).IgnoreError();
  }

 private:
  testing::Arena arena_;
  Backend backend_;
};

// glibc, or a peer loaded with dlopen (bench/peers.h).
class PeerSubject final : public Subject {
 public:
  std::string Start(const std::string& name) {
    std::string error;
    return bench::LoadPeer(name, functions_, error) ? "" : error;
  }
  void* Allocate(std::size_t size, std::size_t align) override {
    return bench::PeerAllocate(functions_, size, align);
  }
  void Free(void* ptr, std::size_t, std::size_t) override {
    functions_.free(ptr);
  }

 private:
  bench::PeerFunctions functions_;
};

template <class Backend>
std::unique_ptr<Subject> StartBackend(std::uint64_t region,
                                      std::string& error) {
  auto subject = std::make_unique<BackendSubject<Backend>>(region);
  error = subject->Start();
  return error.empty() ? std::move(subject) : nullptr;
}

// The HeapKit backends `heapkit` knows: a new backend joins it with one line
// here.
struct BackendEntry {
  const char* name;
  std::unique_ptr<Subject> (*start)(std::uint64_t region, std::string& error);
};
constexpr BackendEntry kBackends[] = {
    {"slab", &StartBackend<SlabByteAllocator<>>},
    {"tlsf", &StartBackend<TlsfByteAllocator>},
    {"buddy", &StartBackend<BuddyByteAllocator>},
};

// The general-purpose allocators, loaded through bench/peers.h.
constexpr const char* kPeers[] = {"glibc", "jemalloc", "mimalloc", "tcmalloc"};

const BackendEntry* FindBackend(const std::string& name) {
  for (const BackendEntry& backend : kBackends) {
    if (name == backend.name) return &backend;
  }
  return nullptr;
}

// Returns a ready subject, or null with the reason in `error`.
std::unique_ptr<Subject> MakeSubject(const std::string& name,
                                     std::uint64_t region, std::string& error) {
  if (const BackendEntry* backend = FindBackend(name)) {
    return backend->start(region, error);
  }
  auto peer = std::make_unique<PeerSubject>();
  error = peer->Start(name);
  return error.empty() ? std::move(peer) : nullptr;
}

// Reads the cycle counter: cheap enough to time one call (about 10 ns here,
// which is also its resolution).
std::uint64_t Ticks() {
#if defined(__x86_64__)
  return __rdtsc();
#else
  return std::chrono::steady_clock::now().time_since_epoch().count();
#endif
}

// Returns nanoseconds per tick, measured once against the steady clock over
// 20 ms. Not per run: a run that moves to another core may read counters
// that started at another value, which would skew a per-run ratio.
double NsPerTick() {
  static const double ns_per_tick = [] {
    const auto begin = std::chrono::steady_clock::now();
    const std::uint64_t first = Ticks();
    while (std::chrono::steady_clock::now() - begin <
           std::chrono::milliseconds(20)) {
    }
    const double ns = std::chrono::duration<double, std::nano>(
                          std::chrono::steady_clock::now() - begin)
                          .count();
    return ns / std::max<double>(Ticks() - first, 1);
  }();
  return ns_per_tick;
}

struct Slot {
  void* ptr = nullptr;
  std::uint64_t size = 0;
  std::size_t align = 1;
};

// Per-operation clock ticks, kept when a run is timed.
struct OpTicks {
  std::vector<std::uint64_t> alloc;
  std::vector<std::uint64_t> free;
};

struct RunStats {
  double seconds = 0;
  std::uint64_t failures = 0;
  std::uint64_t high_water = 0;
};

// Replays events [0, stop] of `trace` on `subject`, leaving the live blocks in
// `slots`. Times each operation into `ticks` if it is not null.
RunStats Run(const Trace& trace, Subject& subject, std::size_t stop,
             std::vector<Slot>& slots, OpTicks* ticks) {
  RunStats stats;
  slots.assign(trace.max_blocks, Slot{});
  const std::uintptr_t base = subject.region_start();
  const auto begin = std::chrono::steady_clock::now();
  const std::size_t end = std::min(stop + 1, trace.events.size());
  for (std::size_t i = 0; i < end; ++i) {
    const TraceEvent& event = trace.events[i];
    Slot& slot = slots[event.block];
    const std::uint64_t before = ticks != nullptr ? Ticks() : 0;
    if (event.type == RecordType::kFree) {
      if (slot.ptr != nullptr) subject.Free(slot.ptr, slot.size, slot.align);
      slot.ptr = nullptr;
      if (ticks != nullptr) ticks->free.push_back(Ticks() - before);
      continue;
    }
    void* ptr = subject.Allocate(event.size, event.align());
    if (event.type == RecordType::kRealloc && ptr != nullptr &&
        slot.ptr != nullptr) {
      std::memcpy(ptr, slot.ptr, std::min(slot.size, event.size));
      subject.Free(slot.ptr, slot.size, slot.align);
    }
    if (ticks != nullptr) ticks->alloc.push_back(Ticks() - before);
    if (ptr == nullptr) {
      ++stats.failures;  // A failed realloc keeps its block, as realloc does.
      if (event.type == RecordType::kAlloc) slot.ptr = nullptr;
      continue;
    }
    slot = Slot{ptr, event.size, static_cast<std::size_t>(event.align())};
    if (base != 0) {
      stats.high_water = std::max<std::uint64_t>(
          stats.high_water,
          reinterpret_cast<std::uintptr_t>(ptr) + event.size - base);
    }
  }
  stats.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
          .count();
  return stats;
}

// Frees what a run left live, so a peer's heap starts the next run clean.
void FreeAll(Subject& subject, std::vector<Slot>& slots) {
  for (Slot& slot : slots) {
    if (slot.ptr != nullptr) subject.Free(slot.ptr, slot.size, slot.align);
    slot.ptr = nullptr;
  }
}

Latency Percentiles(std::vector<std::uint64_t> ticks, double ns_per_tick) {
  Latency latency;
  if (ticks.empty()) return latency;
  std::sort(ticks.begin(), ticks.end());
  auto at = [&](double q) {
    const auto index = static_cast<std::size_t>(q * (ticks.size() - 1));
    return static_cast<double>(ticks[index]) * ns_per_tick;
  };
  return Latency{at(0.5), at(0.99), at(0.999), at(1.0)};
}

// Finds the smallest region, to a page or 1%, in which the trace completes;
// `known_good` completed. Returns 0 if the trace failed even there.
std::uint64_t FindMinRegion(const Trace& trace, const std::string& name,
                            std::uint64_t known_good,
                            const std::function<void()>& step) {
  std::vector<Slot> slots;
  auto completes = [&](std::uint64_t region) {
    std::string error;
    std::unique_ptr<Subject> subject = MakeSubject(name, region, error);
    step();
    return subject != nullptr &&
           Run(trace, *subject, trace.events.size(), slots, nullptr).failures ==
               0;
  };
  std::uint64_t good = known_good;
  std::uint64_t bad = std::max<std::uint64_t>(trace.peak_live_bytes, kPage) -
                      1;  // Nothing smaller can hold the peak.
  while (good - bad > std::max(kPage, good / 100)) {
    const std::uint64_t mid =
        (bad + (good - bad) / 2 + kPage - 1) & ~(kPage - 1);
    if (mid >= good) break;
    (completes(mid) ? good : bad) = mid;
  }
  return good;
}

// About as many probes as FindMinRegion makes, for the progress bar.
constexpr int kProbeSteps = 8;

}  // namespace

std::vector<std::string> AllAllocatorNames() {
  std::vector<std::string> names;
  for (const BackendEntry& backend : kBackends) names.push_back(backend.name);
  names.insert(names.end(), std::begin(kPeers), std::end(kPeers));
  return names;
}

bool IsBackend(const std::string& name) { return FindBackend(name) != nullptr; }

std::uint64_t DefaultRegionSize(const Trace& trace) {
  return std::max(64 * kMiB, 4 * std::bit_ceil(std::max<std::uint64_t>(
                                     trace.peak_live_bytes, 1)));
}

std::vector<ReplayResult> Replay(const Trace& trace,
                                 const ReplayOptions& options) {
  const std::vector<std::string> names =
      options.allocators.empty() ? AllAllocatorNames() : options.allocators;
  const std::uint64_t region =
      options.region != 0 ? options.region : DefaultRegionSize(trace);
  const int rounds = std::max(options.rounds, 1);
  const int backends =
      static_cast<int>(std::count_if(names.begin(), names.end(), IsBackend));
  const int total_steps =
      static_cast<int>(names.size()) * (rounds + 2) +
      (options.find_min_region ? backends * kProbeSteps : 0);
  int steps = 0;
  auto step = [&] {
    steps = std::min(steps + 1, total_steps);
    if (options.progress) options.progress(steps, total_steps);
  };

  std::vector<ReplayResult> results(names.size());
  std::vector<std::unique_ptr<Subject>> subjects(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    results[i].allocator = names[i];
    subjects[i] = MakeSubject(names[i], region, results[i].error);
  }
  std::vector<std::vector<double>> seconds(names.size());
  std::vector<Slot> slots;
  // Each subject keeps its memory from round to round, and round 0 is a
  // warm-up whose time is not counted: the rounds measure the allocator, not
  // the kernel's page faults on fresh memory. Rounds interleave: a slow spell
  // of a shared machine spreads over all allocators.
  for (int round = 0; round <= rounds; ++round) {
    for (std::size_t i = 0; i < names.size(); ++i) {
      step();
      if (subjects[i] == nullptr) continue;
      subjects[i]->Reset();
      const RunStats stats =
          Run(trace, *subjects[i], trace.events.size(), slots, nullptr);
      FreeAll(*subjects[i], slots);
      if (round > 0) seconds[i].push_back(stats.seconds);
      if (round == 0) {
        results[i].failures = stats.failures;
        if (stats.high_water != 0 && trace.peak_live_bytes != 0) {
          results[i].footprint = static_cast<double>(stats.high_water) /
                                 static_cast<double>(trace.peak_live_bytes);
        }
      }
    }
  }
  const double events = std::max<double>(trace.events.size(), 1);
  for (std::size_t i = 0; i < names.size(); ++i) {
    ReplayResult& result = results[i];
    step();
    if (subjects[i] == nullptr) continue;
    std::sort(seconds[i].begin(), seconds[i].end());
    result.ns_per_op = seconds[i][seconds[i].size() / 2] * 1e9 / events;
    // Latencies from two more runs, the second timed per operation. The first
    // warms the memory again: on this VM, the first store to a page after
    // any munmap in the process costs microseconds (the hypervisor rebuilds
    // its page tables), which no allocator should be charged for.
    OpTicks ticks;
    ticks.alloc.reserve(trace.events.size());
    ticks.free.reserve(trace.events.size());
    for (OpTicks* timed : {static_cast<OpTicks*>(nullptr), &ticks}) {
      subjects[i]->Reset();
      Run(trace, *subjects[i], trace.events.size(), slots, timed);
      FreeAll(*subjects[i], slots);
    }
    result.alloc = Percentiles(std::move(ticks.alloc), NsPerTick());
    result.free = Percentiles(std::move(ticks.free), NsPerTick());
  }
  subjects.clear();
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (options.find_min_region && IsBackend(names[i]) &&
        results[i].error.empty() && results[i].failures == 0) {
      results[i].min_region = FindMinRegion(trace, names[i], region, step);
    }
  }
  if (options.progress) options.progress(total_steps, total_steps);
  return results;
}

bool SnapshotAt(const Trace& trace, const std::string& backend,
                std::uint64_t region, std::size_t stop, HeapSnapshot& snapshot,
                std::string& error) {
  if (!IsBackend(backend)) {
    error = "unknown backend \"" + backend + "\" (slab, tlsf or buddy)";
    return false;
  }
  snapshot.region_size = region != 0 ? region : DefaultRegionSize(trace);
  std::unique_ptr<Subject> subject =
      MakeSubject(backend, snapshot.region_size, error);
  if (subject == nullptr) return false;
  std::vector<Slot> slots;
  const RunStats stats = Run(trace, *subject, stop, slots, nullptr);
  snapshot.high_water = stats.high_water;
  snapshot.failures = stats.failures;
  snapshot.blocks.clear();
  for (const Slot& slot : slots) {
    if (slot.ptr == nullptr) continue;
    snapshot.blocks.push_back(MapBlock{
        reinterpret_cast<std::uintptr_t>(slot.ptr) - subject->region_start(),
        slot.size});
  }
  return true;
}

}  // namespace heapkit::cli
