// Compiles SlabByteAllocator<TlsfByteAllocator>, the default backing, once:
// the header declares it extern, so its includers get only the inline fast
// paths and link against the cold paths and checks defined here.

#include "allocators/slab/slab_byte_allocator.h"

#include "allocators/slab/slab_byte_allocator_impl.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"

namespace heapkit {

template class SlabByteAllocator<TlsfByteAllocator>;

}  // namespace heapkit
