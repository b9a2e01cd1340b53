#ifndef HEAPKIT_TESTS_ASAN_POISONING_SUITE_H_
#define HEAPKIT_TESTS_ASAN_POISONING_SUITE_H_

// Defines the typed test suite AsanPoisoning: under AddressSanitizer, a byte
// backend keeps the memory it manages poisoned except the bytes of live blocks
// (core/internal/asan.h), so ASan reports a write into a freed block or one
// byte past a live one, while every byte of [ptr, ptr + size) is usable. Each
// test skips itself in builds without ASan: run them with --config=asan.
// Instantiate it for a backend with byte_backend_suites() in
// tests/byte_backend_suites.bzl; a type that is not a heapkit::ByteBackend
// fails to compile with a message naming the concept.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/concepts.h"
#include "core/internal/asan.h"
#include "core/layout.h"
#include "gtest/gtest.h"
#include "tests/arena.h"
#include "tests/constants.h"
#include "tests/matchers.h"

namespace heapkit::testing {
namespace asan_poisoning_internal {

// What ASan reports for an access to memory poisoned by hand, as the backends
// poison it ("heap-use-after-free" is only for its own heap).
inline constexpr char kReport[] = "use-after-poison";

#ifdef HEAPKIT_HAVE_ASAN
// Returns true if ASan would report an access to the byte at `address`.
inline bool IsPoisoned(const void* address) {
  return __asan_address_is_poisoned(address) != 0;
}

// Returns the first poisoned byte of [address, address + size), or null.
inline const void* FirstPoisoned(const void* address, std::size_t size) {
  return __asan_region_is_poisoned(const_cast<void*>(address), size);
}
#else
inline bool IsPoisoned(const void*) { return false; }
inline const void* FirstPoisoned(const void*, std::size_t) { return nullptr; }
#endif

// Writes `value` at `address` so that the compiler cannot drop or move it.
inline void Poke(void* address, unsigned char value = 0x5A) {
  *static_cast<volatile unsigned char*>(address) = value;
}

// Reads every byte of [address, address + size) and returns their sum, so
// that the compiler cannot drop the reads.
inline unsigned ReadAll(const void* address, std::size_t size) {
  const volatile unsigned char* bytes =
      static_cast<const volatile unsigned char*>(address);
  unsigned sum = 0;
  for (std::size_t i = 0; i < size; ++i) sum += bytes[i];
  return sum;
}

}  // namespace asan_poisoning_internal

template <class T>
class AsanPoisoning : public ::testing::Test {
  static_assert(ByteBackend<T>,
                "AsanPoisoning<T> needs a heapkit::ByteBackend "
                "(core/concepts.h); the notes below name the missing piece");

 protected:
  AsanPoisoning() : arena_(4 * kMiB) {}

  void SetUp() override {
    if (!::heapkit::internal::kHaveAsan) {
      GTEST_SKIP() << "needs AddressSanitizer: run with --config=asan";
    }
    ASSERT_TRUE(arena_.ok());
    ASSERT_THAT(backend_.Init(arena_.start(), arena_.size()), IsOk());
  }

  // Allocates `layout`, failing the test if that fails.
  void* Alloc(Layout layout) {
    absl::StatusOr<void*> block = backend_.Alloc(layout);
    EXPECT_THAT(block, IsOk())
        << "size " << layout.size << " align " << layout.align;
    return block.ok() ? *block : nullptr;
  }

  Arena arena_;
  T backend_;
};

TYPED_TEST_SUITE_P(AsanPoisoning);

TYPED_TEST_P(AsanPoisoning, WriteAfterDeallocIsReported) {
  using asan_poisoning_internal::kReport;
  using asan_poisoning_internal::Poke;
  for (const std::size_t size : {24, 100, 5000}) {
    const Layout layout{size, 8};
    auto* block = static_cast<unsigned char*>(this->Alloc(layout));
    ASSERT_NE(block, nullptr);
    Poke(block);
    Poke(block + size - 1);
    this->backend_.Dealloc(block, layout);
    EXPECT_DEATH(Poke(block), kReport) << "size " << size;
    EXPECT_DEATH(Poke(block + size - 1), kReport) << "size " << size;
  }
}

TYPED_TEST_P(AsanPoisoning, OneByteOverflowIsReported) {
  using asan_poisoning_internal::kReport;
  using asan_poisoning_internal::Poke;
  for (const std::size_t size : {1, 24, 100, 1000, 5000}) {
    const Layout layout{size, 8};
    auto* block = static_cast<unsigned char*>(this->Alloc(layout));
    ASSERT_NE(block, nullptr);
    Poke(block + size - 1);
    EXPECT_DEATH(Poke(block + size), kReport) << "size " << size;
    this->backend_.Dealloc(block, layout);
  }
}

TYPED_TEST_P(AsanPoisoning, LiveBlockIsUnpoisonedExactly) {
  using asan_poisoning_internal::FirstPoisoned;
  using asan_poisoning_internal::IsPoisoned;
  using asan_poisoning_internal::ReadAll;
  for (const std::size_t align : {1, 16, 64, 4096}) {
    for (const std::size_t size :
         {0, 1, 7, 8, 15, 16, 24, 100, 1000, 4096, 5000, 70000}) {
      const Layout layout{size, align};
      auto* block = static_cast<unsigned char*>(this->Alloc(layout));
      ASSERT_NE(block, nullptr);
      // Reading a fresh block is fine: its bytes are unspecified, not
      // poisoned.
      ReadAll(block, size);
      EXPECT_EQ(FirstPoisoned(block, size), nullptr)
          << "size " << size << " align " << align;
      if (size != 0) {
        EXPECT_TRUE(IsPoisoned(block + size))
            << "size " << size << " align " << align;
      }
      this->backend_.Dealloc(block, layout);
      if (size != 0) {
        EXPECT_TRUE(IsPoisoned(block)) << "size " << size << " align " << align;
      }
    }
  }
  EXPECT_THAT(this->backend_.CheckInvariants(), IsOk());
}

TYPED_TEST_P(AsanPoisoning, FreedBlocksAreUsableWhenAllocatedAgain) {
  using asan_poisoning_internal::FirstPoisoned;
  using asan_poisoning_internal::ReadAll;
  std::vector<std::pair<unsigned char*, Layout>> blocks;
  for (int round = 0; round < 3; ++round) {
    for (std::size_t i = 0; i < 300; ++i) {
      const Layout layout{(i * 37) % 700 + (i % 7 == 0 ? 3000 : 1), 8};
      auto* block = static_cast<unsigned char*>(this->Alloc(layout));
      ASSERT_NE(block, nullptr);
      ASSERT_EQ(FirstPoisoned(block, layout.size), nullptr)
          << "round " << round << " size " << layout.size;
      for (std::size_t b = 0; b < layout.size; ++b) {
        block[b] = static_cast<unsigned char>(b + i);
      }
      blocks.emplace_back(block, layout);
    }
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      const auto& [block, layout] = blocks[i];
      for (std::size_t b = 0; b < layout.size; ++b) {
        ASSERT_EQ(block[b], static_cast<unsigned char>(b + i));
      }
      ReadAll(block, layout.size);
    }
    // Free in an order unlike the allocation order, to merge and reuse.
    for (std::size_t i = 0; i < blocks.size(); i += 2) {
      this->backend_.Dealloc(blocks[i].first, blocks[i].second);
    }
    for (std::size_t i = 1; i < blocks.size(); i += 2) {
      this->backend_.Dealloc(blocks[i].first, blocks[i].second);
    }
    blocks.clear();
    EXPECT_THAT(this->backend_.CheckInvariants(), IsOk());
  }
}

TYPED_TEST_P(AsanPoisoning, DestructionAndInitUnpoisonTheMemory) {
  using asan_poisoning_internal::FirstPoisoned;
  Arena other(kMiB);
  ASSERT_TRUE(other.ok());
  const void* const start = reinterpret_cast<const void*>(other.start());
  {
    std::optional<TypeParam> backend;
    backend.emplace();
    ASSERT_THAT(backend->Init(other.start(), other.size()), IsOk());
    absl::StatusOr<void*> block = backend->Alloc(Layout{100, 8});
    ASSERT_THAT(block, IsOk());
    EXPECT_NE(FirstPoisoned(start, other.size()), nullptr);
    backend.reset();  // With the block still live.
    EXPECT_EQ(FirstPoisoned(start, other.size()), nullptr);
  }
  // Init elsewhere gives the old region back unpoisoned.
  ASSERT_THAT(this->backend_.Init(other.start(), other.size()), IsOk());
  EXPECT_EQ(FirstPoisoned(reinterpret_cast<const void*>(this->arena_.start()),
                          this->arena_.size()),
            nullptr);
  EXPECT_NE(FirstPoisoned(start, other.size()), nullptr);
  ASSERT_THAT(this->backend_.Init(this->arena_.start(), this->arena_.size()),
              IsOk());
  EXPECT_EQ(FirstPoisoned(start, other.size()), nullptr);
}

REGISTER_TYPED_TEST_SUITE_P(AsanPoisoning, WriteAfterDeallocIsReported,
                            OneByteOverflowIsReported,
                            LiveBlockIsUnpoisonedExactly,
                            FreedBlocksAreUsableWhenAllocatedAgain,
                            DestructionAndInitUnpoisonTheMemory);

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_ASAN_POISONING_SUITE_H_
