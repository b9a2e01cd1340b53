// An outside project's program on an installed HeapKit: the backend HeapKit was
// configured with, over a static array, behind std::pmr containers. Built by
// tools/check_cmake.sh once with find_package(HeapKit) and once with
// pkg-config. Prints what it did; exits non-zero if HeapKit fails.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory_resource>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "adapters/memory_resource.h"
#include "allocators/default_byte_allocator.h"

namespace {

alignas(4096) std::byte region[std::size_t{1} << 20];

}  // namespace

int main() {
  heapkit::DefaultByteAllocator heap;
  if (absl::Status status =
          heap.Init(reinterpret_cast<std::uintptr_t>(region), sizeof region);
      !status.ok()) {
    std::fprintf(stderr, "consumer: %s\n", status.ToString().c_str());
    return 1;
  }
  heapkit::MemoryResource resource(heap);
  std::pmr::vector<std::pmr::string> words(&resource);
  for (int i = 0; i < 1000; ++i)
    words.emplace_back(std::to_string(i) + " words");
  const std::size_t used = heap.UsedBytes();
  std::size_t characters = 0;
  for (const auto& word : words) characters += word.size();
  std::printf(
      "consumer: %zu strings in %zu bytes of HeapKit's heap, %zu characters\n",
      words.size(), used, characters);
  return used > 0 ? 0 : 1;
}
