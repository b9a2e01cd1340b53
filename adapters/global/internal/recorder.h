#ifndef HEAPKIT_ADAPTERS_GLOBAL_INTERNAL_RECORDER_H_
#define HEAPKIT_ADAPTERS_GLOBAL_INTERNAL_RECORDER_H_

#include <cstddef>
#include <cstdint>
#include <mutex>

#include "absl/base/attributes.h"
#include "absl/base/thread_annotations.h"
#include "adapters/spin_lock.h"
#include "adapters/trace/trace_writer.h"

namespace heapkit::internal {

// The malloc replacement's trace mode: runs each heap operation under one
// lock and records it to a trace file (docs/trace_format.md), a free before
// the block goes back and an allocation after it came out, so the trace's
// order is one in which the operations happened. Never allocates. Each
// method takes the operation as a callable returning its result.
//
// The heap itself may call malloc while it works (an absl::Status message, a
// bitmap's table), reentrantly from inside an operation: such calls are
// HeapKit's own, run unrecorded and without the lock.
class Recorder {
 public:
  // Records to `fd`, which it never closes (the process's exit does).
  explicit Recorder(int fd) : sink_(fd), writer_(&sink_, trace::NowNs()) {}

  template <class Op>
  void* Allocate(std::size_t size, std::size_t align, Op op) {
    if (busy_) return op();
    Guard guard(lock_);
    void* ptr = op();
    if (ptr != nullptr) {
      writer_.Alloc(trace::ThreadNumber(), trace::NowNs(), size, align,
                    reinterpret_cast<std::uintptr_t>(ptr));
      Written();
    }
    return ptr;
  }

  template <class Op>
  void Free(void* ptr, Op op) {
    if (busy_) return op();
    Guard guard(lock_);
    writer_.Free(trace::ThreadNumber(), trace::NowNs(),
                 reinterpret_cast<std::uintptr_t>(ptr));
    Written();
    op();
  }

  template <class Op>
  void* Reallocate(void* ptr, std::size_t size, std::size_t align, Op op) {
    if (busy_) return op();
    Guard guard(lock_);
    void* moved = op();
    if (moved != nullptr) {
      writer_.Realloc(trace::ThreadNumber(), trace::NowNs(), size, align,
                      reinterpret_cast<std::uintptr_t>(ptr),
                      reinterpret_cast<std::uintptr_t>(moved));
      Written();
    }
    return moved;
  }

  // Writes what is buffered, then every record as it comes: called at exit,
  // after which only the frees of other exit handlers are left.
  void FlushAndStopBuffering() {
    std::lock_guard<SpinLock> guard(lock_);
    writer_.Flush();
    unbuffered_ = true;
  }

  // Fork handlers: the child gets the parent's buffer, which it must not
  // write, so the child stops recording (the caller drops the recorder).
  void Lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.lock(); }
  void Unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { lock_.unlock(); }

 private:
  // Holds the lock and marks the thread busy for one operation.
  class Guard {
   public:
    explicit Guard(SpinLock& lock) : lock_(lock) {
      busy_ = true;
      lock_.lock();
    }
    ~Guard() {
      lock_.unlock();
      busy_ = false;
    }

   private:
    SpinLock& lock_;
  };

  void Written() {
    if (unbuffered_) writer_.Flush();
  }

  ABSL_CONST_INIT static inline thread_local bool busy_
      __attribute__((tls_model("initial-exec"))) = false;
  SpinLock lock_;
  trace::FdSink sink_;
  trace::TraceWriter writer_;
  bool unbuffered_ = false;
};

}  // namespace heapkit::internal

#endif  // HEAPKIT_ADAPTERS_GLOBAL_INTERNAL_RECORDER_H_
