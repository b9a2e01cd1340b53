#ifndef HEAPKIT_ALLOCATORS_BYTE_BACKENDS_H_
#define HEAPKIT_ALLOCATORS_BYTE_BACKENDS_H_

// Lists every byte backend HeapKit builds, as a type list for code that runs
// on each of them: users' typed tests (see heapkit::testing::AllByteBackends
// in tests/all_byte_backends.h), benchmarks, demos. A new backend joins every
// such user by being added here, and to the target's deps
// (//allocators:byte_backends); no file in tests/ changes.

#include <cstddef>

#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/concepts.h"

namespace heapkit {

// A list of types, to be handed on as a pack:
//   template <class... T> void RunOn(TypeList<T...>) { (Run<T>(), ...); }
template <class... T>
struct TypeList {
  static constexpr std::size_t kSize = sizeof...(T);
};

// Every byte backend, in the order of docs/architecture.md's table.
using ByteBackendTypes =
    TypeList<SlabByteAllocator<>, TlsfByteAllocator, BuddyByteAllocator>;

namespace byte_backends_internal {

template <class... T>
constexpr bool AllAreByteBackends(TypeList<T...>) {
  return (ByteBackend<T> && ...);
}

}  // namespace byte_backends_internal

static_assert(byte_backends_internal::AllAreByteBackends(ByteBackendTypes{}),
              "every type in heapkit::ByteBackendTypes must be a "
              "heapkit::ByteBackend (core/concepts.h)");

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_BYTE_BACKENDS_H_
