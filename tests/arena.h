#ifndef HEAPKIT_TESTS_ARENA_H_
#define HEAPKIT_TESTS_ARENA_H_

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>

#include "core/internal/asan.h"

namespace heapkit::testing {

// Owns an anonymous read-write mapping of `size` bytes, reserved without swap
// (MAP_NORESERVE) so that a huge arena costs only the pages an allocator
// touches. The mapping is page-aligned; ok() is false if the kernel refused it.
// Under ASan, the destructor unpoisons the mapping before unmapping it, as
// whatever allocator used it may have left it poisoned and ASan would carry
// that over to the next mapping at the same address.
class Arena {
 public:
  explicit Arena(std::size_t size) : size_(size) {
    void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    base_ = memory == MAP_FAILED ? nullptr : memory;
  }
  Arena(const Arena&) = delete;
  Arena& operator=(const Arena&) = delete;
  ~Arena() {
    if (base_ != nullptr) {
#ifdef HEAPKIT_HAVE_ASAN  // Else even the empty call changes the benchmarks.
      ::heapkit::internal::UnpoisonRegion(base_, size_);
#endif
      munmap(base_, size_);
    }
  }

  bool ok() const { return base_ != nullptr; }
  std::uintptr_t start() const {
    return reinterpret_cast<std::uintptr_t>(base_);
  }
  std::size_t size() const { return size_; }

 private:
  void* base_;
  std::size_t size_;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_ARENA_H_
