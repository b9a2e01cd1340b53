// An outside project's program linked with HeapKit::malloc: every allocation,
// operator new's included, comes from HeapKit's heap. Run with HEAPKIT_STATS=1,
// it prints the heap's counters at exit, which tools/check_cmake.sh looks for.

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

int main() {
  std::map<int, std::string> squares;
  for (int i = 0; i < 10000; ++i) squares[i] = std::to_string(i * i);
  void* block = std::malloc(1 << 20);
  std::free(block);
  std::printf("malloc consumer: %zu squares, the last %s\n", squares.size(),
              squares.rbegin()->second.c_str());
  return 0;
}
