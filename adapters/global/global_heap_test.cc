#include "adapters/global/global_heap.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <utility>
#include <vector>

#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "gtest/gtest.h"
#include "tests/backend_name.h"

namespace heapkit {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * 1024;

// Fills `size` bytes at `ptr` with a pattern derived from `seed`.
void Fill(void* ptr, std::size_t size, std::uint32_t seed) {
  auto* bytes = static_cast<unsigned char*>(ptr);
  for (std::size_t i = 0; i < size; ++i) {
    bytes[i] = static_cast<unsigned char>(seed + i * 7);
  }
}

// Returns true if Fill(ptr, size, seed) is still there.
bool Holds(const void* ptr, std::size_t size, std::uint32_t seed) {
  const auto* bytes = static_cast<const unsigned char*>(ptr);
  for (std::size_t i = 0; i < size; ++i) {
    if (bytes[i] != static_cast<unsigned char>(seed + i * 7)) return false;
  }
  return true;
}

template <class Backend>
class GlobalHeapTest : public ::testing::Test {
 protected:
  using Heap = GlobalHeap<Backend>;

  GlobalHeapTest() : heap_(std::make_unique<Heap>()) {}

  std::unique_ptr<Heap> heap_;
};

using Backends = ::testing::Types<TlsfByteAllocator, BuddyByteAllocator,
                                  SlabByteAllocator<>>;
TYPED_TEST_SUITE(GlobalHeapTest, Backends, testing::BackendName);

TYPED_TEST(GlobalHeapTest, BlocksAreAlignedDisjointAndKeepTheirBytes) {
  struct Live {
    void* ptr;
    std::size_t size;
  };
  std::vector<Live> live;
  std::mt19937 random(42);
  std::uint32_t seed = 0;
  for (int i = 0; i < 3000; ++i) {
    const std::size_t size = i % 100 == 0  ? 300 * kKiB + random() % (2 * kMiB)
                             : i % 10 == 0 ? 32 * kKiB + random() % (200 * kKiB)
                                           : random() % 2048;
    const std::size_t align =
        i % 7 == 0 ? std::size_t{1} << (random() % 13) : 1;
    void* ptr = this->heap_->Allocate(size, align);
    ASSERT_NE(ptr, nullptr) << size;
    ASSERT_EQ(reinterpret_cast<std::uintptr_t>(ptr) %
                  std::max<std::size_t>(align, 16),
              0u);
    ASSERT_GE(this->heap_->UsableSize(ptr), size);
    Fill(ptr, size, seed++);
    live.push_back({ptr, size});
    if (random() % 3 == 0) {
      const std::size_t victim = random() % live.size();
      this->heap_->Free(live[victim].ptr);
      live[victim] = live.back();
      live.pop_back();
    }
  }
  // Disjoint: sorted by address, each ends before the next starts.
  std::vector<Live> sorted = live;
  std::sort(sorted.begin(), sorted.end(),
            [](const Live& a, const Live& b) { return a.ptr < b.ptr; });
  for (std::size_t i = 1; i < sorted.size(); ++i) {
    ASSERT_LE(static_cast<char*>(sorted[i - 1].ptr) + sorted[i - 1].size,
              sorted[i].ptr);
  }
  EXPECT_TRUE(this->heap_->CheckInvariants().ok());
  for (const Live& block : live) this->heap_->Free(block.ptr);
  this->heap_->FlushThreadCache();
  EXPECT_TRUE(this->heap_->CheckInvariants().ok());
}

TYPED_TEST(GlobalHeapTest, ContentsSurviveAFreeAndReallocOfOthers) {
  std::vector<std::pair<void*, std::uint32_t>> blocks;
  for (std::uint32_t i = 0; i < 500; ++i) {
    void* ptr = this->heap_->Allocate(64);
    Fill(ptr, 64, i);
    blocks.emplace_back(ptr, i);
  }
  for (std::size_t i = 0; i < blocks.size(); i += 2) {
    this->heap_->Free(blocks[i].first);
  }
  for (std::uint32_t i = 0; i < 250; ++i) {
    Fill(this->heap_->Allocate(64), 64, 9999);
  }
  for (std::size_t i = 1; i < blocks.size(); i += 2) {
    EXPECT_TRUE(Holds(blocks[i].first, 64, blocks[i].second)) << i;
  }
}

TYPED_TEST(GlobalHeapTest, ReallocateKeepsTheBytesAcrossEveryKindOfBlock) {
  void* ptr = this->heap_->Allocate(10);
  Fill(ptr, 10, 3);
  std::size_t size = 10;
  for (const std::size_t next : std::initializer_list<std::size_t>{
           100, 5000, 40 * kKiB, 200 * kKiB, 3 * kMiB, 150 * kKiB, 1000, 24}) {
    void* moved = this->heap_->Reallocate(ptr, next);
    ASSERT_NE(moved, nullptr);
    EXPECT_TRUE(Holds(moved, std::min(size, next), 3)) << next;
    Fill(moved, next, 3);
    ASSERT_GE(this->heap_->UsableSize(moved), next);
    ptr = moved;
    size = next;
  }
  this->heap_->Free(ptr);
}

TYPED_TEST(GlobalHeapTest, LargeBlocksGrowInPlaceWhenThePagesAfterAreFree) {
  void* ptr = this->heap_->Allocate(300 * kKiB);
  Fill(ptr, 300 * kKiB, 5);
  // In a fresh heap the pages after the first run are free.
  EXPECT_EQ(this->heap_->Reallocate(ptr, 900 * kKiB), ptr);
  EXPECT_GE(this->heap_->UsableSize(ptr), 900 * kKiB);
  EXPECT_TRUE(Holds(ptr, 300 * kKiB, 5));
  Fill(ptr, 900 * kKiB, 6);
  // Another run right after stops the next growth: the block moves.
  void* next = this->heap_->Allocate(300 * kKiB);
  void* moved = this->heap_->Reallocate(ptr, 2 * kMiB);
  ASSERT_NE(moved, nullptr);
  EXPECT_TRUE(Holds(moved, 900 * kKiB, 6));
  EXPECT_EQ(this->heap_->GetStats().large_blocks, 2u);
  this->heap_->Free(moved);
  this->heap_->Free(next);
}

TYPED_TEST(GlobalHeapTest, AllocateZeroedZeroesRecycledMemory) {
  for (std::size_t size :
       std::initializer_list<std::size_t>{48, 4000, 100 * kKiB, kMiB}) {
    void* dirty = this->heap_->Allocate(size);
    std::memset(dirty, 0xEE, size);
    this->heap_->Free(dirty);
    auto* zeroed =
        static_cast<unsigned char*>(this->heap_->AllocateZeroed(size));
    ASSERT_NE(zeroed, nullptr);
    EXPECT_TRUE(std::all_of(zeroed, zeroed + size, [](unsigned char b) {
      return b == 0;
    })) << size;
    this->heap_->Free(zeroed);
  }
}

TYPED_TEST(GlobalHeapTest, LargeRunsAreKeptWithinTheBudgetThenReturned) {
  using Heap = typename TestFixture::Heap;
  std::vector<void*> runs;
  for (int i = 0; i < 40; ++i) runs.push_back(this->heap_->Allocate(2 * kMiB));
  GlobalHeapStats stats = this->heap_->GetStats();
  EXPECT_EQ(stats.large_blocks, 40u);
  EXPECT_GE(stats.large_bytes, 80 * kMiB);
  for (void* run : runs) this->heap_->Free(run);
  stats = this->heap_->GetStats();
  EXPECT_EQ(stats.large_blocks, 0u);
  EXPECT_EQ(stats.large_bytes, 0u);
  EXPECT_GT(stats.retained_bytes, 0u);
  EXPECT_LE(stats.retained_bytes, Heap::kRetainedBudgetBytes);
  // A retained run is reused: no more address space is mapped.
  const std::size_t mapped = stats.mapped_bytes;
  void* again = this->heap_->Allocate(2 * kMiB);
  EXPECT_EQ(this->heap_->GetStats().mapped_bytes, mapped);
  EXPECT_LT(this->heap_->GetStats().retained_bytes, stats.retained_bytes);
  this->heap_->Free(again);
}

TYPED_TEST(GlobalHeapTest, ImpossibleRequestsReturnNull) {
  using Heap = typename TestFixture::Heap;
  EXPECT_EQ(this->heap_->Allocate(Heap::kMaxSize + 1), nullptr);
  EXPECT_EQ(this->heap_->Allocate(SIZE_MAX), nullptr);
  EXPECT_EQ(this->heap_->Allocate(16, Heap::kMaxAlignment * 2), nullptr);
  void* ok = this->heap_->Allocate(16);
  EXPECT_NE(ok, nullptr);
  this->heap_->Free(ok);
}

TYPED_TEST(GlobalHeapTest, BlocksFreedOnOtherThreadsGoBack) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 2000;
  this->heap_->FlushThreadCache();
  const std::size_t baseline = this->heap_->GetStats().heap_used_bytes;
  // Thread t hands its blocks to thread t + 1 through a mailbox.
  struct Mailbox {
    std::mutex mutex;
    std::vector<std::pair<void*, std::uint32_t>> blocks;
  };
  std::vector<Mailbox> mailboxes(kThreads);
  std::vector<std::thread> threads;
  std::atomic<int> bad{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 random(t);
      for (int round = 0; round < kRounds; ++round) {
        const std::size_t size = 8 + random() % 600;
        const std::uint32_t seed = t * kRounds + round;
        void* ptr = this->heap_->Allocate(size);
        Fill(ptr, size, seed);
        {
          std::lock_guard<std::mutex> lock(mailboxes[(t + 1) % kThreads].mutex);
          mailboxes[(t + 1) % kThreads].blocks.emplace_back(ptr, seed);
        }
        std::vector<std::pair<void*, std::uint32_t>> mine;
        {
          std::lock_guard<std::mutex> lock(mailboxes[t].mutex);
          mine.swap(mailboxes[t].blocks);
        }
        for (auto [block, block_seed] : mine) {
          if (!Holds(block, 8, block_seed)) ++bad;
          this->heap_->Free(block);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (Mailbox& mailbox : mailboxes) {
    for (auto [block, seed] : mailbox.blocks) {
      if (!Holds(block, 8, seed)) ++bad;
      this->heap_->Free(block);
    }
  }
  EXPECT_EQ(bad.load(), 0);
  // Exited threads gave their caches back; so does this one.
  this->heap_->FlushThreadCache();
  EXPECT_EQ(this->heap_->GetStats().heap_used_bytes, baseline);
  EXPECT_TRUE(this->heap_->CheckInvariants().ok());
}

using GlobalHeapDeathTest = GlobalHeapTest<TlsfByteAllocator>;

TEST_F(GlobalHeapDeathTest, DoubleFreeAndForeignPointersAbort) {
  void* ptr = heap_->Allocate(40);
  heap_->Free(ptr);
  EXPECT_DEATH(heap_->Free(ptr), "double free");
  void* large = heap_->Allocate(kMiB);
  heap_->Free(large);
  EXPECT_DEATH(heap_->Free(large), "double free");
  alignas(16) static unsigned char foreign[64] = {};
  EXPECT_DEATH(heap_->Free(foreign + 32), "not a block of this heap");
  void* live = heap_->Allocate(100);
  EXPECT_DEATH(heap_->Free(static_cast<char*>(live) + 48),
               "not a block of this heap");
  heap_->Free(live);
}

}  // namespace
}  // namespace heapkit
