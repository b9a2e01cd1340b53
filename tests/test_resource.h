#ifndef HEAPKIT_TESTS_TEST_RESOURCE_H_
#define HEAPKIT_TESTS_TEST_RESOURCE_H_

#include <algorithm>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <memory_resource>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/alloc_error.h"
#include "core/byte_allocator.h"
#include "core/internal/hex.h"
#include "core/layout.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"

namespace heapkit::testing {

// A std::pmr::memory_resource for tests of code that takes one. It serves
// blocks from a HeapKit byte allocator and checks how the code under test uses
// them:
//
//   heapkit::testing::TestResource<> resource;  // TLSF over its own arena.
//   {
//     std::pmr::vector<int> numbers(&resource);
//     numbers.push_back(1);
//     EXPECT_EQ(resource.blocks_in_use(), 1u);
//   }
//   // ~TestResource fails the test if anything is still allocated.
//
// Checks. Every deallocate must name a live block with the size and alignment
// it was allocated with; otherwise the running test fails (ADD_FAILURE) with a
// message naming the block and what differs, and the free is NOT passed on to
// the allocator: the block stays live, so the test can still free it
// correctly. An allocate with an alignment that is not a power of two fails the
// test and throws std::bad_alloc. On destruction, every block still live fails
// the test, listed; those blocks are not freed (a borrowed allocator still
// counts them).
//
// Failure injection. FailAllocationAfter(n) lets n more allocations succeed and
// makes the next one throw std::bad_alloc, once: the hook of the exception-
// safety loop in tests/exception_safety.h. When the allocator itself runs out,
// allocate throws std::bad_alloc too, as any memory_resource does.
//
// The bookkeeping lives on the process heap, never in the resource. Two
// resources are equal only if they are the same object. Not thread-safe.
template <class A = TlsfByteAllocator>
class TestResource final : public std::pmr::memory_resource {
 public:
  // The arena the default constructor maps: reserved without swap, so it costs
  // only the pages the allocator touches.
  static constexpr std::size_t kDefaultArenaSize = 64 * kMiB;

  // A live block, as LiveBlocks() returns them.
  struct BlockInfo {
    void* ptr;
    std::size_t bytes;
    std::size_t alignment;
    std::size_t serial;  // 1 for the first block allocated, then 2, ...
  };

  // Owns an arena of `arena_size` bytes and an A initialised over it, so the
  // resource needs no setup. If either fails, the test fails and every
  // allocate throws std::bad_alloc.
  explicit TestResource(std::size_t arena_size = kDefaultArenaSize) requires
      std::default_initializable<A>
      : arena_(std::make_unique<Arena>(arena_size)),
        owned_(std::make_unique<A>()) {
    if (!arena_->ok()) {
      ADD_FAILURE() << "TestResource: cannot map a " << arena_size
                    << "-byte arena";
      return;
    }
    if (absl::Status status = owned_->Init(arena_->start(), arena_->size());
        !status.ok()) {
      ADD_FAILURE() << "TestResource: cannot initialise the allocator: "
                    << status;
      return;
    }
    allocator_ = owned_.get();
  }

  // Serves blocks from `allocator`, which the caller has initialised and which
  // must outlive this resource. `A` may be ByteAllocator itself.
  explicit TestResource(A& allocator) : allocator_(&allocator) {}

  TestResource(const TestResource&) = delete;
  TestResource& operator=(const TestResource&) = delete;

  // Fails the running test if any block is still live, listing them.
  ~TestResource() override {
    if (live_.empty()) return;
    ADD_FAILURE() << "TestResource: " << live_.size()
                  << (live_.size() == 1 ? " block (" : " blocks (")
                  << bytes_in_use_ << " bytes) leaked:" << DescribeLive();
  }

  // Lets `successes` more allocations succeed, then makes the next one throw
  // std::bad_alloc without reaching the allocator; later ones succeed again.
  // Replaces any failure still pending.
  void FailAllocationAfter(std::size_t successes) { countdown_ = successes; }

  // Cancels a pending FailAllocationAfter.
  void ClearFailure() { countdown_.reset(); }

  // Returns true if a FailAllocationAfter has not fired yet.
  bool failure_pending() const { return countdown_.has_value(); }

  // Returns how many allocations FailAllocationAfter made throw.
  std::size_t injected_failures() const { return injected_failures_; }

  // Blocks and bytes (as requested) now live, at most live at once, and
  // allocated in all.
  std::size_t blocks_in_use() const { return live_.size(); }
  std::size_t bytes_in_use() const { return bytes_in_use_; }
  std::size_t max_blocks_in_use() const { return max_blocks_in_use_; }
  std::size_t max_bytes_in_use() const { return max_bytes_in_use_; }
  std::size_t total_blocks() const { return total_blocks_; }
  std::size_t total_bytes() const { return total_bytes_; }

  // Returns how many deallocate calls failed the test and were not passed on.
  std::size_t bad_deallocations() const { return bad_deallocations_; }

  // Returns the live blocks, by address.
  std::vector<BlockInfo> LiveBlocks() const {
    std::vector<BlockInfo> blocks;
    for (const auto& [ptr, block] : live_) {
      blocks.push_back(BlockInfo{const_cast<void*>(ptr), block.bytes,
                                 block.alignment, block.serial});
    }
    return blocks;
  }

  // Returns the allocator the blocks come from; null if the owned one could
  // not be set up.
  A* allocator() const { return allocator_; }

 private:
  struct Block {
    std::size_t bytes;
    std::size_t alignment;
    std::size_t serial;
  };

  static std::string Describe(const void* ptr, const Block& block) {
    return absl::StrCat("block #", block.serial, " (", block.bytes,
                        " bytes, alignment ", block.alignment, ") at ",
                        internal::Hex(reinterpret_cast<std::uintptr_t>(ptr)));
  }

  // Returns the first 20 live blocks, one per line.
  std::string DescribeLive() const {
    constexpr std::size_t kMaxListed = 20;
    std::string text;
    std::size_t listed = 0;
    for (const auto& [ptr, block] : live_) {
      if (listed++ == kMaxListed) {
        absl::StrAppend(&text, "\n  ... and ", live_.size() - kMaxListed,
                        " more");
        break;
      }
      absl::StrAppend(&text, "\n  ", Describe(ptr, block));
    }
    return text;
  }

  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    if (countdown_.has_value() && (*countdown_)-- == 0) {
      countdown_.reset();
      ++injected_failures_;
      throw std::bad_alloc();
    }
    if (allocator_ == nullptr) throw std::bad_alloc();
    absl::StatusOr<void*> block = allocator_->Alloc(Layout{bytes, alignment});
    if (!block.ok()) {
      if (GetAllocError(block.status()) == AllocError::kInvalidParam) {
        ADD_FAILURE() << "TestResource: allocate(" << bytes << ", " << alignment
                      << ") has an alignment that is not a power of two, or "
                         "a size that overflows when aligned";
      }
      throw std::bad_alloc();
    }
    live_.emplace(*block, Block{bytes, alignment, ++total_blocks_});
    bytes_in_use_ += bytes;
    total_bytes_ += bytes;
    max_blocks_in_use_ = std::max(max_blocks_in_use_, live_.size());
    max_bytes_in_use_ = std::max(max_bytes_in_use_, bytes_in_use_);
    return *block;
  }

  void do_deallocate(void* ptr, std::size_t bytes,
                     std::size_t alignment) override {
    const std::string call =
        absl::StrCat("TestResource: deallocate(",
                     internal::Hex(reinterpret_cast<std::uintptr_t>(ptr)), ", ",
                     bytes, ", ", alignment, ")");
    const auto found = live_.find(ptr);
    if (found == live_.end()) {
      ++bad_deallocations_;
      ADD_FAILURE() << call << " names no live block" << Inside(ptr)
                    << "; not passed on";
      return;
    }
    const Block& block = found->second;
    if (block.bytes != bytes || block.alignment != alignment) {
      ++bad_deallocations_;
      ADD_FAILURE() << call << " of " << Describe(ptr, block) << ": the "
                    << (block.bytes != bytes ? "size" : "alignment")
                    << (block.bytes != bytes && block.alignment != alignment
                            ? " and alignment differ"
                            : " differs")
                    << "; not passed on, the block stays live";
      return;
    }
    allocator_->Dealloc(ptr, Layout{bytes, alignment});
    bytes_in_use_ -= bytes;
    live_.erase(found);
  }

  // Returns ", but points N bytes into <block>" if `ptr` lies inside a live
  // block, else " (never allocated here, or freed already)".
  std::string Inside(const void* ptr) const {
    auto after = live_.upper_bound(ptr);
    if (after != live_.begin()) {
      const auto& [start, block] = *std::prev(after);
      const std::size_t offset = reinterpret_cast<std::uintptr_t>(ptr) -
                                 reinterpret_cast<std::uintptr_t>(start);
      if (offset < std::max<std::size_t>(block.bytes, 1)) {
        return absl::StrCat(", but points ", offset, " bytes into ",
                            Describe(start, block));
      }
    }
    return " (never allocated here, or freed already)";
  }

  bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  // Null when the allocator is borrowed. Declared in this order so that the
  // owned allocator goes before the arena it manages.
  std::unique_ptr<Arena> arena_;
  std::unique_ptr<A> owned_;
  A* allocator_ = nullptr;
  std::map<const void*, Block> live_;
  std::optional<std::size_t> countdown_;
  std::size_t injected_failures_ = 0;
  std::size_t bytes_in_use_ = 0;
  std::size_t max_blocks_in_use_ = 0;
  std::size_t max_bytes_in_use_ = 0;
  std::size_t total_blocks_ = 0;
  std::size_t total_bytes_ = 0;
  std::size_t bad_deallocations_ = 0;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_TEST_RESOURCE_H_
