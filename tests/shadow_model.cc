#include "tests/shadow_model.h"

#include <algorithm>
#include <cstring>
#include <iterator>

namespace heapkit::testing {
namespace {

std::size_t EffectiveSize(std::size_t size) { return size == 0 ? 1 : size; }

// Writes the tag in the first eight bytes and its low byte everywhere else.
void Stamp(void* ptr, std::size_t size, std::uint64_t tag) {
  auto* bytes = static_cast<unsigned char*>(ptr);
  std::memset(bytes, static_cast<unsigned char>(tag), size);
  std::memcpy(bytes, &tag, std::min<std::size_t>(size, 8));
}

// Returns true if the first `size` bytes at `ptr` hold what Stamp wrote for
// `tag` (for any stamped size of at least `size`).
bool StampIntact(const void* ptr, std::size_t size, std::uint64_t tag) {
  const auto* bytes = static_cast<const unsigned char*>(ptr);
  const std::size_t head = std::min<std::size_t>(size, 8);
  if (std::memcmp(bytes, &tag, head) != 0) return false;
  if (size <= 8) return true;
  // All bytes after the head equal the tag's low byte: the first one does, and
  // each equals the next (memcmp of the range against itself shifted by one).
  return bytes[8] == static_cast<unsigned char>(tag) &&
         std::memcmp(bytes + 8, bytes + 9, size - 9) == 0;
}

}  // namespace

void ShadowModel::Reset() {
  regions_.clear();
  live_.clear();
  live_bytes_ = 0;
}

void ShadowModel::AddRegion(Region region) {
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

::testing::AssertionResult ShadowModel::Allocated(void* ptr, Layout layout) {
  const auto address = reinterpret_cast<std::uintptr_t>(ptr);
  if (!layout.IsValid()) {
    return ::testing::AssertionFailure()
           << "block " << ptr << " returned for the invalid layout "
           << layout.size << "/" << layout.align;
  }
  if (ptr == nullptr) return ::testing::AssertionFailure() << "null block";
  if (address % layout.align != 0) {
    return ::testing::AssertionFailure()
           << "block " << ptr << " is not aligned to " << layout.align;
  }
  ::testing::AssertionResult placeable =
      Placeable(address, EffectiveSize(layout.size), /*self=*/0);
  if (!placeable) return placeable;
  const std::uint64_t tag = ++next_tag_;
  live_.emplace(address, Block{layout, tag});
  live_bytes_ += layout.size;
  Stamp(ptr, layout.size, tag);
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ShadowModel::Resized(void* ptr, void* result,
                                                std::size_t new_size) {
  const auto address = reinterpret_cast<std::uintptr_t>(ptr);
  auto it = live_.find(address);
  if (it == live_.end()) {
    return ::testing::AssertionFailure() << "model: " << ptr << " is not live";
  }
  Block& block = it->second;
  const std::size_t old_size = block.layout.size;
  ::testing::AssertionResult verdict = ::testing::AssertionSuccess();
  if (result != ptr) {
    verdict = ::testing::AssertionFailure()
              << "resizing block " << ptr << " in place moved it to " << result;
  } else if (!StampIntact(ptr, std::min(old_size, new_size), block.tag)) {
    verdict = ::testing::AssertionFailure()
              << "resizing block " << ptr << " from " << old_size << " to "
              << new_size << " bytes lost its contents";
  } else {
    verdict = Placeable(address, EffectiveSize(new_size), address);
    if (!verdict) verdict << " (after a resize from " << old_size << " bytes)";
  }
  live_bytes_ -= old_size;
  if (!verdict) {
    live_.erase(it);
    return verdict;
  }
  block.layout.size = new_size;
  block.tag = ++next_tag_;
  live_bytes_ += new_size;
  Stamp(ptr, new_size, block.tag);
  return verdict;
}

::testing::AssertionResult ShadowModel::ResizeFailed(void* ptr) const {
  auto it = live_.find(reinterpret_cast<std::uintptr_t>(ptr));
  if (it == live_.end()) {
    return ::testing::AssertionFailure() << "model: " << ptr << " is not live";
  }
  if (!StampIntact(ptr, it->second.layout.size, it->second.tag)) {
    return ::testing::AssertionFailure()
           << "a failed resize changed the contents of block " << ptr << " ("
           << it->second.layout.size << " bytes)";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ShadowModel::Freeing(void* ptr, Layout& layout) {
  auto it = live_.find(reinterpret_cast<std::uintptr_t>(ptr));
  if (it == live_.end()) {
    return ::testing::AssertionFailure() << "model: " << ptr << " is not live";
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

::testing::AssertionResult ShadowModel::Placeable(std::uintptr_t address,
                                                  std::size_t size,
                                                  std::uintptr_t self) const {
  const auto* ptr = reinterpret_cast<const void*>(address);
  const bool inside =
      std::any_of(regions_.begin(), regions_.end(), [&](const Region& region) {
        return region.Contains(address) && region.end - address >= size;
      });
  if (!inside) {
    return ::testing::AssertionFailure() << "block " << ptr << " of " << size
                                         << " bytes is outside every region";
  }
  auto next = live_.upper_bound(address);
  if (next != live_.end() && next->first - address < size) {
    return ::testing::AssertionFailure()
           << "block " << ptr << " of " << size
           << " bytes overlaps the live block at "
           << reinterpret_cast<const void*>(next->first);
  }
  if (next != live_.begin()) {
    auto prev = std::prev(next);
    if (prev->first != self &&
        address - prev->first < EffectiveSize(prev->second.layout.size)) {
      return ::testing::AssertionFailure()
             << "block " << ptr << " overlaps the live block at "
             << reinterpret_cast<const void*>(prev->first) << " of "
             << prev->second.layout.size << " bytes";
    }
  }
  return ::testing::AssertionSuccess();
}

}  // namespace heapkit::testing
