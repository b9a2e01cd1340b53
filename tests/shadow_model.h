#ifndef HEAPKIT_TESTS_SHADOW_MODEL_H_
#define HEAPKIT_TESTS_SHADOW_MODEL_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "core/layout.h"
#include "core/region.h"
#include "gtest/gtest.h"

namespace heapkit::testing {

// An independent model of what a byte allocator manages: its regions and its
// live blocks. It shares no code with any backend. It judges every block the
// allocator hands out (non-null, aligned, inside a region, overlapping no live
// block), stamps each block with a pattern of its own, and verifies the
// pattern when the block is resized or freed, so a block that another
// allocation or the allocator's own metadata overwrote is caught.
//
// Each check returns an AssertionResult whose message says what is wrong;
// wrap it in ASSERT_TRUE. A block of size 0 counts as one byte for overlap.
class ShadowModel {
 public:
  struct Block {
    Layout layout;
    std::uint64_t tag;
  };

  // Forgets every region and block, as the allocator's Init does.
  void Reset();

  // Records a region the allocator now manages. Regions that touch are joined,
  // as a backend may hand out a block spanning both.
  void AddRegion(Region region);

  // Checks a block the allocator just returned for `layout`, then records it
  // and fills it with its pattern. On failure nothing is recorded or written.
  ::testing::AssertionResult Allocated(void* ptr, Layout layout);

  // Checks the live block at `ptr` after the allocator resized it in place to
  // `new_size` bytes: `result` (the pointer the allocator reports for the
  // block) is `ptr`, the first min(old, new) bytes still hold the block's
  // pattern, and its new extent lies inside a region and overlaps no other
  // live block. Then records the layout {new_size, old alignment} and stamps
  // the whole block with a new pattern. On failure the block is forgotten, so
  // that a test which goes on does not report it twice.
  ::testing::AssertionResult Resized(void* ptr, void* result,
                                     std::size_t new_size);

  // As above, for a Resize that cannot move the block and returns a status
  // (e.g. TlsfByteAllocator::Resize).
  ::testing::AssertionResult Resized(void* ptr, std::size_t new_size) {
    return Resized(ptr, ptr, new_size);
  }

  // Checks the live block at `ptr` after a resize of it failed: the whole
  // block still holds its pattern. The model is unchanged.
  ::testing::AssertionResult ResizeFailed(void* ptr) const;

  // Verifies the pattern of the live block at `ptr` and forgets the block
  // (also when the pattern is broken, so the test can still free it); returns
  // its layout through `layout`. Fails without touching `layout` if no live
  // block starts at `ptr`.
  ::testing::AssertionResult Freeing(void* ptr, Layout& layout);

  // Returns the live blocks by address.
  const std::map<std::uintptr_t, Block>& live() const { return live_; }

  // Returns the sum of the live blocks' requested sizes.
  std::size_t live_bytes() const { return live_bytes_; }

 private:
  // Returns success if [address, address + size) lies inside one region and
  // overlaps no live block other than the one at `self` (0 for none).
  ::testing::AssertionResult Placeable(std::uintptr_t address, std::size_t size,
                                       std::uintptr_t self) const;

  std::vector<Region> regions_;
  std::map<std::uintptr_t, Block> live_;
  std::size_t live_bytes_ = 0;
  std::uint64_t next_tag_ = 0;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_SHADOW_MODEL_H_
