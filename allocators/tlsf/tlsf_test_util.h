#ifndef HEAPKIT_ALLOCATORS_TLSF_TLSF_TEST_UTIL_H_
#define HEAPKIT_ALLOCATORS_TLSF_TLSF_TEST_UTIL_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "gtest/gtest.h"

namespace heapkit::testing {

inline std::uintptr_t Addr(const void* ptr) {
  return reinterpret_cast<std::uintptr_t>(ptr);
}

// One block as TlsfByteAllocator::Walk reports it.
struct BlockInfo {
  std::uintptr_t address;
  std::size_t size;
  bool used;
};

// Returns every block of `allocator`, in address order.
inline std::vector<BlockInfo> Blocks(const TlsfByteAllocator& allocator) {
  std::vector<BlockInfo> blocks;
  allocator.Walk([&](std::uintptr_t address, std::size_t size, bool used) {
    blocks.push_back({address, size, used});
  });
  return blocks;
}

// Returns success if the invariants of `allocator` hold, no byte is used and
// its free space is one block again, as after Init: what freeing every block of
// a single region must leave.
//   EXPECT_TRUE(IsOneFreeBlock(allocator));
inline ::testing::AssertionResult IsOneFreeBlock(
    const TlsfByteAllocator& allocator) {
  // Walk, behind Blocks, assumes intact invariants.
  if (const absl::Status status = allocator.CheckInvariants(); !status.ok()) {
    return ::testing::AssertionFailure() << status;
  }
  if (allocator.UsedBytes() != 0) {
    return ::testing::AssertionFailure()
           << allocator.UsedBytes() << " bytes are still used";
  }
  const std::vector<BlockInfo> blocks = Blocks(allocator);
  if (blocks.size() != 1 || blocks[0].used ||
      blocks[0].size != allocator.TotalBytes()) {
    ::testing::AssertionResult failure = ::testing::AssertionFailure();
    failure << "not one free block of all " << allocator.TotalBytes()
            << " bytes but " << blocks.size() << " blocks:";
    for (const BlockInfo& block : blocks) {
      failure << " " << block.size << (block.used ? " used" : " free");
    }
    return failure;
  }
  return ::testing::AssertionSuccess();
}

}  // namespace heapkit::testing

#endif  // HEAPKIT_ALLOCATORS_TLSF_TLSF_TEST_UTIL_H_
