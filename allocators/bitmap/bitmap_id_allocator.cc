#include "allocators/bitmap/bitmap_id_allocator.h"

#include <optional>
#include <string>

#include "absl/strings/str_cat.h"
#include "core/alloc_error.h"
#include "core/internal/bits.h"

namespace heapkit {

using internal::SegmentedBitmap;

std::size_t BitmapIdAllocator::StorageWords(std::size_t first_id,
                                            std::size_t count) {
  absl::StatusOr<Region> ids = CheckRegion(first_id, count, 1, "StorageWords");
  return ids.ok() ? SegmentedBitmap::StorageWords(ids->start, ids->end) : 0;
}

absl::StatusOr<Region> BitmapIdAllocator::NewIds(
    std::size_t first_id, std::size_t count, absl::string_view method) const {
  const std::string who = absl::StrCat("BitmapIdAllocator::", method);
  absl::StatusOr<Region> ids = CheckRegion(first_id, count, 1, who);
  if (ids.ok() && ids_.Overlaps(ids->start, ids->end)) {
    return MakeError(AllocError::kMemoryOverlap,
                     absl::StrCat(who, ": IDs [", ids->start, ", ", ids->end,
                                  ") overlap IDs already managed"));
  }
  return ids;
}

absl::Status BitmapIdAllocator::Init(std::uintptr_t first_id,
                                     std::size_t count) {
  ids_.Clear();
  return AddMemory(first_id, count);
}

absl::Status BitmapIdAllocator::AddMemory(std::uintptr_t first_id,
                                          std::size_t count) {
  absl::StatusOr<Region> ids = NewIds(first_id, count, "AddMemory");
  if (!ids.ok()) return ids.status();
  if (!ids_.Add(ids->start, ids->end)) {
    return MakeError(
        AllocError::kNoMemory,
        absl::StrCat("BitmapIdAllocator::AddMemory: cannot allocate a ",
                     SegmentedBitmap::StorageWords(ids->start, ids->end) * 8,
                     "-byte bitmap"));
  }
  return absl::OkStatus();
}

absl::Status BitmapIdAllocator::InitWithStorage(
    std::size_t first_id, std::size_t count, std::span<std::uint64_t> storage) {
  ids_.Clear();
  return AddMemoryWithStorage(first_id, count, storage);
}

absl::Status BitmapIdAllocator::AddMemoryWithStorage(
    std::size_t first_id, std::size_t count, std::span<std::uint64_t> storage) {
  absl::StatusOr<Region> ids = NewIds(first_id, count, "AddMemoryWithStorage");
  if (!ids.ok()) return ids.status();
  const std::size_t words = SegmentedBitmap::StorageWords(ids->start, ids->end);
  if (storage.size() < words) {
    return MakeError(
        AllocError::kInvalidParam,
        absl::StrCat(
            "BitmapIdAllocator::AddMemoryWithStorage: the range needs ", words,
            " words of storage, got ", storage.size()));
  }
  ids_.Add(ids->start, ids->end, storage);
  return absl::OkStatus();
}

absl::StatusOr<std::size_t> BitmapIdAllocator::AllocId(std::size_t count,
                                                       std::size_t align) {
  if (count == 0) {
    return MakeError(AllocError::kInvalidParam,
                     "BitmapIdAllocator::AllocId: count is 0");
  }
  if (!internal::IsPowerOfTwo(align)) {
    return MakeError(AllocError::kInvalidParam,
                     absl::StrCat("BitmapIdAllocator::AllocId: alignment ",
                                  align, " is not a power of two"));
  }
  const std::optional<std::uintptr_t> id = ids_.Allocate(count, align);
  if (!id.has_value()) {
    return MakeError(AllocError::kNoMemory,
                     absl::StrCat("BitmapIdAllocator::AllocId: no run of ",
                                  count, " free IDs aligned to ", align));
  }
  return *id;
}

absl::Status BitmapIdAllocator::DeallocId(std::size_t start,
                                          std::size_t count) {
  if (count == 0) {
    return MakeError(AllocError::kInvalidParam,
                     "BitmapIdAllocator::DeallocId: count is 0");
  }
  if (!ids_.Free(start, count)) {
    return MakeError(
        AllocError::kNotAllocated,
        absl::StrCat("BitmapIdAllocator::DeallocId: IDs [", start, ", +", count,
                     ") are not all allocated; nothing freed"));
  }
  return absl::OkStatus();
}

bool BitmapIdAllocator::IsAllocated(std::size_t id) const {
  return ids_.IsUsed(id);
}

absl::Status BitmapIdAllocator::AllocFixedId(std::size_t id) {
  if (!ids_.Contains(id, 1)) {
    return MakeError(AllocError::kInvalidParam,
                     absl::StrCat("BitmapIdAllocator::AllocFixedId: ID ", id,
                                  " is not managed"));
  }
  if (!ids_.AllocateAt(id, 1)) {
    return MakeError(AllocError::kMemoryOverlap,
                     absl::StrCat("BitmapIdAllocator::AllocFixedId: ID ", id,
                                  " is already allocated"));
  }
  return absl::OkStatus();
}

}  // namespace heapkit
