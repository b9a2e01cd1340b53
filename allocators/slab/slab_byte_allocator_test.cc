#include "allocators/slab/slab_byte_allocator.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <random>
#include <utility>
#include <vector>

#include "allocators/buddy/buddy_byte_allocator.h"
// Defines the members the Buddy and counting backings below instantiate.
#include "allocators/slab/slab_byte_allocator_impl.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/alloc_error.h"
#include "gtest/gtest.h"
#include "tests/arena.h"

namespace heapkit {
namespace {

using ::heapkit::testing::Arena;

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = kKiB * kKiB;

using Slab = SlabByteAllocator<>;
constexpr std::size_t kSlabSize = Slab::kSlabSize;

std::uintptr_t Address(const void* ptr) {
  return reinterpret_cast<std::uintptr_t>(ptr);
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

template <class A>
void ExpectHealthy(const A& allocator) {
  absl::Status status = allocator.CheckInvariants();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(allocator.UsedBytes() + allocator.AvailableBytes(),
            allocator.TotalBytes());
}

// Allocates `layout` blocks until the allocator says kNoMemory.
template <class A>
std::vector<void*> AllocUntilFull(A& allocator, Layout layout) {
  std::vector<void*> blocks;
  for (;;) {
    absl::StatusOr<void*> block = allocator.Alloc(layout);
    if (!block.ok()) {
      EXPECT_EQ(GetAllocError(block.status()), AllocError::kNoMemory)
          << block.status();
      return blocks;
    }
    blocks.push_back(*block);
  }
}

TEST(SlabSizeClassTest, EverySmallSizeGetsTheSmallestClassThatHoldsIt) {
  EXPECT_EQ(Slab::kNumSizeClasses, 32u);
  for (std::size_t c = 1; c < Slab::kNumSizeClasses; ++c) {
    EXPECT_LT(Slab::ClassSize(c - 1), Slab::ClassSize(c));
    EXPECT_EQ(Slab::ClassSize(c) % 16, 0u);
  }
  EXPECT_EQ(Slab::ClassSize(Slab::kNumSizeClasses - 1), Slab::kMaxSmallSize);
  for (std::size_t size = 0; size <= Slab::kMaxSmallSize; ++size) {
    for (std::size_t align : {1, 2, 4, 8, 16}) {
      const std::size_t c = Slab::SizeClassFor(Layout{size, align});
      ASSERT_LT(c, Slab::kNumSizeClasses) << size;
      EXPECT_GE(Slab::ClassSize(c), std::max<std::size_t>(size, 1)) << size;
      if (c > 0) {
        EXPECT_LT(Slab::ClassSize(c - 1), size) << size;
      }
    }
  }
  EXPECT_EQ(Slab::ClassSize(Slab::SizeClassFor(Layout{0, 1})), 16u);
  EXPECT_EQ(Slab::ClassSize(Slab::SizeClassFor(Layout{17, 8})), 32u);
  EXPECT_EQ(Slab::ClassSize(Slab::SizeClassFor(Layout{257, 8})), 320u);
  EXPECT_EQ(Slab::ClassSize(Slab::SizeClassFor(Layout{3000, 8})), 3072u);
  EXPECT_EQ(Slab::SizeClassFor(Layout{4097, 1}), Slab::kLarge);
  EXPECT_EQ(Slab::SizeClassFor(Layout{16, 3}), Slab::kLarge);  // Invalid.
  EXPECT_EQ(Slab::SizeClassFor(Layout{16, 8192}), Slab::kLarge);
}

TEST(SlabSizeClassTest, WorstCaseWasteIsAsDocumented) {
  // Up to 256 bytes the classes are 16 apart: at most 15 bytes lost. Above,
  // four classes per power of two: under 20%, the worst at the first class of
  // each power of two.
  std::size_t worst_above_256 = 0;  // In thousandths.
  for (std::size_t c = 0; c < Slab::kNumSizeClasses; ++c) {
    const std::size_t size = Slab::ClassSize(c);
    const std::size_t below = c == 0 ? 0 : Slab::ClassSize(c - 1);
    const std::size_t waste = size - below - 1;  // For a request of below + 1.
    if (size <= 256) {
      EXPECT_EQ(waste, 15u) << size;
    } else {
      EXPECT_LT(waste * 5, size) << size;
      worst_above_256 = std::max(worst_above_256, waste * 1000 / size);
    }
  }
  EXPECT_EQ(worst_above_256, 199u);  // 511 of 2560 bytes.
  // A slab loses less than one object's worth to packing, besides the room
  // for its metadata.
  EXPECT_EQ(Slab::kSlabObjectBytes, kSlabSize - 128 - 512);
  for (std::size_t c = 0; c < Slab::kNumSizeClasses; ++c) {
    const std::size_t packed = Slab::ObjectsPerSlab(c) * Slab::ClassSize(c);
    EXPECT_LT(Slab::kSlabObjectBytes - packed, Slab::ClassSize(c)) << c;
  }
}

TEST(SlabSizeClassTest, AlignedSmallLayoutsMapToClassesThatAreMultiples) {
  for (std::size_t align = 32; align <= 8192; align *= 2) {
    for (std::size_t size = 0; size <= Slab::kMaxSmallSize + 1; ++size) {
      const std::size_t c = Slab::SizeClassFor(Layout{size, align});
      const std::size_t rounded =
          (std::max<std::size_t>(size, 1) + align - 1) & ~(align - 1);
      if (rounded > Slab::kMaxSmallSize) {
        EXPECT_EQ(c, Slab::kLarge) << size << " aligned to " << align;
        continue;
      }
      ASSERT_LT(c, Slab::kNumSizeClasses) << size << " aligned to " << align;
      EXPECT_EQ(Slab::ClassSize(c) % align, 0u)
          << size << " aligned to " << align;
      EXPECT_GE(Slab::ClassSize(c), size);
    }
  }
}

TEST(SlabSizeClassTest, ReciprocalsDivideEveryOffsetExactly) {
  // Dealloc-side bookkeeping maps an address to its object with a multiply.
  for (std::size_t c = 0; c < Slab::kNumSizeClasses; ++c) {
    const std::uint64_t reciprocal = slab_internal::kReciprocals[c];
    for (std::uint64_t offset = 0; offset < kSlabSize; ++offset) {
      ASSERT_EQ((offset * reciprocal) >> 32, offset / Slab::ClassSize(c))
          << "class " << c << " offset " << offset;
    }
  }
}

class SlabTest : public ::testing::Test {
 protected:
  SlabTest() : arena_(64 * kMiB) {}

  // Initialises `slab_` over `size` bytes starting at a 64 KiB boundary.
  void InitWith(std::size_t size) {
    ASSERT_TRUE(arena_.ok());
    start_ = (arena_.start() + kSlabSize - 1) & ~(kSlabSize - 1);
    absl::Status status = slab_.Init(start_, size);
    ASSERT_TRUE(status.ok()) << status;
    baseline_ = slab_.UsedBytes();
  }

  Arena arena_;
  std::uintptr_t start_ = 0;
  Slab slab_;
  std::size_t baseline_ = 0;
};

TEST_F(SlabTest, ObjectsAreHeaderlessAndPackedFromTheSlabStart) {
  InitWith(4 * kMiB);
  const Layout layout{64, 8};
  const std::size_t count = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  EXPECT_EQ(count, Slab::kSlabObjectBytes / 64);
  std::vector<void*> objects;
  for (std::size_t i = 0; i < count; ++i) {
    absl::StatusOr<void*> object = slab_.Alloc(layout);
    ASSERT_TRUE(object.ok()) << object.status();
    objects.push_back(*object);
  }
  EXPECT_EQ(Address(objects[0]) % kSlabSize, 0u);
  for (std::size_t i = 1; i < count; ++i) {
    ASSERT_EQ(Address(objects[i]) - Address(objects[i - 1]), 64u) << i;
  }
  EXPECT_EQ(slab_.SlabCount(), 1u);
  EXPECT_EQ(slab_.UsedBytes() - baseline_, count * 64);
  // The next object needs a second slab.
  absl::StatusOr<void*> next = slab_.Alloc(layout);
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(slab_.SlabCount(), 2u);
  EXPECT_EQ(Address(*next) % kSlabSize, 0u);
  ExpectHealthy(slab_);
  slab_.Dealloc(*next, layout);
  for (void* object : objects) slab_.Dealloc(object, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  ExpectHealthy(slab_);
}

TEST_F(SlabTest, UsedBytesCountsTheClassSizeOfLiveObjects) {
  InitWith(4 * kMiB);
  struct Case {
    Layout layout;
    std::size_t charged;
  };
  for (Case c : {Case{{0, 1}, 16}, Case{{1, 1}, 16}, Case{{17, 8}, 32},
                 Case{{100, 16}, 112}, Case{{300, 8}, 320},
                 Case{{4096, 8}, 4096}, Case{{64, 1024}, 1024}}) {
    absl::StatusOr<void*> block = slab_.Alloc(c.layout);
    ASSERT_TRUE(block.ok());
    EXPECT_EQ(slab_.UsedBytes() - baseline_, c.charged) << c.layout.size;
    slab_.Dealloc(*block, c.layout);
    EXPECT_EQ(slab_.UsedBytes(), baseline_);
  }
  ExpectHealthy(slab_);
}

TEST_F(SlabTest, LargeRequestsGoToTheBackingAllocator) {
  InitWith(4 * kMiB);
  for (Layout layout :
       {Layout{4097, 1}, Layout{4160, 8}, Layout{kMiB, 16}, Layout{8, 8192}}) {
    const std::size_t backing_used = slab_.backing().UsedBytes();
    absl::StatusOr<void*> block = slab_.Alloc(layout);
    ASSERT_TRUE(block.ok()) << block.status();
    EXPECT_EQ(Address(*block) % layout.align, 0u);
    EXPECT_EQ(slab_.SlabCount(), 0u) << layout.size;
    EXPECT_GE(slab_.backing().UsedBytes() - backing_used, layout.size);
    EXPECT_EQ(slab_.UsedBytes() - baseline_,
              slab_.backing().UsedBytes() - backing_used);
    slab_.Dealloc(*block, layout);
    EXPECT_EQ(slab_.UsedBytes(), baseline_);
  }
  ExpectHealthy(slab_);
}

TEST_F(SlabTest, SmallRequestsWithLargeAlignmentsAreAligned) {
  InitWith(32 * kMiB);
  std::vector<std::pair<void*, Layout>> blocks;
  for (std::size_t align = 32; align <= kMiB; align *= 2) {
    for (std::size_t size : {0, 1, 8, 24, 100, 256}) {
      // Several of each where slabs serve them, to see more than the first
      // object of a slab.
      for (int copy = 0; copy < (align <= 4096 ? 3 : 1); ++copy) {
        const Layout layout{size, align};
        absl::StatusOr<void*> block = slab_.Alloc(layout);
        ASSERT_TRUE(block.ok()) << block.status();
        ASSERT_EQ(Address(*block) % align, 0u)
            << "size " << size << " align " << align;
        std::memset(*block, 0xab, size);
        blocks.emplace_back(*block, layout);
      }
    }
  }
  // Those up to 4 KiB came from slabs.
  EXPECT_GT(slab_.SlabCount(), 0u);
  ExpectHealthy(slab_);
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937_64(5));
  for (auto [block, layout] : blocks) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  ExpectHealthy(slab_);
}

TEST_F(SlabTest, MemoryOfOneClassServesAnotherAndLargeRequests) {
  InitWith(2 * kMiB);
  const Layout small{64, 8};
  std::vector<void*> blocks = AllocUntilFull(slab_, small);
  const std::size_t small_bytes = blocks.size() * 64;
  EXPECT_GT(small_bytes, kMiB);
  ExpectHealthy(slab_);
  for (void* block : blocks) slab_.Dealloc(block, small);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);

  // The same memory now holds 256-byte objects (less a slab or two: TLSF
  // needs a free block of twice the slab size to place an aligned one)...
  const Layout medium{256, 8};
  blocks = AllocUntilFull(slab_, medium);
  EXPECT_GE(blocks.size() * 256, small_bytes * 90 / 100);
  ExpectHealthy(slab_);
  for (void* block : blocks) slab_.Dealloc(block, medium);

  // ...and, given back, a 1 MiB block: the cached and current empty slabs are
  // released when the backing allocator would otherwise fail.
  EXPECT_GT(slab_.SlabCount(), 0u);
  absl::StatusOr<void*> large = slab_.Alloc(Layout{kMiB, 8});
  ASSERT_TRUE(large.ok()) << large.status();
  slab_.Dealloc(*large, Layout{kMiB, 8});
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  ExpectHealthy(slab_);
}

TEST_F(SlabTest, EmptySlabsGoBackToTheBackingAllocator) {
  InitWith(8 * kMiB);
  const std::size_t backing_baseline = slab_.backing().UsedBytes();
  const Layout layout{128, 8};
  const std::size_t per_slab = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 20 * per_slab; ++i) {
    absl::StatusOr<void*> block = slab_.Alloc(layout);
    ASSERT_TRUE(block.ok());
    blocks.push_back(*block);
  }
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
  ExpectHealthy(slab_);
  EXPECT_EQ(slab_.ReleaseEmptySlabs(), Slab::kMaxCachedSlabs + 1);
  EXPECT_EQ(slab_.SlabCount(), 0u);
  EXPECT_EQ(slab_.backing().UsedBytes(), backing_baseline);
  ExpectHealthy(slab_);

  // Freed in random order, the objects left in the magazine hold some slabs;
  // ReleaseEmptySlabs() passes them on and gives every slab back.
  for (void*& block : blocks) block = *slab_.Alloc(layout);
  std::shuffle(blocks.begin(), blocks.end(), std::mt19937_64(20));
  for (void* block : blocks) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  EXPECT_LE(slab_.SlabCount(), 20u);
  slab_.ReleaseEmptySlabs();
  EXPECT_EQ(slab_.SlabCount(), 0u);
  EXPECT_EQ(slab_.backing().UsedBytes(), backing_baseline);
  ExpectHealthy(slab_);
}

TEST_F(SlabTest, MagazinesHandOutTheLastFreedObjectFirst) {
  InitWith(4 * kMiB);
  const Layout layout{64, 8};
  void* a = *slab_.Alloc(layout);
  void* b = *slab_.Alloc(layout);
  slab_.Dealloc(a, layout);
  slab_.Dealloc(b, layout);
  EXPECT_EQ(*slab_.Alloc(layout), b);
  EXPECT_EQ(*slab_.Alloc(layout), a);
  // A full magazine passes its older half back to the slabs.
  const std::size_t magazine = Slab::MagazineSize(Slab::SizeClassFor(layout));
  EXPECT_EQ(magazine, 256u);
  std::vector<void*> blocks = {a, b};
  while (blocks.size() < 3 * magazine) blocks.push_back(*slab_.Alloc(layout));
  for (void* block : blocks) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  ExpectHealthy(slab_);
  EXPECT_EQ(*slab_.Alloc(layout), blocks.back());
  EXPECT_EQ(Slab::MagazineSize(Slab::SizeClassFor(Layout{4096, 8})), 16u);
  EXPECT_EQ(Slab::MagazineSize(Slab::SizeClassFor(Layout{1024, 8})), 64u);
}

TEST(SlabHysteresisTest, AllocAndFreeAtASlabBoundaryDoNotThrash) {
  Arena arena(8 * kMiB);
  SlabByteAllocator<CountingBacking> slab;
  ASSERT_TRUE(slab.Init(arena.start(), arena.size()).ok());
  const Layout layout{64, 8};
  const std::size_t per_slab = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  std::vector<void*> first;  // Exactly one full slab.
  for (std::size_t i = 0; i < per_slab; ++i) {
    first.push_back(*slab.Alloc(layout));
  }
  ASSERT_EQ(slab.backing().allocs(), 1);

  // One object past the boundary, again and again: one new slab in all.
  for (int i = 0; i < 1000; ++i) {
    absl::StatusOr<void*> block = slab.Alloc(layout);
    ASSERT_TRUE(block.ok());
    slab.Dealloc(*block, layout);
  }
  EXPECT_EQ(slab.backing().allocs(), 2);
  EXPECT_EQ(slab.backing().deallocs(), 0);

  // Freeing and reallocating one object of the full slab, again and again.
  for (int i = 0; i < 1000; ++i) {
    slab.Dealloc(first.back(), layout);
    absl::StatusOr<void*> block = slab.Alloc(layout);
    ASSERT_TRUE(block.ok());
    first.back() = *block;
  }
  EXPECT_EQ(slab.backing().allocs(), 2);
  EXPECT_EQ(slab.backing().deallocs(), 0);
  ExpectHealthy(slab);

  // A queue: batches of new objects at one end, as many of the oldest freed
  // at the other, so old slabs keep emptying while new ones fill; 30 slabs'
  // worth go through it. The cache recycles the emptied slabs.
  std::deque<void*> queue(first.begin(), first.end());
  const std::size_t batch = per_slab / 3;
  for (std::size_t round = 0; round < 90; ++round) {
    for (std::size_t i = 0; i < batch; ++i) {
      absl::StatusOr<void*> block = slab.Alloc(layout);
      ASSERT_TRUE(block.ok());
      queue.push_back(*block);
    }
    for (std::size_t i = 0; i < batch; ++i) {
      slab.Dealloc(queue.front(), layout);
      queue.pop_front();
    }
  }
  EXPECT_LE(slab.backing().allocs(),
            2 + static_cast<int>(Slab::kMaxCachedSlabs));
  EXPECT_EQ(slab.backing().deallocs(), 0);
  ExpectHealthy(slab);
  for (void* block : queue) slab.Dealloc(block, layout);
  EXPECT_EQ(slab.UsedBytes(), 0u);
  ExpectHealthy(slab);
}

TEST(SlabHysteresisTest, TheCacheIsBounded) {
  Arena arena(16 * kMiB);
  SlabByteAllocator<CountingBacking> slab;
  ASSERT_TRUE(slab.Init(arena.start(), arena.size()).ok());
  const Layout layout{512, 8};
  const std::size_t per_slab = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 30 * per_slab; ++i) {
    blocks.push_back(*slab.Alloc(layout));
  }
  EXPECT_EQ(slab.backing().allocs(), 30);
  for (void* block : blocks) slab.Dealloc(block, layout);
  EXPECT_EQ(slab.backing().deallocs(),
            30 - 1 - static_cast<int>(Slab::kMaxCachedSlabs));
  // Cached slabs serve any class without a backing call.
  for (std::size_t i = 0; i < Slab::kMaxCachedSlabs; ++i) {
    absl::StatusOr<void*> block = slab.Alloc(Layout{16 * (i + 1), 8});
    ASSERT_TRUE(block.ok());
    blocks[i] = *block;
  }
  EXPECT_EQ(slab.backing().allocs(), 30);
  EXPECT_EQ(slab.CachedSlabCount(), 0u);
  for (std::size_t i = 0; i < Slab::kMaxCachedSlabs; ++i) {
    slab.Dealloc(blocks[i], Layout{16 * (i + 1), 8});
  }
  ExpectHealthy(slab);
}

TEST_F(SlabTest, AClassWithoutRoomTakesOverAnotherClassesEmptySlab) {
  InitWith(kMiB);
  // One slab of 16-byte objects, then large blocks until nothing fits.
  const Layout tiny{16, 8};
  absl::StatusOr<void*> object = slab_.Alloc(tiny);
  ASSERT_TRUE(object.ok());
  std::vector<void*> large = AllocUntilFull(slab_, Layout{8 * kKiB, 8});
  std::vector<void*> filler = AllocUntilFull(slab_, Layout{5000, 8});
  ASSERT_EQ(slab_.SlabCount(), 1u);
  // The slab stays as the current one, empty once the magazine passes the
  // object back.
  slab_.Dealloc(*object, tiny);
  EXPECT_EQ(slab_.SlabCount(), 1u);

  absl::StatusOr<void*> other = slab_.Alloc(Layout{1000, 8});
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(Address(*other) & ~(kSlabSize - 1),
            Address(*object) & ~(kSlabSize - 1));
  EXPECT_EQ(slab_.SlabCount(), 1u);
  ExpectHealthy(slab_);
  // Now no class has a slab to spare.
  absl::StatusOr<void*> none = slab_.Alloc(tiny);
  EXPECT_EQ(GetAllocError(none.status()), AllocError::kNoMemory);
  slab_.Dealloc(*other, Layout{1000, 8});
  none = slab_.Alloc(tiny);
  ASSERT_TRUE(none.ok()) << none.status();
  slab_.Dealloc(*none, tiny);
  for (void* block : large) slab_.Dealloc(block, Layout{8 * kKiB, 8});
  for (void* block : filler) slab_.Dealloc(block, Layout{5000, 8});
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  ExpectHealthy(slab_);
}

TEST_F(SlabTest, StatisticsStayExactUnderRandomTraffic) {
  InitWith(16 * kMiB);
  std::mt19937_64 rng(99);
  std::vector<std::pair<void*, Layout>> live;
  std::size_t live_bytes = 0;
  for (int step = 0; step < 50'000; ++step) {
    if (live.size() < 2000 && rng() % 3 != 0) {
      const std::size_t size = rng() % 8 == 0 ? rng() % 20'000 : rng() % 600;
      const Layout layout{size, std::size_t{1} << (rng() % 7)};
      absl::StatusOr<void*> block = slab_.Alloc(layout);
      ASSERT_TRUE(block.ok()) << block.status();
      std::memset(*block, static_cast<int>(step), size);
      live.emplace_back(*block, layout);
      live_bytes += size;
    } else if (!live.empty()) {
      const std::size_t victim = rng() % live.size();
      std::swap(live[victim], live.back());
      slab_.Dealloc(live.back().first, live.back().second);
      live_bytes -= live.back().second.size;
      live.pop_back();
    }
    ASSERT_EQ(slab_.UsedBytes() + slab_.AvailableBytes(), slab_.TotalBytes());
    ASSERT_GE(slab_.UsedBytes() - baseline_, live_bytes);
    if (step % 5000 == 0) ExpectHealthy(slab_);
  }
  for (auto [block, layout] : live) slab_.Dealloc(block, layout);
  EXPECT_EQ(slab_.UsedBytes(), baseline_);
  ExpectHealthy(slab_);
  slab_.ReleaseEmptySlabs();
  EXPECT_EQ(slab_.SlabCount(), 0u);
  EXPECT_EQ(slab_.backing().UsedBytes(), 0u);
}

TEST_F(SlabTest, InitForgetsEverySlab) {
  InitWith(4 * kMiB);
  for (int i = 0; i < 5000; ++i) ASSERT_TRUE(slab_.Alloc(Layout{48, 8}).ok());
  EXPECT_GT(slab_.SlabCount(), 1u);
  InitWith(4 * kMiB);
  EXPECT_EQ(slab_.SlabCount(), 0u);
  EXPECT_EQ(slab_.UsedBytes(), 0u);
  ExpectHealthy(slab_);
  absl::StatusOr<void*> block = slab_.Alloc(Layout{48, 8});
  ASSERT_TRUE(block.ok());
  slab_.Dealloc(*block, Layout{48, 8});
  ExpectHealthy(slab_);
}

TEST_F(SlabTest, InitAndAddMemoryFailAsTheBackingDoes) {
  EXPECT_EQ(GetAllocError(slab_.Init(arena_.start(), 8)),
            AllocError::kInvalidParam);
  InitWith(kMiB);
  EXPECT_EQ(GetAllocError(slab_.AddMemory(start_, kMiB)),
            AllocError::kMemoryOverlap);
  EXPECT_TRUE(slab_.AddMemory(start_ + 4 * kMiB, kMiB).ok());
}

TEST_F(SlabTest, CheckInvariantsSpotsACorruptBitmap) {
  InitWith(kMiB);
  void* a = *slab_.Alloc(Layout{32, 8});
  void* b = *slab_.Alloc(Layout{32, 8});
  slab_.Dealloc(a, Layout{32, 8});
  ExpectHealthy(slab_);
  // Mark `b`, a live object, free: the bitmap follows the header line.
  const std::uintptr_t base = Address(b) & ~(kSlabSize - 1);
  const std::size_t index = (Address(b) - base) / 32;
  auto* const bits =
      reinterpret_cast<std::uint64_t*>(base + Slab::kSlabObjectBytes + 64);
  bits[index / 64] |= std::uint64_t{1} << (index % 64);
  EXPECT_FALSE(slab_.CheckInvariants().ok());
  bits[index / 64] &= ~(std::uint64_t{1} << (index % 64));
  ExpectHealthy(slab_);
  slab_.Dealloc(b, Layout{32, 8});
}

TEST(SlabBackingTest, WorksOverTheBuddyAllocator) {
  Arena arena(16 * kMiB);
  SlabByteAllocator<BuddyByteAllocator> slab;
  ASSERT_TRUE(slab.Init(arena.start(), arena.size()).ok());
  const std::size_t baseline = slab.UsedBytes();
  std::mt19937_64 rng(4);
  std::vector<std::pair<void*, Layout>> blocks;
  for (int i = 0; i < 3000; ++i) {
    const Layout layout{rng() % 6000, std::size_t{1} << (rng() % 10)};
    absl::StatusOr<void*> block = slab.Alloc(layout);
    ASSERT_TRUE(block.ok()) << block.status();
    ASSERT_EQ(Address(*block) % layout.align, 0u);
    blocks.emplace_back(*block, layout);
  }
  EXPECT_GT(slab.SlabCount(), 10u);
  ExpectHealthy(slab);
  std::shuffle(blocks.begin(), blocks.end(), rng);
  for (auto [block, layout] : blocks) slab.Dealloc(block, layout);
  EXPECT_EQ(slab.UsedBytes(), baseline);
  ExpectHealthy(slab);
  slab.ReleaseEmptySlabs();
  EXPECT_EQ(slab.backing().UsedBytes(), 0u);
  ExpectHealthy(slab);
}

using SlabDeathTest = SlabTest;

TEST_F(SlabDeathTest, ForeignPointerAborts) {
  InitWith(4 * kMiB);
  // A zeroed large block is no slab: where a slab's key would be, it has 0.
  const Layout big{4 * kSlabSize, kSlabSize};
  void* block = *slab_.Alloc(big);
  std::memset(block, 0, big.size);
  void* inside = static_cast<char*>(block) + kSlabSize + 256;
  EXPECT_DEATH(slab_.Dealloc(inside, Layout{64, 8}), "not in a live slab");
  slab_.Dealloc(block, big);
}

TEST_F(SlabDeathTest, FreeIntoACachedSlabAborts) {
  InitWith(4 * kMiB);
  const Layout layout{1024, 8};
  const std::size_t per_slab = Slab::ObjectsPerSlab(Slab::SizeClassFor(layout));
  std::vector<void*> blocks;
  for (std::size_t i = 0; i < 3 * per_slab; ++i) {
    blocks.push_back(*slab_.Alloc(layout));
  }
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
  ExpectHealthy(slab_);
}

TEST_F(SlabDeathTest, DoubleFreeAbortsByTheTimeTheObjectReachesItsSlab) {
  InitWith(kMiB);
  void* keep = *slab_.Alloc(Layout{64, 8});
  void* block = *slab_.Alloc(Layout{64, 8});
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
  InitWith(kMiB);
  void* block = *slab_.Alloc(Layout{64, 8});
  EXPECT_DEATH(slab_.Dealloc(block, Layout{200, 8}), "another size class");
  slab_.Dealloc(block, Layout{64, 8});
}

#ifndef NDEBUG
TEST_F(SlabDeathTest, DebugBuildsCatchEveryDoubleFree) {
  InitWith(kMiB);
  const Layout layout{40, 8};
  std::vector<void*> blocks;
  for (int i = 0; i < 300; ++i) blocks.push_back(*slab_.Alloc(layout));
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
  ExpectHealthy(slab_);
}

TEST_F(SlabDeathTest, DebugBuildsCatchAnInteriorPointer) {
  InitWith(kMiB);
  void* block = *slab_.Alloc(Layout{64, 8});
  EXPECT_DEATH(slab_.Dealloc(static_cast<char*>(block) + 16, Layout{64, 8}),
               "not the start of an object");
  slab_.Dealloc(block, Layout{64, 8});
}
#endif  // NDEBUG

}  // namespace
}  // namespace heapkit
