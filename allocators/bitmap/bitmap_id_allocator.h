#ifndef HEAPKIT_ALLOCATORS_BITMAP_BITMAP_ID_ALLOCATOR_H_
#define HEAPKIT_ALLOCATORS_BITMAP_BITMAP_ID_ALLOCATOR_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "allocators/bitmap/internal/segmented_bitmap.h"
#include "core/id_allocator.h"
#include "core/region.h"

namespace heapkit {

// An IdAllocator over the same hierarchical bitmap as BitmapPageAllocator: one
// bit per ID, lowest free ID first, O(log n) to find a free ID.
//
//   heapkit::BitmapIdAllocator pids;
//   absl::Status status = pids.Init(/*first_id=*/1, /*count=*/32767);
//   absl::StatusOr<std::size_t> pid = pids.AllocId(1, 1);
//
// Init(first_id, count) and AddMemory(first_id, count) hand it the IDs
// [first_id, first_id + count); ranges may be far apart. Alignment is on the ID
// value: AllocId(4, 4) returns a multiple of 4. The bitmap costs about 1.03
// bits per ID, on the process heap or in caller-given storage
// (InitWithStorage). A range that holds the ID SIZE_MAX is refused with
// kInvalidParam, as CheckRegion refuses it: [first_id, first_id + count) cannot
// end past it. Not thread-safe.
class BitmapIdAllocator final : public IdAllocator {
 public:
  BitmapIdAllocator() = default;

  // Returns the 64-bit words of storage AddMemoryWithStorage(first_id, count,
  // ...) needs, or 0 if the range is empty or wraps.
  static std::size_t StorageWords(std::size_t first_id, std::size_t count);

  // Forgets every range and allocation and manages [first_id, first_id + count)
  // alone. Fails as AddMemory does and then manages nothing.
  absl::Status Init(std::uintptr_t first_id, std::size_t count) override;

  // Adds the IDs [first_id, first_id + count), all free. Returns kInvalidParam
  // for count == 0 or a range that wraps, kMemoryOverlap if it shares an ID
  // with a range already managed, kNoMemory if the heap cannot hold its bitmap.
  // On failure nothing changes.
  absl::Status AddMemory(std::uintptr_t first_id, std::size_t count) override;

  // As Init and AddMemory, but keep the range's bitmap in `storage`, which must
  // hold StorageWords(first_id, count) words (else kInvalidParam) and outlive
  // the allocator or its next Init. Its contents are overwritten.
  absl::Status InitWithStorage(std::size_t first_id, std::size_t count,
                               std::span<std::uint64_t> storage);
  absl::Status AddMemoryWithStorage(std::size_t first_id, std::size_t count,
                                    std::span<std::uint64_t> storage);

  // Returns the lowest first ID of `count` free consecutive IDs in one range,
  // the first a multiple of `align`, now allocated. Fails with kInvalidParam
  // for count == 0 or an `align` that is not a power of two, kNoMemory if no
  // run fits.
  absl::StatusOr<std::size_t> AllocId(std::size_t count,
                                      std::size_t align) override;

  // Frees the `count` IDs from `start`, all or nothing: kInvalidParam for
  // count == 0, kNotAllocated (freeing nothing) unless every one is managed, in
  // one range, and allocated.
  absl::Status DeallocId(std::size_t start, std::size_t count) override;

  bool IsAllocated(std::size_t id) const override;

  // Allocates exactly `id`. Fails with kInvalidParam if it is not managed and
  // kMemoryOverlap if it is already allocated.
  absl::Status AllocFixedId(std::size_t id) override;

  std::size_t Size() const override { return ids_.total(); }
  std::size_t Used() const override { return ids_.used(); }

 private:
  // Returns the range [first_id, first_id + count), or kInvalidParam; and
  // kMemoryOverlap if it shares an ID with a managed range.
  absl::StatusOr<Region> NewIds(std::size_t first_id, std::size_t count,
                                absl::string_view method) const;

  internal::SegmentedBitmap ids_;  // Units are the IDs themselves.
};

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_BITMAP_BITMAP_ID_ALLOCATOR_H_
