#ifndef HEAPKIT_TESTS_BYTE_ALLOCATOR_CONFORMANCE_H_
#define HEAPKIT_TESTS_BYTE_ALLOCATOR_CONFORMANCE_H_

// Defines the typed test suite ByteAllocatorConformance: the contract of
// core/byte_allocator.h (bad input, exhaustion, AddMemory, alignment, size 0)
// and a shadow-model random test of a million checked operations. Instantiate
// it for a backend with byte_backend_suites() in tests/byte_backend_suites.bzl;
// a type that is not a heapkit::ByteBackend fails to compile with a message
// naming the concept. Replay a random failure with the seed it prints:
// HEAPKIT_TEST_SEED=<seed>.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/alloc_error.h"
#include "core/byte_allocator.h"
#include "core/concepts.h"
#include "core/layout.h"
#include "core/region.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"
#include "tests/shadow_model.h"

namespace heapkit::testing {

template <class T>
class ByteAllocatorConformance : public ::testing::Test {
 protected:
  static_assert(ByteBackend<T>,
                "ByteAllocatorConformance<T> needs a heapkit::ByteBackend "
                "(core/concepts.h): a ByteAllocator with Init, AddMemory, "
                "Alloc, Dealloc, TotalBytes, UsedBytes, AvailableBytes and "
                "CheckInvariants; the notes below name the missing piece");
  static_assert(std::is_final_v<T> && std::is_default_constructible_v<T> &&
                    !std::is_copy_constructible_v<T>,
                "a byte backend is final, default-constructible and not "
                "copyable");

  ByteAllocatorConformance() : arena_(64 * kMiB) {}

  // Initialises the backend over the first `size` bytes of the arena.
  void InitWith(std::size_t size) {
    ASSERT_TRUE(arena_.ok());
    ASSERT_THAT(backend_.Init(arena_.start(), size), IsOk());
  }

  // Expects the backend's own invariants and UsedBytes() + AvailableBytes() ==
  // TotalBytes().
  void ExpectInvariants() {
    EXPECT_THAT(backend_.CheckInvariants(), IsOk());
    EXPECT_EQ(backend_.UsedBytes() + backend_.AvailableBytes(),
              backend_.TotalBytes());
  }

  // Returns the largest size that one Alloc with alignment 1 can serve now.
  std::size_t LargestAllocatable() {
    std::size_t low = 0;
    std::size_t high = backend_.TotalBytes() + 1;  // Never allocatable.
    while (high - low > 1) {
      const std::size_t mid = low + (high - low) / 2;
      absl::StatusOr<void*> block = backend_.Alloc(Layout{mid, 1});
      if (block.ok()) {
        backend_.Dealloc(*block, Layout{mid, 1});
        low = mid;
      } else {
        high = mid;
      }
    }
    return low;
  }

  Arena arena_;
  T backend_;
};

TYPED_TEST_SUITE_P(ByteAllocatorConformance);

TYPED_TEST_P(ByteAllocatorConformance, InitReportsConsistentStats) {
  this->InitWith(4 * kMiB);
  EXPECT_GT(this->backend_.TotalBytes(), 3 * kMiB);
  EXPECT_LE(this->backend_.TotalBytes(), 4 * kMiB);
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance, AllocHonoursEveryAlignmentUpTo1MiB) {
  this->InitWith(16 * kMiB);
  ShadowModel model;
  model.AddRegion(
      Region{this->arena_.start(), this->arena_.start() + 16 * kMiB});
  std::vector<void*> blocks;
  for (std::size_t align = 1; align <= kMiB; align *= 2) {
    for (std::size_t size :
         {std::size_t{0}, std::size_t{1}, align / 2 + 1, align * 3}) {
      const Layout layout{size, align};
      absl::StatusOr<void*> block = this->backend_.Alloc(layout);
      ASSERT_THAT(block, IsOk()) << "size " << size << " align " << align;
      ASSERT_TRUE(model.Allocated(*block, layout));
      blocks.push_back(*block);
    }
  }
  this->ExpectInvariants();
  for (void* block : blocks) {
    Layout layout;
    ASSERT_TRUE(model.Freeing(block, layout));
    this->backend_.Dealloc(block, layout);
  }
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance, SizeZeroReturnsUniqueNonNullPointers) {
  this->InitWith(kMiB);
  const std::size_t used = this->backend_.UsedBytes();
  std::set<void*> seen;
  for (int i = 0; i < 100; ++i) {
    ASSERT_OK_AND_ASSIGN(void* block, this->backend_.Alloc(Layout{0, 1}));
    ASSERT_NE(block, nullptr);
    EXPECT_TRUE(seen.insert(block).second)
        << "size 0 returned " << block << " twice";
  }
  for (void* block : seen) this->backend_.Dealloc(block, Layout{0, 1});
  EXPECT_EQ(this->backend_.UsedBytes(), used);
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance, SizeMaxIsNoMemory) {
  this->InitWith(kMiB);
  for (std::size_t size : {kMax, kMax - 1, kMax - 64, kMax / 2 + 1}) {
    absl::StatusOr<void*> block = this->backend_.Alloc(Layout{size, 1});
    EXPECT_THAT(block, IsAllocError(AllocError::kNoMemory)) << "size " << size;
  }
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance, NonPowerOfTwoAlignmentIsInvalid) {
  this->InitWith(kMiB);
  for (std::size_t align : {0, 3, 24, 100, 4095}) {
    absl::StatusOr<void*> block = this->backend_.Alloc(Layout{16, align});
    EXPECT_THAT(block, IsAllocError(AllocError::kInvalidParam))
        << "align " << align;
  }
}

TYPED_TEST_P(ByteAllocatorConformance, SizePlusAlignmentOverflowIsInvalid) {
  this->InitWith(kMiB);
  for (Layout layout :
       {Layout{kMax, 2}, Layout{kMax - 10, 64}, Layout{kMax - 4000, 4096}}) {
    absl::StatusOr<void*> block = this->backend_.Alloc(layout);
    EXPECT_THAT(block, IsAllocError(AllocError::kInvalidParam))
        << layout.size << "/" << layout.align;
  }
}

TYPED_TEST_P(ByteAllocatorConformance, HugeAlignmentIsRefusedNotMisaligned) {
  this->InitWith(kMiB);
  for (std::size_t shift : {40, 50, 63}) {
    absl::StatusOr<void*> block =
        this->backend_.Alloc(Layout{16, std::size_t{1} << shift});
    EXPECT_THAT(block, IsAllocError(AllocError::kNoMemory))
        << "align 2^" << shift;
  }
}

TYPED_TEST_P(ByteAllocatorConformance, NullRegionIsInvalid) {
  EXPECT_THAT(this->backend_.Init(0, 0),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(this->backend_.Init(this->arena_.start(), 0),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(this->backend_.TotalBytes(), 0u);
}

TYPED_TEST_P(ByteAllocatorConformance, TinyRegionIsInvalid) {
  for (std::size_t size : {1, 7, 8}) {
    EXPECT_THAT(this->backend_.Init(this->arena_.start(), size),
                IsAllocError(AllocError::kInvalidParam))
        << size;
  }
  EXPECT_EQ(this->backend_.TotalBytes(), 0u);
}

TYPED_TEST_P(ByteAllocatorConformance, WrappingRegionIsInvalid) {
  const std::uintptr_t top = std::numeric_limits<std::uintptr_t>::max();
  EXPECT_THAT(this->backend_.Init(top - 4095, 8192),
              IsAllocError(AllocError::kInvalidParam));
  // Reaching the last address is refused too, before any byte is touched:
  // the region's end cannot be held, and it is not shortened.
  EXPECT_THAT(this->backend_.Init(top - 4095, 4096),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(this->backend_.Init(this->arena_.start(), kMax),
              IsAllocError(AllocError::kInvalidParam));
}

TYPED_TEST_P(ByteAllocatorConformance, OverlappingAddMemoryIsMemoryOverlap) {
  this->InitWith(4 * kMiB);
  const std::uintptr_t start = this->arena_.start();
  const std::size_t total = this->backend_.TotalBytes();
  struct Case {
    std::uintptr_t start;
    std::size_t size;
  };
  for (Case c :
       {Case{start, 4 * kMiB}, Case{start + kMiB, kMiB},
        Case{start + 3 * kMiB, 2 * kMiB}, Case{start + kMiB, 8 * kMiB}}) {
    EXPECT_THAT(this->backend_.AddMemory(c.start, c.size),
                IsAllocError(AllocError::kMemoryOverlap))
        << c.start - start << "+" << c.size;
  }
  EXPECT_EQ(this->backend_.TotalBytes(), total);
  this->ExpectInvariants();
  // A region that merely touches the managed one is fine.
  EXPECT_THAT(this->backend_.AddMemory(start + 4 * kMiB, kMiB), IsOk());
  EXPECT_GT(this->backend_.TotalBytes(), total);
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance, AddMemoryServesNewRequests) {
  this->InitWith(kMiB);
  std::vector<void*> blocks;
  for (absl::StatusOr<void*> block;
       (block = this->backend_.Alloc(Layout{4096, 8})).ok();) {
    blocks.push_back(*block);
  }
  // Far from the first region, so no backend can merge the two.
  ASSERT_THAT(this->backend_.AddMemory(this->arena_.start() + 32 * kMiB, kMiB),
              IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, this->backend_.Alloc(Layout{4096, 8}));
  EXPECT_GE(reinterpret_cast<std::uintptr_t>(block),
            this->arena_.start() + 32 * kMiB);
  this->backend_.Dealloc(block, Layout{4096, 8});
  for (void* p : blocks) this->backend_.Dealloc(p, Layout{4096, 8});
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance, ExhaustionIsNoMemoryAndRecoverable) {
  this->InitWith(2 * kMiB);
  const std::size_t used = this->backend_.UsedBytes();
  std::vector<void*> blocks;
  absl::StatusOr<void*> block;
  while ((block = this->backend_.Alloc(Layout{1000, 8})).ok())
    blocks.push_back(*block);
  EXPECT_THAT(block, IsAllocError(AllocError::kNoMemory));
  ASSERT_GT(blocks.size(), 1000u);
  this->ExpectInvariants();
  // Still usable: a freed block can be had again, then everything goes back.
  this->backend_.Dealloc(blocks.back(), Layout{1000, 8});
  ASSERT_OK_AND_ASSIGN(blocks.back(), this->backend_.Alloc(Layout{1000, 8}));
  for (void* p : blocks) this->backend_.Dealloc(p, Layout{1000, 8});
  EXPECT_EQ(this->backend_.UsedBytes(), used);
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance,
             FreeingEverythingRestoresTheLargestBlock) {
  this->InitWith(8 * kMiB);
  const std::size_t used = this->backend_.UsedBytes();
  const std::size_t largest = this->LargestAllocatable();
  ASSERT_GT(largest, kMiB);
  std::mt19937_64 rng(11);
  std::vector<std::pair<void*, Layout>> blocks;
  for (int i = 0; i < 5000; ++i) {
    const Layout layout{rng() % 5000, std::size_t{1} << (rng() % 8)};
    absl::StatusOr<void*> block = this->backend_.Alloc(layout);
    if (block.ok()) blocks.emplace_back(*block, layout);
  }
  std::shuffle(blocks.begin(), blocks.end(), rng);
  for (auto [ptr, layout] : blocks) this->backend_.Dealloc(ptr, layout);
  EXPECT_EQ(this->backend_.UsedBytes(), used);
  EXPECT_EQ(this->LargestAllocatable(), largest);
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance, NullDeallocIsIgnored) {
  this->InitWith(kMiB);
  const std::size_t used = this->backend_.UsedBytes();
  this->backend_.Dealloc(nullptr, Layout{64, 8});
  EXPECT_EQ(this->backend_.UsedBytes(), used);
  this->ExpectInvariants();
}

TYPED_TEST_P(ByteAllocatorConformance, WorksThroughTheAbstractInterface) {
  this->InitWith(kMiB);
  ByteAllocator& base = this->backend_;
  ASSERT_OK_AND_ASSIGN(void* block, base.Alloc(Layout::Of<double>(100)));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % alignof(double), 0u);
  EXPECT_GE(base.UsedBytes(), 800u);
  base.Dealloc(block, Layout::Of<double>(100));
  EXPECT_EQ(base.UsedBytes() + base.AvailableBytes(), base.TotalBytes());
}

namespace conformance_internal {

// The random choices of the shadow-model random test.
class RandomStream {
 public:
  // Operations per seed, and seeds per backend: 1,000,000 checked operations.
  static constexpr int kSteps = 125'000;
  static constexpr int kSeeds = 8;

  explicit RandomStream(std::uint64_t seed) : rng_(seed) {}

  // Returns a size in [0, 64 KiB), log-uniform so small and large sizes both
  // appear often.
  std::size_t Size() {
    const double exponent = std::uniform_real_distribution<double>(0, 16)(rng_);
    return static_cast<std::size_t>(std::exp2(exponent)) - 1;
  }
  std::size_t Align() { return std::size_t{1} << Below(13); }  // 1 .. 4096
  std::size_t Below(std::size_t n) { return rng_() % n; }
  std::mt19937_64& rng() { return rng_; }

 private:
  std::mt19937_64 rng_;
};

// Returns the seed base: HEAPKIT_TEST_SEED from the environment, to replay a
// failure, or a fixed default so CI runs are repeatable.
inline std::uint64_t SeedBase() {
  const char* text = std::getenv("HEAPKIT_TEST_SEED");
  return text != nullptr ? std::strtoull(text, nullptr, 0) : 20261124;
}

}  // namespace conformance_internal

// The shadow-model random test: streams of random Alloc, Dealloc and AddMemory,
// every result judged by an independent model after every step.
TYPED_TEST_P(ByteAllocatorConformance, ShadowModelRandomStreams) {
  using conformance_internal::RandomStream;
  using conformance_internal::SeedBase;
  auto& backend = this->backend_;
  const std::uintptr_t arena = this->arena_.start();
  // How often the rarer paths ran, so the stream provably reaches them.
  int regions_added = 0, exhaustions = 0, drains = 0;
  for (int run = 0; run < RandomStream::kSeeds; ++run) {
    const std::uint64_t seed = SeedBase() + run;
    SCOPED_TRACE(::testing::Message()
                 << "seed " << seed << " (replay: HEAPKIT_TEST_SEED=" << seed
                 << ")");
    RandomStream random(seed);
    ShadowModel model;
    // The first region starts at a random, often odd, offset; more regions come
    // later at random gaps (sometimes none, so they touch) further up the
    // arena.
    std::uintptr_t next_region = arena + random.Below(4096);
    std::size_t region_size = 4 * kMiB + random.Below(kMiB);
    ASSERT_THAT(backend.Init(next_region, region_size), IsOk());
    model.AddRegion(Region{next_region, next_region + region_size});
    next_region += region_size;
    std::size_t total = backend.TotalBytes();
    const std::size_t baseline_used = backend.UsedBytes();

    std::vector<void*> order;  // Live blocks in allocation order.
    std::size_t live_target = 64;
    auto free_at = [&](std::size_t index) -> ::testing::AssertionResult {
      void* ptr = order[index];
      order[index] = order.back();
      order.pop_back();
      Layout layout;
      ::testing::AssertionResult result = model.Freeing(ptr, layout);
      backend.Dealloc(ptr, layout);
      return result;
    };
    for (int step = 0; step < RandomStream::kSteps; ++step) {
      SCOPED_TRACE(::testing::Message() << "step " << step);
      // Per 40,000 steps: 5 AddMemory, 2 drains; the rest alloc and free.
      const std::size_t action = random.Below(40'000);
      if (action < 5 && next_region + 2 * kMiB < arena + this->arena_.size()) {
        // AddMemory: 64 KiB to 512 KiB, sometimes touching the last region.
        if (random.Below(2) == 0) next_region += random.Below(64 * 1024);
        region_size = 64 * 1024 + random.Below(448 * 1024);
        ASSERT_THAT(backend.AddMemory(next_region, region_size), IsOk());
        model.AddRegion(Region{next_region, next_region + region_size});
        next_region += region_size;
        ++regions_added;
        ASSERT_GT(backend.TotalBytes(), total);
        total = backend.TotalBytes();
      } else if (action < 7 && !order.empty()) {
        // Drain: free everything in allocation order, reverse order, or
        // shuffled.
        const std::size_t mode = random.Below(3);
        if (mode == 1) std::reverse(order.begin(), order.end());
        if (mode == 2) std::shuffle(order.begin(), order.end(), random.rng());
        std::reverse(order.begin(), order.end());  // free_at(back) is cheapest.
        while (!order.empty()) ASSERT_TRUE(free_at(order.size() - 1));
        ASSERT_EQ(backend.UsedBytes(), baseline_used);
        ++drains;
      } else if (order.size() < live_target && random.Below(4) != 0) {
        const Layout layout{random.Size(), random.Align()};
        absl::StatusOr<void*> block = backend.Alloc(layout);
        if (block.ok()) {
          ASSERT_TRUE(model.Allocated(*block, layout));
          order.push_back(*block);
        } else {
          ASSERT_THAT(block, IsAllocError(AllocError::kNoMemory));
          live_target = order.size() / 2;  // Full: free half, then go on.
          ++exhaustions;
        }
      } else if (!order.empty()) {
        ASSERT_TRUE(free_at(random.Below(order.size())));
      }
      if (step % 5000 == 0) live_target = 16 + random.Below(3000);
      ASSERT_EQ(backend.TotalBytes(), total);
      ASSERT_EQ(backend.UsedBytes() + backend.AvailableBytes(), total);
      ASSERT_GE(backend.UsedBytes() - baseline_used, model.live_bytes());
      if (step % 4096 == 0) {
        ASSERT_THAT(backend.CheckInvariants(), IsOk());
      }
    }
    while (!order.empty()) ASSERT_TRUE(free_at(order.size() - 1));
    EXPECT_EQ(backend.UsedBytes(), baseline_used);
    ASSERT_THAT(backend.CheckInvariants(), IsOk());
  }
  EXPECT_GT(regions_added, 8 * RandomStream::kSeeds);
  EXPECT_GT(exhaustions, RandomStream::kSeeds);
  EXPECT_GT(drains, 2 * RandomStream::kSeeds);
  std::cout << "regions added " << regions_added << ", exhaustions "
            << exhaustions << ", drains " << drains << "\n";
}

REGISTER_TYPED_TEST_SUITE_P(
    ByteAllocatorConformance, InitReportsConsistentStats,
    AllocHonoursEveryAlignmentUpTo1MiB, SizeZeroReturnsUniqueNonNullPointers,
    SizeMaxIsNoMemory, NonPowerOfTwoAlignmentIsInvalid,
    SizePlusAlignmentOverflowIsInvalid, HugeAlignmentIsRefusedNotMisaligned,
    NullRegionIsInvalid, TinyRegionIsInvalid, WrappingRegionIsInvalid,
    OverlappingAddMemoryIsMemoryOverlap, AddMemoryServesNewRequests,
    ExhaustionIsNoMemoryAndRecoverable,
    FreeingEverythingRestoresTheLargestBlock, NullDeallocIsIgnored,
    WorksThroughTheAbstractInterface, ShadowModelRandomStreams);

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_BYTE_ALLOCATOR_CONFORMANCE_H_
