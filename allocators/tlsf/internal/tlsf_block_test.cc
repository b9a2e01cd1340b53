#include "allocators/tlsf/internal/tlsf_block.h"

#include <cstddef>
#include <cstdint>

#include "gtest/gtest.h"

namespace heapkit::tlsf_internal {
namespace {

TEST(TlsfBlockTest, FormatFits) {
  EXPECT_EQ(kFlagMask, kGranularity - 1);
  EXPECT_EQ((kFreeBit | kPrevFreeBit) & ~kFlagMask, 0u);
  EXPECT_NE(kFreeBit, kPrevFreeBit);
  EXPECT_EQ(kPayloadOffset, kHeaderOffset + kHeaderSize);
  // A free block's two links end where its back pointer, the next block's
  // kPrevPhysOffset word, begins.
  EXPECT_LE(kPrevFreeOffset + sizeof(std::uintptr_t),
            kMinBlockSize + kPrevPhysOffset);
  EXPECT_EQ(kMinBlockSize % kGranularity, 0u);
  EXPECT_EQ(kMaxBlockSize % kGranularity, 0u);
  EXPECT_EQ(kMaxAllocSize + kHeaderSize, kMaxBlockSize);
}

TEST(TlsfBlockTest, BlockSizeFor) {
  EXPECT_EQ(BlockSizeFor(0), kMinBlockSize);
  EXPECT_EQ(BlockSizeFor(24), 32u);
  EXPECT_EQ(BlockSizeFor(25), 48u);
  EXPECT_EQ(BlockSizeFor(40), 48u);
  EXPECT_EQ(BlockSizeFor(41), 64u);
  EXPECT_EQ(BlockSizeFor(kMaxAllocSize), kMaxBlockSize);
  for (std::size_t size = 0; size <= 4096; ++size) {
    const std::size_t block = BlockSizeFor(size);
    ASSERT_EQ(block % kGranularity, 0u) << size;
    ASSERT_GE(block, size + kHeaderSize) << size;
    ASSERT_GE(block, kMinBlockSize) << size;
    if (block > kMinBlockSize) {
      ASSERT_LT(block, size + kHeaderSize + kGranularity) << size;
    }
  }
}

TEST(TlsfBlockTest, FirstBlockOfIsAlignedAndNeverZero) {
  EXPECT_EQ(FirstBlockOf(0), kGranularity);
  EXPECT_EQ(FirstBlockOf(1), kGranularity);
  EXPECT_EQ(FirstBlockOf(16), 16u);
  EXPECT_EQ(FirstBlockOf(17), 32u);
  for (std::uintptr_t start = 16; start < 4096; ++start) {
    const BlockAddr block = FirstBlockOf(start);
    ASSERT_EQ(block % kGranularity, 0u) << start;
    ASSERT_GE(block, start) << start;
    ASSERT_LT(block, start + kGranularity) << start;
  }
}

TEST(TlsfBlockTest, SentinelOfIsTheLastWholeHeaderBeforeTheEnd) {
  EXPECT_EQ(SentinelOf(0x1000), 0xff0u);
  EXPECT_EQ(SentinelOf(0x1010), 0x1000u);
  EXPECT_EQ(SentinelOf(0x100f), 0xff0u);
  for (std::uintptr_t end = 4096; end < 8192; ++end) {
    const BlockAddr sentinel = SentinelOf(end);
    const std::uintptr_t header = sentinel + kHeaderOffset;
    ASSERT_EQ(header % kGranularity, 8u) << end;
    ASSERT_LE(header + kHeaderSize, end) << end;
    ASSERT_GT(header + kGranularity + kHeaderSize, end) << end;
  }
}

TEST(TlsfBlockTest, LoadStoreAndSizeOf) {
  alignas(16) unsigned char memory[64] = {};
  const BlockAddr block = reinterpret_cast<std::uintptr_t>(memory);
  Store(block + kHeaderOffset, 48 | kFreeBit | kPrevFreeBit);
  EXPECT_EQ(Load(block + kHeaderOffset), 48 | kFreeBit | kPrevFreeBit);
  EXPECT_EQ(SizeOf(block), 48u);
  Store(block + kNextFreeOffset, 0x1234);
  EXPECT_EQ(Load(block + kNextFreeOffset), 0x1234u);
  EXPECT_EQ(SizeOf(block), 48u);
  PrefetchForWrite(0);  // A hint: any address is harmless.
}

}  // namespace
}  // namespace heapkit::tlsf_internal
