// The worked example of docs/testing.md: tests of a small pmr-aware class
// with each piece of HeapKit's test kit (//tests:test_kit). The document
// quotes this file; keep the two in step.

#include <cstddef>
#include <cstring>
#include <memory_resource>
#include <new>
#include <optional>
#include <string>
#include <string_view>

#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "core/alloc_error.h"
#include "core/layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "tests/all_byte_backends.h"
#include "tests/arena.h"
#include "tests/backend_name.h"
#include "tests/constants.h"
#include "tests/default_resource.h"
#include "tests/exception_safety.h"
#include "tests/matchers.h"
#include "tests/test_resource.h"

namespace {

// [phonebook]
// A phone book that keeps every byte in the memory resource it is given.
class Phonebook {
 public:
  explicit Phonebook(
      std::pmr::memory_resource* resource = std::pmr::get_default_resource())
      : names_(resource), numbers_(resource) {}

  // Adds an entry. On std::bad_alloc the book is unchanged.
  void Add(std::string_view name, std::string_view number) {
    names_.emplace_back(name);
    try {
      numbers_.emplace_back(number);
    } catch (...) {
      names_.pop_back();
      throw;
    }
  }

  // Returns the number of the first entry named `name`.
  std::optional<std::string_view> Find(std::string_view name) const {
    for (std::size_t i = 0; i < names_.size(); ++i) {
      if (names_[i] == name) return numbers_[i];
    }
    return std::nullopt;
  }

  std::size_t size() const { return names_.size(); }

  // Returns the book as "name,number\n" lines in a NUL-terminated buffer of
  // `*size` bytes (the NUL included) from `resource`. Free it with FreeCsv.
  char* ToCsv(std::pmr::memory_resource* resource, std::size_t* size) const {
    std::string csv;
    for (std::size_t i = 0; i < names_.size(); ++i) {
      csv.append(names_[i]).append(",").append(numbers_[i]).append("\n");
    }
    *size = csv.size() + 1;
    char* buffer = static_cast<char*>(resource->allocate(*size, 1));
    std::memcpy(buffer, csv.c_str(), *size);
    return buffer;
  }

 private:
  std::pmr::vector<std::pmr::string> names_;
  std::pmr::vector<std::pmr::string> numbers_;
};

void FreeCsv(char* csv, std::size_t size, std::pmr::memory_resource* resource) {
  resource->deallocate(csv, size, 1);
}

// The bug the tests below catch: forgets the NUL.
void FreeCsvWrongly(char* csv, std::pmr::memory_resource* resource) {
  resource->deallocate(csv, std::strlen(csv), 1);
}
// [phonebook]

using ::heapkit::testing::TestResource;

// [test_resource]
TEST(PhonebookTest, FreesEverythingItAllocates) {
  TestResource<> resource;  // TLSF over its own 64 MiB arena.
  {
    Phonebook book(&resource);
    book.Add("Ada Lovelace", "555-0100");
    book.Add("Charles Babbage", "555-0199");
    EXPECT_EQ(book.Find("Charles Babbage"), "555-0199");
    EXPECT_GT(resource.blocks_in_use(), 0u);
  }
  EXPECT_EQ(resource.blocks_in_use(), 0u);
  // Had anything been left, ~TestResource would fail the test, listing it.
}

TEST(PhonebookTest, TestResourceCatchesAWrongSizeFree) {
  TestResource<> resource;
  Phonebook book(&resource);
  book.Add("Ada Lovelace", "555-0100");
  std::size_t size = 0;
  char* csv = book.ToCsv(&resource, &size);
  EXPECT_STREQ(csv, "Ada Lovelace,555-0100\n");
  // The wrong free fails the test (caught here by EXPECT_NONFATAL_FAILURE)
  // and is not passed on: the block stays live.
  EXPECT_NONFATAL_FAILURE(FreeCsvWrongly(csv, &resource),
                          "of block #3 (23 bytes, alignment 1) at 0x");
  FreeCsv(csv, size, &resource);
}

TEST(PhonebookTest, TestResourceCatchesALeak) {
  EXPECT_NONFATAL_FAILURE(
      {
        TestResource<> resource;
        Phonebook book(&resource);
        book.Add("Ada Lovelace", "555-0100");
        std::size_t size = 0;
        book.ToCsv(&resource, &size);  // Never freed.
      },
      "TestResource: 1 block (23 bytes) leaked:\n  block #3");
}
// [test_resource]

// [exception_test]
// Every allocation of the body fails in turn; after each std::bad_alloc the
// loop checks that nothing leaked, and the body checks the strong guarantee.
TEST(PhonebookTest, AddIsStronglyExceptionSafe) {
  TestResource<> resource;
  heapkit::testing::RunExceptionTest(resource, [&] {
    Phonebook book(&resource);
    book.Add("Ada Lovelace", "555-0100");
    try {
      book.Add("Charles Babbage, who designed the Analytical Engine",
               "555-0199");
    } catch (const std::bad_alloc&) {
      EXPECT_EQ(book.size(), 1u);
      EXPECT_EQ(book.Find("Ada Lovelace"), "555-0100");
      throw;
    }
    EXPECT_EQ(book.size(), 2u);
  });
}
// [exception_test]

// [default_resource]
TEST(PhonebookTest, NeverTouchesTheDefaultResource) {
  heapkit::testing::ScopedForbiddenDefaultResource no_default;
  TestResource<> resource;
  Phonebook book(&resource);
  book.Add("Ada Lovelace", "555-0100");
  EXPECT_EQ(book.Find("Ada Lovelace"), "555-0100");
}

TEST(PhonebookTest, DefaultConstructedUsesTheDefaultResource) {
  TestResource<> resource;
  heapkit::testing::ScopedDefaultResource scope(&resource);
  Phonebook book;
  book.Add("Ada Lovelace", "555-0100");
  EXPECT_GT(resource.blocks_in_use(), 0u);
}
// [default_resource]

// [matchers]
using ::heapkit::testing::IsAllocError;
using ::heapkit::testing::IsOk;

// A book on a fixed 64 KiB heap: when it is full, Add throws and the book is
// still intact.
TEST(PhonebookTest, FullHeapLeavesTheBookIntact) {
  heapkit::testing::Arena arena(64 * heapkit::testing::kKiB);
  heapkit::TlsfByteAllocator heap;
  ASSERT_THAT(heap.Init(arena.start(), arena.size()), IsOk());
  TestResource<heapkit::TlsfByteAllocator> resource(heap);
  Phonebook book(&resource);
  std::size_t added = 0;
  try {
    for (;; ++added) {
      book.Add("Subscriber number " + std::to_string(added), "555-0100");
    }
  } catch (const std::bad_alloc&) {
  }
  EXPECT_GT(added, 100u);
  EXPECT_EQ(book.size(), added);
  EXPECT_EQ(book.Find("Subscriber number 0"), "555-0100");
  EXPECT_THAT(heap.Alloc(heapkit::Layout{32 * heapkit::testing::kKiB, 8}),
              IsAllocError(heapkit::AllocError::kNoMemory));
  ASSERT_OK_AND_ASSIGN(void* block, heap.Alloc(heapkit::Layout{16, 8}));
  heap.Dealloc(block, heapkit::Layout{16, 8});
}
// [matchers]

// [typed]
template <class Backend>
class PhonebookOnEveryBackendTest : public ::testing::Test {};

TYPED_TEST_SUITE(PhonebookOnEveryBackendTest, heapkit::testing::AllByteBackends,
                 heapkit::testing::BackendName);

TYPED_TEST(PhonebookOnEveryBackendTest, HoldsAThousandEntries) {
  TestResource<TypeParam> resource;
  Phonebook book(&resource);
  for (int i = 0; i < 1000; ++i) {
    book.Add("Subscriber number " + std::to_string(i), std::to_string(i));
  }
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(book.Find("Subscriber number " + std::to_string(i)),
              std::to_string(i));
  }
}
// [typed]

}  // namespace
