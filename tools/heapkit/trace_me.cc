// A program with known allocations, for heapkit_cli_test to record: every C
// entry point and operator new once, two threads of 1000 pairs, and three
// 777-byte blocks left live at exit.

#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>

namespace {

// Keeps the compiler from removing an allocation it can see is unused.
void Use(void* ptr) { asm volatile("" : : "g"(ptr) : "memory"); }

void Pairs() {
  for (int i = 0; i < 1000; ++i) {
    void* block = std::malloc(16 + i);
    Use(block);
    std::free(block);
  }
}

}  // namespace

int main() {
  void* a = std::malloc(100);
  void* b = std::calloc(10, 30);
  a = std::realloc(a, 5000);
  void* c = std::aligned_alloc(256, 1024);
  void* d = nullptr;
  if (posix_memalign(&d, 4096, 64) != 0) return 1;
  int* e = new int[50];
  Use(a), Use(b), Use(c), Use(d), Use(e);
  std::thread first(Pairs), second(Pairs);
  first.join();
  second.join();
  std::free(a);
  std::free(b);
  std::free(c);
  std::free(d);
  delete[] e;
  for (int i = 0; i < 3; ++i) Use(std::malloc(777));  // Left live.
  return 0;
}
