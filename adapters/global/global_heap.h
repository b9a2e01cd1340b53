#ifndef HEAPKIT_ADAPTERS_GLOBAL_GLOBAL_HEAP_H_
#define HEAPKIT_ADAPTERS_GLOBAL_GLOBAL_HEAP_H_

#include <pthread.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "adapters/global/internal/size_classes.h"
#include "adapters/global/os_pages.h"
#include "adapters/growing_allocator.h"
#include "adapters/spin_lock.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/concepts.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"
#include "core/layout.h"

namespace heapkit {

// What GlobalHeap::GetStats() reports.
struct GlobalHeapStats {
  std::size_t heap_bytes = 0;            // The byte backend's TotalBytes().
  std::size_t heap_used_bytes = 0;       // Its UsedBytes(): blocks and caches.
  std::size_t mapped_bytes = 0;          // Address space mapped from the OS.
  std::size_t large_blocks = 0;          // Live page runs for large requests.
  std::size_t large_bytes = 0;           // Their bytes.
  std::size_t retained_bytes = 0;        // Freed large runs kept for reuse.
  std::size_t refills = 0;               // Thread-cache refills from the heap.
  std::size_t flushes = 0;               // Thread-cache flushes to the heap.
  std::size_t bootstrap_used_bytes = 0;  // See GlobalHeap's "Reentrancy".
};

// A heap for a whole program, as the ArceOS kernel's global allocator is: a
// byte backend that grows from a page allocator (GrowingAllocator over
// OsPages, which maps memory from the OS), under a lock (SpinLock), with a
// cache of free blocks per thread in front of it. It is what the malloc
// replacement (adapters/global/malloc.cc) runs on.
//
//   static heapkit::GlobalHeap<heapkit::TlsfByteAllocator> heap;
//   void* p = heap.Allocate(100);  // 16-aligned; nullptr when out of memory.
//   heap.Free(p);                  // No size needed.
//
// Blocks. Every block carries a 16-byte header just before the pointer
// returned: the size of what was taken and a tag saying where from. Requests
// of up to kMaxCachedSize (32 KiB) with an alignment of at most 16 are rounded
// to one of 72 size classes (internal/size_classes.h) and served from the
// calling thread's cache; larger ones (and over-aligned ones) up to
// kLargeThreshold are taken from the backend under the lock; from
// kLargeThreshold (256 KiB) on, a request gets a run of pages of its own.
//
// Thread caches. Each thread keeps a list of free blocks per size class,
// within kCacheBudgetBytes. An empty list is refilled with a batch from the
// backend (one lock for up to 64 blocks); a free that takes the cache over its
// budget gives half of every list back (one lock). A block may be freed by any
// thread: it goes to the freeing thread's cache, and the backend, shared by
// all, takes it back from there. A thread's cache is given back when the
// thread exits (a pthread key's destructor), and the calling thread's cache
// when memory runs out (then the request is retried).
//
// Memory. The backend starts with kInitialHeapBytes and grows as
// GrowingAllocator says (at least doubling), from chunks OsPages maps lazily.
// Memory in the backend's regions is never returned to the OS. Page runs of
// large blocks are: a freed run is kept for reuse while the runs kept total at
// most kRetainedBudgetBytes (at most kMaxRetainedRuns of them); beyond that it
// goes back to the OS (madvise MADV_DONTNEED).
//
// Reentrancy. The backends report failures with absl::Status, whose message
// lives on the heap, and the page allocator keeps a table on the heap: while
// a thread holds the heap's lock, any allocation it makes is served from a
// small bootstrap heap (TLSF over kBootstrapBytes mapped at construction) with
// its own lock. The constructor allocates nothing.
//
// Errors. Allocate returns nullptr when the OS refuses memory or the size
// cannot be served (over 64 TiB, or an alignment over 1 GiB). Free aborts with
// a message (internal::Fatal) on a pointer whose header is not one of this
// heap's, or one already freed into a cache: a double free or a foreign or
// interior pointer, most often. Thread-safe; fork-safe through PrepareFork,
// ParentAfterFork and ChildAfterFork (the replacement registers them with
// pthread_atfork). A heap must outlive every thread that used it, or those
// threads must call FlushThreadCache() first.
template <ByteBackend Backend>
class GlobalHeap {
 public:
  static constexpr std::size_t kAlignment = 16;  // Of every block.
  static constexpr std::size_t kMaxCachedSize = global_internal::kMaxCachedSize;
  static constexpr std::size_t kLargeThreshold = std::size_t{256} << 10;
  static constexpr std::size_t kCacheBudgetBytes = std::size_t{2} << 20;
  static constexpr std::size_t kInitialHeapBytes = std::size_t{1} << 20;
  static constexpr std::size_t kRetainedBudgetBytes = std::size_t{4} << 20;
  static constexpr std::size_t kMaxRetainedRuns = 16;
  static constexpr std::size_t kBootstrapBytes = std::size_t{8} << 20;
  static constexpr std::size_t kMaxAlignment = std::size_t{1} << 30;
  static constexpr std::size_t kMaxSize = std::size_t{1} << 46;

  // Maps the bootstrap heap and creates the thread-exit key; allocates
  // nothing. Aborts if either fails.
  GlobalHeap() : heap_(pages_) {
    void* boot = mmap(nullptr, kBootstrapBytes, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (boot == MAP_FAILED ||
        !boot_.Init(reinterpret_cast<std::uintptr_t>(boot), kBootstrapBytes)
             .ok()) {
      internal::Fatal("GlobalHeap: cannot map the bootstrap heap");
    }
    boot_memory_ = boot;
    if (pthread_key_create(&thread_key_, &OnThreadExit) != 0) {
      internal::Fatal("GlobalHeap: pthread_key_create failed");
    }
  }
  GlobalHeap(const GlobalHeap&) = delete;
  GlobalHeap& operator=(const GlobalHeap&) = delete;

  // Gives back the calling thread's cache and unmaps everything: every block
  // is gone. Other threads' caches must be empty (see the class comment).
  ~GlobalHeap() {
    FlushThreadCache();
    if (tls_cache_.owner == this) tls_cache_.owner = nullptr;
    pthread_key_delete(thread_key_);
    boot_.Init(0, 0).IgnoreError();
    munmap(boot_memory_, kBootstrapBytes);
  }

  // Returns a block of at least `size` bytes aligned to `align` (a power of
  // two; at least 16 is given), or nullptr if there is no memory for it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void* Allocate(std::size_t size,
                                              std::size_t align = kAlignment) {
    if (size <= kMaxCachedSize && align <= kAlignment) [[likely]] {
      const std::size_t size_class = global_internal::ClassOf(size);
      ThreadCache& cache = tls_cache_;
      if (cache.owner == this) [[likely]] {
        if (void* block = cache.heads[size_class]) [[likely]] {
          cache.heads[size_class] = *static_cast<void**>(block);
          cache.bytes -= global_internal::ClassSize(size_class);
          HeaderOf(block)->tag = kCachedTag;
          return block;
        }
      }
      return AllocateCachedSlow(size_class);
    }
    return AllocateUncached(size, align);
  }

  // As Allocate(size), with the bytes zeroed.
  void* AllocateZeroed(std::size_t size) {
    void* block = Allocate(size);
    if (block == nullptr) return nullptr;
    const Header* header = HeaderOf(block);
    // A run fresh from the OS reads as zero: leave its pages untouched.
    if (header->tag != kFreshLargeTag) std::memset(block, 0, size);
    return block;
  }

  // Frees a block from Allocate; ignores nullptr. Aborts as the class comment
  // says on a pointer that is not a live block of this heap.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Free(void* ptr) {
    if (ptr == nullptr) return;
    Header* header = HeaderOf(ptr);
    ThreadCache& cache = tls_cache_;
    if (header->tag == kCachedTag && cache.owner == this) [[likely]] {
      const std::size_t size = header->block_bytes - kHeaderBytes;
      const std::size_t size_class = global_internal::ClassOf(size);
      header->tag = kInCacheTag;
      *static_cast<void**>(ptr) = cache.heads[size_class];
      cache.heads[size_class] = ptr;
      cache.bytes += size;
      // (Not while the heap is locked: a reentrant free must not lock it.)
      if (cache.bytes > kCacheBudgetBytes && tls_depth_ == 0) [[unlikely]] {
        TrimThreadCache();
      }
      return;
    }
    FreeSlow(ptr);
  }

  // Returns the bytes of `ptr`'s block the caller may use (at least what was
  // asked), or 0 for nullptr.
  std::size_t UsableSize(const void* ptr) const {
    if (ptr == nullptr) return 0;
    const Header* header = CheckedHeaderOf(ptr, "malloc_usable_size");
    return header->block_bytes - header->offset;
  }

  // Resizes `ptr`'s block to `size` bytes as realloc does for a non-null
  // `ptr`: in place when the block is big enough and not more than twice
  // what is needed, or the backend can resize it (TLSF); otherwise moves it.
  // Returns nullptr, leaving `ptr` valid, when out of memory.
  void* Reallocate(void* ptr, std::size_t size) {
    Header* header = CheckedHeaderOf(ptr, "realloc");
    const std::size_t usable = header->block_bytes - header->offset;
    if (size <= usable && (size >= usable / 2 || usable <= kMaxCachedSize)) {
      return ptr;
    }
    if constexpr (requires(Backend & b, void* p, Layout l, std::size_t n) {
                    { b.Resize(p, l, n) } -> std::same_as<absl::Status>;
                  }) {
      if (header->tag == kDirectTag && size < kLargeThreshold) {
        void* const block = BlockOf(ptr, header);
        const std::size_t new_bytes = header->offset + size;
        const bool resized = Locked([&] {
          return heap_.wrapped()
              .Resize(block, Layout{header->block_bytes, kAlignment}, new_bytes)
              .ok();
        });
        if (resized) {
          header->block_bytes = new_bytes;
          return ptr;
        }
      }
    }
    if ((header->tag == kLargeTag || header->tag == kFreshLargeTag) &&
        size > usable && size <= kMaxSize && GrowRunInPlace(ptr, size)) {
      return ptr;
    }
    void* moved = Allocate(size);
    if (moved == nullptr) return nullptr;
    std::memcpy(moved, ptr, std::min(size, usable));
    Free(ptr);
    return moved;
  }

  // Gives every block in the calling thread's cache back to the backend.
  void FlushThreadCache() {
    ThreadCache& cache = tls_cache_;
    if (cache.owner != this) return;
    FlushCache(cache, /*keep_half=*/false);
  }

  // Returns the heap's counters (taking the lock).
  GlobalHeapStats GetStats() {
    GlobalHeapStats stats = Locked([&] {
      GlobalHeapStats s;
      s.heap_bytes = heap_.TotalBytes();
      s.heap_used_bytes = heap_.UsedBytes();
      s.mapped_bytes = pages_.MappedBytes();
      s.large_blocks = large_blocks_;
      s.large_bytes = large_bytes_;
      s.retained_bytes = retained_bytes_;
      s.refills = refills_;
      s.flushes = flushes_;
      return s;
    });
    std::lock_guard<SpinLock> boot_guard(boot_lock_);
    stats.bootstrap_used_bytes = boot_.UsedBytes();
    return stats;
  }

  // Checks the backend's and the bootstrap heap's invariants.
  absl::Status CheckInvariants() {
    absl::Status status = Locked([&] { return heap_.CheckInvariants(); });
    if (!status.ok()) return status;
    std::lock_guard<SpinLock> boot_guard(boot_lock_);
    return boot_.CheckInvariants();
  }

  // Take both locks before fork() and release them after it, in the parent
  // and the child, so the child never inherits a lock held by a thread it
  // does not have. (The child keeps only the forking thread's cache.)
  void PrepareFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    lock_.lock();
    boot_lock_.lock();
  }
  void AfterFork() ABSL_NO_THREAD_SAFETY_ANALYSIS {
    boot_lock_.unlock();
    lock_.unlock();
  }

 private:
  static constexpr std::size_t kHeaderBytes = 16;
  // Header tags: where a block came from, and whether it is in a cache.
  static constexpr std::uint32_t kCachedTag = 0x4B480001;      // Class block.
  static constexpr std::uint32_t kInCacheTag = 0x4B480002;     // ... freed.
  static constexpr std::uint32_t kDirectTag = 0x4B480003;      // Backend.
  static constexpr std::uint32_t kLargeTag = 0x4B480004;       // Page run.
  static constexpr std::uint32_t kFreshLargeTag = 0x4B480005;  // ... zeroed.
  static constexpr std::uint32_t kBootTag = 0x4B480006;        // Bootstrap.
  static constexpr std::uint32_t kFreedTag = 0x4B4800FF;       // Not cached.
  static constexpr std::size_t kMaxRefill = 64;
  static constexpr std::size_t kRefillBytes = std::size_t{16} << 10;
  static constexpr std::size_t kPageSize = OsPages::kPageSize;

  // The 16 bytes before every pointer handed out.
  struct Header {
    std::uint64_t block_bytes;  // Taken from the backend, or the run's bytes.
    std::uint32_t offset;       // From the start of that block to the pointer.
    std::uint32_t tag;
  };
  static_assert(sizeof(Header) == kHeaderBytes);

  // A freed page run kept for reuse.
  struct RetainedRun {
    std::uintptr_t start;
    std::size_t pages;
  };

  // A thread's free blocks: a list per class, linked through the blocks.
  // Trivial, so that the thread_local needs no constructor or destructor.
  struct ThreadCache {
    GlobalHeap* owner;  // Null until first used, and after the thread's exit.
    std::size_t bytes;
    std::array<void*, global_internal::kNumClasses> heads;
    bool exited;  // Given back at thread exit: no caching from then on.
  };

  static Header* HeaderOf(const void* ptr) {
    return reinterpret_cast<Header*>(reinterpret_cast<std::uintptr_t>(ptr) -
                                     kHeaderBytes);
  }
  static void* BlockOf(void* ptr, const Header* header) {
    return static_cast<char*>(ptr) - header->offset;
  }

  // Returns `ptr`'s header, aborting unless it is a live block's.
  static Header* CheckedHeaderOf(const void* ptr, const char* what) {
    Header* header = HeaderOf(ptr);
    switch (header->tag) {
      case kCachedTag:
      case kDirectTag:
      case kLargeTag:
      case kFreshLargeTag:
      case kBootTag:
        return header;
      case kInCacheTag:
      case kFreedTag:
        internal::Fatal("HeapKit %s(%p): double free (the block is free)", what,
                        ptr);
      default:
        internal::Fatal(
            "HeapKit %s(%p): not a block of this heap (a foreign or interior "
            "pointer, or a corrupt header)",
            what, ptr);
    }
  }

  // Writes the header of a block of `block_bytes` at `block` whose pointer is
  // `offset` bytes in, and returns that pointer.
  static void* Stamp(void* block, std::size_t block_bytes, std::size_t offset,
                     std::uint32_t tag) {
    void* const ptr = static_cast<char*>(block) + offset;
    *HeaderOf(ptr) =
        Header{block_bytes, static_cast<std::uint32_t>(offset), tag};
    return ptr;
  }

  // Stamps a 16-aligned block of `block_bytes` whose pointer is the first
  // address aligned to `align` with room for the header before it (at most
  // max(align, 16) bytes in), and returns that pointer.
  static void* StampAligned(void* block, std::size_t block_bytes,
                            std::size_t align, std::uint32_t tag) {
    const auto start = reinterpret_cast<std::uintptr_t>(block);
    const std::uintptr_t ptr = internal::AlignUp(start + kHeaderBytes, align);
    return Stamp(block, block_bytes, ptr - start, tag);
  }

  // Marks the calling thread as inside the heap while it lives, so that what
  // it allocates then goes to the bootstrap heap.
  struct InsideHeap {
    InsideHeap() { ++tls_depth_; }
    ~InsideHeap() { --tls_depth_; }
  };

  // Runs `f` under the heap's lock.
  template <class F>
  decltype(auto) Locked(F&& f) {
    InsideHeap inside;
    std::lock_guard<SpinLock> guard(lock_);
    return f();
  }

  // Runs `take` under the lock; if what it returns is empty (null, nullopt),
  // gives back what this thread and the heap keep aside and runs `retake`
  // under the lock once.
  template <class F, class G>
  auto TakeOrRetry(F&& take, G&& retake) {
    auto taken = Locked(take);
    if (!taken) {
      ReleaseUnderPressure();
      taken = Locked(retake);
    }
    return taken;
  }
  template <class F>
  auto TakeOrRetry(F&& take) {
    return TakeOrRetry(take, take);
  }

  ABSL_ATTRIBUTE_NOINLINE void* AllocateCachedSlow(std::size_t size_class) {
    if (tls_depth_ > 0) {
      return BootAllocate(global_internal::ClassSize(size_class), kAlignment);
    }
    ThreadCache& cache = tls_cache_;
    if (cache.owner != this && !Adopt(cache)) {
      return AllocateDirect(global_internal::ClassSize(size_class), kAlignment,
                            kCachedTag);
    }
    return Refill(cache, size_class);
  }

  // Returns a block of `layout` from the backend, or nullptr; the first call
  // gives the backend its first kInitialHeapBytes (the slab backend needs a
  // first region of 256 KiB or more). Call with the lock held.
  void* TakeBlock(Layout layout) {
    if (!started_) [[unlikely]] {
      started_ = true;
      if (pages_.Reserve(kInitialHeapBytes / kPageSize).ok()) {
        heap_.Grow(kInitialHeapBytes).IgnoreError();  // Alloc grows anyway.
      }
    }
    absl::StatusOr<void*> block = heap_.Alloc(layout);
    if (!block.ok() && absl::IsResourceExhausted(block.status())) {
      // GrowingAllocator grows within the pages the page allocator has: map
      // enough for the growth it wants (the heap doubles), then retry.
      const std::size_t growth =
          std::max(GrowingAllocator<Backend, OsPages>::MinGrowthBytes(layout),
                   heap_.TotalBytes());
      if (growth < kMaxSize &&
          pages_.Reserve((growth + kPageSize - 1) / kPageSize).ok()) {
        block = heap_.Alloc(layout);
      }
    }
    return block.ok() ? *block : nullptr;
  }

  // Makes `cache` this heap's, giving back what it held for another heap.
  // Returns false if the thread has exited, when nothing is cached any more.
  bool Adopt(ThreadCache& cache) {
    if (cache.exited) return false;
    if (cache.owner != nullptr) cache.owner->FlushThreadCache();
    cache.owner = this;
    pthread_setspecific(thread_key_, this);
    return true;
  }

  // Takes a batch of blocks of `size_class` from the backend, keeps all but
  // one in `cache` and returns that one, or nullptr when out of memory.
  void* Refill(ThreadCache& cache, std::size_t size_class) {
    const std::size_t size = global_internal::ClassSize(size_class);
    const std::size_t batch =
        std::clamp<std::size_t>(kRefillBytes / size, 1, kMaxRefill);
    const Layout layout{size + kHeaderBytes, kAlignment};
    auto take_batch = [&]() -> void* {
      void* block = TakeBlock(layout);
      if (block == nullptr) return nullptr;
      ++refills_;
      for (std::size_t i = 1; i < batch; ++i) {
        void* more = TakeBlock(layout);
        if (more == nullptr) break;
        void* ptr = Stamp(more, layout.size, kHeaderBytes, kInCacheTag);
        *static_cast<void**>(ptr) = cache.heads[size_class];
        cache.heads[size_class] = ptr;
        cache.bytes += size;
      }
      return block;
    };
    // Under memory pressure, one block: a batch would refill what was just
    // given back.
    void* first = TakeOrRetry(take_batch, [&] { return TakeBlock(layout); });
    if (first == nullptr) return nullptr;
    return Stamp(first, layout.size, kHeaderBytes, kCachedTag);
  }

  // Serves a request the caches do not: from the backend below
  // kLargeThreshold, else from a page run.
  ABSL_ATTRIBUTE_NOINLINE void* AllocateUncached(std::size_t size,
                                                 std::size_t align) {
    align = std::max(align, kAlignment);
    if (size > kMaxSize || align > kMaxAlignment) return nullptr;
    if (tls_depth_ > 0) return BootAllocate(size, align);
    if (size >= kLargeThreshold) return AllocateLarge(size, align);
    return AllocateDirect(size, align, kDirectTag);
  }

  // Takes a block for `size` bytes aligned to `align` from the backend.
  void* AllocateDirect(std::size_t size, std::size_t align, std::uint32_t tag) {
    // Blocks are 16-aligned, so the pointer is at most `align` bytes in.
    const Layout layout{size + std::max(align, kHeaderBytes), kAlignment};
    void* block = TakeOrRetry([&] { return TakeBlock(layout); });
    if (block == nullptr) return nullptr;
    return StampAligned(block, layout.size, align, tag);
  }

  // Takes a page run for `size` bytes aligned to `align`: a retained run that
  // fits without wasting more than a quarter, or a fresh one.
  void* AllocateLarge(std::size_t size, std::size_t align) {
    // The pointer is `align` bytes in (a page-aligned run is 16-aligned).
    const std::size_t offset = std::max(align, kHeaderBytes);
    const std::size_t pages = (size + offset + kPageSize - 1) / kPageSize;
    const std::size_t run_align = std::max(kPageSize, align);
    // Returns the run taken and whether it is fresh from the OS, or nullopt.
    auto take = [&]() -> std::optional<std::pair<RetainedRun, bool>> {
      std::optional<std::pair<RetainedRun, bool>> taken;
      for (std::size_t i = 0; i < num_retained_ && !taken; ++i) {
        const RetainedRun run = retained_[i];
        if (run.pages >= pages && run.pages <= pages + pages / 4 &&
            run.start % run_align == 0) {
          retained_[i] = retained_[--num_retained_];
          retained_bytes_ -= run.pages * kPageSize;
          taken.emplace(run, false);
        }
      }
      if (!taken) {
        absl::StatusOr<std::uintptr_t> run =
            pages_.AllocPages(pages, run_align);
        if (!run.ok()) return std::nullopt;
        taken.emplace(RetainedRun{*run, pages}, true);
      }
      ++large_blocks_;
      large_bytes_ += taken->first.pages * kPageSize;
      return taken;
    };
    const auto taken = TakeOrRetry(take);
    if (!taken) return nullptr;
    const auto [run, fresh] = *taken;
    // A retained run may be longer than asked: the header records the run.
    return Stamp(reinterpret_cast<void*>(run.start), run.pages * kPageSize,
                 offset, fresh ? kFreshLargeTag : kLargeTag);
  }

  // Extends the page run of large block `ptr` to hold `size` bytes by taking
  // the pages right after it, if they are free. Returns false otherwise.
  bool GrowRunInPlace(void* ptr, std::size_t size) {
    Header* header = HeaderOf(ptr);
    const std::size_t have = header->block_bytes / kPageSize;
    const std::size_t need =
        (header->offset + size + kPageSize - 1) / kPageSize;
    const std::uintptr_t end =
        reinterpret_cast<std::uintptr_t>(BlockOf(ptr, header)) +
        header->block_bytes;
    const bool grown = Locked([&] {
      if (!pages_.AllocPagesAt(end, need - have, kPageSize).ok()) return false;
      large_bytes_ += (need - have) * kPageSize;
      return true;
    });
    if (grown) header->block_bytes = need * kPageSize;
    return grown;
  }

  // Frees what the fast path does not: blocks from the backend, page runs,
  // bootstrap blocks, and class blocks when this thread has no cache.
  ABSL_ATTRIBUTE_NOINLINE void FreeSlow(void* ptr) {
    Header* header = CheckedHeaderOf(ptr, "free");
    void* block = BlockOf(ptr, header);
    const std::uint32_t tag = header->tag;
    if (tag == kBootTag) {
      header->tag = kFreedTag;
      std::lock_guard<SpinLock> guard(boot_lock_);
      boot_.Dealloc(block, Layout{header->block_bytes, kAlignment});
      return;
    }
    if (tls_depth_ > 0) {
      internal::Fatal("HeapKit free(%p): freed while the heap is locked", ptr);
    }
    if (tag == kCachedTag) {
      ThreadCache& cache = tls_cache_;
      if (!cache.exited && cache.owner != this && Adopt(cache)) {
        Free(ptr);
        return;
      }
    }
    header->tag = kFreedTag;
    if (tag == kLargeTag || tag == kFreshLargeTag) {
      FreeLarge(reinterpret_cast<std::uintptr_t>(block),
                header->block_bytes / kPageSize);
      return;
    }
    Locked([&] {
      heap_.Dealloc(block, Layout{header->block_bytes, kAlignment});
    });
  }

  // Keeps a freed run for reuse within the budget, else gives it to the OS.
  void FreeLarge(std::uintptr_t start, std::size_t pages) {
    Locked([&] {
      --large_blocks_;
      large_bytes_ -= pages * kPageSize;
      const std::size_t bytes = pages * kPageSize;
      if (num_retained_ < kMaxRetainedRuns &&
          retained_bytes_ + bytes <= kRetainedBudgetBytes) {
        retained_[num_retained_++] = RetainedRun{start, pages};
        retained_bytes_ += bytes;
        return;
      }
      ReleaseRun(start, pages);
    });
  }

  void ReleaseRun(std::uintptr_t start, std::size_t pages) {
    if (!pages_.Release(start, pages).ok()) {
      internal::Fatal("GlobalHeap: page run at %p refused by the pages",
                      reinterpret_cast<void*>(start));
    }
  }

  // Gives back the calling thread's cache and the retained runs, before a
  // request that failed is retried.
  void ReleaseUnderPressure() {
    FlushThreadCache();
    Locked([&] {
      for (std::size_t i = 0; i < num_retained_; ++i) {
        ReleaseRun(retained_[i].start, retained_[i].pages);
      }
      num_retained_ = 0;
      retained_bytes_ = 0;
    });
  }

  // Gives half of every list of the calling thread's cache back.
  ABSL_ATTRIBUTE_NOINLINE void TrimThreadCache() {
    FlushCache(tls_cache_, /*keep_half=*/true);
  }

  // Gives back every block of `cache`, or all but half of each list.
  void FlushCache(ThreadCache& cache, bool keep_half) {
    Locked([&] {
      ++flushes_;
      for (std::size_t c = 0; c < global_internal::kNumClasses; ++c) {
        const std::size_t size = global_internal::ClassSize(c);
        const Layout layout{size + kHeaderBytes, kAlignment};
        void** link = &cache.heads[c];
        if (keep_half) {
          // Skip the first half of the list: the most recently freed.
          std::size_t length = 0;
          for (void* p = cache.heads[c]; p != nullptr;
               p = *static_cast<void**>(p)) {
            ++length;
          }
          for (std::size_t i = 0; i < length / 2; ++i) {
            link = static_cast<void**>(*link);
          }
        }
        void* p = *link;
        *link = nullptr;
        while (p != nullptr) {
          void* next = *static_cast<void**>(p);
          HeaderOf(p)->tag = kFreedTag;
          heap_.Dealloc(static_cast<char*>(p) - kHeaderBytes, layout);
          cache.bytes -= size;
          p = next;
        }
      }
    });
  }

  // The pthread key's destructor: gives the exiting thread's cache back.
  static void OnThreadExit(void* heap) {
    ThreadCache& cache = tls_cache_;
    if (cache.owner == heap) cache.owner->FlushThreadCache();
    cache.owner = nullptr;
    cache.exited = true;
  }

  // The bootstrap heap: see "Reentrancy" in the class comment.
  void* BootAllocate(std::size_t size, std::size_t align) {
    if (size > kBootstrapBytes || align > kBootstrapBytes) return nullptr;
    const Layout layout{size + std::max(align, kHeaderBytes), kAlignment};
    absl::StatusOr<void*> block;
    {
      InsideHeap inside;
      if (tls_depth_ > 2) {
        internal::Fatal("GlobalHeap: the bootstrap heap allocates reentrantly");
      }
      std::lock_guard<SpinLock> guard(boot_lock_);
      block = boot_.Alloc(layout);
    }
    if (!block.ok()) return nullptr;
    return StampAligned(*block, layout.size, align, kBootTag);
  }

  // The calling thread's cache, and how deep it is inside this heap's locks.
  // Initial-exec TLS: one instruction to reach, and no allocation.
  ABSL_CONST_INIT static inline thread_local ThreadCache tls_cache_
      __attribute__((tls_model("initial-exec"))) = {};
  ABSL_CONST_INIT static inline thread_local int tls_depth_
      __attribute__((tls_model("initial-exec"))) = 0;

  OsPages pages_;
  SpinLock lock_;  // Guards heap_, pages_ and what follows.
  GrowingAllocator<Backend, OsPages> heap_;
  std::array<RetainedRun, kMaxRetainedRuns> retained_{};
  std::size_t num_retained_ = 0;
  std::size_t retained_bytes_ = 0;
  std::size_t large_blocks_ = 0;
  std::size_t large_bytes_ = 0;
  std::size_t refills_ = 0;
  std::size_t flushes_ = 0;
  bool started_ = false;
  SpinLock boot_lock_;  // Guards boot_.
  TlsfByteAllocator boot_;
  void* boot_memory_ = nullptr;
  pthread_key_t thread_key_;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_GLOBAL_GLOBAL_HEAP_H_
