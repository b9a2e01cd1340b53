#include "adapters/spin_lock.h"

#include <mutex>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace heapkit {
namespace {

TEST(SpinLockTest, TryLockFailsWhileHeldAndSucceedsAfterUnlock) {
  SpinLock lock;
  ASSERT_TRUE(lock.try_lock());
  EXPECT_FALSE(lock.try_lock());
  lock.unlock();
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

TEST(SpinLockTest, WorksWithStdLockGuard) {
  SpinLock lock;
  {
    std::lock_guard<SpinLock> guard(lock);
    EXPECT_FALSE(lock.try_lock());
  }
  EXPECT_TRUE(lock.try_lock());
  lock.unlock();
}

// Each thread increments a plain counter under the lock; without mutual
// exclusion increments are lost (and ThreadSanitizer reports the race).
TEST(SpinLockTest, EightThreadsIncrementingUnderTheLockLoseNoIncrement) {
  constexpr int kThreads = 8;
  constexpr int kIncrements = 100'000;
  SpinLock lock;
  long counter = 0;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kIncrements; ++i) {
        std::lock_guard<SpinLock> guard(lock);
        // A read and a separate write, so an unprotected pair would interleave.
        const long seen = counter;
        counter = seen + 1;
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(counter, long{kThreads} * kIncrements);
}

}  // namespace
}  // namespace heapkit
