// The checks of SlabByteAllocator: CheckInvariants() on a corrupt slab, and the
// aborts on bad frees that the class comment lists.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/slab/slab_test_util.h"
#include "core/internal/asan.h"
#include "core/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using ::heapkit::testing::Addr;
using ::heapkit::testing::AllocMany;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::kMiB;
using ::heapkit::testing::SlabBase;
using ::heapkit::testing::SlabTest;
using ::testing::Not;

using Slab = SlabByteAllocator<>;
constexpr std::size_t kSlabSize = Slab::kSlabSize;

TEST_F(SlabTest, CheckInvariantsSpotsACorruptBitmap) {
  ASSERT_THAT(InitWith(kMiB), IsOk());
  ASSERT_OK_AND_ASSIGN(void* a, slab_.Alloc(Layout{32, 8}));
  ASSERT_OK_AND_ASSIGN(void* b, slab_.Alloc(Layout{32, 8}));
  slab_.Dealloc(a, Layout{32, 8});
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  // Mark `b`, a live object, free: the bitmap follows the header line.
  const std::uintptr_t base = SlabBase(b);
  const std::size_t index = (Addr(b) - base) / 32;
  auto* const bits =
      reinterpret_cast<std::uint64_t*>(base + Slab::kSlabObjectBytes + 64);
  // Under ASan the slab's metadata is poisoned: reach it as a stray write
  // would, and give it back poisoned.
  internal::UnpoisonMemory(&bits[index / 64], sizeof(std::uint64_t));
  bits[index / 64] |= std::uint64_t{1} << (index % 64);
  EXPECT_THAT(slab_.CheckInvariants(), Not(IsOk()));
  bits[index / 64] &= ~(std::uint64_t{1} << (index % 64));
  internal::PoisonMemory(&bits[index / 64], sizeof(std::uint64_t));
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  slab_.Dealloc(b, Layout{32, 8});
}

using SlabDeathTest = SlabTest;

TEST_F(SlabDeathTest, ForeignPointerAborts) {
  ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  // A zeroed large block is no slab: where a slab's key would be, it has 0.
  const Layout big{4 * kSlabSize, kSlabSize};
  ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(big));
  std::memset(block, 0, big.size);
  void* inside = static_cast<char*>(block) + kSlabSize + 256;
  EXPECT_DEATH(slab_.Dealloc(inside, Layout{64, 8}), "not in a live slab");
  slab_.Dealloc(block, big);
}

TEST_F(SlabDeathTest, FreeIntoACachedSlabAborts) {
  ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  const Layout layout{1024, 8};
  const std::size_t per_slab = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  ASSERT_OK_AND_ASSIGN(std::vector<void*> blocks,
                       AllocMany(slab_, layout, 3 * per_slab));
  // Freeing the first two slabs' objects pushes the first slab's out of the
  // magazine: it empties and is cached. The third stays current.
  for (std::size_t i = 0; i < 2 * per_slab; ++i) {
    slab_.Dealloc(blocks[i], layout);
  }
  ASSERT_EQ(slab_.CachedSlabCount(), 1u);
  EXPECT_DEATH(slab_.Dealloc(blocks[0], layout), "not in a live slab");
  for (std::size_t i = 2 * per_slab; i < 3 * per_slab; ++i) {
    slab_.Dealloc(blocks[i], layout);
  }
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabDeathTest, DoubleFreeAbortsByTheTimeTheObjectReachesItsSlab) {
  ASSERT_THAT(InitWith(kMiB), IsOk());
  ASSERT_OK_AND_ASSIGN(void* keep, slab_.Alloc(Layout{64, 8}));
  ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(Layout{64, 8}));
  slab_.Dealloc(block, Layout{64, 8});
  // Debug builds abort in the second Dealloc, release builds when the
  // magazine returns the second copy to the slab.
  EXPECT_DEATH(
      {
        slab_.Dealloc(block, Layout{64, 8});
        slab_.ReleaseEmptySlabs();
      },
      "double free");
  slab_.Dealloc(keep, Layout{64, 8});
}

TEST_F(SlabDeathTest, FreeWithALayoutOfAnotherClassAborts) {
  ASSERT_THAT(InitWith(kMiB), IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(Layout{64, 8}));
  EXPECT_DEATH(slab_.Dealloc(block, Layout{200, 8}), "another size class");
  slab_.Dealloc(block, Layout{64, 8});
}

#ifndef NDEBUG
TEST_F(SlabDeathTest, DebugBuildsCatchEveryDoubleFree) {
  ASSERT_THAT(InitWith(kMiB), IsOk());
  const Layout layout{40, 8};
  ASSERT_OK_AND_ASSIGN(std::vector<void*> blocks,
                       AllocMany(slab_, layout, 300));
  // The object freed last, and one freed a little earlier: both are still
  // in the magazine.
  slab_.Dealloc(blocks[3], layout);
  slab_.Dealloc(blocks[7], layout);
  EXPECT_DEATH(slab_.Dealloc(blocks[7], layout), "double free");
  EXPECT_DEATH(slab_.Dealloc(blocks[3], layout), "double free");
  // One that more frees have pushed out of the magazine, back to its slab.
  for (int i = 10; i < 300; ++i) slab_.Dealloc(blocks[i], layout);
  EXPECT_DEATH(slab_.Dealloc(blocks[3], layout), "double free");
  for (int i : {0, 1, 2, 4, 5, 6, 8, 9}) slab_.Dealloc(blocks[i], layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabDeathTest, DebugBuildsCatchAnInteriorPointer) {
  ASSERT_THAT(InitWith(kMiB), IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(Layout{64, 8}));
  EXPECT_DEATH(slab_.Dealloc(static_cast<char*>(block) + 16, Layout{64, 8}),
               "not the start of an object");
  slab_.Dealloc(block, Layout{64, 8});
}
#endif  // NDEBUG

}  // namespace
}  // namespace heapkit
