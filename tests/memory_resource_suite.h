#ifndef HEAPKIT_TESTS_MEMORY_RESOURCE_SUITE_H_
#define HEAPKIT_TESTS_MEMORY_RESOURCE_SUITE_H_

// Defines the typed test suite MemoryResourceTest: the std::pmr adapter of
// adapters/memory_resource.h over a backend, with pmr containers,
// polymorphic_allocator, exhaustion and alignment. Instantiate it for a backend
// with byte_backend_suites() in tests/byte_backend_suites.bzl; a type that is
// not a heapkit::ByteBackend fails to compile with a message naming the
// concept.

#include <cstdint>
#include <map>
#include <memory_resource>
#include <new>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "adapters/memory_resource.h"
#include "core/alloc_error.h"
#include "core/byte_allocator.h"
#include "core/concepts.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/constants.h"
#include "tests/matchers.h"
#include "tests/resource_fixture.h"

namespace heapkit::testing {

template <class T>
class MemoryResourceTest : public ResourceFixture<T, 16 * kMiB> {
  static_assert(ByteBackend<T>,
                "MemoryResourceTest<T> needs a heapkit::ByteBackend "
                "(core/concepts.h); the notes below name the missing piece");
};

TYPED_TEST_SUITE_P(MemoryResourceTest);

TYPED_TEST_P(MemoryResourceTest, VectorGrowsAndShrinks) {
  {
    std::pmr::vector<std::uint64_t> numbers(&this->resource_);
    for (std::uint64_t i = 0; i < 200'000; ++i) numbers.push_back(i * i);
    EXPECT_GT(this->backend_.UsedBytes(), this->baseline_used_ + 200'000 * 8);
    numbers.resize(1000);
    numbers.shrink_to_fit();
    EXPECT_LT(this->backend_.UsedBytes(), this->baseline_used_ + 64 * 1024);
    for (std::uint64_t i = 0; i < 1000; ++i) ASSERT_EQ(numbers[i], i * i);
  }
  this->ExpectAllFreed();
}

TYPED_TEST_P(MemoryResourceTest, StringGrowsAndShrinks) {
  {
    std::pmr::string text(&this->resource_);
    for (int i = 0; i < 10'000; ++i) text += "heapkit ";
    EXPECT_EQ(text.size(), 80'000u);
    EXPECT_EQ(text.substr(79'992), "heapkit ");
    text.resize(10);
    text.shrink_to_fit();
    EXPECT_EQ(text, "heapkit he");
  }
  this->ExpectAllFreed();
}

TYPED_TEST_P(MemoryResourceTest, MapAndUnorderedMapWithPmrStrings) {
  {
    std::pmr::map<std::pmr::string, int> ordered(&this->resource_);
    std::pmr::unordered_map<std::pmr::string, int> hashed(&this->resource_);
    for (int i = 0; i < 20'000; ++i) {
      std::string key = "a fairly long key, past the small-string buffer #" +
                        std::to_string(i);
      ordered.emplace(key, i);
      hashed.emplace(key, i);
    }
    for (int i = 0; i < 20'000; i += 2) {
      std::string key = "a fairly long key, past the small-string buffer #" +
                        std::to_string(i);
      ASSERT_EQ(ordered.erase(std::pmr::string(key, &this->resource_)), 1u);
      ASSERT_EQ(hashed.erase(std::pmr::string(key, &this->resource_)), 1u);
    }
    EXPECT_EQ(ordered.size(), 10'000u);
    EXPECT_EQ(hashed.size(), 10'000u);
    for (const auto& [key, value] : ordered) {
      ASSERT_EQ(value % 2, 1);
      ASSERT_EQ(hashed.at(key), value);
    }
    ordered.clear();
    hashed.clear();
    hashed.rehash(0);
  }
  this->ExpectAllFreed();
}

TYPED_TEST_P(MemoryResourceTest, PolymorphicAllocatorBytesAndObjects) {
  std::pmr::polymorphic_allocator<> allocator(&this->resource_);
  void* bytes = allocator.allocate_bytes(1000, 64);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(bytes) % 64, 0u);
  struct Point {
    double x, y;
  };
  Point* point = allocator.new_object<Point>(Point{1.5, -2.5});
  EXPECT_EQ(point->x, 1.5);
  EXPECT_EQ(point->y, -2.5);
  allocator.delete_object(point);
  allocator.deallocate_bytes(bytes, 1000, 64);
  this->ExpectAllFreed();
}

TYPED_TEST_P(MemoryResourceTest, ExhaustionThrowsBadAlloc) {
  std::pmr::vector<char> huge(&this->resource_);
  EXPECT_THROW(huge.reserve(64 * kMiB), std::bad_alloc);
  // Still usable afterwards.
  huge.reserve(kMiB);
  EXPECT_GE(huge.capacity(), kMiB);
}

TYPED_TEST_P(MemoryResourceTest, AlignmentUpTo4096IsHonoured) {
  std::vector<std::pair<void*, std::size_t>> blocks;
  for (std::size_t align = 1; align <= 4096; align *= 2) {
    void* block = this->resource_.allocate(align + 3, align);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(block) % align, 0u) << align;
    blocks.emplace_back(block, align);
  }
  for (auto [block, align] : blocks)
    this->resource_.deallocate(block, align + 3, align);
  this->ExpectAllFreed();
}

TYPED_TEST_P(MemoryResourceTest, SizeZeroIsSafe) {
  void* a = this->resource_.allocate(0, 8);
  void* b = this->resource_.allocate(0, 8);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  this->resource_.deallocate(a, 0, 8);
  this->resource_.deallocate(b, 0, 8);
  this->ExpectAllFreed();
}

TYPED_TEST_P(MemoryResourceTest, TryAllocateReportsErrorsWithoutThrowing) {
  ASSERT_OK_AND_ASSIGN(void* block, this->resource_.TryAllocate(128, 16));
  this->resource_.Deallocate(block, 128, 16);
  EXPECT_THAT(this->resource_.TryAllocate(64 * kMiB),
              IsAllocError(AllocError::kNoMemory));
  EXPECT_THAT(this->resource_.TryAllocate(64, 3),
              IsAllocError(AllocError::kInvalidParam));
  this->ExpectAllFreed();
}

TYPED_TEST_P(MemoryResourceTest, AllocateThrowsBadAllocForABadAlignment) {
  // Volatile, so that the compiler does not refuse the call itself.
  volatile std::size_t bad_alignment = 3;
  EXPECT_THROW((void)this->resource_.allocate(64, bad_alignment),
               std::bad_alloc);
  this->ExpectAllFreed();
}

TYPED_TEST_P(MemoryResourceTest, EqualityIsIdentity) {
  MemoryResource<TypeParam> other(this->backend_);
  EXPECT_TRUE(this->resource_.is_equal(this->resource_));
  EXPECT_FALSE(this->resource_.is_equal(other));
  EXPECT_FALSE(this->resource_.is_equal(*std::pmr::new_delete_resource()));
}

TYPED_TEST_P(MemoryResourceTest, RuntimeChoiceThroughByteAllocator) {
  ByteAllocator& chosen = this->backend_;
  MemoryResource<ByteAllocator> resource(chosen);
  {
    std::pmr::vector<int> numbers({3, 1, 2}, &resource);
    numbers.push_back(4);
    EXPECT_EQ(numbers.size(), 4u);
    EXPECT_GT(this->backend_.UsedBytes(), this->baseline_used_);
  }
  this->ExpectAllFreed();
}

REGISTER_TYPED_TEST_SUITE_P(
    MemoryResourceTest, VectorGrowsAndShrinks, StringGrowsAndShrinks,
    MapAndUnorderedMapWithPmrStrings, PolymorphicAllocatorBytesAndObjects,
    ExhaustionThrowsBadAlloc, AlignmentUpTo4096IsHonoured, SizeZeroIsSafe,
    TryAllocateReportsErrorsWithoutThrowing,
    AllocateThrowsBadAllocForABadAlignment, EqualityIsIdentity,
    RuntimeChoiceThroughByteAllocator);

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_MEMORY_RESOURCE_SUITE_H_
