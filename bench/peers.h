#ifndef HEAPKIT_BENCH_PEERS_H_
#define HEAPKIT_BENCH_PEERS_H_

#include <cstddef>
#include <memory_resource>
#include <string>

namespace heapkit::bench {

// The entry points of a general-purpose allocator loaded with
// dlopen(RTLD_LOCAL), so that it serves only the calls made through these
// pointers and glibc stays the process allocator.
struct PeerFunctions {
  void* (*allocate)(std::size_t size) = nullptr;
  void (*free)(void* ptr) = nullptr;
  // Returns a block of `size` bytes aligned to `align`.
  void* (*allocate_aligned)(std::size_t align, std::size_t size) = nullptr;
};

// Fills `functions` with glibc's entry points ("glibc"), or loads jemalloc,
// mimalloc or tcmalloc ("jemalloc", "mimalloc", "tcmalloc") from Debian's
// shared library. Returns false, with the reason in `error`, if the library or
// one of its symbols is missing.
bool LoadPeer(const std::string& name, PeerFunctions& functions,
              std::string& error);

// Makes room for jemalloc: its shared library uses initial-exec TLS, so
// dlopen() refuses it unless the loader reserves spare static TLS, which only
// the environment at process start can ask for. Re-executes the program once
// (`argv` as main got it) with GLIBC_TUNABLES set; returns only if it is set
// already or the re-execution failed (the run then goes on without jemalloc).
void ReserveStaticTlsForPeers(char** argv);

// Returns a block of `size` bytes aligned to `align` from a peer, or null.
inline void* PeerAllocate(const PeerFunctions& functions, std::size_t size,
                          std::size_t align) {
  return align <= alignof(std::max_align_t)
             ? functions.allocate(size)
             : functions.allocate_aligned(align, size);
}

// Serves a std::pmr::memory_resource from a peer's entry points.
class PeerResource final : public std::pmr::memory_resource {
 public:
  explicit PeerResource(const PeerFunctions& functions)
      : functions_(functions) {}

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override;
  void do_deallocate(void* ptr, std::size_t, std::size_t) override {
    functions_.free(ptr);
  }
  bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  PeerFunctions functions_;
};

}  // namespace heapkit::bench

#endif  // HEAPKIT_BENCH_PEERS_H_
