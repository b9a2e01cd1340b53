#ifndef HEAPKIT_TESTS_FUZZ_PICK_BACKEND_H_
#define HEAPKIT_TESTS_FUZZ_PICK_BACKEND_H_

#include <type_traits>

#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "tests/fuzz/fuzz_input.h"

namespace heapkit::fuzz {

// Calls `fuzz(std::type_identity<Backend>{})` for the byte backend the
// input's next byte picks (TLSF, slab or buddy), for targets that fuzz an
// adapter over each of them:
//
//   WithPickedBackend(in, [&](auto backend) {
//     FuzzChecked<typename decltype(backend)::type>(in);
//   });
template <class F>
void WithPickedBackend(FuzzInput& in, F&& fuzz) {
  switch (in.Byte() % 3) {
    case 0:
      fuzz(std::type_identity<TlsfByteAllocator>{});
      break;
    case 1:
      fuzz(std::type_identity<SlabByteAllocator<>>{});
      break;
    case 2:
      fuzz(std::type_identity<BuddyByteAllocator>{});
      break;
  }
}

}  // namespace heapkit::fuzz

#endif  // HEAPKIT_TESTS_FUZZ_PICK_BACKEND_H_
