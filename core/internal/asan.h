#ifndef HEAPKIT_CORE_INTERNAL_ASAN_H_
#define HEAPKIT_CORE_INTERNAL_ASAN_H_

// AddressSanitizer support for the byte backends: manual poisoning of the
// memory they manage, which ASan cannot see into on its own because it comes
// from the caller, not from malloc.
//
// Under ASan (--config=asan) every backend keeps the memory of its regions
// poisoned except the bytes of live blocks: a block from Alloc is unpoisoned
// over exactly [ptr, ptr + layout.size), and Dealloc poisons the whole block
// again. Free space, block headers, free-list links and other metadata in the
// regions therefore stay poisoned while user code runs, so a write past the end
// of a block or into a freed one is reported ("use-after-poison") at the
// faulting instruction. (Free ranges over kMaxPoisonBytes, 256 MiB, are
// poisoned only near their ends.) A backend reads and writes its own metadata
// through functions marked HEAPKIT_NO_SANITIZE_ADDRESS, or unpoisons it around
// the access. When a backend is destroyed or re-Init'ed it returns its regions
// unpoisoned, so whoever reuses that memory starts clean.
//
// Without ASan every function here is an empty inline function and the macro
// is empty. The calls still exist until GCC inlines them, which can change its
// choice of registers nearby: where a hot path must compile to exactly the
// code it had, put the call under #ifdef HEAPKIT_HAVE_ASAN (with GCC 12, an
// `if constexpr (kHaveAsan)` around it was not enough).

#include <cstddef>

#if defined(__SANITIZE_ADDRESS__)
#define HEAPKIT_HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HEAPKIT_HAVE_ASAN 1
#endif
#endif

#ifdef HEAPKIT_HAVE_ASAN
#include <sanitizer/asan_interface.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#endif

// Turns off ASan's checks in the function it marks, for the few functions that
// read and write a backend's metadata in poisoned memory. Empty unless building
// with ASan, so it cannot change inlining in other builds. Under ASan, GCC
// keeps a marked function out of line in instrumented callers (which is the
// point); never combine it with ABSL_ATTRIBUTE_ALWAYS_INLINE, which GCC honours
// by inlining the body and instrumenting it as the caller is.
#ifdef HEAPKIT_HAVE_ASAN
#define HEAPKIT_NO_SANITIZE_ADDRESS __attribute__((no_sanitize_address))
#else
#define HEAPKIT_NO_SANITIZE_ADDRESS
#endif

namespace heapkit::internal {

// HEAPKIT_HAVE_ASAN as a constant, for tests and cold code (see above).
#ifdef HEAPKIT_HAVE_ASAN
inline constexpr bool kHaveAsan = true;
#else
inline constexpr bool kHaveAsan = false;
#endif

#ifdef HEAPKIT_HAVE_ASAN

// Poisoning costs a shadow byte per 8 bytes, and regions can span terabytes:
// a range longer than this is poisoned only over its first and last
// kMaxPoisonBytes / 2 bytes, enough to catch overflows from the blocks on
// either side and accesses to the headers there.
inline constexpr std::size_t kMaxPoisonBytes = std::size_t{256} << 20;

// Marks [address, address + size) as not addressable: ASan reports any access
// to it by instrumented code. Bytes before `address` in its 8-byte granule stay
// addressable; the last granule is poisoned only if the bytes after the range
// in it already are. See kMaxPoisonBytes for a huge range.
inline void PoisonMemory(const void* address, std::size_t size) {
  if (size <= kMaxPoisonBytes) {
    ASAN_POISON_MEMORY_REGION(address, size);
    return;
  }
  const char* const bytes = static_cast<const char*>(address);
  ASAN_POISON_MEMORY_REGION(bytes, kMaxPoisonBytes / 2);
  ASAN_POISON_MEMORY_REGION(bytes + size - kMaxPoisonBytes / 2,
                            kMaxPoisonBytes / 2);
}

// Unpoisons [address, address + size) as UnpoisonMemory does, but hands the
// shadow pages that only this range uses back to the OS instead of writing
// them, so that unpoisoning a huge and mostly untouched range (a destroyed
// allocator's regions, an arena about to be unmapped) costs neither time nor
// memory.
inline void UnpoisonRegion(const void* address, std::size_t size) {
  std::size_t scale = 0;
  std::size_t offset = 0;
  __asan_get_shadow_mapping(&scale, &offset);
  const std::uintptr_t page =
      static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
  const std::uintptr_t granule = std::uintptr_t{1} << scale;
  const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(address);
  const std::uintptr_t end = begin + size;
  // The shadow of the whole granules in the range, then the whole pages of it.
  const std::uintptr_t shadow_begin = ((begin + granule - 1) >> scale) + offset;
  const std::uintptr_t shadow_end = (end >> scale) + offset;
  const std::uintptr_t pages_begin = (shadow_begin + page - 1) & ~(page - 1);
  const std::uintptr_t pages_end = shadow_end & ~(page - 1);
  if (pages_begin >= pages_end ||
      madvise(reinterpret_cast<void*>(pages_begin), pages_end - pages_begin,
              MADV_DONTNEED) != 0) {
    ASAN_UNPOISON_MEMORY_REGION(address, size);
    return;
  }
  // Released shadow reads as zero: addressable. Write the edges.
  const std::uintptr_t released_begin = (pages_begin - offset) << scale;
  const std::uintptr_t released_end = (pages_end - offset) << scale;
  ASAN_UNPOISON_MEMORY_REGION(address, released_begin - begin);
  ASAN_UNPOISON_MEMORY_REGION(reinterpret_cast<const void*>(released_end),
                              end - released_end);
}

// Marks [address, address + size) as addressable again. The bytes after the
// range in its last 8-byte granule keep their state, so a block that ends
// inside a poisoned granule is checked to the byte; the bytes before `address`
// in its first granule become addressable too (block starts are aligned). A
// range over kMaxPoisonBytes is unpoisoned as UnpoisonRegion does.
inline void UnpoisonMemory(const void* address, std::size_t size) {
  if (size <= kMaxPoisonBytes) {
    ASAN_UNPOISON_MEMORY_REGION(address, size);
  } else {
    UnpoisonRegion(address, size);
  }
}

#else  // !HEAPKIT_HAVE_ASAN

inline void PoisonMemory(const void*, std::size_t) {}
inline void UnpoisonMemory(const void*, std::size_t) {}
inline void UnpoisonRegion(const void*, std::size_t) {}

#endif  // HEAPKIT_HAVE_ASAN

}  // namespace heapkit::internal

#endif  // HEAPKIT_CORE_INTERNAL_ASAN_H_
