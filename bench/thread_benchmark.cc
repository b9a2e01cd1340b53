// Multithreaded malloc/free benchmark with two workloads:
//   larson   each thread keeps --blocks live blocks of 16..4096 bytes and
//            repeatedly replaces a random one; one replaced block in
//            --remote_every (default 4; 0: none) goes to another thread, which
//            frees it (a cross-thread free).
//   xmalloc  half the threads allocate blocks of 16..512 bytes and pass them
//            in batches to the other half, which free them. With one thread,
//            that thread allocates a batch and frees it itself.
// It calls only malloc and free from the C library and has no HeapKit
// dependencies, so any allocator can be put under it with LD_PRELOAD.
//
// Usage:
//   thread_benchmark [--workload=larson|xmalloc] [--threads=N]
//                    [--ops=N | --seconds=S] [--blocks=N] [--seed=N]
//                    [--remote_every=N]
// --ops is the work per thread (an op is one free plus one malloc); with it
// every allocator does the same work, so wall times compare. --seconds runs
// for a fixed time instead. Prints one line per run, e.g.
//   larson threads=2 ops=4000000 seconds=0.812 mops_per_s=4.926
//   remote_frees=0.250
// (on one line), where remote_frees is the fraction of frees made by a thread
// other than the allocating one. Every block carries a tag in its first and
// last byte, written at allocation and checked before the free; the program
// exits 1 if a tag changed (the allocator handed out overlapping memory), and
// 2 on bad flags.

#include <algorithm>
#include <atomic>
#include <barrier>
#include <chrono>
#include <cinttypes>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

// Blocks move between threads in batches of this many, so the cache lines of
// a queue's indices change cores once per batch instead of once per block
// and the exchange stays cheap next to the allocator calls.
constexpr std::size_t kBatch = 32;
// How many blocks a queue holds: enough to ride out a short descheduling of
// the receiver (each time a queue fills, the sender waits and the two threads
// trade the core), and few enough that blocks in flight stay small next to
// the live ones: up to 512 KiB per larson queue on average, T * (T - 1) of
// them, and 1 MiB per xmalloc producer.
constexpr std::size_t kLarsonQueueCapacity = 256;
constexpr std::size_t kXmallocQueueCapacity = 4096;

// A larson thread drains its incoming queues (and, with --seconds, checks the
// clock) once per this many ops.
constexpr std::uint64_t kPollEvery = 32;

constexpr int kMaxThreads = 256;
constexpr std::uint64_t kMaxOps = std::uint64_t{1} << 40;

constexpr std::uint32_t kLarsonMinSize = 16;
constexpr std::uint32_t kLarsonMaxSize = 4096;
constexpr std::uint32_t kXmallocMinSize = 16;
constexpr std::uint32_t kXmallocMaxSize = 512;

struct Options {
  std::string workload = "larson";
  int threads = 1;
  std::uint64_t ops = 1'000'000;  // Per thread; unused when seconds > 0.
  double seconds = 0;
  std::uint64_t blocks = 1000;  // Live blocks per larson thread.
  std::uint64_t seed = 1;
  std::uint64_t remote_every = 4;  // Larson: one free in this many is remote.
};

// SplitMix64's output function: spreads nearby seeds (thread 0, 1, ...) over
// unrelated generator states.
std::uint64_t Mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

// xorshift64*: a few instructions per number, so the generator costs little
// next to the allocator; statistical quality is ample for picking slots.
class Random {
 public:
  Random(std::uint64_t seed, std::uint64_t stream)
      : state_(Mix(seed ^ Mix(stream))) {
    if (state_ == 0) state_ = 1;  // Zero is xorshift's fixed point.
  }

  std::uint64_t Next() {
    state_ ^= state_ >> 12;
    state_ ^= state_ << 25;
    state_ ^= state_ >> 27;
    return state_ * 0x2545f4914f6cdd1d;
  }

  // Maps the high 32 bits of `r` onto [0, n) without a division.
  static std::uint32_t Below(std::uint64_t r, std::uint32_t n) {
    return static_cast<std::uint32_t>(((r >> 32) * n) >> 32);
  }

 private:
  std::uint64_t state_;
};

struct Block {
  unsigned char* data;
  std::uint32_t size;
  unsigned char tag;
};

[[noreturn]] void Fail(const char* what) {
  std::fprintf(stderr, "thread_benchmark: %s\n", what);
  std::_Exit(1);
}

// Allocates a block of a random size in [min_size, max_size] and writes its tag
// at both ends, which also makes the allocator's memory really used.
Block NewBlock(Random& random, std::uint32_t min_size, std::uint32_t max_size) {
  const std::uint64_t r = random.Next();
  const std::uint32_t size =
      min_size + Random::Below(r, max_size - min_size + 1);
  auto* data = static_cast<unsigned char*>(std::malloc(size));
  if (data == nullptr) Fail("malloc returned null");
  const auto tag = static_cast<unsigned char>(r);
  data[0] = tag;
  data[size - 1] = static_cast<unsigned char>(~tag);
  return Block{data, size, tag};
}

void FreeBlock(const Block& block) {
  if (block.data[0] != block.tag ||
      block.data[block.size - 1] != static_cast<unsigned char>(~block.tag)) {
    std::fprintf(stderr,
                 "thread_benchmark: block %p of %" PRIu32
                 " bytes changed between malloc and free\n",
                 static_cast<void*>(block.data), block.size);
    std::_Exit(1);
  }
  std::free(block.data);
}

// A single-producer single-consumer queue of blocks. Its storage is allocated
// before the timed phase; pushing and draining never call the allocator.
class BlockQueue {
 public:
  explicit BlockQueue(std::size_t capacity)
      : capacity_(capacity), slots_(new Block[capacity]) {}

  // Producer side: appends all `count` blocks, or none if they do not fit.
  bool PushBatch(const Block* blocks, std::size_t count) {
    const std::uint64_t tail = tail_.load(std::memory_order_relaxed);
    const std::uint64_t head = head_.load(std::memory_order_acquire);
    if (capacity_ - (tail - head) < count) return false;
    for (std::size_t i = 0; i < count; ++i) {
      slots_[(tail + i) % capacity_] = blocks[i];
    }
    tail_.store(tail + count, std::memory_order_release);
    return true;
  }

  // Consumer side: frees every queued block; returns how many.
  std::uint64_t FreeAll() {
    const std::uint64_t head = head_.load(std::memory_order_relaxed);
    const std::uint64_t tail = tail_.load(std::memory_order_acquire);
    // Polling an empty queue must not write: the store would pull the line
    // away from the producer, which reads head_ on every push.
    if (head == tail) return 0;
    for (std::uint64_t i = head; i != tail; ++i) {
      FreeBlock(slots_[i % capacity_]);
    }
    head_.store(tail, std::memory_order_release);
    return tail - head;
  }

 private:
  const std::size_t capacity_;
  std::unique_ptr<Block[]> slots_;
  // On separate cache lines: each index is written by one side only.
  alignas(64) std::atomic<std::uint64_t> head_{0};
  alignas(64) std::atomic<std::uint64_t> tail_{0};
};

// What one thread did during the run.
struct Counts {
  std::uint64_t ops = 0;
  std::uint64_t local_frees = 0;
  std::uint64_t remote_frees = 0;
};

// State shared by the threads of one run.
struct Run {
  explicit Run(const Options& options)
      : options(options), start(options.threads + 1) {}

  const Options& options;
  // The threads and main meet here once set up, so the clock starts after
  // every thread has allocated its initial blocks.
  std::barrier<> start;
  std::atomic<bool> stop{false};  // Set by main when --seconds have passed.
  std::atomic<int> finished{0};   // Threads (larson) or producers (xmalloc).
  // larson: queues[from * threads + to]; xmalloc: one per producer.
  std::vector<std::unique_ptr<BlockQueue>> queues;
  std::vector<Counts> counts;
};

bool TimedOut(const Run& run) {
  return run.options.seconds > 0 && run.stop.load(std::memory_order_relaxed);
}

std::uint64_t OpLimit(const Options& options) {
  return options.seconds > 0 ? std::numeric_limits<std::uint64_t>::max()
                             : options.ops;
}

// Frees the blocks other threads sent to `self`; returns how many.
std::uint64_t DrainIncoming(Run& run, int self) {
  const int threads = run.options.threads;
  std::uint64_t freed = 0;
  for (int from = 0; from < threads; ++from) {
    if (from != self) freed += run.queues[from * threads + self]->FreeAll();
  }
  return freed;
}

void LarsonThread(Run& run, int self) {
  const Options& options = run.options;
  const int threads = options.threads;
  Random random(options.seed, self);
  Counts counts;
  std::vector<Block> slots(options.blocks);
  for (Block& slot : slots) {
    slot = NewBlock(random, kLarsonMinSize, kLarsonMaxSize);
  }
  // Blocks waiting to be sent, a batch per destination.
  std::vector<Block> outgoing(threads * kBatch);
  std::vector<std::size_t> outgoing_count(threads, 0);
  // Hands a full (or, at the end, partial) batch to `to`. If its queue is
  // full (the receiver is descheduled), waits rather than freeing the blocks
  // here: a faster allocator would otherwise fill queues sooner and do fewer
  // remote frees, and the allocators would no longer run the same workload.
  // Waiting threads keep draining their own queues, so two threads waiting on
  // each other both make progress.
  auto send = [&](int to) {
    BlockQueue& queue = *run.queues[self * threads + to];
    while (!queue.PushBatch(&outgoing[to * kBatch], outgoing_count[to])) {
      counts.remote_frees += DrainIncoming(run, self);
      std::this_thread::yield();
    }
    outgoing_count[to] = 0;
  };

  run.start.arrive_and_wait();
  const std::uint64_t limit = OpLimit(options);
  const auto live = static_cast<std::uint32_t>(slots.size());
  for (std::uint64_t op = 0; op != limit; ++op) {
    if (op % kPollEvery == 0) {
      counts.remote_frees += DrainIncoming(run, self);
      if (TimedOut(run)) break;
    }
    const std::uint64_t r = random.Next();
    Block& slot = slots[Random::Below(r, live)];
    // Bits 0-15 choose a remote free one time in --remote_every (0: never);
    // bits 16-31 pick the receiver among the other threads.
    if (threads > 1 && options.remote_every != 0 &&
        (r & 0xFFFF) % options.remote_every == 0) {
      int to = static_cast<int>(((r >> 16) & 0xFFFF) % (threads - 1));
      if (to >= self) ++to;
      outgoing[to * kBatch + outgoing_count[to]++] = slot;
      if (outgoing_count[to] == kBatch) send(to);
    } else {
      FreeBlock(slot);
      ++counts.local_frees;
    }
    slot = NewBlock(random, kLarsonMinSize, kLarsonMaxSize);
    ++counts.ops;
  }
  for (int to = 0; to < threads; ++to) {
    if (outgoing_count[to] != 0) send(to);
  }
  // Keep freeing what the others send until they are done too: a block in a
  // queue is still live, and its free belongs to the run.
  run.finished.fetch_add(1, std::memory_order_acq_rel);
  while (run.finished.load(std::memory_order_acquire) < threads) {
    counts.remote_frees += DrainIncoming(run, self);
    std::this_thread::yield();
  }
  counts.remote_frees += DrainIncoming(run, self);
  for (const Block& slot : slots) FreeBlock(slot);
  run.counts[self] = counts;
}

// xmalloc with one thread: allocates a batch, then frees it.
void XmallocAlone(Run& run) {
  Random random(run.options.seed, 0);
  Counts counts;
  Block batch[kBatch];
  run.start.arrive_and_wait();
  const std::uint64_t limit = OpLimit(run.options);
  while (counts.ops < limit && !TimedOut(run)) {
    const std::size_t count = static_cast<std::size_t>(
        std::min<std::uint64_t>(kBatch, limit - counts.ops));
    for (std::size_t i = 0; i < count; ++i) {
      batch[i] = NewBlock(random, kXmallocMinSize, kXmallocMaxSize);
    }
    for (std::size_t i = 0; i < count; ++i) FreeBlock(batch[i]);
    counts.ops += count;
    counts.local_frees += count;
  }
  run.counts[0] = counts;
}

// Allocates `blocks` blocks (or until --seconds pass) into its own queue.
void XmallocProducer(Run& run, int producer, std::uint64_t blocks) {
  Random random(run.options.seed, producer);
  BlockQueue& queue = *run.queues[producer];
  Block batch[kBatch];
  run.start.arrive_and_wait();
  std::uint64_t made = 0;
  while (made < blocks && !TimedOut(run)) {
    const std::size_t count = static_cast<std::size_t>(
        std::min<std::uint64_t>(kBatch, blocks - made));
    for (std::size_t i = 0; i < count; ++i) {
      batch[i] = NewBlock(random, kXmallocMinSize, kXmallocMaxSize);
    }
    // The consumer is behind (or descheduled): wait for it, which bounds the
    // memory in flight as a real producer/consumer pipeline would.
    while (!queue.PushBatch(batch, count)) std::this_thread::yield();
    made += count;
  }
  run.finished.fetch_add(1, std::memory_order_acq_rel);
}

// Frees what the producers numbered consumer, consumer + consumers, ... send.
void XmallocConsumer(Run& run, int self, int consumer, int consumers,
                     int producers) {
  Counts counts;
  run.start.arrive_and_wait();
  while (true) {
    // Read before draining: once every producer is done, one more drain
    // empties the queues for good.
    const bool done = run.finished.load(std::memory_order_acquire) == producers;
    std::uint64_t freed = 0;
    for (int p = consumer; p < producers; p += consumers) {
      freed += run.queues[p]->FreeAll();
    }
    counts.remote_frees += freed;
    if (done) break;
    if (freed == 0) std::this_thread::yield();
  }
  counts.ops = counts.remote_frees;
  run.counts[self] = counts;
}

bool ParseUnsigned(std::string_view text, std::uint64_t& value) {
  if (text.empty() || text.size() > 19) return false;
  value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return true;
}

[[noreturn]] void Usage(const char* error) {
  if (error != nullptr) std::fprintf(stderr, "thread_benchmark: %s\n", error);
  std::fprintf(error != nullptr ? stderr : stdout,
               "usage: thread_benchmark [--workload=larson|xmalloc] "
               "[--threads=N] [--ops=N | --seconds=S] [--blocks=N] "
               "[--seed=N] [--remote_every=N]\n");
  std::exit(error != nullptr ? 2 : 0);
}

// Accepts --name=value and --name value.
Options ParseFlags(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") Usage(nullptr);
    if (arg.substr(0, 2) != "--") {
      Usage(("unexpected argument " + std::string(arg)).c_str());
    }
    std::string_view name = arg.substr(2);
    const std::size_t equals = name.find('=');
    std::string value;
    if (equals != std::string_view::npos) {
      value = std::string(name.substr(equals + 1));
      name = name.substr(0, equals);
    }
    if (name != "workload" && name != "threads" && name != "ops" &&
        name != "seconds" && name != "blocks" && name != "seed" &&
        name != "remote_every") {
      Usage(("unknown flag --" + std::string(name)).c_str());
    }
    if (equals == std::string_view::npos) {
      if (i + 1 == argc) {
        Usage(("missing value for " + std::string(arg)).c_str());
      }
      value = argv[++i];
    }
    const std::string bad = "bad value for --" + std::string(name);
    std::uint64_t number = 0;
    if (name == "workload") {
      if (value != "larson" && value != "xmalloc") Usage(bad.c_str());
      options.workload = value;
    } else if (name == "threads") {
      if (!ParseUnsigned(value, number) || number < 1 || number > kMaxThreads) {
        Usage(bad.c_str());
      }
      options.threads = static_cast<int>(number);
    } else if (name == "ops") {
      // The bound keeps threads * ops far from overflowing.
      if (!ParseUnsigned(value, number) || number < 1 || number > kMaxOps) {
        Usage(bad.c_str());
      }
      options.ops = number;
    } else if (name == "remote_every") {
      if (!ParseUnsigned(value, number) || number > 0xFFFF) Usage(bad.c_str());
      options.remote_every = number;
    } else if (name == "blocks") {
      if (!ParseUnsigned(value, number) || number < 1 ||
          number > std::numeric_limits<std::uint32_t>::max()) {
        Usage(bad.c_str());
      }
      options.blocks = number;
    } else if (name == "seed") {
      if (!ParseUnsigned(value, number)) Usage(bad.c_str());
      options.seed = number;
    } else if (name == "seconds") {
      char* end = nullptr;
      options.seconds = std::strtod(value.c_str(), &end);
      if (value.empty() || *end != '\0' || !(options.seconds > 0)) {
        Usage(bad.c_str());
      }
    }
  }
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  const Options options = ParseFlags(argc, argv);
  const int threads = options.threads;
  Run run(options);
  run.counts.resize(threads);
  std::vector<std::thread> workers;
  if (options.workload == "larson") {
    run.queues.resize(static_cast<std::size_t>(threads) * threads);
    for (auto& queue : run.queues) {
      queue = std::make_unique<BlockQueue>(kLarsonQueueCapacity);
    }
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back(LarsonThread, std::ref(run), t);
    }
  } else if (threads == 1) {
    workers.emplace_back(XmallocAlone, std::ref(run));
  } else {
    const int consumers = threads / 2;
    const int producers = threads - consumers;
    run.queues.resize(producers);
    for (auto& queue : run.queues) {
      queue = std::make_unique<BlockQueue>(kXmallocQueueCapacity);
    }
    // --ops is per thread: the producers share threads * ops blocks. With
    // --seconds they run until told to stop.
    const std::uint64_t total = options.seconds > 0
                                    ? std::numeric_limits<std::uint64_t>::max()
                                    : options.ops * threads;
    for (int p = 0; p < producers; ++p) {
      const std::uint64_t share =
          total / producers + (p < static_cast<int>(total % producers) ? 1 : 0);
      workers.emplace_back(XmallocProducer, std::ref(run), p, share);
    }
    for (int c = 0; c < consumers; ++c) {
      workers.emplace_back(XmallocConsumer, std::ref(run), producers + c, c,
                           consumers, producers);
    }
  }

  run.start.arrive_and_wait();
  const auto begin = std::chrono::steady_clock::now();
  if (options.seconds > 0) {
    std::this_thread::sleep_for(std::chrono::duration<double>(options.seconds));
    run.stop.store(true, std::memory_order_relaxed);
  }
  for (std::thread& worker : workers) worker.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - begin)
          .count();

  Counts total;
  for (const Counts& counts : run.counts) {
    total.ops += counts.ops;
    total.local_frees += counts.local_frees;
    total.remote_frees += counts.remote_frees;
  }
  const std::uint64_t frees = total.local_frees + total.remote_frees;
  std::printf(
      "%s threads=%d ops=%" PRIu64
      " seconds=%.3f mops_per_s=%.3f remote_frees=%.3f\n",
      options.workload.c_str(), threads, total.ops, seconds,
      static_cast<double>(total.ops) / seconds / 1e6,
      frees == 0 ? 0.0 : static_cast<double>(total.remote_frees) / frees);
  return 0;
}
