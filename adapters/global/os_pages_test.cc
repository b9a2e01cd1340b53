#include "adapters/global/os_pages.h"

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gtest/gtest.h"
#include "tests/matchers.h"

namespace heapkit {
namespace {

using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;

TEST(OsPagesTest, MapsAChunkOnFirstUseAndHandsOutWritablePages) {
  OsPages pages;
  EXPECT_EQ(pages.TotalPages(), 0u);
  ASSERT_OK_AND_ASSIGN(std::uintptr_t run, pages.AllocPages(16, 4096));
  EXPECT_EQ(run % 4096, 0u);
  EXPECT_EQ(pages.ChunkCount(), 1u);
  EXPECT_GE(pages.MappedBytes(), OsPages::kMinChunkBytes);
  std::memset(reinterpret_cast<void*>(run), 0xAB, 16 * 4096);
  EXPECT_EQ(pages.UsedPages(), 16u);
  EXPECT_THAT(pages.DeallocPages(run, 16), IsOk());
  EXPECT_EQ(pages.UsedPages(), 0u);
}

TEST(OsPagesTest, GrowsByChunksThatAtLeastDoubleAndHonoursAlignment) {
  OsPages pages;
  const std::size_t chunk_pages = OsPages::kMinChunkBytes / 4096;
  ASSERT_OK_AND_ASSIGN(std::uintptr_t a,
                       pages.AllocPages(chunk_pages / 2, 4096));
  // Cannot fit in what is left of the first chunk.
  ASSERT_OK_AND_ASSIGN(std::uintptr_t b,
                       pages.AllocPages(chunk_pages, std::size_t{2} << 20));
  EXPECT_EQ(b % (std::size_t{2} << 20), 0u);
  EXPECT_EQ(pages.ChunkCount(), 2u);
  EXPECT_GE(pages.MappedBytes(), 2 * OsPages::kMinChunkBytes);
  static_cast<char*>(reinterpret_cast<void*>(b))[chunk_pages * 4096 - 1] = 1;
  EXPECT_THAT(pages.DeallocPages(a, chunk_pages / 2), IsOk());
  EXPECT_THAT(pages.DeallocPages(b, chunk_pages), IsOk());
}

TEST(OsPagesTest, ReleasedPagesReadAsZeroAndCanBeTakenAgain) {
  OsPages pages;
  ASSERT_OK_AND_ASSIGN(std::uintptr_t run, pages.AllocPages(4, 4096));
  auto* bytes = reinterpret_cast<unsigned char*>(run);
  std::memset(bytes, 0x5A, 4 * 4096);
  EXPECT_THAT(pages.Release(run, 4), IsOk());
  EXPECT_THAT(pages.Release(run, 4), IsAllocError(AllocError::kNotAllocated));
  ASSERT_OK_AND_ASSIGN(std::uintptr_t again, pages.AllocPagesAt(run, 4, 4096));
  EXPECT_EQ(again, run);
  for (std::size_t i = 0; i < 4 * 4096; i += 512) EXPECT_EQ(bytes[i], 0) << i;
}

TEST(OsPagesTest, AnImpossibleRequestIsNoMemory) {
  OsPages pages;
  EXPECT_THAT(pages.AllocPages(std::size_t{1} << 40, 4096),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(pages.AllocPages(0, 4096),
              IsAllocError(AllocError::kInvalidParam));
}

}  // namespace
}  // namespace heapkit
