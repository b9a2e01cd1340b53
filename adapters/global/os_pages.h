#ifndef HEAPKIT_ADAPTERS_GLOBAL_OS_PAGES_H_
#define HEAPKIT_ADAPTERS_GLOBAL_OS_PAGES_H_

#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "allocators/bitmap/bitmap_page_allocator.h"
#include "core/alloc_error.h"
#include "core/internal/bits.h"
#include "core/page_allocator.h"

namespace heapkit {

// A page allocator that takes its memory from the operating system: a
// BitmapPageAllocator over chunks of address space mapped with mmap, which
// maps another chunk when it runs out. A chunk is reserved, not committed
// (MAP_NORESERVE): a page costs memory only once it is touched. Each chunk
// keeps its bitmap in its own first pages, so the allocator needs no heap
// beyond the bitmap allocator's table of regions.
//
// Chunks are at least kMinChunkBytes and at least the total mapped so far (the
// address space doubles), and large enough for the request; at most kMaxChunks
// are mapped. They are unmapped when the allocator is destroyed. Release()
// frees pages and gives their memory back to the OS (madvise MADV_DONTNEED):
// they stay mapped, read as zero and cost nothing until touched again.
//
// AllocPages fails with kNoMemory when mmap does or kMaxChunks are mapped;
// Init and AddMemory add memory of the caller's, as for BitmapPageAllocator.
// Not thread-safe.
class OsPages final : public PageAllocator {
 public:
  static constexpr std::size_t kPageSize = 4096;
  // The smallest chunk mapped: untouched pages cost only address space.
  static constexpr std::size_t kMinChunkBytes = std::size_t{64} << 20;
  static constexpr std::size_t kMaxChunks = 48;

  OsPages() = default;
  OsPages(const OsPages&) = delete;
  OsPages& operator=(const OsPages&) = delete;
  ~OsPages() override {
    for (std::size_t i = 0; i < num_chunks_; ++i) {
      munmap(reinterpret_cast<void*>(chunks_[i].start), chunks_[i].size);
    }
  }

  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    return pages_.Init(start, size);
  }
  absl::Status AddMemory(std::uintptr_t start, std::size_t size) override {
    return pages_.AddMemory(start, size);
  }
  std::size_t PageSize() const override { return kPageSize; }

  // As PageAllocator::AllocPages, mapping a chunk when no run fits.
  absl::StatusOr<std::uintptr_t> AllocPages(std::size_t num_pages,
                                            std::size_t align_bytes) override {
    absl::StatusOr<std::uintptr_t> run =
        pages_.AllocPages(num_pages, align_bytes);
    if (run.ok() || !absl::IsResourceExhausted(run.status())) return run;
    if (absl::Status mapped = MapChunk(num_pages, align_bytes); !mapped.ok()) {
      return mapped;
    }
    return pages_.AllocPages(num_pages, align_bytes);
  }
  absl::StatusOr<std::uintptr_t> AllocPagesAt(
      std::uintptr_t base, std::size_t num_pages,
      std::size_t align_bytes) override {
    return pages_.AllocPagesAt(base, num_pages, align_bytes);
  }
  absl::Status DeallocPages(std::uintptr_t pos,
                            std::size_t num_pages) override {
    return pages_.DeallocPages(pos, num_pages);
  }

  // Maps a chunk unless `num_pages` pages are free already, so that a caller
  // that checks AvailablePages() first (GrowingAllocator) finds them. Fails as
  // AllocPages does when it cannot map one.
  absl::Status Reserve(std::size_t num_pages) {
    if (AvailablePages() >= num_pages) return absl::OkStatus();
    return MapChunk(num_pages, kPageSize);
  }

  // Frees `num_pages` pages at `pos` as DeallocPages does and, if that
  // succeeds, hands their memory back to the OS.
  absl::Status Release(std::uintptr_t pos, std::size_t num_pages) {
    absl::Status status = pages_.DeallocPages(pos, num_pages);
    if (status.ok()) {
      madvise(reinterpret_cast<void*>(pos), num_pages * kPageSize,
              MADV_DONTNEED);
    }
    return status;
  }

  std::size_t TotalPages() const override { return pages_.TotalPages(); }
  std::size_t UsedPages() const override { return pages_.UsedPages(); }

  // Returns the bytes of address space mapped, and the chunks.
  std::size_t MappedBytes() const { return mapped_bytes_; }
  std::size_t ChunkCount() const { return num_chunks_; }

 private:
  struct Chunk {
    std::uintptr_t start;
    std::size_t size;
  };

  // Maps a chunk that can hold a run of `num_pages` aligned to `align_bytes`
  // and adds it, with its bitmap in its first pages.
  absl::Status MapChunk(std::size_t num_pages, std::size_t align_bytes) {
    if (num_chunks_ == kMaxChunks) {
      return MakeError(AllocError::kNoMemory,
                       "OsPages: the most chunks are mapped");
    }
    const std::size_t max = std::size_t{1} << 46;
    if (num_pages > max / kPageSize || align_bytes > max) {
      return MakeError(AllocError::kNoMemory, "OsPages: request too large");
    }
    // The run, its alignment padding and the bitmap (1.03 bits per page, so
    // a page of bitmap per 31,000 pages; one more page for the rounding).
    const std::size_t run = num_pages * kPageSize;
    const std::size_t bitmap = (num_pages / 30000 + 2) * kPageSize;
    std::size_t size =
        std::max({kMinChunkBytes, mapped_bytes_, run + align_bytes + bitmap});
    size = internal::AlignUp(size, std::size_t{2} << 20);
    void* mapped = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (mapped == MAP_FAILED) {
      return MakeError(AllocError::kNoMemory, "OsPages: mmap failed");
    }
    const auto start = reinterpret_cast<std::uintptr_t>(mapped);
    // The bitmap covers the pages after its own.
    std::size_t storage_bytes = kPageSize;
    while (BitmapPageAllocator<kPageSize>::StorageWords(start + storage_bytes,
                                                        size - storage_bytes) *
               sizeof(std::uint64_t) >
           storage_bytes) {
      storage_bytes += kPageSize;
    }
    const std::span<std::uint64_t> storage(
        reinterpret_cast<std::uint64_t*>(start),
        storage_bytes / sizeof(std::uint64_t));
    absl::Status added = pages_.AddMemoryWithStorage(
        start + storage_bytes, size - storage_bytes, storage);
    if (!added.ok()) {
      munmap(mapped, size);
      return added;
    }
    chunks_[num_chunks_++] = Chunk{start, size};
    mapped_bytes_ += size;
    return absl::OkStatus();
  }

  BitmapPageAllocator<kPageSize> pages_;
  std::array<Chunk, kMaxChunks> chunks_{};
  std::size_t num_chunks_ = 0;
  std::size_t mapped_bytes_ = 0;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_GLOBAL_OS_PAGES_H_
