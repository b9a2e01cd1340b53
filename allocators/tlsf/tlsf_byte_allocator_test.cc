#include "allocators/tlsf/tlsf_byte_allocator.h"

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/alloc_error.h"
#include "core/layout.h"
#include "gtest/gtest.h"

namespace heapkit {
namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;
constexpr std::size_t kTiB = std::size_t{1} << 40;

std::uintptr_t Addr(const void* ptr) {
  return reinterpret_cast<std::uintptr_t>(ptr);
}

std::uintptr_t AlignUp(std::uintptr_t value, std::size_t align) {
  return (value + align - 1) & ~(align - 1);
}

// Heap memory for a pool whose start is aligned to `align`.
class Arena {
 public:
  explicit Arena(std::size_t size, std::size_t align = 16)
      : storage_(size + align), start_(AlignUp(Addr(storage_.data()), align)) {}
  std::uintptr_t start() const { return start_; }

 private:
  std::vector<unsigned char> storage_;
  std::uintptr_t start_;
};

struct BlockInfo {
  std::uintptr_t address;
  std::size_t size;
  bool used;
};

std::vector<BlockInfo> Blocks(const TlsfByteAllocator& allocator) {
  std::vector<BlockInfo> blocks;
  allocator.Walk([&](std::uintptr_t address, std::size_t size, bool used) {
    blocks.push_back({address, size, used});
  });
  return blocks;
}

// Returns the block Alloc returned, or null after recording a failure.
void* AllocOk(TlsfByteAllocator& allocator, Layout layout) {
  absl::StatusOr<void*> ptr = allocator.Alloc(layout);
  EXPECT_TRUE(ptr.ok()) << ptr.status() << " (size " << layout.size
                        << ", align " << layout.align << ")";
  return ptr.ok() ? *ptr : nullptr;
}

std::optional<AllocError> AllocErrorOf(TlsfByteAllocator& allocator,
                                       Layout layout) {
  absl::StatusOr<void*> ptr = allocator.Alloc(layout);
  if (ptr.ok()) allocator.Dealloc(*ptr, layout);
  return GetAllocError(ptr.status());
}

#define ASSERT_OK(expr)                   \
  do {                                    \
    const absl::Status status_ = (expr);  \
    ASSERT_TRUE(status_.ok()) << status_; \
  } while (false)

#define EXPECT_INVARIANTS(allocator)                            \
  do {                                                          \
    const absl::Status status_ = (allocator).CheckInvariants(); \
    EXPECT_TRUE(status_.ok()) << status_;                       \
  } while (false)

TEST(TlsfByteAllocatorTest, AllocFreeAndStats) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  EXPECT_EQ(allocator.TotalBytes(), 0u);
  ASSERT_OK(allocator.Init(arena.start(), 64 * kKiB));
  EXPECT_EQ(allocator.RegionCount(), 1u);
  // Only the sentinel and alignment are lost.
  EXPECT_GE(allocator.TotalBytes(), 64 * kKiB - 64);
  EXPECT_LE(allocator.TotalBytes(), 64 * kKiB);
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_EQ(allocator.AvailableBytes(), allocator.TotalBytes());

  void* small = AllocOk(allocator, Layout{1, 1});
  void* medium = AllocOk(allocator, Layout{100, 8});
  void* large = AllocOk(allocator, Layout{5000, 16});
  ASSERT_NE(small, nullptr);
  ASSERT_NE(medium, nullptr);
  ASSERT_NE(large, nullptr);
  // One 8-byte header, rounded to 16, at least 32 bytes.
  EXPECT_EQ(allocator.UsedBytes(), 32u + 112u + 5008u);
  EXPECT_EQ(allocator.UsedBytes() + allocator.AvailableBytes(),
            allocator.TotalBytes());
  for (void* ptr : {small, medium, large}) {
    EXPECT_EQ(Addr(ptr) % 16, 0u);
    EXPECT_GE(Addr(ptr), arena.start());
    EXPECT_LE(Addr(ptr), arena.start() + 64 * kKiB);
  }
  std::memset(large, 0xAB, 5000);
  EXPECT_INVARIANTS(allocator);

  allocator.Dealloc(medium, Layout{100, 8});
  allocator.Dealloc(nullptr, Layout{100, 8});  // Ignored.
  allocator.Dealloc(small, Layout{1, 1});
  allocator.Dealloc(large, Layout{5000, 16});
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_INVARIANTS(allocator);
  const std::vector<BlockInfo> blocks = Blocks(allocator);
  ASSERT_EQ(blocks.size(), 1u);
  EXPECT_FALSE(blocks[0].used);
  EXPECT_EQ(blocks[0].size, allocator.TotalBytes());
}

TEST(TlsfByteAllocatorTest, ZeroSizeBlocksAreUniqueAndFreeable) {
  Arena arena(16 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 16 * kKiB));
  std::set<void*> seen;
  for (int i = 0; i < 100; ++i) {
    void* ptr = AllocOk(allocator, Layout{0, 1});
    ASSERT_NE(ptr, nullptr);
    EXPECT_TRUE(seen.insert(ptr).second) << "duplicate " << ptr;
  }
  for (void* ptr : seen) allocator.Dealloc(ptr, Layout{0, 1});
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_INVARIANTS(allocator);
}

struct LiveBlock {
  std::size_t size;
  std::size_t align;
  unsigned char fill;
};

// True if the live block at `it` holds nothing but its fill byte.
bool Intact(std::map<std::uintptr_t, LiveBlock>::const_iterator it) {
  static std::vector<unsigned char> expected;
  expected.assign(it->second.size, it->second.fill);
  return it->second.size == 0 ||
         std::memcmp(reinterpret_cast<const void*>(it->first), expected.data(),
                     it->second.size) == 0;
}

// True if [address, address + size) overlaps no live block but `self`.
bool Disjoint(const std::map<std::uintptr_t, LiveBlock>& live,
              std::uintptr_t address, std::size_t size, std::uintptr_t self) {
  const std::size_t extent = std::max<std::size_t>(size, 1);
  auto after = live.upper_bound(address);
  if (after != live.end() && after->first < address + extent) return false;
  if (after != live.begin()) {
    auto before = std::prev(after);
    if (before->first != self &&
        before->first + std::max<std::size_t>(before->second.size, 1) >
            address) {
      return false;
    }
  }
  return true;
}

TEST(TlsfByteAllocatorTest, RandomStreamKeepsInvariants) {
  constexpr std::size_t kPoolSize = 8 * kMiB;
  for (std::uint64_t seed : {1u, 2u, 3u, 20240601u}) {
    SCOPED_TRACE(absl::StrCat("seed ", seed));
    Arena arena(kPoolSize + 16);
    // Vary the region's alignment too.
    const std::uintptr_t pool_start = arena.start() + seed % 16;
    const std::uintptr_t pool_end = pool_start + kPoolSize;
    TlsfByteAllocator allocator;
    ASSERT_OK(allocator.Init(pool_start, kPoolSize));
    std::mt19937_64 rng(seed);
    // Sizes 0..64 KiB, spread evenly over the powers of two.
    auto random_size = [&rng] {
      const std::size_t limit = std::size_t{1} << (rng() % 17);
      return static_cast<std::size_t>(rng() % (limit + 1));
    };
    std::map<std::uintptr_t, LiveBlock> live;
    std::size_t failures = 0;
    for (int step = 0; step < 3000; ++step) {
      const unsigned op = rng() % 20;
      if (op < 11 || live.empty()) {
        const Layout layout{random_size(), std::size_t{1} << (rng() % 13)};
        absl::StatusOr<void*> ptr = allocator.Alloc(layout);
        if (!ptr.ok()) {
          ASSERT_EQ(GetAllocError(ptr.status()), AllocError::kNoMemory)
              << "step " << step << ": " << ptr.status();
          ++failures;
        } else {
          const std::uintptr_t address = Addr(*ptr);
          ASSERT_NE(address, 0u);
          ASSERT_EQ(address % layout.align, 0u) << "step " << step;
          ASSERT_EQ(address % 16, 0u) << "step " << step;
          ASSERT_GE(address, pool_start) << "step " << step;
          ASSERT_LE(address + layout.size, pool_end) << "step " << step;
          ASSERT_TRUE(Disjoint(live, address, layout.size, 0))
              << "step " << step << ": block at " << *ptr << " overlaps";
          const unsigned char fill = static_cast<unsigned char>(rng());
          std::memset(*ptr, fill, layout.size);
          live[address] = {layout.size, layout.align, fill};
        }
      } else if (op < 18) {
        auto it = std::next(live.begin(), rng() % live.size());
        ASSERT_TRUE(Intact(it)) << "step " << step << ": block clobbered";
        allocator.Dealloc(reinterpret_cast<void*>(it->first),
                          Layout{it->second.size, it->second.align});
        live.erase(it);
      } else {
        auto it = std::next(live.begin(), rng() % live.size());
        const std::size_t new_size = random_size();
        LiveBlock& block = it->second;
        void* ptr = reinterpret_cast<void*>(it->first);
        const absl::Status status =
            allocator.Resize(ptr, Layout{block.size, block.align}, new_size);
        if (status.ok()) {
          ASSERT_TRUE(Disjoint(live, it->first, new_size, it->first))
              << "step " << step << ": resized block overlaps";
          ASSERT_LE(it->first + new_size, pool_end);
          block.size = std::min(block.size, new_size);
          ASSERT_TRUE(Intact(it)) << "step " << step << ": resize lost data";
          std::memset(ptr, block.fill, new_size);
          block.size = new_size;
        } else {
          ASSERT_EQ(GetAllocError(status), AllocError::kNoMemory)
              << "step " << step << ": " << status;
          ASSERT_TRUE(Intact(it)) << "step " << step;
        }
      }
      const absl::Status invariants = allocator.CheckInvariants();
      ASSERT_TRUE(invariants.ok()) << "step " << step << ": " << invariants;
      ASSERT_LE(allocator.UsedBytes(), allocator.TotalBytes());
      std::size_t live_bytes = 0;
      for (const auto& [address, block] : live) live_bytes += block.size + 8;
      ASSERT_GE(allocator.UsedBytes(), live_bytes) << "step " << step;
    }
    EXPECT_GT(live.size() + failures, 0u);
    for (auto it = live.begin(); it != live.end(); ++it) {
      ASSERT_TRUE(Intact(it));
      allocator.Dealloc(reinterpret_cast<void*>(it->first),
                        Layout{it->second.size, it->second.align});
    }
    EXPECT_EQ(allocator.UsedBytes(), 0u);
    EXPECT_INVARIANTS(allocator);
    const std::vector<BlockInfo> blocks = Blocks(allocator);
    ASSERT_EQ(blocks.size(), 1u);
    EXPECT_EQ(blocks[0].size, allocator.TotalBytes());
  }
}

TEST(TlsfByteAllocatorTest, FreedNeighboursCoalesceInEveryOrder) {
  Arena arena(4 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 4 * kKiB));
  const Layout layout{200, 8};
  std::array<int, 3> order = {0, 1, 2};
  do {
    SCOPED_TRACE(absl::StrCat("order ", order[0], order[1], order[2]));
    void* blocks[3];
    for (void*& ptr : blocks) {
      ptr = AllocOk(allocator, layout);
      ASSERT_NE(ptr, nullptr);
    }
    // Carved one after the other from the single free block.
    EXPECT_EQ(Addr(blocks[1]) - Addr(blocks[0]), 208u);
    EXPECT_EQ(Addr(blocks[2]) - Addr(blocks[1]), 208u);
    for (int index : order) {
      allocator.Dealloc(blocks[index], layout);
      EXPECT_INVARIANTS(allocator);
    }
    const std::vector<BlockInfo> walked = Blocks(allocator);
    ASSERT_EQ(walked.size(), 1u);
    EXPECT_FALSE(walked[0].used);
    EXPECT_EQ(walked[0].size, allocator.TotalBytes());
  } while (std::next_permutation(order.begin(), order.end()));
}

// A tail under 1/32 of the block handed out stays with it; a larger one (and
// any of 32 bytes or more below 1 KiB) becomes a free block.
TEST(TlsfByteAllocatorTest, ShortTailsStayWithTheBlock) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 64 * kKiB));
  void* first = AllocOk(allocator, Layout{4000, 8});  // A 4016-byte block.
  void* guard = AllocOk(allocator, Layout{100, 8});
  ASSERT_NE(first, nullptr);
  ASSERT_NE(guard, nullptr);
  allocator.Dealloc(first, Layout{4000, 8});
  const std::size_t used = allocator.UsedBytes();

  // 3920 bytes leave 96, under 3920 / 32: the whole block is used.
  void* whole = AllocOk(allocator, Layout{3900, 8});
  EXPECT_EQ(whole, first);
  EXPECT_EQ(allocator.UsedBytes(), used + 4016);
  std::vector<BlockInfo> blocks = Blocks(allocator);
  ASSERT_GE(blocks.size(), 2u);
  EXPECT_TRUE(blocks[0].used);
  EXPECT_EQ(blocks[0].size, 4016u);
  EXPECT_EQ(blocks[1].address, Addr(guard));
  EXPECT_INVARIANTS(allocator);
  allocator.Dealloc(whole, Layout{3900, 8});

  // 3808 bytes leave 208, over 3808 / 32: the tail is split off.
  void* split = AllocOk(allocator, Layout{3800, 8});
  EXPECT_EQ(split, first);
  EXPECT_EQ(allocator.UsedBytes(), used + 3808);
  blocks = Blocks(allocator);
  ASSERT_GE(blocks.size(), 3u);
  EXPECT_EQ(blocks[0].size, 3808u);
  EXPECT_FALSE(blocks[1].used);
  EXPECT_EQ(blocks[1].size, 208u);
  EXPECT_INVARIANTS(allocator);

  // Small blocks split off any tail that can form a block.
  void* small = AllocOk(allocator, Layout{180, 8});  // Needs 192 of the 208.
  EXPECT_EQ(Addr(small), Addr(split) + 3808);
  EXPECT_EQ(allocator.UsedBytes(), used + 3808 + 208);  // 16 is too small.
  allocator.Dealloc(small, Layout{180, 8});
  void* smaller = AllocOk(allocator, Layout{100, 8});  // Needs 112 of 208.
  EXPECT_EQ(allocator.UsedBytes(), used + 3808 + 112);
  EXPECT_INVARIANTS(allocator);

  allocator.Dealloc(smaller, Layout{100, 8});
  allocator.Dealloc(split, Layout{3800, 8});
  allocator.Dealloc(guard, Layout{100, 8});
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_EQ(Blocks(allocator).size(), 1u);
  EXPECT_INVARIANTS(allocator);
}

// Free blocks of one size share a list; merging unlinks them from its head,
// middle and end, and Alloc takes the head, whose back link is left stale.
TEST(TlsfByteAllocatorTest, MergesUnlinkFromAnyPlaceInAList) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 64 * kKiB));
  const Layout layout{200, 8};
  const Layout guard_layout{40, 8};
  constexpr int kCount = 5;
  void* blocks[kCount];
  void* guards[kCount];
  for (int i = 0; i < kCount; ++i) {
    blocks[i] = AllocOk(allocator, layout);
    guards[i] = AllocOk(allocator, guard_layout);
    ASSERT_NE(blocks[i], nullptr);
    ASSERT_NE(guards[i], nullptr);
  }
  // One list, most recently freed first: 4 3 2 1 0.
  for (void* ptr : blocks) allocator.Dealloc(ptr, layout);
  EXPECT_INVARIANTS(allocator);
  // Guard 2 joins blocks 2 and 3, from the middle of the list.
  allocator.Dealloc(guards[2], guard_layout);
  EXPECT_INVARIANTS(allocator);
  // Takes block 4, the head; block 1 heads the list with a stale back link.
  void* taken = AllocOk(allocator, layout);
  EXPECT_EQ(taken, blocks[4]);
  EXPECT_INVARIANTS(allocator);
  // Guard 0 joins blocks 0 (the end of the list) and 1 (its head).
  allocator.Dealloc(guards[0], guard_layout);
  EXPECT_INVARIANTS(allocator);
  // Guard 1 joins the two merged blocks, which share a list.
  allocator.Dealloc(guards[1], guard_layout);
  EXPECT_INVARIANTS(allocator);
  allocator.Dealloc(taken, layout);
  allocator.Dealloc(guards[3], guard_layout);
  allocator.Dealloc(guards[4], guard_layout);
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_EQ(Blocks(allocator).size(), 1u);
  EXPECT_INVARIANTS(allocator);
}

TEST(TlsfByteAllocatorTest, LargeAlignmentReturnsPaddingToFreeLists) {
  Arena arena(6 * kMiB, kMiB);
  // Start just past a 1 MiB boundary so that the padding is large.
  const std::uintptr_t start = arena.start() + 4 * kKiB;
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(start, 4 * kMiB));
  const Layout layout{100, kMiB};
  void* ptr = AllocOk(allocator, layout);
  ASSERT_NE(ptr, nullptr);
  EXPECT_EQ(Addr(ptr) % kMiB, 0u);
  EXPECT_EQ(allocator.UsedBytes(), 112u);  // The block only, no padding.
  EXPECT_INVARIANTS(allocator);

  const std::vector<BlockInfo> blocks = Blocks(allocator);
  ASSERT_EQ(blocks.size(), 3u);
  EXPECT_FALSE(blocks[0].used);  // The padding...
  EXPECT_EQ(blocks[0].address + blocks[0].size, Addr(ptr));
  EXPECT_GE(blocks[0].size, kMiB - 4 * kKiB - 64);
  EXPECT_TRUE(blocks[1].used);  // ...the block...
  EXPECT_EQ(blocks[1].address, Addr(ptr));
  EXPECT_FALSE(blocks[2].used);  // ...and the tail.

  // The padding can be allocated.
  void* in_padding = AllocOk(allocator, Layout{kMiB / 2, 16});
  ASSERT_NE(in_padding, nullptr);
  EXPECT_LT(Addr(in_padding), Addr(ptr));
  allocator.Dealloc(in_padding, Layout{kMiB / 2, 16});
  allocator.Dealloc(ptr, layout);
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_EQ(Blocks(allocator).size(), 1u);
  EXPECT_INVARIANTS(allocator);
}

TEST(TlsfByteAllocatorTest, EveryAlignmentUpTo2MiB) {
  Arena arena(32 * kMiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start() + 8, 32 * kMiB));
  std::vector<std::pair<void*, Layout>> blocks;
  for (std::size_t align = 1; align <= 2 * kMiB; align <<= 1) {
    for (std::size_t size : {0ul, 1ul, 24ul, 25ul, 1000ul}) {
      const Layout layout{size, align};
      void* ptr = AllocOk(allocator, layout);
      ASSERT_NE(ptr, nullptr);
      EXPECT_EQ(Addr(ptr) % align, 0u) << align;
      blocks.push_back({ptr, layout});
    }
    EXPECT_INVARIANTS(allocator);
  }
  for (auto [ptr, layout] : blocks) allocator.Dealloc(ptr, layout);
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_INVARIANTS(allocator);
  EXPECT_EQ(Blocks(allocator).size(), 1u);
}

TEST(TlsfByteAllocatorTest, AdjacentRegionsMerge) {
  constexpr std::size_t kHalf = kMiB;
  Arena arena(2 * kHalf);
  const std::uintptr_t lower = arena.start();
  const std::uintptr_t upper = lower + kHalf;

  for (bool lower_first : {true, false}) {
    SCOPED_TRACE(lower_first ? "lower first" : "upper first");
    TlsfByteAllocator allocator;
    ASSERT_OK(allocator.Init(lower_first ? lower : upper, kHalf));
    const std::size_t total = allocator.TotalBytes();
    ASSERT_OK(allocator.AddMemory(lower_first ? upper : lower, kHalf));
    EXPECT_EQ(allocator.RegionCount(), 1u);
    EXPECT_EQ(allocator.TotalBytes(), total + kHalf);  // No second sentinel.
    EXPECT_INVARIANTS(allocator);
    EXPECT_EQ(Blocks(allocator).size(), 1u);
    const Layout big{kHalf + kHalf / 2, 16};
    void* ptr = AllocOk(allocator, big);
    ASSERT_NE(ptr, nullptr);
    std::memset(ptr, 1, big.size);
    allocator.Dealloc(ptr, big);
    EXPECT_INVARIANTS(allocator);
  }

  // Filling the gap between two regions joins all three.
  {
    Arena thirds(3 * 64 * kKiB);
    const std::uintptr_t base = thirds.start();
    TlsfByteAllocator allocator;
    ASSERT_OK(allocator.Init(base, 64 * kKiB));
    ASSERT_OK(allocator.AddMemory(base + 128 * kKiB, 64 * kKiB));
    EXPECT_EQ(allocator.RegionCount(), 2u);
    ASSERT_OK(allocator.AddMemory(base + 64 * kKiB, 64 * kKiB));
    EXPECT_EQ(allocator.RegionCount(), 1u);
    EXPECT_INVARIANTS(allocator);
    ASSERT_EQ(Blocks(allocator).size(), 1u);
    void* ptr = AllocOk(allocator, Layout{allocator.TotalBytes() - 8, 1});
    ASSERT_NE(ptr, nullptr);
    allocator.Dealloc(ptr, Layout{allocator.TotalBytes() - 8, 1});
  }

  // With the last block of the lower region in use, the new space stays a block
  // of its own, and merges once that block is freed.
  {
    TlsfByteAllocator allocator;
    ASSERT_OK(allocator.Init(lower, kHalf));
    const Layout whole{allocator.TotalBytes() - 8, 1};
    void* ptr = AllocOk(allocator, whole);
    ASSERT_NE(ptr, nullptr);
    ASSERT_OK(allocator.AddMemory(upper, kHalf));
    EXPECT_INVARIANTS(allocator);
    EXPECT_EQ(Blocks(allocator).size(), 2u);
    void* second = AllocOk(allocator, Layout{kHalf - 64, 1});
    ASSERT_NE(second, nullptr);
    EXPECT_GE(Addr(second), upper - 16);
    allocator.Dealloc(ptr, whole);
    allocator.Dealloc(second, Layout{kHalf - 64, 1});
    EXPECT_INVARIANTS(allocator);
    EXPECT_EQ(Blocks(allocator).size(), 1u);
  }
}

TEST(TlsfByteAllocatorTest, SeparateRegionsStaySeparate) {
  Arena first(64 * kKiB);
  Arena second(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(first.start(), 64 * kKiB));
  ASSERT_OK(allocator.AddMemory(second.start(), 64 * kKiB));
  EXPECT_EQ(allocator.RegionCount(), 2u);
  EXPECT_INVARIANTS(allocator);
  EXPECT_EQ(Blocks(allocator).size(), 2u);
  // No block spans both.
  EXPECT_EQ(AllocErrorOf(allocator, Layout{100 * kKiB, 1}),
            AllocError::kNoMemory);
  const Layout layout{60 * kKiB, 1};
  void* a = AllocOk(allocator, layout);
  void* b = AllocOk(allocator, layout);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  auto in = [](const Arena& arena, void* ptr) {
    return Addr(ptr) >= arena.start() &&
           Addr(ptr) + 60 * kKiB <= arena.start() + 64 * kKiB;
  };
  EXPECT_TRUE((in(first, a) && in(second, b)) ||
              (in(first, b) && in(second, a)));
  EXPECT_EQ(AllocErrorOf(allocator, layout), AllocError::kNoMemory);
  allocator.Dealloc(a, layout);
  allocator.Dealloc(b, layout);
  EXPECT_INVARIANTS(allocator);
}

TEST(TlsfByteAllocatorTest, OverlappingRegionIsRejected) {
  Arena arena(64 * kKiB);
  const std::uintptr_t base = arena.start();
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(base + 16 * kKiB, 16 * kKiB));
  void* ptr = AllocOk(allocator, Layout{100, 1});
  const std::size_t total = allocator.TotalBytes();
  const std::size_t used = allocator.UsedBytes();
  const std::pair<std::uintptr_t, std::size_t> overlapping[] = {
      {base + 16 * kKiB, 16 * kKiB},  // The same.
      {base + 8 * kKiB, 16 * kKiB},   // Over its start.
      {base + 24 * kKiB, 16 * kKiB},  // Over its end.
      {base, 64 * kKiB},              // Around it.
      {base + 20 * kKiB, kKiB},       // Inside it.
      {base + 32 * kKiB - 1, 100},    // Its last byte.
  };
  for (auto [start, size] : overlapping) {
    EXPECT_EQ(GetAllocError(allocator.AddMemory(start, size)),
              AllocError::kMemoryOverlap)
        << start - base << " + " << size;
  }
  EXPECT_EQ(allocator.TotalBytes(), total);
  EXPECT_EQ(allocator.UsedBytes(), used);
  EXPECT_EQ(allocator.RegionCount(), 1u);
  EXPECT_INVARIANTS(allocator);
  // Touching is not overlapping.
  ASSERT_OK(allocator.AddMemory(base, 16 * kKiB));
  ASSERT_OK(allocator.AddMemory(base + 32 * kKiB, 16 * kKiB));
  EXPECT_EQ(allocator.RegionCount(), 1u);
  EXPECT_INVARIANTS(allocator);
  allocator.Dealloc(ptr, Layout{100, 1});
}

TEST(TlsfByteAllocatorTest, BadRegionsAreRejected) {
  Arena arena(4 * kKiB);
  TlsfByteAllocator allocator;
  EXPECT_EQ(GetAllocError(allocator.Init(arena.start(), 0)),
            AllocError::kInvalidParam);
  EXPECT_EQ(GetAllocError(allocator.Init(
                std::numeric_limits<std::uintptr_t>::max() - 100, 1000)),
            AllocError::kInvalidParam);
  EXPECT_EQ(GetAllocError(allocator.Init(
                arena.start(), TlsfByteAllocator::kMinRegionSize - 1)),
            AllocError::kInvalidParam);
  // A failed Init leaves nothing managed.
  EXPECT_EQ(allocator.TotalBytes(), 0u);
  EXPECT_EQ(allocator.RegionCount(), 0u);
  EXPECT_EQ(AllocErrorOf(allocator, Layout{1, 1}), AllocError::kNoMemory);
  EXPECT_INVARIANTS(allocator);

  // The smallest region holds a block at any alignment of its start.
  for (std::uintptr_t offset = 0; offset < 16; ++offset) {
    ASSERT_OK(allocator.Init(arena.start() + 1024 + offset,
                             TlsfByteAllocator::kMinRegionSize));
    void* ptr = AllocOk(allocator, Layout{1, 1});
    ASSERT_NE(ptr, nullptr);
    EXPECT_GE(Addr(ptr), arena.start() + 1024 + offset);
    EXPECT_INVARIANTS(allocator);
    allocator.Dealloc(ptr, Layout{1, 1});
  }

  // A failed AddMemory changes nothing.
  ASSERT_OK(allocator.Init(arena.start(), 1024));
  const std::size_t total = allocator.TotalBytes();
  EXPECT_EQ(GetAllocError(allocator.AddMemory(arena.start() + 1024, 0)),
            AllocError::kInvalidParam);
  EXPECT_EQ(GetAllocError(allocator.AddMemory(arena.start() + 1024, 16)),
            AllocError::kInvalidParam);
  EXPECT_EQ(allocator.TotalBytes(), total);
  EXPECT_EQ(allocator.RegionCount(), 1u);
  EXPECT_INVARIANTS(allocator);
}

TEST(TlsfByteAllocatorTest, InitForgetsPreviousState) {
  Arena first(8 * kKiB);
  Arena second(16 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(first.start(), 8 * kKiB));
  ASSERT_NE(AllocOk(allocator, Layout{100, 1}), nullptr);
  ASSERT_OK(allocator.Init(second.start(), 16 * kKiB));
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_EQ(allocator.RegionCount(), 1u);
  EXPECT_GT(allocator.TotalBytes(), 8 * kKiB);
  // The first arena is no longer managed, so it may be added again.
  ASSERT_OK(allocator.AddMemory(first.start(), 8 * kKiB));
  EXPECT_EQ(allocator.RegionCount(), 2u);
  EXPECT_INVARIANTS(allocator);
}

TEST(TlsfByteAllocatorTest, HugeRequestsFailCleanly) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 64 * kKiB));
  const std::size_t kTopBit = std::size_t{1} << 63;
  const Layout no_memory[] = {
      {kMax, 1},
      {kMax - 1, 1},
      {kMax - 8, 1},
      {kMax - 15, 16},
      {kMax - 4095, 4096},
      {kMax / 2, std::size_t{1} << 62},
      {1, kTopBit},
      {0, kTopBit},
      {TlsfByteAllocator::kMaxAllocSize, 1},
      {TlsfByteAllocator::kMaxAllocSize + 1, 1},
      {TlsfByteAllocator::kMaxAllocSize, 1 << 20},
      {1, TlsfByteAllocator::kMaxBlockSize + 16},
      {allocator.TotalBytes(), 1},
      {64 * kKiB, 16},
  };
  for (const Layout& layout : no_memory) {
    EXPECT_EQ(AllocErrorOf(allocator, layout), AllocError::kNoMemory)
        << layout.size << " " << layout.align;
  }
  const Layout invalid[] = {
      {kMax, 2}, {kMax - 14, 16}, {16, 0}, {16, 3}, {16, 48}};
  for (const Layout& layout : invalid) {
    EXPECT_EQ(AllocErrorOf(allocator, layout), AllocError::kInvalidParam)
        << layout.size << " " << layout.align;
  }
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_INVARIANTS(allocator);
  EXPECT_NE(AllocOk(allocator, Layout{1000, 1}), nullptr);
}

TEST(TlsfByteAllocatorTest, ExhaustionFailsThenRecovers) {
  Arena arena(256 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 256 * kKiB));
  const Layout layout{1000, 8};
  std::vector<void*> blocks;
  for (;;) {
    absl::StatusOr<void*> ptr = allocator.Alloc(layout);
    if (!ptr.ok()) {
      EXPECT_EQ(GetAllocError(ptr.status()), AllocError::kNoMemory)
          << ptr.status();
      break;
    }
    blocks.push_back(*ptr);
  }
  EXPECT_EQ(blocks.size(), 256 * kKiB / 1008);
  EXPECT_LT(allocator.AvailableBytes(), 1008u);
  EXPECT_INVARIANTS(allocator);
  allocator.Dealloc(blocks[blocks.size() / 2], layout);
  blocks[blocks.size() / 2] = AllocOk(allocator, layout);
  EXPECT_NE(blocks[blocks.size() / 2], nullptr);
  for (void* ptr : blocks) allocator.Dealloc(ptr, layout);
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_INVARIANTS(allocator);
  EXPECT_EQ(Blocks(allocator).size(), 1u);
}

TEST(TlsfByteAllocatorTest, LargestBlockIsAllocatableAgainAfterChurn) {
  Arena arena(kMiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), kMiB));
  const Layout whole{allocator.TotalBytes() - TlsfByteAllocator::kHeaderSize,
                     1};
  void* ptr = AllocOk(allocator, whole);
  ASSERT_NE(ptr, nullptr);
  EXPECT_EQ(allocator.UsedBytes(), allocator.TotalBytes());
  EXPECT_EQ(AllocErrorOf(allocator, Layout{0, 1}), AllocError::kNoMemory);
  allocator.Dealloc(ptr, whole);

  std::mt19937_64 rng(7);
  std::vector<std::pair<void*, Layout>> live;
  for (int step = 0; step < 2000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const Layout layout{rng() % 3000, std::size_t{1} << (rng() % 8)};
      absl::StatusOr<void*> p = allocator.Alloc(layout);
      if (p.ok()) live.push_back({*p, layout});
    } else {
      const std::size_t i = rng() % live.size();
      allocator.Dealloc(live[i].first, live[i].second);
      live[i] = live.back();
      live.pop_back();
    }
  }
  for (auto [p, layout] : live) allocator.Dealloc(p, layout);
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_INVARIANTS(allocator);
  ptr = AllocOk(allocator, whole);
  ASSERT_NE(ptr, nullptr);
  allocator.Dealloc(ptr, whole);
}

TEST(TlsfByteAllocatorTest, ResizeGrowsShrinksOrFailsInPlace) {
  Arena arena(64 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 64 * kKiB));

  // Grow into the free space after the block.
  void* ptr = AllocOk(allocator, Layout{100, 1});
  ASSERT_NE(ptr, nullptr);
  std::memset(ptr, 0x5A, 100);
  ASSERT_OK(allocator.Resize(ptr, Layout{100, 1}, 5000));
  EXPECT_EQ(allocator.UsedBytes(), 5008u);
  EXPECT_INVARIANTS(allocator);
  EXPECT_EQ(static_cast<unsigned char*>(ptr)[99], 0x5A);
  std::memset(ptr, 0x5A, 5000);

  // Shrink: the tail goes back and merges with the free space after it.
  ASSERT_OK(allocator.Resize(ptr, Layout{5000, 1}, 50));
  EXPECT_EQ(allocator.UsedBytes(), 64u);
  EXPECT_INVARIANTS(allocator);
  std::vector<BlockInfo> blocks = Blocks(allocator);
  ASSERT_EQ(blocks.size(), 2u);
  EXPECT_FALSE(blocks[1].used);
  EXPECT_EQ(static_cast<unsigned char*>(ptr)[49], 0x5A);

  // Within the same block: nothing changes.
  ASSERT_OK(allocator.Resize(ptr, Layout{50, 1}, 56));
  EXPECT_EQ(allocator.UsedBytes(), 64u);

  // Blocked by a used neighbour: kNoMemory, block unchanged.
  void* neighbour = AllocOk(allocator, Layout{100, 1});
  ASSERT_NE(neighbour, nullptr);
  EXPECT_EQ(Addr(neighbour), Addr(ptr) + 64);
  EXPECT_EQ(GetAllocError(allocator.Resize(ptr, Layout{56, 1}, 1000)),
            AllocError::kNoMemory);
  EXPECT_EQ(allocator.UsedBytes(), 64u + 112u);
  EXPECT_EQ(static_cast<unsigned char*>(ptr)[49], 0x5A);
  EXPECT_INVARIANTS(allocator);

  // Grow into a freed neighbour whose leftover is too small to split: the whole
  // neighbour is taken.
  void* third = AllocOk(allocator, Layout{100, 1});
  ASSERT_NE(third, nullptr);
  allocator.Dealloc(neighbour, Layout{100, 1});
  ASSERT_OK(allocator.Resize(ptr, Layout{56, 1}, 150));  // Needs 160 of 176.
  EXPECT_EQ(allocator.UsedBytes(), 176u + 112u);
  EXPECT_INVARIANTS(allocator);
  EXPECT_EQ(GetAllocError(allocator.Resize(ptr, Layout{150, 1}, 200)),
            AllocError::kNoMemory);

  // Huge and invalid requests.
  EXPECT_EQ(GetAllocError(allocator.Resize(ptr, Layout{150, 1}, kMax)),
            AllocError::kNoMemory);
  EXPECT_EQ(GetAllocError(allocator.Resize(ptr, Layout{150, 1},
                                           TlsfByteAllocator::kMaxAllocSize)),
            AllocError::kNoMemory);
  EXPECT_EQ(GetAllocError(allocator.Resize(nullptr, Layout{150, 1}, 10)),
            AllocError::kInvalidParam);
  EXPECT_EQ(GetAllocError(allocator.Resize(ptr, Layout{150, 3}, 10)),
            AllocError::kInvalidParam);

  allocator.Dealloc(ptr, Layout{150, 1});
  allocator.Dealloc(third, Layout{100, 1});
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_INVARIANTS(allocator);

  // An over-aligned block keeps its address and alignment.
  void* aligned = AllocOk(allocator, Layout{10, 4096});
  ASSERT_NE(aligned, nullptr);
  ASSERT_OK(allocator.Resize(aligned, Layout{10, 4096}, 9000));
  EXPECT_EQ(Addr(aligned) % 4096, 0u);
  ASSERT_OK(allocator.Resize(aligned, Layout{9000, 4096}, 1));
  allocator.Dealloc(aligned, Layout{1, 4096});
  EXPECT_EQ(allocator.UsedBytes(), 0u);
  EXPECT_INVARIANTS(allocator);
}

TEST(TlsfByteAllocatorTest, RegionTableFullIsNoMemoryButTouchingStillJoins) {
  constexpr std::size_t kSize = 96;
  constexpr std::size_t kStride = 2 * kSize;
  Arena arena(kStride * (TlsfByteAllocator::kMaxRegions + 1));
  const std::uintptr_t base = arena.start();
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(base, kSize));
  for (std::size_t i = 1; i < TlsfByteAllocator::kMaxRegions; ++i) {
    ASSERT_OK(allocator.AddMemory(base + i * kStride, kSize));
  }
  EXPECT_EQ(allocator.RegionCount(), TlsfByteAllocator::kMaxRegions);
  const std::size_t total = allocator.TotalBytes();
  EXPECT_EQ(GetAllocError(allocator.AddMemory(
                base + TlsfByteAllocator::kMaxRegions * kStride, kSize)),
            AllocError::kNoMemory);
  EXPECT_EQ(allocator.TotalBytes(), total);
  // Filling a gap joins two entries into one.
  ASSERT_OK(allocator.AddMemory(base + kSize, kSize));
  EXPECT_EQ(allocator.RegionCount(), TlsfByteAllocator::kMaxRegions - 1);
  EXPECT_INVARIANTS(allocator);
  ASSERT_OK(allocator.AddMemory(base + TlsfByteAllocator::kMaxRegions * kStride,
                                kSize));
  EXPECT_INVARIANTS(allocator);
}

// Four adjacent 1 TiB regions, added out of order, form one 4 TiB run that is
// split into blocks of at most kMaxBlockSize. Only the touched pages (block
// headers) take real memory.
TEST(TlsfByteAllocatorTest, ManagesMoreThan2To40Bytes) {
  constexpr std::size_t kSpan = 4 * kTiB;
  void* map = mmap(nullptr, kSpan, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (map == MAP_FAILED) {
    GTEST_SKIP() << "cannot reserve 4 TiB of address space here";
  }
  const std::uintptr_t base = Addr(map);
  {
    TlsfByteAllocator allocator;
    ASSERT_OK(allocator.Init(base + kTiB, kTiB));
    ASSERT_OK(allocator.AddMemory(base + 3 * kTiB, kTiB));
    ASSERT_OK(allocator.AddMemory(base, kTiB));
    ASSERT_OK(allocator.AddMemory(base + 2 * kTiB, kTiB));
    EXPECT_EQ(allocator.RegionCount(), 1u);
    EXPECT_EQ(allocator.TotalBytes(), kSpan - 16);
    EXPECT_INVARIANTS(allocator);
    const std::vector<BlockInfo> blocks = Blocks(allocator);
    EXPECT_GE(blocks.size(), 2u);
    for (const BlockInfo& block : blocks) {
      EXPECT_LE(block.size, TlsfByteAllocator::kMaxBlockSize);
    }
    void* ptr = AllocOk(allocator, Layout{kTiB / 2, 4096});
    ASSERT_NE(ptr, nullptr);
    static_cast<char*>(ptr)[0] = 1;
    allocator.Dealloc(ptr, Layout{kTiB / 2, 4096});
    EXPECT_INVARIANTS(allocator);
  }
  {
    // One 3 TiB region is cut at kMaxBlockSize; the largest block is usable.
    TlsfByteAllocator allocator;
    ASSERT_OK(allocator.Init(base, 3 * kTiB));
    EXPECT_INVARIANTS(allocator);
    EXPECT_EQ(Blocks(allocator).size(), 2u);
    const Layout largest{TlsfByteAllocator::kMaxAllocSize, 1};
    void* ptr = AllocOk(allocator, largest);
    ASSERT_NE(ptr, nullptr);
    void* other = AllocOk(allocator, Layout{kTiB / 2, 1});
    ASSERT_NE(other, nullptr);
    EXPECT_INVARIANTS(allocator);
    allocator.Dealloc(ptr, largest);
    allocator.Dealloc(other, Layout{kTiB / 2, 1});
    // Joining a fourth TiB: more than 2^40 bytes in one allocation.
    ASSERT_OK(allocator.AddMemory(base + 3 * kTiB, kTiB));
    EXPECT_EQ(allocator.TotalBytes(), kSpan - 16);
    const Layout one_tib{kTiB, 1};
    ptr = AllocOk(allocator, one_tib);
    ASSERT_NE(ptr, nullptr);
    EXPECT_INVARIANTS(allocator);
    allocator.Dealloc(ptr, one_tib);
    EXPECT_EQ(allocator.UsedBytes(), 0u);
    EXPECT_INVARIANTS(allocator);
  }
  munmap(map, kSpan);
}

TEST(TlsfByteAllocatorDeathTest, DoubleFreeAborts) {
  Arena arena(4 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 4 * kKiB));
  const Layout layout{64, 8};
  void* first = AllocOk(allocator, layout);
  void* second = AllocOk(allocator, layout);
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  allocator.Dealloc(first, layout);
  EXPECT_DEATH(allocator.Dealloc(first, layout), "double free");
  // `second` merges into the free block before it; freeing it again is caught.
  allocator.Dealloc(second, layout);
  EXPECT_DEATH(allocator.Dealloc(second, layout), "double free");
  EXPECT_DEATH(allocator.Dealloc(static_cast<char*>(second) + 8, layout),
               "not 16-byte aligned");
}

#ifndef NDEBUG
TEST(TlsfByteAllocatorDeathTest, DebugBuildsCatchForeignPointersAndLayouts) {
  Arena arena(4 * kKiB);
  Arena foreign(4 * kKiB);
  TlsfByteAllocator allocator;
  ASSERT_OK(allocator.Init(arena.start(), 4 * kKiB));
  void* ptr = AllocOk(allocator, Layout{64, 8});
  ASSERT_NE(ptr, nullptr);
  EXPECT_DEATH(allocator.Dealloc(reinterpret_cast<void*>(foreign.start() + 64),
                                 Layout{64, 8}),
               "not in a managed region");
  EXPECT_DEATH(allocator.Dealloc(ptr, Layout{4096, 8}), "does not match");
  allocator.Dealloc(ptr, Layout{64, 8});
}
#endif

}  // namespace
}  // namespace heapkit
