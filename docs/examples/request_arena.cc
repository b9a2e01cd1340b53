// A server loop with a per-request arena. The server's heap is TLSF over one
// region, counted by StatisticsAllocator. Each request gets a
// std::pmr::monotonic_buffer_resource over that heap: the request's containers
// allocate from it with a pointer bump, free nothing one by one, and the
// arena's few chunks go back to the heap at once when the request ends. So a
// request costs the heap a handful of blocks, however many small objects it
// makes, and leaves nothing behind.
//
// Exits non-zero if a request leaves a byte of the heap in use.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory_resource>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "adapters/memory_resource.h"
#include "adapters/statistics_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"

namespace {

using ServerHeap = heapkit::StatisticsAllocator<heapkit::TlsfByteAllocator>;

constexpr std::size_t kHeapBytes = std::size_t{8} << 20;
alignas(64) std::byte heap_memory[kHeapBytes];

// Parses "key=value&key=value" into a map and renders a response listing the
// pairs and `rows` result lines: many small strings, all from `arena`.
std::pmr::string HandleRequest(std::string_view query, int rows,
                               std::pmr::memory_resource* arena) {
  std::pmr::map<std::pmr::string, std::pmr::string> params(arena);
  while (!query.empty()) {
    std::string_view pair = query.substr(0, query.find('&'));
    query.remove_prefix(std::min(query.size(), pair.size() + 1));
    std::size_t equals = pair.find('=');
    params.emplace(pair.substr(0, equals),
                   equals == pair.npos ? "" : pair.substr(equals + 1));
  }
  std::pmr::vector<std::pmr::string> lines(arena);
  for (const auto& [key, value] : params) {
    lines.emplace_back(key).append(": ").append(value);
  }
  for (int row = 0; row < rows; ++row) {
    lines.emplace_back("result ").append(std::to_string(row));
  }
  std::pmr::string response(arena);
  for (const std::pmr::string& line : lines) response.append(line).append("\n");
  return response;
}

}  // namespace

int main() {
  ServerHeap heap;
  if (absl::Status status =
          heap.Init(reinterpret_cast<std::uintptr_t>(heap_memory), kHeapBytes);
      !status.ok()) {
    std::fprintf(stderr, "request_arena: Init: %s\n",
                 status.ToString().c_str());
    return 1;
  }
  heapkit::MemoryResource upstream(heap);

  const std::string_view queries[] = {
      "q=allocators&page=1", "q=tlsf&page=2&sort=date",
      "q=buddy+system&lang=en&page=1&per_page=50", "health"};
  std::size_t served = 0;
  for (int request = 0; request < 200; ++request) {
    const std::int64_t blocks_before = heap.GetStatistics().blocks.total;
    std::size_t response_bytes = 0;
    {
      // The request's arena: its first chunk is 4 KiB, each next one larger.
      std::pmr::monotonic_buffer_resource arena(4096, &upstream);
      std::pmr::string response = HandleRequest(
          queries[request % std::size(queries)], 10 + request % 90, &arena);
      response_bytes = response.size();
    }  // Every chunk of the arena goes back here, at once.
    if (heap.UsedBytes() != 0) {
      std::fprintf(stderr, "request_arena: request %d left %zu bytes in use\n",
                   request, heap.UsedBytes());
      return 1;
    }
    if (request % 50 == 0) {
      std::printf("request %3d: %zu-byte response; heap blocks taken: %lld\n",
                  request, response_bytes,
                  static_cast<long long>(heap.GetStatistics().blocks.total -
                                         blocks_before));
    }
    ++served;
  }
  const heapkit::Statistics stats = heap.GetStatistics();
  std::printf(
      "%zu requests: %lld heap blocks in all, peak %lld bytes live, "
      "0 in use now\n",
      served, static_cast<long long>(stats.blocks.total),
      static_cast<long long>(stats.bytes.peak));
  return 0;
}
