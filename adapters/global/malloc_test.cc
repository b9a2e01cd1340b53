// The malloc replacement linked into this test: every allocation of the
// process, gtest's included, goes to HeapKit. Checks the C functions' and
// operator new's contracts as glibc documents them.
#include <errno.h>
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

// The tests free a block after a failed realloc (valid) and twice (to see the
// abort), which GCC flags.
#pragma GCC diagnostic ignored "-Wuse-after-free"

namespace {

class MallocTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifndef HEAPKIT_MALLOC_LINKED
    GTEST_SKIP() << "the sanitizer owns malloc in this build";
#endif
  }
};

// Returns `n` hidden from the compiler, which would otherwise refuse to build
// the calls with impossible sizes that these tests make on purpose.
std::size_t Opaque(std::size_t n) {
  volatile std::size_t hidden = n;
  return hidden;
}

bool IsAligned(const void* ptr, std::size_t align) {
  return reinterpret_cast<std::uintptr_t>(ptr) % align == 0;
}

TEST_F(MallocTest, HeapKitServesTheProcess) {
  // HeapKit's 16-byte class; glibc's smallest chunk holds 24 bytes.
  void* ptr = std::malloc(1);
  EXPECT_EQ(malloc_usable_size(ptr), 16u);
  std::free(ptr);
  EXPECT_EQ(malloc_usable_size(nullptr), 0u);
}

TEST_F(MallocTest, MallocGivesUniqueAlignedBlocks) {
  void* a = std::malloc(0);
  void* b = std::malloc(0);
  EXPECT_NE(a, nullptr);
  EXPECT_NE(a, b);
  for (std::size_t size : {1, 17, 1000, 40000, 300000, 5000000}) {
    void* ptr = std::malloc(size);
    ASSERT_NE(ptr, nullptr);
    EXPECT_TRUE(IsAligned(ptr, 16));
    EXPECT_GE(malloc_usable_size(ptr), size);
    std::memset(ptr, 1, size);
    std::free(ptr);
  }
  std::free(a);
  std::free(b);
  std::free(nullptr);
}

TEST_F(MallocTest, FailuresSetENOMEM) {
  errno = 0;
  EXPECT_EQ(std::malloc(Opaque(SIZE_MAX)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(std::calloc(Opaque(SIZE_MAX / 2), 3), nullptr);  // Overflows.
  EXPECT_EQ(errno, ENOMEM);
  errno = 0;
  EXPECT_EQ(reallocarray(nullptr, Opaque(SIZE_MAX / 2), 3), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  void* ptr = std::malloc(10);
  errno = 0;
  EXPECT_EQ(std::realloc(ptr, Opaque(SIZE_MAX - 100)), nullptr);
  EXPECT_EQ(errno, ENOMEM);
  std::free(ptr);  // Still valid after the failed realloc.
}

TEST_F(MallocTest, CallocZeroesRecycledMemory) {
  for (std::size_t size : {24, 3000, 70000, 2000000}) {
    void* dirty = std::malloc(size);
    std::memset(dirty, 0xAA, size);
    std::free(dirty);
    auto* zeroed = static_cast<unsigned char*>(std::calloc(size, 1));
    ASSERT_NE(zeroed, nullptr);
    for (std::size_t i = 0; i < size; ++i) ASSERT_EQ(zeroed[i], 0) << i;
    std::free(zeroed);
  }
}

TEST_F(MallocTest, ReallocFollowsGlibc) {
  auto* ptr = static_cast<char*>(std::realloc(nullptr, 10));  // As malloc.
  ASSERT_NE(ptr, nullptr);
  std::strcpy(ptr, "heapkit");
  ptr = static_cast<char*>(std::realloc(ptr, 100000));
  EXPECT_STREQ(ptr, "heapkit");
  ptr = static_cast<char*>(std::realloc(ptr, 8));
  EXPECT_STREQ(ptr, "heapkit");
  void* same = std::realloc(ptr, 12);  // Fits its class: in place.
  EXPECT_EQ(same, ptr);
  EXPECT_EQ(std::realloc(same, 0), nullptr);  // Frees.
}

TEST_F(MallocTest, AlignedFunctionsFollowPosixAndGlibc) {
  void* ptr = nullptr;
  EXPECT_EQ(posix_memalign(&ptr, 3, 10), EINVAL);
  EXPECT_EQ(posix_memalign(&ptr, 4, 10), EINVAL);  // Not a multiple of void*.
  // Out of memory: ENOMEM returned, errno and the result left alone.
  errno = 0;
  EXPECT_EQ(posix_memalign(&ptr, 64, Opaque(SIZE_MAX - 100)), ENOMEM);
  EXPECT_EQ(ptr, nullptr);
  EXPECT_EQ(errno, 0);
  for (std::size_t align : {8, 16, 64, 4096, 1 << 20}) {
    ASSERT_EQ(posix_memalign(&ptr, align, 100), 0);
    EXPECT_TRUE(IsAligned(ptr, align)) << align;
    std::free(ptr);
    ptr = aligned_alloc(align, 3 * align);
    EXPECT_TRUE(IsAligned(ptr, align)) << align;
    std::free(ptr);
  }
  errno = 0;
  EXPECT_EQ(aligned_alloc(24, 48), nullptr);
  EXPECT_EQ(errno, EINVAL);
  ptr = memalign(24, 10);  // Rounded up to 32.
  EXPECT_TRUE(IsAligned(ptr, 32));
  std::free(ptr);
  const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  ptr = valloc(10);
  EXPECT_TRUE(IsAligned(ptr, page));
  std::free(ptr);
  ptr = pvalloc(10);
  EXPECT_TRUE(IsAligned(ptr, page));
  EXPECT_GE(malloc_usable_size(ptr), page);
  std::free(ptr);
}

struct alignas(256) Overaligned {
  char bytes[256];
};

TEST_F(MallocTest, EveryOperatorNewAndDelete) {
  int* one = new int(7);
  EXPECT_EQ(*one, 7);
  delete one;
  int* many = new int[1000]();
  EXPECT_EQ(many[999], 0);
  delete[] many;
  auto* aligned = new Overaligned;
  EXPECT_TRUE(IsAligned(aligned, 256));
  delete aligned;
  auto* aligned_array = new Overaligned[3];
  EXPECT_TRUE(IsAligned(aligned_array, 256));
  delete[] aligned_array;
  int* nothrow = new (std::nothrow) int(3);
  EXPECT_NE(nothrow, nullptr);
  delete nothrow;
  EXPECT_EQ(::operator new(Opaque(SIZE_MAX / 2), std::nothrow), nullptr);
  EXPECT_THROW(static_cast<void>(::operator new(Opaque(SIZE_MAX / 2))),
               std::bad_alloc);
  // Sized delete.
  void* sized = ::operator new(48);
  ::operator delete(sized, 48);
}

TEST_F(MallocTest, ContainersFromManyThreads) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([t] {
      std::map<int, std::string> map;
      for (int i = 0; i < 5000; ++i) map[i] = std::string(i % 100, 'a' + t);
      for (int i = 0; i < 5000; i += 2) map.erase(i);
      for (const auto& [key, value] : map) {
        ASSERT_EQ(value, std::string(key % 100, 'a' + t));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
}

TEST_F(MallocTest, ForkedChildCanAllocate) {
  // A thread allocating while the fork happens must not leave the child a
  // held lock.
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    while (!stop) std::free(std::malloc(100000));
  });
  for (int i = 0; i < 20; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      std::vector<std::string> strings(1000, std::string(300, 'x'));
      void* large = std::malloc(1 << 20);
      std::free(large);
      _exit(strings.size() == 1000 ? 0 : 1);
    }
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  stop = true;
  churn.join();
}

TEST_F(MallocTest, BadFreesAbortWithAMessage) {
  // A large block: a small one would be handed out again to the death test's
  // own allocations before the second free.
  void* ptr = std::malloc(1 << 20);
  std::free(ptr);
  EXPECT_DEATH(std::free(ptr), "HeapKit free\\(0x[0-9a-f]+\\): double free");
  alignas(16) static char foreign[64] = {};
  // Through a volatile, so that GCC (-Wfree-nonheap-object, which -O0 -g
  // builds see) does not refuse the deliberate bad free at compile time.
  char* volatile not_a_block = foreign + 32;
  EXPECT_DEATH(std::free(not_a_block), "not a block of this heap");
}

}  // namespace
