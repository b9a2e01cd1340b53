#ifndef HEAPKIT_ALLOCATORS_SLAB_SLAB_TEST_UTIL_H_
#define HEAPKIT_ALLOCATORS_SLAB_SLAB_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "core/layout.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"
#include "tests/shadow_model.h"

namespace heapkit::testing {

inline std::uintptr_t Addr(const void* ptr) {
  return reinterpret_cast<std::uintptr_t>(ptr);
}

// Returns the start of the 64 KiB slab window holding `ptr`.
inline std::uintptr_t SlabBase(const void* ptr) {
  return Addr(ptr) & ~(SlabByteAllocator<>::kSlabSize - 1);
}

// Returns `count` blocks of `layout` from `allocator`, or the first error.
//   ASSERT_OK_AND_ASSIGN(std::vector<void*> blocks,
//                        AllocMany(slab_, Layout{64, 8}, 100));
template <class A>
absl::StatusOr<std::vector<void*>> AllocMany(A& allocator, Layout layout,
                                             std::size_t count) {
  std::vector<void*> blocks;
  while (blocks.size() < count) {
    absl::StatusOr<void*> block = allocator.Alloc(layout);
    if (!block.ok()) return block.status();
    blocks.push_back(*block);
  }
  return blocks;
}

// Allocates `layout` blocks until the allocator fails, which must be with
// kNoMemory, and returns them.
template <class A>
std::vector<void*> AllocUntilFull(A& allocator, Layout layout) {
  std::vector<void*> blocks;
  for (;;) {
    absl::StatusOr<void*> block = allocator.Alloc(layout);
    if (!block.ok()) {
      EXPECT_THAT(block, IsAllocError(AllocError::kNoMemory));
      return blocks;
    }
    blocks.push_back(*block);
  }
}

// Checks the live block at `ptr` against `model` and frees it.
//   ASSERT_TRUE(CheckAndFree(slab_, model_, ptr));
template <class A>
::testing::AssertionResult CheckAndFree(A& allocator, ShadowModel& model,
                                        void* ptr) {
  Layout layout;
  ::testing::AssertionResult intact = model.Freeing(ptr, layout);
  if (intact) allocator.Dealloc(ptr, layout);
  return intact;
}

// A SlabByteAllocator<> over part of a 64 MiB arena, and a shadow model of
// the memory it manages.
class SlabTest : public ::testing::Test {
 protected:
  SlabTest() : arena_(64 * kMiB) {}

  // Initialises `slab_` over `size` bytes from the first 64 KiB boundary of
  // the arena, records its UsedBytes() in `baseline_`, and resets `model_` to
  // that region. Returns what Init returned.
  //   ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  absl::Status InitWith(std::size_t size) {
    if (!arena_.ok()) return absl::ResourceExhaustedError("no arena");
    const std::size_t slab_size = SlabByteAllocator<>::kSlabSize;
    start_ = (arena_.start() + slab_size - 1) & ~(slab_size - 1);
    const absl::Status status = slab_.Init(start_, size);
    baseline_ = slab_.UsedBytes();
    model_.Reset();
    model_.AddRegion(Region{start_, start_ + size});
    return status;
  }

  Arena arena_;
  std::uintptr_t start_ = 0;
  SlabByteAllocator<> slab_;
  std::size_t baseline_ = 0;
  ShadowModel model_;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_ALLOCATORS_SLAB_SLAB_TEST_UTIL_H_
