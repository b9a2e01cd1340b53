#ifndef HEAPKIT_BENCH_SUBJECTS_H_
#define HEAPKIT_BENCH_SUBJECTS_H_

// The allocators the benchmarks compare. Each subject offers Allocate/Free
// (inlined into the benchmark loop through the subject's concrete type) and a
// std::pmr::memory_resource for the container workloads.

#include <cstddef>
#include <cstdint>
#include <memory_resource>
#include <string>

#include "absl/base/attributes.h"
#include "adapters/memory_resource.h"
#include "bench/peers.h"
#include "core/layout.h"
#include "tests/arena.h"

namespace heapkit::bench {

inline constexpr std::size_t kArenaSize = std::size_t{128} << 20;

// A HeapKit backend over its own arena (128 MiB unless told), called directly.
template <class Backend>
class BackendSubject {
 public:
  explicit BackendSubject(std::size_t arena_size = kArenaSize)
      : arena_(arena_size), resource_(backend_) {
    ok_ = arena_.ok() && backend_.Init(arena_.start(), arena_.size()).ok();
  }

  bool ok() const { return ok_; }
  std::string error() const { return "could not set up the arena"; }

  // Forced inline: the benchmark file is large enough that GCC's inlining
  // budget runs out, and a call here would measure the harness, not the
  // backend's inline fast path.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void* Allocate(std::size_t size,
                                              std::size_t align) {
    absl::StatusOr<void*> block = backend_.Alloc(Layout{size, align});
    return block.ok() ? *block : nullptr;
  }
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Free(void* ptr, std::size_t size,
                                         std::size_t align) {
    backend_.Dealloc(ptr, Layout{size, align});
  }
  std::pmr::memory_resource* resource() { return &resource_; }
  std::uintptr_t region_start() const { return arena_.start(); }
  std::size_t region_size() const { return arena_.size(); }

 protected:
  testing::Arena arena_;
  Backend backend_;
  MemoryResource<Backend> resource_;
  bool ok_ = false;
};

// The same backend, every call made through std::pmr::memory_resource (a
// virtual call into the adapter): the difference to BackendSubject is the
// adapter's cost.
template <class Backend>
class ThroughPmrSubject : public BackendSubject<Backend> {
 public:
  void* Allocate(std::size_t size, std::size_t align) {
    return generic_->allocate(size, align);
  }
  void Free(void* ptr, std::size_t size, std::size_t align) {
    generic_->deallocate(ptr, size, align);
  }

 private:
  std::pmr::memory_resource* generic_ = &this->resource_;
};

// A general-purpose allocator: glibc, or a peer loaded with dlopen.
class PeerSubject {
 public:
  // `name` is "glibc" or a name LoadPeer() knows.
  explicit PeerSubject(const std::string& name)
      : ok_(LoadPeer(name, functions_, error_)), resource_(functions_) {}

  bool ok() const { return ok_; }
  std::string error() const { return error_; }

  void* Allocate(std::size_t size, std::size_t align) {
    return PeerAllocate(functions_, size, align);
  }
  void Free(void* ptr, std::size_t, std::size_t) { functions_.free(ptr); }
  std::pmr::memory_resource* resource() { return &resource_; }

 private:
  PeerFunctions functions_;
  std::string error_;
  bool ok_;
  PeerResource resource_;
};

// std::pmr::unsynchronized_pool_resource over a monotonic_buffer_resource that
// owns a 128 MiB arena: the standard library's own region allocator.
class PmrPoolSubject {
 public:
  PmrPoolSubject()
      : arena_(kArenaSize),
        monotonic_(reinterpret_cast<void*>(arena_.start()), arena_.size()),
        pool_(std::pmr::pool_options{0, 8192}, &monotonic_) {}

  bool ok() const { return arena_.ok(); }
  std::string error() const { return "could not set up the arena"; }

  void* Allocate(std::size_t size, std::size_t align) {
    return pool_.allocate(size, align);
  }
  void Free(void* ptr, std::size_t size, std::size_t align) {
    pool_.deallocate(ptr, size, align);
  }
  std::pmr::memory_resource* resource() { return &pool_; }

 private:
  testing::Arena arena_;
  std::pmr::monotonic_buffer_resource monotonic_;
  std::pmr::unsynchronized_pool_resource pool_;
};

}  // namespace heapkit::bench

#endif  // HEAPKIT_BENCH_SUBJECTS_H_
