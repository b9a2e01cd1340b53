#include "allocators/bitmap/bitmap_id_allocator.h"

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <random>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/alloc_error.h"
#include "gtest/gtest.h"
#include "tests/interval_model.h"

namespace heapkit {
namespace {

using testing::IntervalModel;

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

std::optional<AllocError> ErrorOf(const absl::Status& status) {
  return GetAllocError(status);
}
std::optional<AllocError> ErrorOf(const absl::StatusOr<std::size_t>& result) {
  return GetAllocError(result.status());
}

TEST(BitmapIdAllocatorTest, HandsOutLowestFreeIds) {
  BitmapIdAllocator ids;
  ASSERT_TRUE(ids.Init(100, 50).ok());
  EXPECT_EQ(ids.Size(), 50u);
  EXPECT_EQ(ids.Used(), 0u);
  EXPECT_EQ(ids.Available(), 50u);
  for (std::size_t expected = 100; expected < 150; ++expected) {
    absl::StatusOr<std::size_t> id = ids.AllocId(1, 1);
    ASSERT_TRUE(id.ok()) << id.status();
    EXPECT_EQ(*id, expected);
    EXPECT_TRUE(ids.IsAllocated(expected));
  }
  EXPECT_EQ(ErrorOf(ids.AllocId(1, 1)), AllocError::kNoMemory);
  EXPECT_EQ(ids.Available(), 0u);
  ASSERT_TRUE(ids.DeallocId(120, 1).ok());
  EXPECT_FALSE(ids.IsAllocated(120));
  absl::StatusOr<std::size_t> again = ids.AllocId(1, 1);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, 120u);
  EXPECT_FALSE(ids.IsAllocated(99));
  EXPECT_FALSE(ids.IsAllocated(150));
}

TEST(BitmapIdAllocatorTest, RunsAreAlignedOnTheIdValue) {
  BitmapIdAllocator ids;
  ASSERT_TRUE(ids.Init(3, 1000).ok());  // IDs 3..1002.
  absl::StatusOr<std::size_t> a = ids.AllocId(4, 4);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(*a, 4u);
  absl::StatusOr<std::size_t> b = ids.AllocId(1, 256);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(*b, 256u);
  absl::StatusOr<std::size_t> c = ids.AllocId(100, 128);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, 128u);
  absl::StatusOr<std::size_t> e = ids.AllocId(100, 256);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(*e, 512u);  // 0 is not managed and 256 is taken.
  absl::StatusOr<std::size_t> d = ids.AllocId(2, 1);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(*d, 8u);
  EXPECT_EQ(ids.Used(), 207u);
  EXPECT_EQ(ErrorOf(ids.AllocId(1, 1024)), AllocError::kNoMemory);
  EXPECT_EQ(ErrorOf(ids.AllocId(0, 1)), AllocError::kInvalidParam);
  EXPECT_EQ(ErrorOf(ids.AllocId(1, 0)), AllocError::kInvalidParam);
  EXPECT_EQ(ErrorOf(ids.AllocId(1, 3)), AllocError::kInvalidParam);
  EXPECT_EQ(ErrorOf(ids.AllocId(1001, 1)), AllocError::kNoMemory);
  EXPECT_EQ(ids.Used(), 207u);
}

TEST(BitmapIdAllocatorTest, AllocFixedIdRules) {
  BitmapIdAllocator ids;
  ASSERT_TRUE(ids.Init(10, 10).ok());
  EXPECT_TRUE(ids.AllocFixedId(15).ok());
  EXPECT_TRUE(ids.IsAllocated(15));
  EXPECT_EQ(ErrorOf(ids.AllocFixedId(15)), AllocError::kMemoryOverlap);
  EXPECT_EQ(ErrorOf(ids.AllocFixedId(9)), AllocError::kInvalidParam);
  EXPECT_EQ(ErrorOf(ids.AllocFixedId(20)), AllocError::kInvalidParam);
  EXPECT_EQ(ErrorOf(ids.AllocFixedId(kMax)), AllocError::kInvalidParam);
  EXPECT_TRUE(ids.AllocFixedId(10).ok());
  EXPECT_TRUE(ids.AllocFixedId(19).ok());
  EXPECT_EQ(ids.Used(), 3u);
  // AllocId works around the fixed IDs: free are 11..14 and 16..18.
  EXPECT_EQ(ErrorOf(ids.AllocId(5, 1)), AllocError::kNoMemory);
  absl::StatusOr<std::size_t> four = ids.AllocId(4, 1);
  ASSERT_TRUE(four.ok());
  EXPECT_EQ(*four, 11u);
  absl::StatusOr<std::size_t> three = ids.AllocId(3, 1);
  ASSERT_TRUE(three.ok());
  EXPECT_EQ(*three, 16u);
  EXPECT_EQ(ids.Available(), 0u);
}

TEST(BitmapIdAllocatorTest, DeallocIsAllOrNothing) {
  BitmapIdAllocator ids;
  ASSERT_TRUE(ids.Init(0, 64).ok());
  absl::StatusOr<std::size_t> run = ids.AllocId(8, 8);
  ASSERT_TRUE(run.ok());
  ASSERT_EQ(*run, 0u);
  EXPECT_EQ(ErrorOf(ids.DeallocId(0, 9)), AllocError::kNotAllocated);
  EXPECT_EQ(ErrorOf(ids.DeallocId(1000, 1)), AllocError::kNotAllocated);
  EXPECT_EQ(ErrorOf(ids.DeallocId(60, 10)), AllocError::kNotAllocated);
  EXPECT_EQ(ErrorOf(ids.DeallocId(0, kMax)), AllocError::kNotAllocated);
  EXPECT_EQ(ErrorOf(ids.DeallocId(0, 0)), AllocError::kInvalidParam);
  EXPECT_EQ(ids.Used(), 8u);
  for (std::size_t id = 0; id < 8; ++id) EXPECT_TRUE(ids.IsAllocated(id));

  ASSERT_TRUE(ids.DeallocId(3, 1).ok());
  EXPECT_EQ(ErrorOf(ids.DeallocId(0, 8)), AllocError::kNotAllocated);
  EXPECT_EQ(ids.Used(), 7u);
  EXPECT_TRUE(ids.IsAllocated(0));
  EXPECT_TRUE(ids.IsAllocated(7));
  EXPECT_EQ(ErrorOf(ids.DeallocId(3, 1)), AllocError::kNotAllocated);
  EXPECT_TRUE(ids.DeallocId(0, 3).ok());
  EXPECT_TRUE(ids.DeallocId(4, 4).ok());
  EXPECT_EQ(ids.Used(), 0u);
}

TEST(BitmapIdAllocatorTest, RangesFarApartAndOverlap) {
  BitmapIdAllocator ids;
  ASSERT_TRUE(ids.Init(1, 3).ok());
  ASSERT_TRUE(ids.AddMemory(std::size_t{1} << 40, 1000).ok());
  EXPECT_EQ(ids.Size(), 1003u);
  EXPECT_EQ(ErrorOf(ids.AddMemory(3, 10)), AllocError::kMemoryOverlap);
  EXPECT_EQ(ErrorOf(ids.AddMemory((std::size_t{1} << 40) + 999, 1)),
            AllocError::kMemoryOverlap);
  EXPECT_EQ(ErrorOf(ids.AddMemory(5, 0)), AllocError::kInvalidParam);
  EXPECT_EQ(ErrorOf(ids.AddMemory(kMax - 1, 5)), AllocError::kInvalidParam);
  EXPECT_EQ(ids.Size(), 1003u);
  ASSERT_TRUE(ids.AddMemory(4, 1).ok());  // Touches the first range.
  EXPECT_EQ(ids.Size(), 1004u);

  absl::StatusOr<std::size_t> run = ids.AllocId(4, 1);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(*run, std::size_t{1} << 40);  // 1..4 is two ranges, not one run.
  EXPECT_TRUE(ids.AllocFixedId(4).ok());
  EXPECT_TRUE(ids.AllocFixedId(3).ok());
  EXPECT_EQ(ErrorOf(ids.DeallocId(3, 2)), AllocError::kNotAllocated);
  EXPECT_EQ(ids.Used(), 6u);

  ASSERT_TRUE(ids.Init(7, 1).ok());
  EXPECT_EQ(ids.Size(), 1u);
  EXPECT_EQ(ids.Used(), 0u);
  EXPECT_FALSE(ids.IsAllocated(std::size_t{1} << 40));
}

TEST(BitmapIdAllocatorTest, RangeAtTheTopGivesUpTheLastId) {
  BitmapIdAllocator ids;
  ASSERT_TRUE(ids.Init(kMax - 9, 10).ok());
  EXPECT_EQ(ids.Size(), 9u);
  EXPECT_TRUE(ids.AllocFixedId(kMax - 1).ok());
  EXPECT_EQ(ErrorOf(ids.AllocFixedId(kMax)), AllocError::kInvalidParam);
  absl::StatusOr<std::size_t> aligned = ids.AllocId(1, 8);
  ASSERT_TRUE(aligned.ok());
  EXPECT_EQ(*aligned, kMax - 7);
  EXPECT_EQ(ErrorOf(ids.AllocId(1, std::size_t{1} << 63)),
            AllocError::kNoMemory);
}

TEST(BitmapIdAllocatorTest, CallerGivenStorage) {
  constexpr std::size_t kPids = 32768;
  std::vector<std::uint64_t> storage(BitmapIdAllocator::StorageWords(0, kPids));
  EXPECT_EQ(storage.size(), 512u + 2u * (8u + 1u));
  EXPECT_EQ(BitmapIdAllocator::StorageWords(5, 0), 0u);
  BitmapIdAllocator pids;
  EXPECT_EQ(ErrorOf(pids.InitWithStorage(
                0, kPids,
                std::span<std::uint64_t>(storage.data(), storage.size() - 1))),
            AllocError::kInvalidParam);
  ASSERT_TRUE(pids.InitWithStorage(0, kPids, storage).ok());
  ASSERT_TRUE(pids.AllocFixedId(0).ok());  // PID 0 is reserved.
  absl::StatusOr<std::size_t> init = pids.AllocId(1, 1);
  ASSERT_TRUE(init.ok());
  EXPECT_EQ(*init, 1u);
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
      ASSERT_TRUE(i == 0 ? ids_.Init(next, count).ok()
                         : ids_.AddMemory(next, count).ok());
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
      ASSERT_EQ(ErrorOf(got), AllocError::kNoMemory) << "step " << step_;
      return;
    }
    ASSERT_TRUE(got.ok()) << "step " << step_ << ": " << got.status();
    ASSERT_EQ(*got % align, 0u) << "step " << step_;
    ASSERT_TRUE(model_.CanAllocateAt(*got, count)) << "step " << step_;
    ASSERT_EQ(*got, *expected) << "step " << step_ << ": not the lowest";
    model_.MarkUsed(*got, count);
  }

  void DoAllocFixedId() {
    const std::size_t id = RandomId();
    const absl::Status status = ids_.AllocFixedId(id);
    if (!model_.InOneRange(id, 1)) {
      ASSERT_EQ(ErrorOf(status), AllocError::kInvalidParam) << "step " << step_;
    } else if (model_.IsUsed(id)) {
      ASSERT_EQ(ErrorOf(status), AllocError::kMemoryOverlap)
          << "step " << step_;
    } else {
      ASSERT_TRUE(status.ok()) << "step " << step_ << ": " << status;
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
      ASSERT_EQ(ErrorOf(status), AllocError::kInvalidParam) << "step " << step_;
    } else if (model_.CanFree(start, count)) {
      ASSERT_TRUE(status.ok()) << "step " << step_ << ": " << status;
      model_.MarkFree(start, count);
    } else {
      ASSERT_EQ(ErrorOf(status), AllocError::kNotAllocated)
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
  constexpr int kSeeds = 40;
  constexpr int kOpsPerSeed = 5000;  // 200k operations in all.
  for (std::uint64_t seed = 1; seed <= kSeeds; ++seed) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    RandomIdTest test(seed);
    test.Run(kOpsPerSeed);
    if (::testing::Test::HasFatalFailure()) return;
  }
}

}  // namespace
}  // namespace heapkit
