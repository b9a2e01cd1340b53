#ifndef HEAPKIT_TESTS_SEED_WORKLOADS_SUITE_H_
#define HEAPKIT_TESTS_SEED_WORKLOADS_SUITE_H_

// Defines the typed test suite SeedWorkloadTest: the seed crate's four
// workloads, through std::pmr over a 128 MiB region. Unlike the seed's, they
// also check alignment, overlap and contents with the shadow model.
// Instantiate it for a backend with byte_backend_suites() in
// tests/byte_backend_suites.bzl; a type that is not a heapkit::ByteBackend
// fails to compile with a message naming the concept.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory_resource>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/memory_resource.h"
#include "core/concepts.h"
#include "core/layout.h"
#include "core/region.h"
#include "gtest/gtest.h"
#include "tests/constants.h"
#include "tests/resource_fixture.h"
#include "tests/shadow_model.h"

namespace heapkit::testing {

template <class T>
class SeedWorkloadTest : public ResourceFixture<T, 128 * kMiB> {
  static_assert(ByteBackend<T>,
                "SeedWorkloadTest<T> needs a heapkit::ByteBackend "
                "(core/concepts.h); the notes below name the missing piece");

 protected:
  // Allocates `count` blocks of `size` bytes and frees them in shuffled order,
  // as the seed's vec_rand_free workloads do.
  void ShuffledFree(std::size_t count, std::size_t size) {
    ShadowModel model;
    model.AddRegion(Region{this->arena_.start(),
                           this->arena_.start() + this->arena_.size()});
    std::vector<void*> blocks(count);
    for (void*& block : blocks) {
      block = this->resource_.allocate(size, 8);
      ASSERT_TRUE(model.Allocated(block, Layout{size, 8}));
    }
    std::shuffle(blocks.begin(), blocks.end(), std::mt19937_64(count));
    for (void* block : blocks) {
      Layout layout;
      ASSERT_TRUE(model.Freeing(block, layout));
      this->resource_.deallocate(block, size, 8);
    }
    this->ExpectAllFreed();
  }
};

TYPED_TEST_SUITE_P(SeedWorkloadTest);

TYPED_TEST_P(SeedWorkloadTest, RandomAlignmentAllocFree50Rounds) {
  std::mt19937_64 rng(50);
  std::uniform_real_distribution<double> unit(0, 1);
  ShadowModel model;
  model.AddRegion(
      Region{this->arena_.start(), this->arena_.start() + this->arena_.size()});
  for (int round = 0; round < 50; ++round) {
    std::vector<void*> blocks;
    for (int i = 0; i < 300; ++i) {
      // The seed's distribution: size round(2^U[0,16) * U[1,2)), align
      // 2^U[0,8).
      const auto size = static_cast<std::size_t>(
          std::round(std::exp2(16 * unit(rng)) * (1 + unit(rng))));
      const std::size_t align = std::size_t{1} << (rng() % 8);
      void* block = this->resource_.allocate(size, align);
      ASSERT_TRUE(model.Allocated(block, Layout{size, align}))
          << "round " << round;
      blocks.push_back(block);
    }
    std::shuffle(blocks.begin(), blocks.end(), rng);
    for (void* block : blocks) {
      Layout layout;
      ASSERT_TRUE(model.Freeing(block, layout));
      this->resource_.deallocate(block, layout.size, layout.align);
    }
  }
  this->ExpectAllFreed();
}

TYPED_TEST_P(SeedWorkloadTest, VectorPush3MillionThenSort) {
  {
    std::pmr::vector<std::uint32_t> numbers(&this->resource_);
    std::mt19937 rng(3);
    for (int i = 0; i < 3'000'000; ++i) numbers.push_back(rng());
    std::sort(numbers.begin(), numbers.end());
    ASSERT_EQ(numbers.size(), 3'000'000u);
    EXPECT_TRUE(std::is_sorted(numbers.begin(), numbers.end()));
    // The same numbers, regenerated, sort the same way.
    std::vector<std::uint32_t> expected;
    rng.seed(3);
    for (int i = 0; i < 3'000'000; ++i) expected.push_back(rng());
    std::sort(expected.begin(), expected.end());
    EXPECT_TRUE(std::equal(numbers.begin(), numbers.end(), expected.begin()));
  }
  this->ExpectAllFreed();
}

TYPED_TEST_P(SeedWorkloadTest, ShuffledFreeOf30000Blocks512Bytes) {
  this->ShuffledFree(30'000, 512);
}

TYPED_TEST_P(SeedWorkloadTest, ShuffledFreeOf7500Blocks4160Bytes) {
  this->ShuffledFree(7'500, 4'160);
}

TYPED_TEST_P(SeedWorkloadTest, StringKeyedMap50000OperationsPopFirst20Percent) {
  {
    std::pmr::map<std::pmr::string, std::uint64_t> map(&this->resource_);
    std::map<std::string, std::uint64_t> model;
    std::mt19937_64 rng(50'000);
    for (int op = 0; op < 50'000; ++op) {
      if (rng() % 5 == 0 && !model.empty()) {  // 20%: pop the first entry.
        ASSERT_EQ(std::string_view(map.begin()->first), model.begin()->first);
        map.erase(map.begin());
        model.erase(model.begin());
      } else {
        const std::uint64_t n = rng() % 100'000;
        const std::string key = "key_" + std::to_string(n);
        map[std::pmr::string(key, &this->resource_)] = n;
        model[key] = n;
      }
    }
    ASSERT_EQ(map.size(), model.size());
    EXPECT_TRUE(std::equal(map.begin(), map.end(), model.begin(), model.end(),
                           [](const auto& a, const auto& b) {
                             return std::string_view(a.first) == b.first &&
                                    a.second == b.second;
                           }));
  }
  this->ExpectAllFreed();
}

REGISTER_TYPED_TEST_SUITE_P(SeedWorkloadTest, RandomAlignmentAllocFree50Rounds,
                            VectorPush3MillionThenSort,
                            ShuffledFreeOf30000Blocks512Bytes,
                            ShuffledFreeOf7500Blocks4160Bytes,
                            StringKeyedMap50000OperationsPopFirst20Percent);

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_SEED_WORKLOADS_SUITE_H_
