#include "adapters/checked_allocator.h"

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "adapters/internal/forwarding_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/internal/asan.h"
#include "core/internal/hex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using ::heapkit::testing::Arena;
using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;
using ::heapkit::testing::kMax;
using ::heapkit::testing::kMiB;
using ::testing::Each;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

using Checked = CheckedAllocator<TlsfByteAllocator>;

constexpr unsigned char kGuard = Checked::kGuardByte;

std::string HexOf(const void* ptr) {
  return internal::Hex(reinterpret_cast<std::uintptr_t>(ptr));
}

// Returns the `n` bytes at `ptr` + `offset`. Under ASan, where the guards are
// poisoned, makes them addressable first (CheckedAllocator poisons them again
// when it next checks them).
std::vector<unsigned char> BytesAt(const void* ptr, std::ptrdiff_t offset,
                                   std::size_t n) {
  const auto* bytes = static_cast<const unsigned char*>(ptr) + offset;
  internal::UnpoisonMemory(bytes, n);
  return std::vector<unsigned char>(bytes, bytes + n);
}

// Returns the byte at `block` + `offset`, typically in a guard, made
// addressable under ASan so that the test can damage it as a stray write
// would.
unsigned char& ByteAt(void* block, std::ptrdiff_t offset) {
  auto* byte = static_cast<unsigned char*>(block) + offset;
  internal::UnpoisonMemory(byte, 1);
  return *byte;
}

// Wraps TLSF and records the last block Alloc returned, and a copy of the
// last block Dealloc received, as it was.
class RecordingAllocator final
    : public internal::ForwardingAllocator<TlsfByteAllocator> {
 public:
  absl::StatusOr<void*> Alloc(Layout layout) override {
    absl::StatusOr<void*> block = ForwardingAllocator::Alloc(layout);
    if (block.ok()) {
      last_allocated = *block;
      last_allocated_layout = layout;
    }
    return block;
  }

  void Dealloc(void* ptr, Layout layout) override {
    last_freed = ptr;
    last_freed_bytes = BytesAt(ptr, 0, layout.size);
    ForwardingAllocator::Dealloc(ptr, layout);
  }

  void* last_allocated = nullptr;
  Layout last_allocated_layout{0, 1};
  void* last_freed = nullptr;
  std::vector<unsigned char> last_freed_bytes;
};

class CheckedAllocatorTest : public ::testing::Test {
 protected:
  CheckedAllocatorTest() : arena_(kMiB) {
    EXPECT_THAT(checked_.Init(arena_.start(), arena_.size()), IsOk());
    baseline_used_ = checked_.UsedBytes();
  }

  Arena arena_;
  Checked checked_;
  std::size_t baseline_used_ = 0;
};

using CheckedAllocatorDeathTest = CheckedAllocatorTest;

TEST_F(CheckedAllocatorTest, AllocReturnsAlignedFreshBytesBetweenGuards) {
  for (std::size_t align : {1, 8, 16, 32, 64, 4096}) {
    SCOPED_TRACE(::testing::Message() << "align " << align);
    ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{100, align}));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % align, 0u);
    EXPECT_THAT(BytesAt(block, 0, 100), Each(Checked::kFreshByte));
    EXPECT_THAT(BytesAt(block, -16, 16), Each(kGuard));
    EXPECT_THAT(BytesAt(block, 100, 16), Each(kGuard));
    EXPECT_THAT(checked_.Free(block, Layout{100, align}), IsOk());
  }
  EXPECT_EQ(checked_.UsedBytes(), baseline_used_);
}

TEST(CheckedAllocatorGuardTest, GuardsFillTheWholeBlockAroundTheUserBytes) {
  Arena arena(kMiB);
  CheckedAllocator<RecordingAllocator> checked;
  ASSERT_THAT(checked.Init(arena.start(), arena.size()), IsOk());
  // A 16-aligned block of max(align, 16) + size + 16 bytes: the guards hold
  // every byte around the user bytes, 16 or more on each side.
  ASSERT_OK_AND_ASSIGN(void* block, checked.Alloc(Layout{40, 256}));
  const Layout taken = checked.wrapped().last_allocated_layout;
  EXPECT_EQ(taken.size, 256 + 40 + 16u);
  EXPECT_EQ(taken.align, 16u);
  const std::ptrdiff_t front =
      static_cast<unsigned char*>(block) -
      static_cast<unsigned char*>(checked.wrapped().last_allocated);
  const std::ptrdiff_t back =
      static_cast<std::ptrdiff_t>(taken.size) - front - 40;
  ASSERT_GE(front, 16);
  ASSERT_GE(back, 16);
  EXPECT_EQ(front % 16, 0);
  EXPECT_THAT(BytesAt(block, -front, front), Each(kGuard));
  EXPECT_THAT(BytesAt(block, 40, back), Each(kGuard));
  // Damage to the first byte of the front guard or the last of the back one
  // is found.
  ByteAt(block, -front) = 0;
  EXPECT_THAT(checked.CheckInvariants().message(),
              HasSubstr("offset -" + std::to_string(front)));
  ByteAt(block, -front) = kGuard;
  ByteAt(block, 40 + back - 1) = 0;
  EXPECT_THAT(checked.CheckInvariants().message(),
              HasSubstr("offset +" + std::to_string(40 + back - 1)));
  ByteAt(block, 40 + back - 1) = kGuard;
  EXPECT_THAT(checked.Free(block, Layout{40, 256}), IsOk());
}

TEST_F(CheckedAllocatorTest, AlignmentsAboveAPageGetABackGuardOnly) {
  const Layout layout{100, 2 * Checked::kMaxFrontGuardAlign};
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(layout));
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % layout.align, 0u);
  // The block costs the request and one guard, not another alignment unit.
  EXPECT_LT(checked_.UsedBytes() - baseline_used_, 100 + 16 + 64u);
  EXPECT_THAT(BytesAt(block, 0, 100), Each(Checked::kFreshByte));
  EXPECT_THAT(BytesAt(block, 100, 16), Each(kGuard));
  ByteAt(block, 115) = 0;
  EXPECT_THAT(checked_.Free(block, layout).message(),
              HasSubstr("guard overrun"));
  ByteAt(block, 115) = kGuard;
  EXPECT_THAT(checked_.Free(block, layout), IsOk());
  EXPECT_EQ(checked_.UsedBytes(), baseline_used_);
}

TEST_F(CheckedAllocatorTest, GuardsStayIntactAfterNormalUse) {
  std::vector<std::pair<void*, Layout>> blocks;
  for (std::size_t size : {0, 1, 15, 16, 17, 1000}) {
    for (std::size_t align : {1, 2, 16, 128}) {
      const Layout layout{size, align};
      ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(layout));
      std::memset(block, 0x5A, size);  // Every user byte, and no more.
      blocks.emplace_back(block, layout);
    }
  }
  EXPECT_EQ(checked_.LiveCount(), blocks.size());
  EXPECT_THAT(checked_.CheckInvariants(), IsOk());
  for (auto [block, layout] : blocks) {
    EXPECT_THAT(checked_.Free(block, layout), IsOk());
  }
  EXPECT_EQ(checked_.LiveCount(), 0u);
  EXPECT_EQ(checked_.UsedBytes(), baseline_used_);
  EXPECT_THAT(checked_.CheckInvariants(), IsOk());
}

TEST_F(CheckedAllocatorTest, StatsAreTheWrappedAllocatorsGuardsIncluded) {
  EXPECT_EQ(checked_.TotalBytes(), checked_.wrapped().TotalBytes());
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{100, 8}));
  EXPECT_EQ(checked_.UsedBytes(), checked_.wrapped().UsedBytes());
  EXPECT_GE(checked_.UsedBytes() - baseline_used_, 100 + 32u);
  EXPECT_EQ(checked_.UsedBytes() + checked_.AvailableBytes(),
            checked_.TotalBytes());
  checked_.Dealloc(block, Layout{100, 8});
}

TEST_F(CheckedAllocatorTest, SizeZeroBlocksAreDistinctAndGuarded) {
  ASSERT_OK_AND_ASSIGN(void* a, checked_.Alloc(Layout{0, 1}));
  ASSERT_OK_AND_ASSIGN(void* b, checked_.Alloc(Layout{0, 1}));
  EXPECT_NE(a, b);
  ByteAt(a, 0) = 0;  // Past the end of a 0-byte block.
  EXPECT_TRUE(absl::IsDataLoss(checked_.Free(a, Layout{0, 1})));
  ByteAt(a, 0) = kGuard;
  EXPECT_THAT(checked_.Free(a, Layout{0, 1}), IsOk());
  EXPECT_THAT(checked_.Free(b, Layout{0, 1}), IsOk());
}

TEST(CheckedAllocatorScribbleTest, FreedBytesAreScribbledBeforeGoingBack) {
  Arena arena(kMiB);
  CheckedAllocator<RecordingAllocator> checked;
  ASSERT_THAT(checked.Init(arena.start(), arena.size()), IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, checked.Alloc(Layout{40, 64}));
  std::memset(block, 0x11, 40);
  ASSERT_THAT(checked.Free(block, Layout{40, 64}), IsOk());

  const std::vector<unsigned char>& bytes = checked.wrapped().last_freed_bytes;
  const std::size_t front =
      static_cast<unsigned char*>(block) -
      static_cast<unsigned char*>(checked.wrapped().last_freed);
  ASSERT_GE(front, Checked::kGuardBytes);
  ASSERT_GE(bytes.size(), front + 40 + Checked::kGuardBytes);
  const auto at = [&](std::size_t from, std::size_t to) {
    return std::vector<unsigned char>(bytes.begin() + from, bytes.begin() + to);
  };
  EXPECT_THAT(at(0, front), Each(kGuard));
  EXPECT_THAT(at(front, front + 40), Each(Checked::kFreedByte));
  EXPECT_THAT(at(front + 40, bytes.size()), Each(kGuard));
}

TEST_F(CheckedAllocatorTest, DoubleFreeIsNotAllocated) {
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{64, 8}));
  ASSERT_THAT(checked_.Free(block, Layout{64, 8}), IsOk());
  const std::size_t used = checked_.UsedBytes();
  const absl::Status status = checked_.Free(block, Layout{64, 8});
  EXPECT_THAT(status, IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(status.message(), HasSubstr("double free of " + HexOf(block) +
                                          " (block #0, 64 bytes, align 8)"));
  EXPECT_EQ(checked_.UsedBytes(), used);
}

TEST_F(CheckedAllocatorTest, ForeignPointerIsNotAllocated) {
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{64, 8}));
  int local = 0;
  for (void* foreign : {static_cast<void*>(&local),
                        reinterpret_cast<void*>(arena_.start() + kMiB / 2)}) {
    const absl::Status status = checked_.Free(foreign, Layout{64, 8});
    EXPECT_THAT(status, IsAllocError(AllocError::kNotAllocated));
    EXPECT_THAT(status.message(),
                HasSubstr("free of foreign pointer " + HexOf(foreign)));
  }
  EXPECT_EQ(checked_.LiveCount(), 1u);
  EXPECT_THAT(checked_.Free(block, Layout{64, 8}), IsOk());
}

TEST_F(CheckedAllocatorTest, InteriorPointerNamesItsBlockAndOffset) {
  ASSERT_OK_AND_ASSIGN(void* first, checked_.Alloc(Layout{64, 8}));
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{64, 8}));
  auto* bytes = static_cast<unsigned char*>(block);
  const absl::Status inside = checked_.Free(bytes + 24, Layout{40, 8});
  EXPECT_THAT(inside, IsAllocError(AllocError::kNotAllocated));
  EXPECT_THAT(inside.message(),
              HasSubstr("free of interior pointer " + HexOf(bytes + 24) +
                        ": offset +24 into " + HexOf(block) +
                        " (block #1, 64 bytes, align 8)"));
  // In the guards, before and after the user bytes.
  EXPECT_THAT(checked_.Free(bytes - 4, Layout{64, 8}).message(),
              HasSubstr("offset -4 into " + HexOf(block)));
  EXPECT_THAT(checked_.Free(bytes + 70, Layout{64, 8}).message(),
              HasSubstr("offset +70 into " + HexOf(block)));
  EXPECT_EQ(checked_.LiveCount(), 2u);
  EXPECT_THAT(checked_.CheckInvariants(), IsOk());
  EXPECT_THAT(checked_.Free(block, Layout{64, 8}), IsOk());
  EXPECT_THAT(checked_.Free(first, Layout{64, 8}), IsOk());
}

TEST_F(CheckedAllocatorTest, WrongLayoutIsInvalidAndChangesNothing) {
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{64, 16}));
  const std::size_t used = checked_.UsedBytes();
  for (Layout wrong : {Layout{63, 16}, Layout{65, 16}, Layout{64, 8}}) {
    const absl::Status status = checked_.Free(block, wrong);
    EXPECT_THAT(status, IsAllocError(AllocError::kInvalidParam));
    EXPECT_THAT(status.message(), HasSubstr("wrong layout"));
    EXPECT_THAT(status.message(), HasSubstr("(block #0, 64 bytes, align 16)"));
  }
  EXPECT_EQ(checked_.UsedBytes(), used);
  EXPECT_EQ(checked_.LiveCount(), 1u);
  EXPECT_THAT(BytesAt(block, 0, 64), Each(Checked::kFreshByte));
  EXPECT_THAT(checked_.Free(block, Layout{64, 16}), IsOk());
}

TEST_F(CheckedAllocatorTest, OverrunIsDataLossNamingTheFirstDamagedByte) {
  ASSERT_OK_AND_ASSIGN(void* padding, checked_.Alloc(Layout{8, 8}));
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{64, 8}));
  ByteAt(block, 64) = 0;  // One past the end.
  ByteAt(block, 66) = 0;
  const absl::Status status = checked_.Free(block, Layout{64, 8});
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(),
              HasSubstr("guard overrun of " + HexOf(block) +
                        " (block #1, 64 bytes, align 8): first damaged byte "
                        "at offset +64"));
  // Nothing was freed, and the invariants see the damage too.
  EXPECT_EQ(checked_.LiveCount(), 2u);
  EXPECT_TRUE(absl::IsDataLoss(checked_.CheckInvariants()));
  // Repaired, the block frees normally.
  ByteAt(block, 64) = ByteAt(block, 66) = kGuard;
  EXPECT_THAT(checked_.CheckInvariants(), IsOk());
  EXPECT_THAT(checked_.Free(block, Layout{64, 8}), IsOk());
  EXPECT_THAT(checked_.Free(padding, Layout{8, 8}), IsOk());
}

TEST_F(CheckedAllocatorTest, UnderrunIsDataLossWithANegativeOffset) {
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{32, 4096}));
  ByteAt(block, -3) = 0x42;
  const absl::Status status = checked_.Free(block, Layout{32, 4096});
  EXPECT_TRUE(absl::IsDataLoss(status)) << status;
  EXPECT_THAT(status.message(),
              HasSubstr("guard underrun of " + HexOf(block) +
                        " (block #0, 32 bytes, align 4096): first damaged "
                        "byte at offset -3 from the user pointer (0x42"));
  ByteAt(block, -3) = kGuard;
  EXPECT_THAT(checked_.Free(block, Layout{32, 4096}), IsOk());
}

TEST_F(CheckedAllocatorTest, AllocKeepsTheErrorContract) {
  // Invalid layouts are refused before guards are added.
  EXPECT_THAT(checked_.Alloc(Layout{16, 3}),
              IsAllocError(AllocError::kInvalidParam));
  EXPECT_THAT(checked_.Alloc(Layout{kMax, 2}),
              IsAllocError(AllocError::kInvalidParam));
  // Valid sizes that overflow with guards, or do not fit, are kNoMemory.
  for (Layout layout :
       {Layout{kMax, 1}, Layout{kMax - 20, 1}, Layout{kMax - 40, 8},
        Layout{16, std::size_t{1} << 63}, Layout{kMiB, 1}}) {
    EXPECT_THAT(checked_.Alloc(layout), IsAllocError(AllocError::kNoMemory))
        << layout.size << "/" << layout.align;
  }
  // Exhaustion is kNoMemory and recoverable.
  std::vector<void*> blocks;
  absl::StatusOr<void*> block;
  while ((block = checked_.Alloc(Layout{1000, 8})).ok()) {
    blocks.push_back(*block);
  }
  EXPECT_THAT(block, IsAllocError(AllocError::kNoMemory));
  EXPECT_GT(blocks.size(), 500u);
  for (void* p : blocks) checked_.Dealloc(p, Layout{1000, 8});
  EXPECT_EQ(checked_.UsedBytes(), baseline_used_);
  EXPECT_EQ(checked_.LiveCount(), 0u);
}

TEST_F(CheckedAllocatorTest, ReportLeaksListsLiveBlocksInSequenceOrder) {
  ASSERT_OK_AND_ASSIGN(void* a, checked_.Alloc(Layout{10, 1}));
  ASSERT_OK_AND_ASSIGN(void* b, checked_.Alloc(Layout{20, 2}));
  ASSERT_OK_AND_ASSIGN(void* c, checked_.Alloc(Layout{30, 4}));
  checked_.Dealloc(b, Layout{20, 2});
  EXPECT_EQ(checked_.ReportLeaks(),
            "CheckedAllocator: 2 live blocks, 40 bytes\n"
            "  block #0 at " +
                HexOf(a) +
                ": 10 bytes, align 1\n"
                "  block #2 at " +
                HexOf(c) + ": 30 bytes, align 4\n");
  checked_.Dealloc(a, Layout{10, 1});
  checked_.Dealloc(c, Layout{30, 4});
}

TEST_F(CheckedAllocatorDeathTest, DeallocAbortsNamingTheProblem) {
  ASSERT_OK_AND_ASSIGN(void* block, checked_.Alloc(Layout{64, 8}));
  auto* bytes = static_cast<unsigned char*>(block);
  EXPECT_DEATH(checked_.Dealloc(bytes + 8, Layout{64, 8}),
               "CheckedAllocator: free of interior pointer 0x[0-9a-f]+: "
               "offset \\+8 into 0x[0-9a-f]+ \\(block #0, 64 bytes");
  EXPECT_DEATH(checked_.Dealloc(block, Layout{32, 8}),
               "CheckedAllocator: free of 0x[0-9a-f]+ \\(block #0, 64 bytes, "
               "align 8\\) with the wrong layout \\(32 bytes, align 8");
  int local = 0;
  EXPECT_DEATH(checked_.Dealloc(&local, Layout{4, 4}),
               "CheckedAllocator: free of foreign pointer 0x[0-9a-f]+");
  ByteAt(block, 64) = 0;
  EXPECT_DEATH(checked_.Dealloc(block, Layout{64, 8}),
               "CheckedAllocator: guard overrun of 0x[0-9a-f]+ \\(block #0, "
               "64 bytes, align 8\\): first damaged byte at offset \\+64");
  ByteAt(block, 64) = kGuard;
  checked_.Dealloc(block, Layout{64, 8});
  EXPECT_DEATH(checked_.Dealloc(block, Layout{64, 8}),
               "CheckedAllocator: double free of 0x[0-9a-f]+ \\(block #0, 64 "
               "bytes");
}

TEST_F(CheckedAllocatorTest, NullIsIgnored) {
  EXPECT_THAT(checked_.Free(nullptr, Layout{64, 8}), IsOk());
  checked_.Dealloc(nullptr, Layout{64, 8});
  EXPECT_EQ(checked_.UsedBytes(), baseline_used_);
}

// Allocates one 64-byte block in a fresh allocator under `policy` and leaks it
// (or frees it, if `free`), destroying the allocator.
void LeakOneBlock(LeakPolicy policy, bool free = false) {
  Arena arena(kMiB);
  Checked checked;
  checked.set_leak_policy(policy);
  ASSERT_THAT(checked.Init(arena.start(), arena.size()), IsOk());
  ASSERT_OK_AND_ASSIGN(void* block, checked.Alloc(Layout{64, 8}));
  if (free) checked.Dealloc(block, Layout{64, 8});
}

TEST(CheckedAllocatorLeakTest, DefaultPolicyReports) {
  EXPECT_EQ(Checked().leak_policy(), LeakPolicy::kReport);
}

TEST(CheckedAllocatorLeakTest, ReportPrintsTheLeakedBlocks) {
  ::testing::internal::CaptureStderr();
  LeakOneBlock(LeakPolicy::kReport);
  const std::string printed = ::testing::internal::GetCapturedStderr();
  EXPECT_THAT(printed,
              HasSubstr("CheckedAllocator destroyed with 1 live block, 64 "
                        "bytes\n  block #0 at 0x"));
  EXPECT_THAT(printed, HasSubstr(": 64 bytes, align 8\n"));
}

TEST(CheckedAllocatorLeakTest, SilentAndNoLeaksPrintNothing) {
  ::testing::internal::CaptureStderr();
  LeakOneBlock(LeakPolicy::kSilent);
  LeakOneBlock(LeakPolicy::kAbort, /*free=*/true);
  LeakOneBlock(LeakPolicy::kReport, /*free=*/true);
  EXPECT_THAT(::testing::internal::GetCapturedStderr(), IsEmpty());
}

TEST(CheckedAllocatorLeakDeathTest, AbortPrintsAndAborts) {
  EXPECT_DEATH(LeakOneBlock(LeakPolicy::kAbort),
               "CheckedAllocator destroyed with 1 live block, 64 bytes(.|\n)*"
               "CheckedAllocator: 1 block leaked when destroyed");
}

TEST(CheckedAllocatorLeakDeathTest, InitEndsLiveBlocksToo) {
  EXPECT_DEATH(
      {
        Arena arena(kMiB);
        Checked checked;
        checked.set_leak_policy(LeakPolicy::kAbort);
        ASSERT_THAT(checked.Init(arena.start(), arena.size()), IsOk());
        ASSERT_THAT(checked.Alloc(Layout{64, 8}), IsOk());
        (void)checked.Init(arena.start(), arena.size());
      },
      "1 block leaked when re-initialised");
}

}  // namespace
}  // namespace heapkit
