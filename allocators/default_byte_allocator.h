#ifndef HEAPKIT_ALLOCATORS_DEFAULT_BYTE_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_DEFAULT_BYTE_ALLOCATOR_H_

// Names the byte backend chosen at build time (`--define allocator=...`, see
// allocators/BUILD.bazel) as heapkit::DefaultByteAllocator, and its name as
// heapkit::kDefaultByteAllocatorName. Depend on //allocators:default to use it.
// With `--define heapkit_checked=on`, DefaultByteAllocator is the backend
// wrapped in CheckedAllocator (adapters/checked_allocator.h), which checks
// every block and free; kDefaultByteAllocatorName still names the backend.

#if defined(HEAPKIT_DEFAULT_ALLOCATOR_BUDDY)
#include "allocators/buddy/buddy_byte_allocator.h"
namespace heapkit {
using UncheckedDefaultByteAllocator = BuddyByteAllocator;
inline constexpr char kDefaultByteAllocatorName[] = "buddy";
}  // namespace heapkit
#elif defined(HEAPKIT_DEFAULT_ALLOCATOR_SLAB)
#include "allocators/slab/slab_byte_allocator.h"
namespace heapkit {
using UncheckedDefaultByteAllocator = SlabByteAllocator<>;
inline constexpr char kDefaultByteAllocatorName[] = "slab";
}  // namespace heapkit
#elif defined(HEAPKIT_DEFAULT_ALLOCATOR_TLSF)
#include "allocators/tlsf/tlsf_byte_allocator.h"
namespace heapkit {
using UncheckedDefaultByteAllocator = TlsfByteAllocator;
inline constexpr char kDefaultByteAllocatorName[] = "tlsf";
}  // namespace heapkit
#else
#error \
    "No byte backend selected: depend on //allocators:default and build with --define allocator=<name>"
#endif

#if defined(HEAPKIT_CHECKED)
#include "adapters/checked_allocator.h"
namespace heapkit {
using DefaultByteAllocator = CheckedAllocator<UncheckedDefaultByteAllocator>;
}  // namespace heapkit
#else
namespace heapkit {
using DefaultByteAllocator = UncheckedDefaultByteAllocator;
}  // namespace heapkit
#endif

#endif  // HEAPKIT_ALLOCATORS_DEFAULT_BYTE_ALLOCATOR_H_
