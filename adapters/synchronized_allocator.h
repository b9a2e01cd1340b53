#ifndef HEAPKIT_ADAPTERS_SYNCHRONIZED_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_SYNCHRONIZED_ALLOCATOR_H_

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/base/config.h"
#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "adapters/internal/forwarding_allocator.h"
#include "core/concepts.h"
#include "core/layout.h"

#ifdef ABSL_HAVE_THREAD_SANITIZER
#include <sanitizer/tsan_interface.h>
#endif

namespace heapkit {

namespace synchronized_internal {

template <class L>
concept StdLockable = requires(L& lock) {
  lock.lock();
  lock.unlock();
};

template <class L>
concept AbslLockable = requires(L& lock) {
  lock.Lock();
  lock.Unlock();
};

}  // namespace synchronized_internal

// What SynchronizedAllocator can lock with: a default-constructible type with
// either the std BasicLockable calls lock()/unlock() (heapkit::SpinLock in
// adapters/spin_lock.h, std::mutex) or Abseil's Lock()/Unlock() (absl::Mutex,
// which in this Abseil version has no lowercase names).
template <class L>
concept LockPolicy = std::default_initializable<L> &&
    (synchronized_internal::StdLockable<L> ||
     synchronized_internal::AbslLockable<L>);

namespace synchronized_internal {

// Whether to tell ThreadSanitizer that `L` orders memory. Debian's Abseil is
// built without TSan, so TSan cannot see absl::Mutex do it and would report
// every access under it as a race; other locks (std::mutex, SpinLock) it sees.
template <class L>
inline constexpr bool kAnnotateForTsan =
#ifdef ABSL_HAVE_THREAD_SANITIZER
    std::is_same_v<L, absl::Mutex>;
#else
    false;
#endif

// Holds a LockPolicy for its lifetime, whichever spelling it uses.
template <LockPolicy L>
class ABSL_SCOPED_LOCKABLE Guard {
 public:
  // Forced inline, as the calls that take it: so that SpinLock's inline fast
  // path (one atomic exchange, one store) stays inline in them.
  ABSL_ATTRIBUTE_ALWAYS_INLINE explicit Guard(L& lock)
      ABSL_EXCLUSIVE_LOCK_FUNCTION(lock)
      : lock_(lock) {
    if constexpr (StdLockable<L>) {
      lock_.lock();
    } else {
      lock_.Lock();
    }
#ifdef ABSL_HAVE_THREAD_SANITIZER
    if constexpr (kAnnotateForTsan<L>) __tsan_acquire(&lock_);
#endif
  }
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;
  ABSL_ATTRIBUTE_ALWAYS_INLINE ~Guard() ABSL_UNLOCK_FUNCTION() {
#ifdef ABSL_HAVE_THREAD_SANITIZER
    if constexpr (kAnnotateForTsan<L>) __tsan_release(&lock_);
#endif
    if constexpr (StdLockable<L>) {
      lock_.unlock();
    } else {
      lock_.Unlock();
    }
  }

 private:
  L& lock_;
};

}  // namespace synchronized_internal

// Makes an allocator safe to share between threads by making every call on it,
// the const ones included (TotalBytes, UsedBytes, AvailableBytes and
// CheckInvariants read state that other threads change), under one lock of
// type `Lock`: absl::Mutex by default, or heapkit::SpinLock for short critical
// sections with little contention (see adapters/spin_lock.h).
//
//   heapkit::SynchronizedAllocator<heapkit::TlsfByteAllocator> shared;
//   heapkit::SynchronizedAllocator<heapkit::TlsfByteAllocator,
//                                  heapkit::SpinLock> spinning;
//
// Owns the allocator it wraps, constructed in place from the constructor's
// arguments; wrap a BorrowedAllocator (adapters/borrowed_allocator.h) to share
// one the caller owns, in which case every thread must go through this
// adapter. Each call fails exactly as the wrapped allocator's does, and the
// lock is released on every path. wrapped() bypasses the lock: use WithLock()
// to reach the wrapped allocator (e.g. a StatisticsAllocator's counters) from
// several threads.
//
// The calls are serialised, not reentrant: a call on this adapter from inside
// WithLock() deadlocks.
template <ByteBackend A, LockPolicy Lock = absl::Mutex>
class SynchronizedAllocator final : public internal::ForwardingAllocator<A> {
  using Base = internal::ForwardingAllocator<A>;
  using Guard = synchronized_internal::Guard<Lock>;

 public:
  // Constructs the wrapped allocator from `args`, with the lock free.
  template <class... Args>
  explicit SynchronizedAllocator(Args&&... args)
      : Base(std::forward<Args>(args)...) {}

  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    Guard guard(lock_);
    return Base::Init(start, size);
  }
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    Guard guard(lock_);
    return Base::AddMemory(start, size);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override {
    Guard guard(lock_);
    return Base::Alloc(layout);
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Dealloc(void* ptr, Layout layout) override {
    Guard guard(lock_);
    Base::Dealloc(ptr, layout);
  }
  std::size_t TotalBytes() const override {
    Guard guard(lock_);
    return Base::TotalBytes();
  }
  std::size_t UsedBytes() const override {
    Guard guard(lock_);
    return Base::UsedBytes();
  }

  // Returns TotalBytes() - UsedBytes(), both read under one lock: no AddMemory
  // or Alloc from another thread in between can make it wrap. (Called through
  // a ByteAllocator&, it is ByteAllocator's: two separately locked reads.)
  std::size_t AvailableBytes() const {
    Guard guard(lock_);
    return this->wrapped_.TotalBytes() - this->wrapped_.UsedBytes();
  }

  // Returns the wrapped allocator's CheckInvariants(), checked under the lock
  // so that no other thread changes it meanwhile; this adapter has no state of
  // its own to check.
  absl::Status CheckInvariants() const {
    Guard guard(lock_);
    return Base::CheckInvariants();
  }

  // Calls `f(wrapped())` under the lock and returns what it returns: the way to
  // read or change the wrapped allocator's own state (counters, limits, scopes)
  // while other threads use this adapter. Have `f` return a copy, not a
  // reference into the wrapped allocator: the lock is released on return.
  template <class F>
  decltype(auto) WithLock(F&& f) {
    Guard guard(lock_);
    return std::forward<F>(f)(this->wrapped_);
  }
  template <class F>
  decltype(auto) WithLock(F&& f) const {
    Guard guard(lock_);
    return std::forward<F>(f)(std::as_const(this->wrapped_));
  }

 private:
  // Mutable because the const calls lock it too.
  mutable Lock lock_;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_SYNCHRONIZED_ALLOCATOR_H_
