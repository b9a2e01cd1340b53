// Replaces the C allocation functions and every form of operator new and
// delete with a GlobalHeap over the backend chosen at build time
// (--define allocator=buddy|slab|tlsf). Link //adapters/global:malloc into a
// program, or preload //adapters/global:libheapkit_malloc.so:
//
//   LD_PRELOAD=bazel-bin/adapters/global/libheapkit_malloc.so python3 ...
//
// Semantics are glibc's where the standards leave a choice: malloc(0) returns
// a unique pointer, realloc(p, 0) frees p and returns null, memalign rounds an
// alignment that is not a power of two up to one, aligned_alloc and
// posix_memalign refuse it (EINVAL). Every failure sets errno to ENOMEM
// (posix_memalign returns it instead). free() of a pointer that is not a live
// block aborts with a message (see GlobalHeap).
//
// The heap is built in static storage on the first call, whenever that comes
// (before main, during static initialisation, from another library's
// constructor), and is never destroyed, so calls after exit() work too. Its
// construction allocates nothing; a call made during it aborts with a message
// rather than hanging. After construction, fork handlers are registered
// (pthread_atfork). With HEAPKIT_STATS=1 in the environment, the heap's
// counters are printed to stderr at exit.
//
// Trace mode (what `heapkit record` uses): with HEAPKIT_TRACE=FILE, every
// allocation, free and realloc is recorded to FILE (docs/trace_format.md),
// each under one lock, so a traced program's allocations are serialised. With
// HEAPKIT_TRACE_PID=N as well, only the process with that ID records (not the
// programs it runs), and a forked child never records.

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>

#include "adapters/global/global_heap.h"
#include "adapters/global/internal/recorder.h"
#include "adapters/spin_lock.h"
#include "allocators/default_byte_allocator.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"

namespace heapkit {
namespace {

using Heap = GlobalHeap<DefaultByteAllocator>;

alignas(Heap) unsigned char heap_storage[sizeof(Heap)];
ABSL_CONST_INIT std::atomic<Heap*> heap{nullptr};
ABSL_CONST_INIT SpinLock init_lock;
ABSL_CONST_INIT thread_local bool initializing
    __attribute__((tls_model("initial-exec"))) = false;
ABSL_CONST_INIT bool print_stats = false;

// Set once, when HEAPKIT_TRACE asks for a trace; null otherwise.
alignas(internal::Recorder) unsigned char recorder_storage[sizeof(
    internal::Recorder)];
ABSL_CONST_INIT std::atomic<internal::Recorder*> recorder{nullptr};

void PrepareFork() {
  if (internal::Recorder* r = recorder.load(std::memory_order_relaxed)) {
    r->Lock();
  }
  heap.load(std::memory_order_relaxed)->PrepareFork();
}
void ParentAfterFork() {
  heap.load(std::memory_order_relaxed)->AfterFork();
  if (internal::Recorder* r = recorder.load(std::memory_order_relaxed)) {
    r->Unlock();
  }
}
void ChildAfterFork() {
  heap.load(std::memory_order_relaxed)->AfterFork();
  recorder.store(nullptr, std::memory_order_relaxed);
}

// Starts the trace mode if the environment asks for it; getenv and open do
// not allocate.
void StartRecorderIfAsked() {
  const char* path = std::getenv("HEAPKIT_TRACE");
  if (path == nullptr || *path == '\0') return;
  const char* pid = std::getenv("HEAPKIT_TRACE_PID");
  if (pid != nullptr && std::strtol(pid, nullptr, 10) != getpid()) return;
  const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) internal::Fatal("HeapKit: cannot open HEAPKIT_TRACE's file");
  recorder.store(new (recorder_storage) internal::Recorder(fd),
                 std::memory_order_release);
}

// Builds the heap on the first call.
ABSL_ATTRIBUTE_NOINLINE Heap& InitHeap() {
  if (initializing) {
    internal::Fatal("HeapKit: allocation while building the heap");
  }
  bool built_here = false;
  {
    std::lock_guard<SpinLock> guard(init_lock);
    if (heap.load(std::memory_order_acquire) == nullptr) {
      initializing = true;
      heap.store(new (heap_storage) Heap(), std::memory_order_release);
      StartRecorderIfAsked();
      initializing = false;
      built_here = true;
    }
  }
  if (built_here) {
    // Both may allocate, so they come once the heap is there.
    pthread_atfork(&PrepareFork, &ParentAfterFork, &ChildAfterFork);
    const char* stats = std::getenv("HEAPKIT_STATS");
    print_stats = stats != nullptr && std::strcmp(stats, "1") == 0;
  }
  return *heap.load(std::memory_order_acquire);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline Heap& GetHeap() {
  Heap* built = heap.load(std::memory_order_acquire);
  if (built != nullptr) [[likely]] {
    return *built;
  }
  return InitHeap();
}

// The heap's operations, through the recorder in trace mode.
ABSL_ATTRIBUTE_ALWAYS_INLINE inline void* Allocate(
    std::size_t size, std::size_t align = Heap::kAlignment) {
  Heap& h = GetHeap();
  if (internal::Recorder* r = recorder.load(std::memory_order_relaxed))
      [[unlikely]] {
    return r->Allocate(size, align, [&] { return h.Allocate(size, align); });
  }
  return h.Allocate(size, align);
}

inline void* AllocateZeroed(std::size_t size) {
  Heap& h = GetHeap();
  if (internal::Recorder* r = recorder.load(std::memory_order_relaxed))
      [[unlikely]] {
    return r->Allocate(size, Heap::kAlignment,
                       [&] { return h.AllocateZeroed(size); });
  }
  return h.AllocateZeroed(size);
}

inline void* Reallocate(void* ptr, std::size_t size) {
  Heap& h = GetHeap();
  if (internal::Recorder* r = recorder.load(std::memory_order_relaxed))
      [[unlikely]] {
    return r->Reallocate(ptr, size, Heap::kAlignment,
                         [&] { return h.Reallocate(ptr, size); });
  }
  return h.Reallocate(ptr, size);
}

ABSL_ATTRIBUTE_ALWAYS_INLINE inline void Free(void* ptr) {
  Heap& h = GetHeap();
  if (internal::Recorder* r = recorder.load(std::memory_order_relaxed))
      [[unlikely]] {
    return r->Free(ptr, [&] { h.Free(ptr); });
  }
  h.Free(ptr);
}

// Returns `ptr`, setting errno to ENOMEM if it is null.
inline void* OrNoMemory(void* ptr) {
  if (ptr == nullptr) [[unlikely]] {
    errno = ENOMEM;
  }
  return ptr;
}

std::size_t PageSize() {
  return static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// operator new's loop: calls the new-handler until the heap has room, or
// throws std::bad_alloc (returns null if `nothrow`).
void* NewImpl(std::size_t size, std::size_t align, bool nothrow) {
  for (;;) {
    void* ptr = Allocate(size, align);
    if (ptr != nullptr) [[likely]] {
      return ptr;
    }
    std::new_handler handler = std::get_new_handler();
    if (handler == nullptr) {
      if (nothrow) return nullptr;
      throw std::bad_alloc();
    }
    if (nothrow) {
      try {
        handler();
      } catch (const std::bad_alloc&) {
        return nullptr;
      }
    } else {
      handler();
    }
  }
}

// Writes the trace's buffer at exit; later records are written at once.
__attribute__((destructor)) void FlushTraceAtExit() {
  if (internal::Recorder* r = recorder.load(std::memory_order_acquire)) {
    r->FlushAndStopBuffering();
  }
}

// Prints the counters with snprintf and write(2): no allocation, and no
// formatting library to load into every program.
__attribute__((destructor)) void PrintStatsAtExit() {
  Heap* built = heap.load(std::memory_order_acquire);
  if (!print_stats || built == nullptr) return;
  const GlobalHeapStats s = built->GetStats();
  char line[512];
  const int length = std::snprintf(
      line, sizeof line,
      "HeapKit (%s): heap %zu bytes, %zu used; %zu bytes mapped; %zu large "
      "blocks, %zu bytes; %zu bytes retained; %zu refills, %zu flushes; "
      "bootstrap %zu bytes used\n",
      kDefaultByteAllocatorName, s.heap_bytes, s.heap_used_bytes,
      s.mapped_bytes, s.large_blocks, s.large_bytes, s.retained_bytes,
      s.refills, s.flushes, s.bootstrap_used_bytes);
  if (length > 0) {
    const std::size_t n =
        std::min(static_cast<std::size_t>(length), sizeof line - 1);
    [[maybe_unused]] const ssize_t written = write(STDERR_FILENO, line, n);
  }
}

}  // namespace
}  // namespace heapkit

using heapkit::Allocate;
using heapkit::GetHeap;
using heapkit::OrNoMemory;
using heapkit::internal::IsPowerOfTwo;

extern "C" {

void* malloc(std::size_t size) { return OrNoMemory(Allocate(size)); }

void free(void* ptr) {
  if (ptr != nullptr) heapkit::Free(ptr);
}

void* calloc(std::size_t count, std::size_t size) {
  std::size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return OrNoMemory(heapkit::AllocateZeroed(bytes));
}

void* realloc(void* ptr, std::size_t size) {
  if (ptr == nullptr) return malloc(size);
  if (size == 0) {
    free(ptr);
    return nullptr;
  }
  return OrNoMemory(heapkit::Reallocate(ptr, size));
}

void* reallocarray(void* ptr, std::size_t count, std::size_t size) {
  std::size_t bytes;
  if (__builtin_mul_overflow(count, size, &bytes)) {
    errno = ENOMEM;
    return nullptr;
  }
  return realloc(ptr, bytes);
}

int posix_memalign(void** result, std::size_t align, std::size_t size) {
  if (!IsPowerOfTwo(align) || align % sizeof(void*) != 0) return EINVAL;
  void* ptr = Allocate(size, align);
  if (ptr == nullptr) return ENOMEM;
  *result = ptr;
  return 0;
}

void* aligned_alloc(std::size_t align, std::size_t size) {
  if (!IsPowerOfTwo(align)) {
    errno = EINVAL;
    return nullptr;
  }
  return OrNoMemory(Allocate(size, align));
}

void* memalign(std::size_t align, std::size_t size) {
  if (align > (SIZE_MAX >> 1) + 1) {
    errno = EINVAL;
    return nullptr;
  }
  if (!IsPowerOfTwo(align)) align = std::bit_ceil(align);
  return OrNoMemory(Allocate(size, align));
}

void* valloc(std::size_t size) { return memalign(heapkit::PageSize(), size); }

void* pvalloc(std::size_t size) {
  const std::size_t page = heapkit::PageSize();
  if (size > SIZE_MAX - page) {
    errno = ENOMEM;
    return nullptr;
  }
  const std::size_t rounded =
      size == 0 ? page : (size + page - 1) & ~(page - 1);
  return memalign(page, rounded);
}

std::size_t malloc_usable_size(void* ptr) {
  return ptr == nullptr ? 0 : GetHeap().UsableSize(ptr);
}

}  // extern "C"

// Every replaceable operator new and delete.

void* operator new(std::size_t size) {
  return heapkit::NewImpl(size, heapkit::Heap::kAlignment, false);
}
void* operator new[](std::size_t size) {
  return heapkit::NewImpl(size, heapkit::Heap::kAlignment, false);
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return heapkit::NewImpl(size, heapkit::Heap::kAlignment, true);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return heapkit::NewImpl(size, heapkit::Heap::kAlignment, true);
}
void* operator new(std::size_t size, std::align_val_t align) {
  return heapkit::NewImpl(size, static_cast<std::size_t>(align), false);
}
void* operator new[](std::size_t size, std::align_val_t align) {
  return heapkit::NewImpl(size, static_cast<std::size_t>(align), false);
}
void* operator new(std::size_t size, std::align_val_t align,
                   const std::nothrow_t&) noexcept {
  return heapkit::NewImpl(size, static_cast<std::size_t>(align), true);
}
void* operator new[](std::size_t size, std::align_val_t align,
                     const std::nothrow_t&) noexcept {
  return heapkit::NewImpl(size, static_cast<std::size_t>(align), true);
}

void operator delete(void* ptr) noexcept { free(ptr); }
void operator delete[](void* ptr) noexcept { free(ptr); }
void operator delete(void* ptr, const std::nothrow_t&) noexcept { free(ptr); }
void operator delete[](void* ptr, const std::nothrow_t&) noexcept { free(ptr); }
void operator delete(void* ptr, std::size_t) noexcept { free(ptr); }
void operator delete[](void* ptr, std::size_t) noexcept { free(ptr); }
void operator delete(void* ptr, std::align_val_t) noexcept { free(ptr); }
void operator delete[](void* ptr, std::align_val_t) noexcept { free(ptr); }
void operator delete(void* ptr, std::size_t, std::align_val_t) noexcept {
  free(ptr);
}
void operator delete[](void* ptr, std::size_t, std::align_val_t) noexcept {
  free(ptr);
}
void operator delete(void* ptr, std::align_val_t,
                     const std::nothrow_t&) noexcept {
  free(ptr);
}
void operator delete[](void* ptr, std::align_val_t,
                       const std::nothrow_t&) noexcept {
  free(ptr);
}
