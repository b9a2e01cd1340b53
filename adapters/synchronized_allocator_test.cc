#include "adapters/synchronized_allocator.h"

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "adapters/spin_lock.h"
#include "adapters/statistics_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using testing::Arena;
using testing::IsAllocError;
using testing::IsOk;
using testing::kMiB;

// Whether a probe lock is held. The probe tests run on one thread.
bool probe_held = false;
int probe_locks = 0;

// Records lock and unlock in the globals above; a second lock() without an
// unlock() (a call that forgot to release) fails the test.
struct LowercaseProbeLock {
  void lock() {
    EXPECT_FALSE(probe_held) << "locked while already held";
    probe_held = true;
    ++probe_locks;
  }
  void unlock() {
    EXPECT_TRUE(probe_held) << "unlocked while not held";
    probe_held = false;
  }
};

// The same with Abseil's spelling.
struct CapitalizedProbeLock {
  void Lock() { lowercase.lock(); }
  void Unlock() { lowercase.unlock(); }
  LowercaseProbeLock lowercase;
};

// Forwards to a TLSF allocator and counts the calls made without the probe
// lock held.
class ProbeAllocator final : public ByteAllocator {
 public:
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    Record();
    return tlsf_.Init(start, size);
  }
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    Record();
    return tlsf_.AddMemory(start, size);
  }
  absl::StatusOr<void*> Alloc(Layout layout) override {
    Record();
    return tlsf_.Alloc(layout);
  }
  void Dealloc(void* ptr, Layout layout) override {
    Record();
    tlsf_.Dealloc(ptr, layout);
  }
  std::size_t TotalBytes() const override {
    Record();
    return tlsf_.TotalBytes();
  }
  std::size_t UsedBytes() const override {
    Record();
    return tlsf_.UsedBytes();
  }
  absl::Status CheckInvariants() const {
    Record();
    return tlsf_.CheckInvariants();
  }

  int calls() const { return calls_; }
  int unlocked_calls() const { return unlocked_calls_; }

 private:
  void Record() const {
    ++calls_;
    if (!probe_held) ++unlocked_calls_;
  }

  mutable int calls_ = 0;
  mutable int unlocked_calls_ = 0;
  TlsfByteAllocator tlsf_;
};

template <class Lock>
class SynchronizedProbeTest : public ::testing::Test {
 protected:
  SynchronizedProbeTest() {
    probe_held = false;
    probe_locks = 0;
  }
};

using ProbeLocks = ::testing::Types<LowercaseProbeLock, CapitalizedProbeLock>;
TYPED_TEST_SUITE(SynchronizedProbeTest, ProbeLocks);

TYPED_TEST(SynchronizedProbeTest, EveryCallRunsUnderTheLockAndReleasesIt) {
  Arena arena(4 * kMiB);
  SynchronizedAllocator<ProbeAllocator, TypeParam> synced;
  const auto& view = synced;
  ASSERT_THAT(synced.Init(arena.start(), kMiB), IsOk());
  ASSERT_THAT(synced.AddMemory(arena.start() + 2 * kMiB, kMiB), IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, synced.Alloc(Layout{100, 8}));
  // Failures release the lock too: the next lock() would report it otherwise.
  EXPECT_THAT(synced.Alloc(Layout{4 * kMiB, 8}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(synced.Alloc(Layout{16, 3}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_GT(view.UsedBytes(), 0u);
  EXPECT_GT(view.TotalBytes(), kMiB);
  EXPECT_EQ(view.AvailableBytes(), view.TotalBytes() - view.UsedBytes());
  EXPECT_THAT(view.CheckInvariants(), IsOk());
  synced.Dealloc(block, Layout{100, 8});
  EXPECT_EQ(synced.WithLock([](ProbeAllocator& a) { return a.UsedBytes(); }),
            0u);
  EXPECT_EQ(view.WithLock([](const ProbeAllocator& a) { return a.calls(); }),
            14);

  // 14 calls on the adapter, one lock each. The probe saw 14 calls too:
  // AvailableBytes reads two values under its one lock, and the last WithLock
  // only reads the count.
  EXPECT_EQ(synced.wrapped().calls(), 14);
  EXPECT_EQ(synced.wrapped().unlocked_calls(), 0);
  EXPECT_EQ(probe_locks, 14);
  EXPECT_FALSE(probe_held);
}

// The byte at `offset` of block `seq` from thread `thread`: differs between
// threads, blocks and offsets, so a block written over by another shows.
std::uint8_t Pattern(int thread, std::uint32_t seq, std::size_t offset) {
  return static_cast<std::uint8_t>(thread * 67 + seq * 13 + offset);
}

void Fill(void* block, std::size_t size, int thread, std::uint32_t seq) {
  auto* bytes = static_cast<std::uint8_t*>(block);
  for (std::size_t i = 0; i < size; ++i) bytes[i] = Pattern(thread, seq, i);
}

bool Intact(const void* block, std::size_t size, int thread,
            std::uint32_t seq) {
  const auto* bytes = static_cast<const std::uint8_t*>(block);
  for (std::size_t i = 0; i < size; ++i) {
    if (bytes[i] != Pattern(thread, seq, i)) return false;
  }
  return true;
}

// A block on its way from the thread that wrote it to the one that frees it.
// A null `ptr` means the sender is done.
struct Parcel {
  void* ptr;
  Layout layout;
  int sender;
  std::uint32_t seq;
};

// One thread's inbox. Synchronised with std::mutex, whatever the lock under
// test.
class Mailbox {
 public:
  void Put(Parcel parcel) {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      parcels_.push_back(parcel);
    }
    ready_.notify_one();
  }

  // Returns every parcel queued; if `wait`, first waits for at least one.
  std::vector<Parcel> TakeAll(bool wait) {
    std::unique_lock<std::mutex> guard(mutex_);
    if (wait) ready_.wait(guard, [this] { return !parcels_.empty(); });
    return std::exchange(parcels_, {});
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<Parcel> parcels_;
};

// What went wrong on one thread, for the main thread to report.
struct ThreadErrors {
  int failed_allocs = 0;
  int corrupted_blocks = 0;
  int bad_invariants = 0;
};

template <class Lock>
class SynchronizedThreadsTest : public ::testing::Test {};

using Locks = ::testing::Types<absl::Mutex, SpinLock, std::mutex>;

struct LockName {
  template <class Lock>
  static std::string GetName(int) {
    if (std::is_same_v<Lock, absl::Mutex>) return "AbslMutex";
    if (std::is_same_v<Lock, SpinLock>) return "SpinLock";
    return "StdMutex";
  }
};
TYPED_TEST_SUITE(SynchronizedThreadsTest, Locks, LockName);

// Eight threads allocate blocks of random sizes and alignments and write their
// pattern in them; each keeps half (freeing them as it goes) and mails the
// other half to the next thread, which checks the pattern and frees them.
// Every thread also reads the shared state now and then. Run it under
// --config=tsan too.
TYPED_TEST(SynchronizedThreadsTest, ThreadsShareOneAllocatorAndFreeAcross) {
  constexpr int kThreads = 8;
  constexpr std::uint32_t kBlocksPerThread = 4000;
  Arena arena(64 * kMiB);
  SynchronizedAllocator<TlsfByteAllocator, TypeParam> synced;
  ASSERT_THAT(synced.Init(arena.start(), arena.size()), IsOk());

  std::vector<Mailbox> mailboxes(kThreads);
  std::vector<ThreadErrors> errors(kThreads);
  auto work = [&](int me) {
    ThreadErrors& mine = errors[me];
    std::mt19937_64 rng(me);
    std::vector<Parcel> kept;
    auto check_and_free = [&](const Parcel& parcel) {
      if (!Intact(parcel.ptr, parcel.layout.size, parcel.sender, parcel.seq)) {
        ++mine.corrupted_blocks;
      }
      synced.Dealloc(parcel.ptr, parcel.layout);
    };
    bool sender_done = false;
    auto receive = [&](bool wait) {
      for (const Parcel& parcel : mailboxes[me].TakeAll(wait)) {
        if (parcel.ptr == nullptr) {
          sender_done = true;
        } else {
          check_and_free(parcel);
        }
      }
    };
    for (std::uint32_t seq = 0; seq < kBlocksPerThread; ++seq) {
      const Layout layout{1 + rng() % 4096, std::size_t{1} << (rng() % 7)};
      absl::StatusOr<void*> block = synced.Alloc(layout);
      if (!block.ok()) {
        ++mine.failed_allocs;
        continue;
      }
      Fill(*block, layout.size, me, seq);
      const Parcel parcel{*block, layout, me, seq};
      if (seq % 2 == 1) {
        mailboxes[(me + 1) % kThreads].Put(parcel);
      } else {
        kept.push_back(parcel);
      }
      if (kept.size() > 64) {
        std::swap(kept[rng() % kept.size()], kept.back());
        check_and_free(kept.back());
        kept.pop_back();
      }
      receive(/*wait=*/false);
      if (seq % 500 == 0) {
        if (!synced.CheckInvariants().ok() ||
            synced.UsedBytes() > synced.TotalBytes()) {
          ++mine.bad_invariants;
        }
      }
    }
    for (const Parcel& parcel : kept) check_and_free(parcel);
    mailboxes[(me + 1) % kThreads].Put(Parcel{nullptr, Layout{}, me, 0});
    while (!sender_done) receive(/*wait=*/true);
  };

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(work, t);
  for (std::thread& thread : threads) thread.join();

  for (int t = 0; t < kThreads; ++t) {
    EXPECT_EQ(errors[t].failed_allocs, 0) << "thread " << t;
    EXPECT_EQ(errors[t].corrupted_blocks, 0) << "thread " << t;
    EXPECT_EQ(errors[t].bad_invariants, 0) << "thread " << t;
  }
  EXPECT_EQ(synced.UsedBytes(), 0u);
  EXPECT_THAT(synced.CheckInvariants(), IsOk());
}

// Stacked under the lock, a StatisticsAllocator counts every thread's calls,
// exactly; its counters are read through WithLock().
TEST(SynchronizedAllocatorTest, StatisticsUnderTheLockCountEveryThread) {
  constexpr int kThreads = 8;
  constexpr int kBlocksPerThread = 1000;
  Arena arena(16 * kMiB);
  SynchronizedAllocator<StatisticsAllocator<TlsfByteAllocator>, SpinLock>
      synced;
  ASSERT_THAT(synced.Init(arena.start(), arena.size()), IsOk());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&synced, t] {
      // Thread t allocates blocks of 16 * (t + 1) bytes, two live at a time.
      const Layout layout{16 * static_cast<std::size_t>(t + 1), 8};
      void* previous = nullptr;
      for (int i = 0; i < kBlocksPerThread; ++i) {
        absl::StatusOr<void*> block = synced.Alloc(layout);
        if (!block.ok()) continue;  // Shows in the failure count.
        synced.Dealloc(previous, layout);
        previous = *block;
      }
      synced.Dealloc(previous, layout);
    });
  }
  for (std::thread& thread : threads) thread.join();

  const Statistics stats = synced.WithLock(
      [](const StatisticsAllocator<TlsfByteAllocator>& counted) {
        return counted.GetStatistics();
      });
  EXPECT_EQ(stats.failures, 0);
  EXPECT_EQ(stats.blocks.total, kThreads * kBlocksPerThread);
  EXPECT_EQ(stats.deallocs, kThreads * kBlocksPerThread);
  EXPECT_EQ(stats.blocks.current, 0);
  EXPECT_EQ(stats.bytes.current, 0);
  // 16 * (1 + 2 + ... + 8) bytes per round of the eight threads.
  EXPECT_EQ(stats.bytes.total, 16 * 36 * kBlocksPerThread);
  EXPECT_LE(stats.blocks.peak, 2 * kThreads);
  EXPECT_EQ(synced.UsedBytes(), 0u);
  EXPECT_THAT(synced.CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace heapkit
