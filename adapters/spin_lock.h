#ifndef HEAPKIT_ADAPTERS_SPIN_LOCK_H_
#define HEAPKIT_ADAPTERS_SPIN_LOCK_H_

#include <atomic>
#include <thread>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"

namespace heapkit {

// A test-and-test-and-set spin lock: a lock policy for SynchronizedAllocator
// (adapters/synchronized_allocator.h) when critical sections are a few dozen
// nanoseconds, as a backend's Alloc and Dealloc are, and threads rarely
// contend. It never sleeps in the kernel, so under heavy contention or with
// more runnable threads than cores absl::Mutex (the default policy) wastes
// less CPU.
//
// A std BasicLockable (lock/unlock, plus try_lock), so std::lock_guard and
// std::unique_lock work on it. Not recursive: locking it twice from one thread
// deadlocks. Unlocking a lock the caller does not hold is undefined.
class ABSL_LOCKABLE SpinLock {
 public:
  SpinLock() = default;
  SpinLock(const SpinLock&) = delete;
  SpinLock& operator=(const SpinLock&) = delete;

  // Blocks until the lock is free, then takes it (acquire ordering). Waits by
  // reading, not writing, so waiting threads do not bounce the cache line
  // between them: first spinning with a pause instruction, doubling the pauses
  // each round up to kMaxPauses, then yielding the CPU between reads.
  //
  // Uncontended, this is one atomic exchange, forced inline; the waiting is
  // out of line.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    if (!locked_.exchange(true, std::memory_order_acquire)) [[likely]] {
      return;
    }
    LockSlow();
  }

  // Takes the lock and returns true if it is free; returns false at once
  // otherwise.
  bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    return !locked_.load(std::memory_order_relaxed) &&
           !locked_.exchange(true, std::memory_order_acquire);
  }

  // Releases the lock (release ordering), which the caller must hold.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void unlock() ABSL_UNLOCK_FUNCTION() {
    locked_.store(false, std::memory_order_release);
  }

 private:
  // The most pauses in one round of spinning (about a microsecond on current
  // x86) before the waiter starts yielding instead.
  static constexpr int kMaxPauses = 64;

  // Waits for the lock, which was taken at lock()'s first try, then takes it.
  ABSL_ATTRIBUTE_NOINLINE void LockSlow() {
    int pauses = 1;
    do {
      while (locked_.load(std::memory_order_relaxed)) {
        if (pauses <= kMaxPauses) {
          for (int i = 0; i < pauses; ++i) Pause();
          pauses *= 2;
        } else {
          std::this_thread::yield();
        }
      }
    } while (locked_.exchange(true, std::memory_order_acquire));
  }

  // Tells the CPU that this is a spin-wait loop: on x86 it stops the pipeline
  // from filling with speculative reads and frees resources for the sibling
  // hyperthread; on ARM it hints the same; elsewhere it does nothing.
  static void Pause() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
  }

  std::atomic<bool> locked_{false};
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_SPIN_LOCK_H_
