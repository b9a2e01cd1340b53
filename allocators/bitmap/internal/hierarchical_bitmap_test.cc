#include "allocators/bitmap/internal/hierarchical_bitmap.h"

#include <cstddef>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace heapkit::internal {
namespace {

constexpr std::size_t kNotFound = HierarchicalBitmap::kNotFound;
constexpr std::uint64_t kGuard = 0xdeadbeefcafef00d;
constexpr std::size_t kGuardWords = 4;

// A bitmap over storage with guard words after it, to catch writes past the end
// of what StorageWords() asked for.
class GuardedBitmap {
 public:
  explicit GuardedBitmap(std::size_t num_bits)
      : storage_(HierarchicalBitmap::StorageWords(num_bits) + kGuardWords,
                 kGuard) {
    bitmap_.Init(std::span<std::uint64_t>(storage_.data(),
                                          storage_.size() - kGuardWords),
                 num_bits);
  }

  HierarchicalBitmap& operator*() { return bitmap_; }
  HierarchicalBitmap* operator->() { return &bitmap_; }

  bool GuardsIntact() const {
    for (std::size_t i = storage_.size() - kGuardWords; i < storage_.size();
         ++i) {
      if (storage_[i] != kGuard) return false;
    }
    return true;
  }

 private:
  std::vector<std::uint64_t> storage_;
  HierarchicalBitmap bitmap_;
};

// Returns, for each bit, the number of consecutive free bits starting there.
std::vector<std::size_t> FreeRunLengths(const std::vector<bool>& free) {
  std::vector<std::size_t> run(free.size() + 1, 0);
  for (std::size_t i = free.size(); i-- > 0;) {
    run[i] = free[i] ? run[i + 1] + 1 : 0;
  }
  return run;
}

// Returns the answer FindFreeRun must give, by brute force over every start.
std::size_t ReferenceRun(const std::vector<std::size_t>& run, std::size_t count,
                         std::size_t align, std::size_t phase) {
  for (std::size_t s = phase; s + 1 < run.size(); s += align) {
    if (run[s] >= count) return s;
  }
  return kNotFound;
}

TEST(HierarchicalBitmapTest, StorageWordsCountsLeavesAndBothTrees) {
  EXPECT_EQ(HierarchicalBitmap::StorageWords(0), 0u);
  EXPECT_EQ(HierarchicalBitmap::StorageWords(1), 1u + 2u);
  EXPECT_EQ(HierarchicalBitmap::StorageWords(64), 1u + 2u);
  EXPECT_EQ(HierarchicalBitmap::StorageWords(65), 2u + 2u);
  EXPECT_EQ(HierarchicalBitmap::StorageWords(4096), 64u + 2u);
  EXPECT_EQ(HierarchicalBitmap::StorageWords(4097), 65u + 2u * (2u + 1u));
  // 1M bits: 16384 leaf words, then 256, 4 and 1 summary words per tree.
  EXPECT_EQ(HierarchicalBitmap::StorageWords(1 << 20),
            16384u + 2u * (256u + 4u + 1u));
}

TEST(HierarchicalBitmapTest, StartsAllFree) {
  GuardedBitmap bits(130);
  EXPECT_EQ(bits->size(), 130u);
  EXPECT_TRUE(bits->IsRangeFree(0, 130));
  EXPECT_FALSE(bits->IsRangeUsed(0, 1));
  EXPECT_EQ(bits->FindFree(0), 0u);
  EXPECT_EQ(bits->FindFree(129), 129u);
  EXPECT_EQ(bits->FindFree(130), kNotFound);
  EXPECT_EQ(bits->FindFreeRun(130, 1, 0), 0u);
  EXPECT_EQ(bits->FindFreeRun(131, 1, 0), kNotFound);
  EXPECT_TRUE(bits.GuardsIntact());
}

TEST(HierarchicalBitmapTest, EmptyBitmapFindsNothing) {
  HierarchicalBitmap bits;
  EXPECT_EQ(bits.size(), 0u);
  EXPECT_EQ(bits.FindFree(0), kNotFound);
  EXPECT_EQ(bits.FindFreeRun(1, 1, 0), kNotFound);
}

TEST(HierarchicalBitmapTest, MarkUsedAndFreeChangeExactlyTheRange) {
  GuardedBitmap bits(300);
  bits->MarkUsed(60, 10);  // Crosses the first word boundary.
  for (std::size_t i = 0; i < 300; ++i) {
    EXPECT_EQ(bits->IsFree(i), i < 60 || i >= 70) << i;
  }
  EXPECT_TRUE(bits->IsRangeUsed(60, 10));
  EXPECT_FALSE(bits->IsRangeUsed(59, 2));
  EXPECT_FALSE(bits->IsRangeFree(69, 2));
  EXPECT_TRUE(bits->IsRangeFree(70, 230));
  EXPECT_EQ(bits->FindFree(60), 70u);

  bits->MarkUsed(0, 300);
  EXPECT_EQ(bits->FindFree(0), kNotFound);
  bits->MarkFree(64, 128);  // Exactly two whole words.
  EXPECT_EQ(bits->FindFree(0), 64u);
  EXPECT_EQ(bits->FindFreeRun(128, 64, 0), 64u);
  EXPECT_EQ(bits->FindFreeRun(129, 1, 0), kNotFound);
  EXPECT_TRUE(bits->IsRangeUsed(0, 64));
  EXPECT_TRUE(bits->IsRangeUsed(192, 108));
  EXPECT_TRUE(bits.GuardsIntact());
}

TEST(HierarchicalBitmapTest, FindFreeClimbsSeveralLevels) {
  // 64^3 leaf bits need three summary levels; a free bit far from the start
  // has to be found through all of them.
  constexpr std::size_t kBits = 64 * 64 * 64 * 2 + 5;
  GuardedBitmap bits(kBits);
  bits->MarkUsed(0, kBits);
  EXPECT_EQ(bits->FindFree(0), kNotFound);
  const std::vector<std::size_t> free_bits = {3, 70000, 262143, 262144,
                                              kBits - 1};
  for (std::size_t bit : free_bits) bits->MarkFree(bit, 1);
  std::size_t from = 0;
  for (std::size_t bit : free_bits) {
    EXPECT_EQ(bits->FindFree(from), bit);
    from = bit + 1;
  }
  EXPECT_EQ(bits->FindFree(from), kNotFound);
  // 262143 and 262144 straddle a boundary of the second summary level.
  EXPECT_EQ(bits->FindFreeRun(2, 1, 0), 262143u);
  EXPECT_EQ(bits->FindFreeRun(3, 1, 0), kNotFound);
  bits->MarkFree(262145, 1);
  EXPECT_EQ(bits->FindFreeRun(3, 1, 0), 262143u);
  EXPECT_TRUE(bits.GuardsIntact());
}

TEST(HierarchicalBitmapTest, FindFreeRunHonoursAlignmentAndPhase) {
  GuardedBitmap bits(1024);
  EXPECT_EQ(bits->FindFreeRun(1, 8, 3), 3u);
  EXPECT_EQ(bits->FindFreeRun(100, 256, 192), 192u);
  bits->MarkUsed(192, 1);
  EXPECT_EQ(bits->FindFreeRun(100, 256, 192), 448u);
  // With align 512 and phase 448 the only start that fits is 448.
  EXPECT_EQ(bits->FindFreeRun(100, 512, 448), 448u);
  bits->MarkUsed(547, 1);
  EXPECT_EQ(bits->FindFreeRun(100, 512, 448), kNotFound);
  EXPECT_EQ(bits->FindFreeRun(99, 512, 448), 448u);
  EXPECT_EQ(bits->FindFreeRun(1, 2048, 1000), 1000u);
  EXPECT_EQ(bits->FindFreeRun(1, 2048, 1500), kNotFound);  // Past the end.
  EXPECT_TRUE(bits.GuardsIntact());
}

TEST(HierarchicalBitmapTest, MoveLeavesSourceEmpty) {
  std::vector<std::uint64_t> storage(HierarchicalBitmap::StorageWords(100));
  HierarchicalBitmap a;
  a.Init(storage, 100);
  a.MarkUsed(0, 10);
  HierarchicalBitmap b(std::move(a));
  EXPECT_EQ(a.size(), 0u);  // NOLINT(bugprone-use-after-move): checks the move.
  EXPECT_EQ(b.size(), 100u);
  EXPECT_EQ(b.FindFree(0), 10u);
}

// FindFreeRun against brute force on random bitmaps: sizes on and off word
// boundaries, scattered and clustered free bits, runs below and above a word,
// every alignment and phase.
TEST(HierarchicalBitmapTest, FindFreeRunMatchesBruteForce) {
  for (std::uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    const std::size_t num_bits =
        std::uniform_int_distribution<std::size_t>(1, 5000)(rng);
    GuardedBitmap bits(num_bits);
    std::vector<bool> free(num_bits, true);
    // Alternate used and free stretches of random mean length.
    const std::size_t mean_used = std::size_t{1} << (rng() % 8);
    const std::size_t mean_free = std::size_t{1} << (rng() % 8);
    std::size_t pos = 0;
    bool used = rng() % 2 == 0;
    while (pos < num_bits) {
      const std::size_t mean = used ? mean_used : mean_free;
      const std::size_t len = std::min(num_bits - pos, 1 + rng() % (2 * mean));
      if (used) {
        bits->MarkUsed(pos, len);
        for (std::size_t i = pos; i < pos + len; ++i) free[i] = false;
      }
      pos += len;
      used = !used;
    }
    for (std::size_t i = 0; i < num_bits; ++i) {
      ASSERT_EQ(bits->IsFree(i), free[i]) << i;
    }
    const std::vector<std::size_t> run = FreeRunLengths(free);
    for (int query = 0; query < 200; ++query) {
      const std::size_t count = 1 + rng() % (rng() % 4 == 0 ? 600 : 70);
      const std::size_t align = std::size_t{1} << (rng() % 11);
      const std::size_t phase = rng() % align;
      ASSERT_EQ(bits->FindFreeRun(count, align, phase),
                ReferenceRun(run, count, align, phase))
          << "count " << count << " align " << align << " phase " << phase
          << " size " << num_bits;
      const std::size_t from = rng() % (num_bits + 1);
      std::size_t expected = from;
      while (expected < num_bits && !free[expected]) ++expected;
      ASSERT_EQ(bits->FindFree(from),
                expected == num_bits ? kNotFound : expected)
          << "from " << from;
    }
    ASSERT_TRUE(bits.GuardsIntact());
  }
}

}  // namespace
}  // namespace heapkit::internal
