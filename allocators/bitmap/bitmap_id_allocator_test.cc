#include "allocators/bitmap/bitmap_id_allocator.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/bitmap/random_test_util.h"
#include "core/alloc_error.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/constants.h"
#include "tests/interval_model.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using testing::IntervalModel;
using testing::IsAllocError;
using testing::IsOk;
using testing::kMax;
using testing::RunEverySeed;

TEST(BitmapIdAllocatorTest, HandsOutLowestFreeIds) {
  BitmapIdAllocator ids;
  ASSERT_THAT(ids.Init(100, 50), IsOk());
  EXPECT_EQ(ids.Size(), 50u);
  EXPECT_EQ(ids.Used(), 0u);
  EXPECT_EQ(ids.Available(), 50u);
  for (std::size_t expected = 100; expected < 150; ++expected) {
    ASSERT_OK_AND_ASSIGN(std::size_t id, ids.AllocId(1, 1));
    EXPECT_EQ(id, expected);
    EXPECT_TRUE(ids.IsAllocated(expected));
  }
  EXPECT_THAT(ids.AllocId(1, 1), IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(ids.Available(), 0u);
  ASSERT_THAT(ids.DeallocId(120, 1), IsOk());
  EXPECT_FALSE(ids.IsAllocated(120));
  ASSERT_OK_AND_ASSIGN(std::size_t again, ids.AllocId(1, 1));
  EXPECT_EQ(again, 120u);
  EXPECT_FALSE(ids.IsAllocated(99));
  EXPECT_FALSE(ids.IsAllocated(150));
}

TEST(BitmapIdAllocatorTest, RunsAreAlignedOnTheIdValue) {
  BitmapIdAllocator ids;
  ASSERT_THAT(ids.Init(3, 1000), IsOk());  // IDs 3..1002.
  ASSERT_OK_AND_ASSIGN(std::size_t a, ids.AllocId(4, 4));
  EXPECT_EQ(a, 4u);
  ASSERT_OK_AND_ASSIGN(std::size_t b, ids.AllocId(1, 256));
  EXPECT_EQ(b, 256u);
  ASSERT_OK_AND_ASSIGN(std::size_t c, ids.AllocId(100, 128));
  EXPECT_EQ(c, 128u);
  ASSERT_OK_AND_ASSIGN(std::size_t e, ids.AllocId(100, 256));
  EXPECT_EQ(e, 512u);  // 0 is not managed and 256 is taken.
  ASSERT_OK_AND_ASSIGN(std::size_t d, ids.AllocId(2, 1));
  EXPECT_EQ(d, 8u);
  EXPECT_EQ(ids.Used(), 207u);
  EXPECT_THAT(ids.AllocId(1, 1024), IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(ids.AllocId(0, 1), IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(ids.AllocId(1, 0), IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(ids.AllocId(1, 3), IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(ids.AllocId(1001, 1), IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(ids.Used(), 207u);
}

TEST(BitmapIdAllocatorTest, AllocFixedIdRules) {
  BitmapIdAllocator ids;
  ASSERT_THAT(ids.Init(10, 10), IsOk());
  EXPECT_THAT(ids.AllocFixedId(15), IsOk());
  EXPECT_TRUE(ids.IsAllocated(15));
  EXPECT_THAT(ids.AllocFixedId(15), IsAllocError(AllocError::kMemoryOverlap));
  EXPECT_THAT(ids.AllocFixedId(9), IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(ids.AllocFixedId(20), IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(ids.AllocFixedId(kMax), IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(ids.AllocFixedId(10), IsOk());
  EXPECT_THAT(ids.AllocFixedId(19), IsOk());
  EXPECT_EQ(ids.Used(), 3u);
  // AllocId works around the fixed IDs: free are 11..14 and 16..18.
  EXPECT_THAT(ids.AllocId(5, 1), IsAllocError(AllocError::kNoMemory));
  ASSERT_OK_AND_ASSIGN(std::size_t four, ids.AllocId(4, 1));
  EXPECT_EQ(four, 11u);
  ASSERT_OK_AND_ASSIGN(std::size_t three, ids.AllocId(3, 1));
  EXPECT_EQ(three, 16u);
  EXPECT_EQ(ids.Available(), 0u);
}

TEST(BitmapIdAllocatorTest, DeallocIsAllOrNothing) {
  BitmapIdAllocator ids;
  ASSERT_THAT(ids.Init(0, 64), IsOk());
  ASSERT_OK_AND_ASSIGN(std::size_t run, ids.AllocId(8, 8));
  ASSERT_EQ(run, 0u);
  EXPECT_THAT(ids.DeallocId(0, 9), IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(ids.DeallocId(1000, 1), IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(ids.DeallocId(60, 10), IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(ids.DeallocId(0, kMax), IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(ids.DeallocId(0, 0), IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(ids.Used(), 8u);
  for (std::size_t id = 0; id < 8; ++id) EXPECT_TRUE(ids.IsAllocated(id));

  ASSERT_THAT(ids.DeallocId(3, 1), IsOk());
  EXPECT_THAT(ids.DeallocId(0, 8), IsAllocError(AllocError::kNotAllocated));
  EXPECT_EQ(ids.Used(), 7u);
  EXPECT_TRUE(ids.IsAllocated(0));
  EXPECT_TRUE(ids.IsAllocated(7));
  EXPECT_THAT(ids.DeallocId(3, 1), IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(ids.DeallocId(0, 3), IsOk());
  EXPECT_THAT(ids.DeallocId(4, 4), IsOk());
  EXPECT_EQ(ids.Used(), 0u);
}

TEST(BitmapIdAllocatorTest, RangesFarApartAndOverlap) {
  BitmapIdAllocator ids;
  ASSERT_THAT(ids.Init(1, 3), IsOk());
  ASSERT_THAT(ids.AddMemory(std::size_t{1} << 40, 1000), IsOk());
  EXPECT_EQ(ids.Size(), 1003u);
  EXPECT_THAT(ids.AddMemory(3, 10), IsAllocError(AllocError::kMemoryOverlap));
  EXPECT_THAT(ids.AddMemory((std::size_t{1} << 40) + 999, 1),
              IsAllocError(AllocError::kMemoryOverlap));
  EXPECT_THAT(ids.AddMemory(5, 0), IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(ids.AddMemory(kMax - 1, 5),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(ids.Size(), 1003u);
  ASSERT_THAT(ids.AddMemory(4, 1), IsOk());  // Touches the first range.
  EXPECT_EQ(ids.Size(), 1004u);

  ASSERT_OK_AND_ASSIGN(std::size_t run, ids.AllocId(4, 1));
  EXPECT_EQ(run, std::size_t{1} << 40);  // 1..4 is two ranges, not one run.
  EXPECT_THAT(ids.AllocFixedId(4), IsOk());
  EXPECT_THAT(ids.AllocFixedId(3), IsOk());
  EXPECT_THAT(ids.DeallocId(3, 2), IsAllocError(AllocError::kNotAllocated));
  EXPECT_EQ(ids.Used(), 6u);

  ASSERT_THAT(ids.Init(7, 1), IsOk());
  EXPECT_EQ(ids.Size(), 1u);
  EXPECT_EQ(ids.Used(), 0u);
  EXPECT_FALSE(ids.IsAllocated(std::size_t{1} << 40));
}

// A range holding the ID SIZE_MAX is refused the same in every build (it used
// to be kept short of that ID in release builds and to fail an assertion in
// debug ones); the range just below it works in full.
TEST(BitmapIdAllocatorTest, RangeHoldingTheLastIdIsRefused) {
  BitmapIdAllocator ids;
  EXPECT_THAT(ids.Init(kMax, 1), IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(ids.Size(), 0u);
  ASSERT_THAT(ids.Init(0, 8), IsOk());
  EXPECT_THAT(ids.AddMemory(kMax - 10, 11),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(ids.Size(), 8u);  // A failed AddMemory changes nothing.
  EXPECT_THAT(ids.InitWithStorage(kMax - 9, 10, {}),
              IsAllocError(AllocError::kInvalidParam));
}

TEST(BitmapIdAllocatorTest, RangeJustBelowTheLastIdWorksInFull) {
  BitmapIdAllocator ids;
  ASSERT_THAT(ids.Init(kMax - 9, 9), IsOk());
  EXPECT_EQ(ids.Size(), 9u);
  EXPECT_THAT(ids.AllocFixedId(kMax - 1), IsOk());
  EXPECT_THAT(ids.AllocFixedId(kMax), IsAllocError(AllocError::kInvalidParam));
  ASSERT_OK_AND_ASSIGN(std::size_t aligned, ids.AllocId(1, 8));
  EXPECT_EQ(aligned, kMax - 7);
  EXPECT_THAT(ids.AllocId(1, std::size_t{1} << 63),
              IsAllocError(AllocError::kNoMemory));
}

TEST(BitmapIdAllocatorTest, CallerGivenStorage) {
  constexpr std::size_t kPids = 32768;
  std::vector<std::uint64_t> storage(BitmapIdAllocator::StorageWords(0, kPids));
  EXPECT_EQ(storage.size(), 512u + 2u * (8u + 1u));
  EXPECT_EQ(BitmapIdAllocator::StorageWords(5, 0), 0u);
  BitmapIdAllocator pids;
  EXPECT_THAT(pids.InitWithStorage(
                  0, kPids,
                  std::span<std::uint64_t>(storage.data(), storage.size() - 1)),
              IsAllocError(AllocError::kInvalidParam));
  ASSERT_THAT(pids.InitWithStorage(0, kPids, storage), IsOk());
  ASSERT_THAT(pids.AllocFixedId(0), IsOk());  // PID 0 is reserved.
  ASSERT_OK_AND_ASSIGN(std::size_t init, pids.AllocId(1, 1));
  EXPECT_EQ(init, 1u);
  EXPECT_EQ(storage[0] & 0b11, 0u);  // Both leaf bits now read "used".
}

// --- Random operations checked against an independent model. ---

class RandomIdTest {
 public:
  explicit RandomIdTest(std::uint64_t seed) : rng_(seed) {}

  void Run(int ops) {
    ASSERT_NO_FATAL_FAILURE(SetUpRanges());
    for (step_ = 0; step_ < ops; ++step_) {
      ASSERT_NO_FATAL_FAILURE(Step());
      ASSERT_EQ(ids_.Used(), model_.used()) << "step " << step_;
      ASSERT_EQ(ids_.Size(), model_.total()) << "step " << step_;
      ASSERT_EQ(ids_.Available(), model_.total() - model_.used());
      if (step_ % 1000 == 999) {
        ASSERT_NO_FATAL_FAILURE(CheckEveryId());
      }
    }
    ASSERT_NO_FATAL_FAILURE(CheckEveryId());
  }

 private:
  std::size_t Uniform(std::size_t lo, std::size_t hi) {  // [lo, hi]
    return std::uniform_int_distribution<std::size_t>(lo, hi)(rng_);
  }

  std::size_t RandomCount() {
    const std::size_t kind = Uniform(0, 99);
    if (kind < 75) return Uniform(1, 4);
    if (kind < 95) return Uniform(5, 100);
    return Uniform(101, 500);
  }

  void SetUpRanges() {
    const int ranges = static_cast<int>(Uniform(1, 3));
    std::size_t next = Uniform(0, 1000);
    for (int i = 0; i < ranges; ++i) {
      const std::size_t count = Uniform(1, 2500);
      ASSERT_THAT(i == 0 ? ids_.Init(next, count) : ids_.AddMemory(next, count),
                  IsOk());
      model_.AddRange(next, next + count);
      next += count;
      if (Uniform(0, 2) != 0) next += Uniform(1, std::size_t{1} << 36);
    }
  }

  // Returns an ID near a used interval, in or next to a range, or anywhere.
  std::size_t RandomId() {
    const std::size_t kind = Uniform(0, 9);
    const auto& ranges = model_.ranges();
    const IntervalModel::Range& range = ranges[Uniform(0, ranges.size() - 1)];
    if (kind < 5) {
      std::optional<IntervalModel::Range> pick =
          model_.UsedIntervalAfter(Uniform(range.first, range.end - 1));
      if (!pick.has_value()) pick = model_.UsedIntervalAfter(0);
      if (pick.has_value()) {
        return Uniform(0, 1) == 0 ? pick->first
                                  : Uniform(pick->first - std::min<std::size_t>(
                                                              pick->first, 2),
                                            pick->end + 1);
      }
    }
    if (kind < 9) {
      return Uniform(range.first - std::min<std::size_t>(range.first, 1),
                     range.end);
    }
    return Uniform(0, kMax);
  }

  void Step() {
    const bool mostly_full = model_.used() * 10 > model_.total() * 7;
    const std::size_t kind = Uniform(0, 99);
    if (kind < (mostly_full ? 20u : 45u)) {
      DoAllocId();
    } else if (kind < 60) {
      DoAllocFixedId();
    } else {
      DoDeallocId();
    }
  }

  void DoAllocId() {
    const std::size_t count = RandomCount();
    const std::size_t align =
        Uniform(0, 2) == 0 ? std::size_t{1} << Uniform(1, 10) : 1;
    const std::optional<std::size_t> expected = model_.FirstFit(count, align);
    absl::StatusOr<std::size_t> got = ids_.AllocId(count, align);
    if (!expected.has_value()) {
      ASSERT_THAT(got, IsAllocError(AllocError::kNoMemory)) << "step " << step_;
      return;
    }
    ASSERT_THAT(got, IsOk()) << "step " << step_;
    ASSERT_EQ(*got % align, 0u) << "step " << step_;
    ASSERT_TRUE(model_.CanAllocateAt(*got, count)) << "step " << step_;
    ASSERT_EQ(*got, *expected) << "step " << step_ << ": not the lowest";
    model_.MarkUsed(*got, count);
  }

  void DoAllocFixedId() {
    const std::size_t id = RandomId();
    const absl::Status status = ids_.AllocFixedId(id);
    if (!model_.InOneRange(id, 1)) {
      ASSERT_THAT(status, IsAllocError(AllocError::kInvalidParam))
          << "step " << step_;
    } else if (model_.IsUsed(id)) {
      ASSERT_THAT(status, IsAllocError(AllocError::kMemoryOverlap))
          << "step " << step_;
    } else {
      ASSERT_THAT(status, IsOk()) << "step " << step_;
      model_.MarkUsed(id, 1);
    }
    ASSERT_NO_FATAL_FAILURE(CheckIds(id, 1));
  }

  // Frees valid runs, double frees, wrong counts and unmanaged IDs.
  void DoDeallocId() {
    std::size_t start = RandomId();
    std::size_t count = Uniform(0, 30) == 0 ? 0 : RandomCount();
    if (Uniform(0, 1) == 0) {
      // Shrink to a range the model says is freeable, if there is one.
      while (count > 1 && !model_.CanFree(start, count)) count /= 2;
    }
    const absl::Status status = ids_.DeallocId(start, count);
    if (count == 0) {
      ASSERT_THAT(status, IsAllocError(AllocError::kInvalidParam))
          << "step " << step_;
    } else if (model_.CanFree(start, count)) {
      ASSERT_THAT(status, IsOk()) << "step " << step_;
      model_.MarkFree(start, count);
    } else {
      ASSERT_THAT(status, IsAllocError(AllocError::kNotAllocated))
          << "step " << step_ << ": DeallocId(" << start << ", " << count
          << ")";
    }
    ASSERT_NO_FATAL_FAILURE(CheckIds(start, count));
  }

  // Checks that IDs [start - 1, start + count] are allocated exactly when the
  // model says so (clamped to the ID space).
  void CheckIds(std::size_t start, std::size_t count) {
    const std::size_t lo = start == 0 ? 0 : start - 1;
    const std::size_t hi = count > kMax - start ? kMax : start + count;
    for (std::size_t id = lo;; ++id) {
      ASSERT_EQ(ids_.IsAllocated(id), model_.IsUsed(id))
          << "step " << step_ << ": ID " << id;
      if (id == hi) break;
    }
  }

  void CheckEveryId() {
    for (const IntervalModel::Range& range : model_.ranges()) {
      for (std::size_t id = range.first; id < range.end; ++id) {
        ASSERT_EQ(ids_.IsAllocated(id), model_.IsUsed(id))
            << "step " << step_ << ": ID " << id;
      }
    }
  }

  std::mt19937_64 rng_;
  BitmapIdAllocator ids_;
  IntervalModel model_;
  int step_ = 0;
};

TEST(BitmapIdAllocatorTest, RandomOperationsMatchIntervalModel) {
  // 200k operations in all.
  RunEverySeed<RandomIdTest>(/*seeds=*/40, /*ops_per_seed=*/5000);
}

}  // namespace
}  // namespace heapkit
