#include "adapters/limiting_allocator.h"

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "adapters/borrowed_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using testing::Arena;
using ::testing::HasSubstr;
using testing::IsAllocError;
using testing::IsOk;
using testing::kKiB;
using testing::kMax;
using testing::kMiB;

// A TLSF allocator that counts the Alloc calls that reach it.
class CountingTlsf final : public ByteAllocator {
 public:
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    return tlsf_.Init(start, size);
  }
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    return tlsf_.AddMemory(start, size);
  }
  absl::StatusOr<void*> Alloc(Layout layout) override {
    ++alloc_calls_;
    return tlsf_.Alloc(layout);
  }
  void Dealloc(void* ptr, Layout layout) override {
    tlsf_.Dealloc(ptr, layout);
  }
  std::size_t TotalBytes() const override { return tlsf_.TotalBytes(); }
  std::size_t UsedBytes() const override { return tlsf_.UsedBytes(); }
  absl::Status CheckInvariants() const { return tlsf_.CheckInvariants(); }

  int alloc_calls() const { return alloc_calls_; }

 private:
  int alloc_calls_ = 0;
  TlsfByteAllocator tlsf_;
};

class LimitingAllocatorTest : public ::testing::Test {
 protected:
  static constexpr std::size_t kLimit = 1000;

  LimitingAllocatorTest() : arena_(kMiB), limited_(kLimit) {
    EXPECT_THAT(limited_.Init(arena_.start(), arena_.size()), IsOk());
  }

  Arena arena_;
  LimitingAllocator<CountingTlsf> limited_;
};

TEST_F(LimitingAllocatorTest, ExactlyAtTheLimitSucceedsOneByteOverFails) {
  ASSERT_OK_AND_ASSIGN(void* a, limited_.Alloc(Layout{600, 8}));
  ASSERT_OK_AND_ASSIGN(void* b, limited_.Alloc(Layout{400, 8}));
  EXPECT_EQ(limited_.CountedBytes(), kLimit);
  // A size-0 block takes no counted bytes, so it fits even at the limit.
  ASSERT_OK_AND_ASSIGN(void* empty, limited_.Alloc(Layout{0, 1}));

  const absl::StatusOr<void*> over = limited_.Alloc(Layout{1, 1});
  EXPECT_THAT(over, IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(over.status().message(),
              HasSubstr("would exceed the limit of 1000 bytes"));
  EXPECT_EQ(limited_.CountedBytes(), kLimit);
  EXPECT_THAT(limited_.CheckInvariants(), IsOk());
  limited_.Dealloc(a, Layout{600, 8});
  limited_.Dealloc(b, Layout{400, 8});
  limited_.Dealloc(empty, Layout{0, 1});
  EXPECT_EQ(limited_.CountedBytes(), 0u);
}

TEST_F(LimitingAllocatorTest, FreeingMakesRoom) {
  ASSERT_OK_AND_ASSIGN(void* a, limited_.Alloc(Layout{700, 8}));
  EXPECT_THAT(limited_.Alloc(Layout{301, 8}),
              IsAllocError(AllocError::kNoMemory));
  limited_.Dealloc(a, Layout{700, 8});
  ASSERT_OK_AND_ASSIGN(void* b, limited_.Alloc(Layout{1000, 8}));
  limited_.Dealloc(b, Layout{1000, 8});
}

TEST_F(LimitingAllocatorTest, RefusedRequestsNeverReachTheWrappedAllocator) {
  ASSERT_OK_AND_ASSIGN(void* a, limited_.Alloc(Layout{900, 8}));
  const CountingTlsf& wrapped = limited_.wrapped();
  const int calls = wrapped.alloc_calls();
  const std::size_t used = wrapped.UsedBytes();
  EXPECT_THAT(limited_.Alloc(Layout{101, 8}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(limited_.Alloc(Layout{kMax, 1}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(limited_.Alloc(Layout{16, 3}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_EQ(wrapped.alloc_calls(), calls);
  EXPECT_EQ(wrapped.UsedBytes(), used);
  EXPECT_EQ(limited_.CountedBytes(), 900u);
  limited_.Dealloc(a, Layout{900, 8});
}

TEST_F(LimitingAllocatorTest, CountsRequestedBytesNotTheBackendsRounding) {
  ASSERT_OK_AND_ASSIGN(void* a, limited_.Alloc(Layout{1, 1}));
  EXPECT_EQ(limited_.CountedBytes(), 1u);
  // TLSF spends at least a 32-byte block on it.
  EXPECT_GE(limited_.UsedBytes(), 32u);
  limited_.Dealloc(a, Layout{1, 1});
}

TEST_F(LimitingAllocatorTest, FailuresOfTheWrappedAllocatorCountNothing) {
  limited_.set_limit(LimitingAllocator<CountingTlsf>::kNoLimit);
  EXPECT_THAT(limited_.Alloc(Layout{2 * kMiB, 8}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(limited_.CountedBytes(), 0u);
  EXPECT_EQ(limited_.wrapped().alloc_calls(), 1);
}

TEST_F(LimitingAllocatorTest, LoweringTheLimitBelowTheCountRefusesUntilFreed) {
  ASSERT_OK_AND_ASSIGN(void* a, limited_.Alloc(Layout{500, 8}));
  ASSERT_OK_AND_ASSIGN(void* b, limited_.Alloc(Layout{300, 8}));
  limited_.set_limit(600);
  EXPECT_EQ(limited_.limit(), 600u);
  EXPECT_THAT(limited_.Alloc(Layout{0, 1}),
              IsAllocError(AllocError::kNoMemory));
  limited_.Dealloc(a, Layout{500, 8});
  ASSERT_OK_AND_ASSIGN(void* c, limited_.Alloc(Layout{300, 8}));
  EXPECT_EQ(limited_.CountedBytes(), 600u);
  limited_.Dealloc(b, Layout{300, 8});
  limited_.Dealloc(c, Layout{300, 8});
}

TEST_F(LimitingAllocatorTest, InitRestartsTheCountAndKeepsTheLimit) {
  ASSERT_OK_AND_ASSIGN(void* a, limited_.Alloc(Layout{800, 8}));
  (void)a;  // Forgotten by Init.
  ASSERT_THAT(limited_.Init(arena_.start(), arena_.size()), IsOk());
  EXPECT_EQ(limited_.CountedBytes(), 0u);
  EXPECT_EQ(limited_.limit(), kLimit);
  ASSERT_OK_AND_ASSIGN(void* b, limited_.Alloc(Layout{1000, 8}));
  limited_.Dealloc(b, Layout{1000, 8});
}

TEST_F(LimitingAllocatorTest, FreeingMoreThanIsCountedAborts) {
  ASSERT_OK_AND_ASSIGN(void* a, limited_.Alloc(Layout{100, 8}));
  EXPECT_DEATH(limited_.Dealloc(a, Layout{200, 8}),
               "freeing .* of 200 bytes, but only 100 bytes are live");
  limited_.Dealloc(a, Layout{100, 8});
}

TEST_F(LimitingAllocatorTest, CheckInvariantsCatchesFreesThatBypassIt) {
  ASSERT_OK_AND_ASSIGN(void* a, limited_.Alloc(Layout{100, 8}));
  limited_.wrapped().Dealloc(a, Layout{100, 8});
  const absl::Status status = limited_.CheckInvariants();
  EXPECT_EQ(status.code(), absl::StatusCode::kInternal);
  EXPECT_THAT(status.message(), HasSubstr("100 requested bytes are live"));
}

TEST(LimitingAllocatorDefaultTest, HasNoLimit) {
  Arena arena(4 * kMiB);
  LimitingAllocator<TlsfByteAllocator> limited;
  EXPECT_EQ(limited.limit(), LimitingAllocator<TlsfByteAllocator>::kNoLimit);
  ASSERT_THAT(limited.Init(arena.start(), arena.size()), IsOk());
  ASSERT_OK_AND_ASSIGN(void* a, limited.Alloc(Layout{3 * kMiB, 8}));
  limited.Dealloc(a, Layout{3 * kMiB, 8});
}

TEST(LimitingAllocatorBorrowedTest, LimitsABorrowedAllocator) {
  Arena arena(kMiB);
  TlsfByteAllocator tlsf;
  LimitingAllocator<BorrowedAllocator<TlsfByteAllocator>> limited(kKiB, tlsf);
  EXPECT_EQ(&limited.wrapped().wrapped(), &tlsf);
  ASSERT_THAT(limited.Init(arena.start(), arena.size()), IsOk());
  EXPECT_THAT(limited.Alloc(Layout{kKiB + 1, 8}),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_EQ(tlsf.UsedBytes(), 0u);
  ASSERT_OK_AND_ASSIGN(void* a, limited.Alloc(Layout{kKiB, 8}));
  EXPECT_GT(tlsf.UsedBytes(), kKiB);
  limited.Dealloc(a, Layout{kKiB, 8});
}

}  // namespace
}  // namespace heapkit
