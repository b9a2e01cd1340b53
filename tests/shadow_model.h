#ifndef HEAPKIT_TESTS_SHADOW_MODEL_H_
#define HEAPKIT_TESTS_SHADOW_MODEL_H_

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "core/layout.h"
#include "core/region.h"
#include "gtest/gtest.h"

namespace heapkit::testing {

// An independent model of what a byte allocator manages: its regions and its
// live blocks. It judges every block the allocator hands out (inside a region,
// aligned, overlapping no live block), stamps each block with a pattern, and
// verifies the pattern when the block is freed, so a block that another
// allocation or the allocator's own metadata overwrote is caught.
class ShadowModel {
 public:
  struct Block {
    Layout layout;
    std::uint64_t tag;
  };

  void Reset() {
    regions_.clear();
    live_.clear();
    live_bytes_ = 0;
  }

  // Records a region the allocator now manages. Regions that touch are joined,
  // as a backend may hand out a block spanning both.
  void AddRegion(Region region) {
    for (auto it = regions_.begin(); it != regions_.end();) {
      if (it->end == region.start || region.end == it->start) {
        region = Region{std::min(it->start, region.start),
                        std::max(it->end, region.end)};
        it = regions_.erase(it);
      } else {
        ++it;
      }
    }
    regions_.push_back(region);
  }

  // Checks a block the allocator just returned for `layout`, then records it
  // and fills it with its pattern.
  ::testing::AssertionResult Allocated(void* ptr, Layout layout) {
    const auto address = reinterpret_cast<std::uintptr_t>(ptr);
    const std::size_t size = layout.size == 0 ? 1 : layout.size;
    if (ptr == nullptr) return ::testing::AssertionFailure() << "null block";
    if (address % layout.align != 0) {
      return ::testing::AssertionFailure()
             << "block " << ptr << " is not aligned to " << layout.align;
    }
    bool inside = false;
    for (const Region& region : regions_) {
      inside |= region.Contains(address) && region.end - address >= size;
    }
    if (!inside) {
      return ::testing::AssertionFailure() << "block " << ptr << " of " << size
                                           << " bytes is outside every region";
    }
    auto next = live_.lower_bound(address);
    if (next != live_.end() && next->first - address < size) {
      return ::testing::AssertionFailure()
             << "block " << ptr << " overlaps live block at " << next->first;
    }
    if (next != live_.begin()) {
      auto prev = std::prev(next);
      if (address - prev->first < EffectiveSize(prev->second.layout)) {
        return ::testing::AssertionFailure()
               << "block " << ptr << " overlaps live block at " << prev->first;
      }
    }
    const std::uint64_t tag = ++next_tag_;
    live_.emplace_hint(next, address, Block{layout, tag});
    live_bytes_ += layout.size;
    Stamp(ptr, layout.size, tag);
    return ::testing::AssertionSuccess();
  }

  // Verifies the pattern of the live block at `ptr` and forgets it; returns its
  // layout through `layout`.
  ::testing::AssertionResult Freeing(void* ptr, Layout& layout) {
    auto it = live_.find(reinterpret_cast<std::uintptr_t>(ptr));
    if (it == live_.end()) {
      return ::testing::AssertionFailure()
             << "model: " << ptr << " is not live";
    }
    layout = it->second.layout;
    const std::uint64_t tag = it->second.tag;
    live_bytes_ -= layout.size;
    live_.erase(it);
    if (!StampIntact(ptr, layout.size, tag)) {
      return ::testing::AssertionFailure()
             << "contents of block " << ptr << " (" << layout.size
             << " bytes) were overwritten while it was live";
    }
    return ::testing::AssertionSuccess();
  }

  const std::map<std::uintptr_t, Block>& live() const { return live_; }
  std::size_t live_bytes() const { return live_bytes_; }

 private:
  static std::size_t EffectiveSize(Layout layout) {
    return layout.size == 0 ? 1 : layout.size;
  }

  // Writes the tag in the first eight bytes and its low byte everywhere else.
  static void Stamp(void* ptr, std::size_t size, std::uint64_t tag) {
    auto* bytes = static_cast<unsigned char*>(ptr);
    std::memset(bytes, static_cast<unsigned char>(tag), size);
    std::memcpy(bytes, &tag, std::min<std::size_t>(size, 8));
  }

  static bool StampIntact(const void* ptr, std::size_t size,
                          std::uint64_t tag) {
    const auto* bytes = static_cast<const unsigned char*>(ptr);
    const std::size_t head = std::min<std::size_t>(size, 8);
    if (std::memcmp(bytes, &tag, head) != 0) return false;
    if (size <= 8) return true;
    // All bytes after the head equal the tag's low byte: the first one does,
    // and each equals the next (memcmp of the range against itself shifted by
    // one).
    return bytes[8] == static_cast<unsigned char>(tag) &&
           std::memcmp(bytes + 8, bytes + 9, size - 9) == 0;
  }

  std::vector<Region> regions_;
  std::map<std::uintptr_t, Block> live_;
  std::size_t live_bytes_ = 0;
  std::uint64_t next_tag_ = 0;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_SHADOW_MODEL_H_
