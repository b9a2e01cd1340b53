// Reuse in SlabByteAllocator: magazines of freed objects, empty slabs cached,
// taken over by another class or given back to the backing allocator, and the
// hysteresis that keeps traffic at a slab boundary off the backing allocator.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/slab/slab_byte_allocator.h"
// Defines the members SlabByteAllocator<CountingBacking> instantiates.
#include "allocators/slab/slab_byte_allocator_impl.h"
#include "allocators/slab/slab_test_util.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/alloc_error.h"
#include "core/byte_allocator.h"
#include "core/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using ::heapkit::testing::AllocMany;
using ::heapkit::testing::AllocUntilFull;
using ::heapkit::testing::Arena;
using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::kKiB;
using ::heapkit::testing::kMiB;
using ::heapkit::testing::SlabBase;
using ::heapkit::testing::SlabTest;

using Slab = SlabByteAllocator<>;
constexpr std::size_t kSlabSize = Slab::kSlabSize;

TEST_F(SlabTest, MemoryOfOneClassServesAnotherAndLargeRequests) {
  ASSERT_THAT(InitWith(2 * kMiB), IsOk());
  const Layout small{64, 8};
  std::vector<void*> blocks = AllocUntilFull(slab_, small);
  const std::size_t small_bytes = blocks.size() * 64;
  EXPECT_GT(small_bytes, kMiB);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  for (void* block : blocks) slab_.Dealloc(block, small);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);

  // The same memory now holds 256-byte objects (less a slab or two: TLSF
  // needs a free block of twice the slab size to place an aligned one)...
  const Layout medium{256, 8};
  blocks = AllocUntilFull(slab_, medium);
  EXPECT_GE(blocks.size() * 256, small_bytes * 90 / 100);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  for (void* block : blocks) slab_.Dealloc(block, medium);

  // ...and, given back, a 1 MiB block: the cached and current empty slabs are
  // released when the backing allocator would otherwise fail.
  EXPECT_GT(slab_.SlabCount(), 0u);
  ASSERT_OK_AND_ASSIGN(void* large, slab_.Alloc(Layout{kMiB, 8}));
  slab_.Dealloc(large, Layout{kMiB, 8});
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabTest, EmptySlabsGoBackToTheBackingAllocator) {
  ASSERT_THAT(InitWith(8 * kMiB), IsOk());
  const std::size_t backing_baseline = slab_.backing().UsedBytes();
  const Layout layout{128, 8};
  const std::size_t per_slab = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  ASSERT_OK_AND_ASSIGN(std::vector<void*> blocks,
                       AllocMany(slab_, layout, 20 * per_slab));
  EXPECT_EQ(slab_.SlabCount(), 20u);
  EXPECT_GE(slab_.backing().UsedBytes() - backing_baseline,
            20 * (kSlabSize - 16));
  // Freed in order, each slab empties once the magazine has passed its
  // objects on; all but the cache and the class's current slab (whose objects
  // are the ones left in the magazine) go back.
  for (void* block : blocks) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_EQ(slab_.CachedSlabCount(), Slab::kMaxCachedSlabs);
  EXPECT_EQ(slab_.SlabCount(), Slab::kMaxCachedSlabs + 1);
  EXPECT_LE(slab_.backing().UsedBytes() - backing_baseline,
            (Slab::kMaxCachedSlabs + 1) * (kSlabSize + 16));
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  EXPECT_EQ(slab_.ReleaseEmptySlabs(), Slab::kMaxCachedSlabs + 1);
  EXPECT_EQ(slab_.SlabCount(), 0u);
  EXPECT_EQ(slab_.backing().UsedBytes(), backing_baseline);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());

  // Freed in random order, the objects left in the magazine hold some slabs;
  // ReleaseEmptySlabs() passes them on and gives every slab back.
  ASSERT_OK_AND_ASSIGN(blocks, AllocMany(slab_, layout, blocks.size()));
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937_64(20));
  for (void* block : blocks) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_LE(slab_.SlabCount(), 20u);
  slab_.ReleaseEmptySlabs();
  EXPECT_EQ(slab_.SlabCount(), 0u);
  EXPECT_EQ(slab_.backing().UsedBytes(), backing_baseline);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabTest, MagazinesHandOutTheLastFreedObjectFirst) {
  ASSERT_THAT(InitWith(4 * kMiB), IsOk());
  const Layout layout{64, 8};
  ASSERT_OK_AND_ASSIGN(void* a, slab_.Alloc(layout));
  ASSERT_OK_AND_ASSIGN(void* b, slab_.Alloc(layout));
  slab_.Dealloc(a, layout);
  slab_.Dealloc(b, layout);
  EXPECT_EQ(slab_.Alloc(layout).value_or(nullptr), b);
  EXPECT_EQ(slab_.Alloc(layout).value_or(nullptr), a);
  // A full magazine passes its older half back to the slabs.
  const std::size_t magazine = Slab::MagazineSize(Slab::SizeClassFor(layout));
  EXPECT_EQ(magazine, 256u);
  ASSERT_OK_AND_ASSIGN(std::vector<void*> blocks,
                       AllocMany(slab_, layout, 3 * magazine - 2));
  blocks.insert(blocks.begin(), {a, b});
  for (void* block : blocks) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  EXPECT_EQ(slab_.Alloc(layout).value_or(nullptr), blocks.back());
  EXPECT_EQ(Slab::MagazineSize(Slab::SizeClassFor(Layout{4096, 8})), 16u);
  EXPECT_EQ(Slab::MagazineSize(Slab::SizeClassFor(Layout{1024, 8})), 64u);
}

TEST_F(SlabTest, AClassWithoutRoomTakesOverAnotherClassesEmptySlab) {
  ASSERT_THAT(InitWith(kMiB), IsOk());
  // One slab of 16-byte objects, then large blocks until nothing fits.
  const Layout tiny{16, 8};
  ASSERT_OK_AND_ASSIGN(void* object, slab_.Alloc(tiny));
  std::vector<void*> large = AllocUntilFull(slab_, Layout{8 * kKiB, 8});
  std::vector<void*> filler = AllocUntilFull(slab_, Layout{5000, 8});
  ASSERT_EQ(slab_.SlabCount(), 1u);
  // The slab stays as the current one, empty once the magazine passes the
  // object back.
  slab_.Dealloc(object, tiny);
  EXPECT_EQ(slab_.SlabCount(), 1u);

  ASSERT_OK_AND_ASSIGN(void* other, slab_.Alloc(Layout{1000, 8}));
  EXPECT_EQ(SlabBase(other), SlabBase(object));
  EXPECT_EQ(slab_.SlabCount(), 1u);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  // Now no class has a slab to spare.
  EXPECT_THAT(slab_.Alloc(tiny), IsAllocError(AllocError::kNoMemory));
  slab_.Dealloc(other, Layout{1000, 8});
  ASSERT_OK_AND_ASSIGN(void* again, slab_.Alloc(tiny));
  slab_.Dealloc(again, tiny);
  for (void* block : large) slab_.Dealloc(block, Layout{8 * kKiB, 8});
  for (void* block : filler) slab_.Dealloc(block, Layout{5000, 8});
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

// A TLSF allocator that counts the calls the slab allocator makes into it.
class CountingBacking final : public ByteAllocator {
 public:
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    return tlsf_.Init(start, size);
  }
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    return tlsf_.AddMemory(start, size);
  }
  absl::StatusOr<void*> Alloc(Layout layout) override {
    ++allocs_;
    return tlsf_.Alloc(layout);
  }
  void Dealloc(void* ptr, Layout layout) override {
    ++deallocs_;
    tlsf_.Dealloc(ptr, layout);
  }
  std::size_t TotalBytes() const override { return tlsf_.TotalBytes(); }
  std::size_t UsedBytes() const override { return tlsf_.UsedBytes(); }
  absl::Status CheckInvariants() const { return tlsf_.CheckInvariants(); }

  int allocs() const { return allocs_; }
  int deallocs() const { return deallocs_; }

 private:
  TlsfByteAllocator tlsf_;
  int allocs_ = 0;
  int deallocs_ = 0;
};

// A slab allocator over a CountingBacking of 16 MiB.
class SlabHysteresisTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(arena_.ok());
    ASSERT_THAT(slab_.Init(arena_.start(), arena_.size()), IsOk());
  }

  Arena arena_{16 * kMiB};
  SlabByteAllocator<CountingBacking> slab_;
};

TEST_F(SlabHysteresisTest, AllocAndFreeAtASlabBoundaryDoNotThrash) {
  const Layout layout{64, 8};
  const std::size_t per_slab = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  // Exactly one full slab.
  ASSERT_OK_AND_ASSIGN(std::vector<void*> first,
                       AllocMany(slab_, layout, per_slab));
  ASSERT_EQ(slab_.backing().allocs(), 1);

  // One object past the boundary, again and again: one new slab in all.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_OK_AND_ASSIGN(void* block, slab_.Alloc(layout));
    slab_.Dealloc(block, layout);
  }
  EXPECT_EQ(slab_.backing().allocs(), 2);
  EXPECT_EQ(slab_.backing().deallocs(), 0);

  // Freeing and reallocating one object of the full slab, again and again.
  for (int i = 0; i < 1000; ++i) {
    slab_.Dealloc(first.back(), layout);
    ASSERT_OK_AND_ASSIGN(first.back(), slab_.Alloc(layout));
  }
  EXPECT_EQ(slab_.backing().allocs(), 2);
  EXPECT_EQ(slab_.backing().deallocs(), 0);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());

  // A queue: batches of new objects at one end, as many of the oldest freed
  // at the other, so old slabs keep emptying while new ones fill; 30 slabs'
  // worth go through it. The cache recycles the emptied slabs.
  std::deque<void*> queue(first.begin(), first.end());
  const std::size_t batch = per_slab / 3;
  for (std::size_t round = 0; round < 90; ++round) {
    ASSERT_OK_AND_ASSIGN(std::vector<void*> fresh,
                         AllocMany(slab_, layout, batch));
    queue.insert(queue.end(), fresh.begin(), fresh.end());
    for (std::size_t i = 0; i < batch; ++i) {
      slab_.Dealloc(queue.front(), layout);
      queue.pop_front();
    }
  }
  EXPECT_LE(slab_.backing().allocs(),
            2 + static_cast<int>(Slab::kMaxCachedSlabs));
  EXPECT_EQ(slab_.backing().deallocs(), 0);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
  for (void* block : queue) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.UsedBytes(), 0u);
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

TEST_F(SlabHysteresisTest, TheCacheIsBounded) {
  const Layout layout{512, 8};
  const std::size_t per_slab = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  ASSERT_OK_AND_ASSIGN(std::vector<void*> blocks,
                       AllocMany(slab_, layout, 30 * per_slab));
  EXPECT_EQ(slab_.backing().allocs(), 30);
  for (void* block : blocks) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.backing().deallocs(),
            30 - 1 - static_cast<int>(Slab::kMaxCachedSlabs));
  // Cached slabs serve any class without a backing call.
  for (std::size_t i = 0; i < Slab::kMaxCachedSlabs; ++i) {
    ASSERT_OK_AND_ASSIGN(blocks[i], slab_.Alloc(Layout{16 * (i + 1), 8}));
  }
  EXPECT_EQ(slab_.backing().allocs(), 30);
  EXPECT_EQ(slab_.CachedSlabCount(), 0u);
  for (std::size_t i = 0; i < Slab::kMaxCachedSlabs; ++i) {
    slab_.Dealloc(blocks[i], Layout{16 * (i + 1), 8});
  }
  EXPECT_THAT(slab_.CheckInvariants(), IsOk());
}

}  // namespace
}  // namespace heapkit
