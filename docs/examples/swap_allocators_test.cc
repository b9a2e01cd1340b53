// A unit test of pmr-aware code that swaps the allocator under it with
// HeapKit's test kit (docs/testing.md): the same tests run on every HeapKit
// byte backend, each wrapped in a TestResource that checks every free and
// reports leaks, and the cache's strong guarantee is checked by failing each of
// its allocations in turn.

#include <cstddef>
#include <list>
#include <memory_resource>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "gtest/gtest.h"
#include "tests/all_byte_backends.h"
#include "tests/backend_name.h"
#include "tests/exception_safety.h"
#include "tests/test_resource.h"

namespace {

using ::heapkit::testing::TestResource;

// The code under test: a least-recently-used cache of strings that keeps every
// byte in the memory resource it is given.
class LruCache {
 public:
  LruCache(std::size_t capacity, std::pmr::memory_resource* resource)
      : capacity_(capacity), order_(resource), index_(resource) {}

  // Stores `value` under `key` as the most recently used entry, evicting the
  // least recently used one when full. On std::bad_alloc the cache is
  // unchanged.
  void Put(std::string_view key, std::string_view value) {
    if (auto found = index_.find(key); found != index_.end()) {
      found->second->second = value;  // May throw: the cache is as it was.
      order_.splice(order_.begin(), order_, found->second);
      return;
    }
    order_.emplace_front(key, value);
    try {
      index_.emplace(order_.front().first, order_.begin());
    } catch (...) {
      order_.pop_front();
      throw;
    }
    if (order_.size() > capacity_) {
      index_.erase(order_.back().first);
      order_.pop_back();
    }
  }

  // Returns the value under `key`, now the most recently used, if present.
  std::optional<std::string_view> Get(std::string_view key) {
    auto found = index_.find(key);
    if (found == index_.end()) return std::nullopt;
    order_.splice(order_.begin(), order_, found->second);
    return found->second->second;
  }

  std::size_t size() const { return order_.size(); }

 private:
  using Entry = std::pair<std::pmr::string, std::pmr::string>;

  std::size_t capacity_;
  std::pmr::list<Entry> order_;  // Most recently used first.
  // Keys are views of the strings in `order_`, which never move.
  std::pmr::unordered_map<std::string_view, std::pmr::list<Entry>::iterator>
      index_;
};

// Every test runs once per byte backend: TestResource<TLSF>, <slab>, <buddy>.
template <class Backend>
class LruCacheTest : public ::testing::Test {};
TYPED_TEST_SUITE(LruCacheTest, heapkit::testing::AllByteBackends,
                 heapkit::testing::BackendName);

TYPED_TEST(LruCacheTest, EvictsTheLeastRecentlyUsed) {
  TestResource<TypeParam> resource;
  LruCache cache(2, &resource);
  cache.Put("ada", "lovelace");
  cache.Put("charles", "babbage");
  EXPECT_EQ(cache.Get("ada"), "lovelace");  // Now "charles" is the oldest.
  cache.Put("grace", "hopper");
  EXPECT_EQ(cache.Get("charles"), std::nullopt);
  EXPECT_EQ(cache.Get("ada"), "lovelace");
  EXPECT_EQ(cache.Get("grace"), "hopper");
  // ~TestResource fails the test if a block is left or a free was wrong.
}

TYPED_TEST(LruCacheTest, MemoryStaysBoundedByTheCapacity) {
  TestResource<TypeParam> resource;
  LruCache cache(100, &resource);
  std::size_t blocks_when_full = 0;
  for (int i = 0; i < 10'000; ++i) {
    cache.Put("a key long enough to be allocated #" + std::to_string(i),
              std::string(100, 'v'));
    if (i == 99) blocks_when_full = resource.blocks_in_use();
  }
  EXPECT_EQ(cache.size(), 100u);
  // Evicting frees what inserting took: only the hash table's buckets grow.
  EXPECT_LE(resource.blocks_in_use(), blocks_when_full + 1);
}

TYPED_TEST(LruCacheTest, PutIsStronglyExceptionSafe) {
  TestResource<TypeParam> resource;
  heapkit::testing::RunExceptionTest(resource, [&] {
    LruCache cache(2, &resource);
    cache.Put("ada", "lovelace");
    try {
      cache.Put("charles", "babbage, who designed the Analytical Engine");
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(cache.size(), 1u);
      EXPECT_EQ(cache.Get("ada"), "lovelace");
      EXPECT_EQ(cache.Get("charles"), std::nullopt);
      throw;
    }
    EXPECT_EQ(cache.size(), 2u);
  });
}

}  // namespace
