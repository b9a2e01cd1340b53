#ifndef HEAPKIT_ALLOCATORS_DEFAULT_BYTE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_DEFAULT_BYTE_ALLOCATOR_H_

// Names the byte backend chosen at build time (`--define allocator=...`, see
// allocators/BUILD.bazel) as heapkit::DefaultByteAllocator, and its name as
// heapkit::kDefaultByteAllocatorName. Depend on //allocators:default to use it.

#if defined(HEAPKIT_DEFAULT_ALLOCATOR_BUDDY)
#include "allocators/buddy/buddy_byte_allocator.h"
namespace heapkit {
using DefaultByteAllocator = BuddyByteAllocator;
inline constexpr char kDefaultByteAllocatorName[] = "buddy";
}  // namespace heapkit
#elif defined(HEAPKIT_DEFAULT_ALLOCATOR_SLAB)
#include "allocators/slab/slab_byte_allocator.h"
namespace heapkit {
using DefaultByteAllocator = SlabByteAllocator<>;
inline constexpr char kDefaultByteAllocatorName[] = "slab";
}  // namespace heapkit
#elif defined(HEAPKIT_DEFAULT_ALLOCATOR_TLSF)
#include "allocators/tlsf/tlsf_byte_allocator.h"
namespace heapkit {
using DefaultByteAllocator = TlsfByteAllocator;
inline constexpr char kDefaultByteAllocatorName[] = "tlsf";
}  // namespace heapkit
#else
#error \
    "No byte backend selected: depend on //allocators:default and build with --define allocator=<name>"
#endif

#endif  // HEAPKIT_ALLOCATORS_DEFAULT_BYTE_ALLOCATOR_H_
