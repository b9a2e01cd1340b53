#ifndef HEAPKIT_ADAPTERS_BORROWED_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_BORROWED_ALLOCATOR_H_

#include "adapters/internal/forwarding_allocator.h"

namespace heapkit {

// Lends an allocator the caller already owns to an adapter. Adapters own what
// they wrap; wrap a BorrowedAllocator to put one over an existing allocator:
//
//   heapkit::TlsfByteAllocator tlsf;  // Owned by the caller.
//   heapkit::StatisticsAllocator<
//       heapkit::BorrowedAllocator<heapkit::TlsfByteAllocator>> counted(tlsf);
//
// References `A`, which must outlive this object, and forwards every call to
// it unchanged. `A` may be ByteAllocator itself (a backend chosen at run time,
// called virtually); CheckInvariants() then reports OK.
template <class A>
class BorrowedAllocator final : public internal::ForwardingAllocator<A&> {
 public:
  explicit BorrowedAllocator(A& allocator)
      : internal::ForwardingAllocator<A&>(allocator) {}
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_BORROWED_ALLOCATOR_H_
