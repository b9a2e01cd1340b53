#include "bench/peers.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <new>

namespace heapkit::bench {
namespace {

// jemalloc's mallocx takes the alignment as log2 in its low flag bits.
void* (*jemalloc_mallocx)(std::size_t, int) = nullptr;

void* JemallocAligned(std::size_t align, std::size_t size) {
  return jemalloc_mallocx(size, __builtin_ctzll(align));
}

void* GlibcAligned(std::size_t align, std::size_t size) {
  return std::aligned_alloc(align, (size + align - 1) & ~(align - 1));
}

template <class F>
bool Find(void* library, const char* symbol, F& function, std::string& error) {
  function = reinterpret_cast<F>(dlsym(library, symbol));
  if (function == nullptr) error = std::string("missing symbol ") + symbol;
  return function != nullptr;
}

}  // namespace

bool LoadPeer(const std::string& name, PeerFunctions& functions,
              std::string& error) {
  if (name == "glibc") {
    functions = PeerFunctions{&std::malloc, &std::free, &GlibcAligned};
    return true;
  }
  const char* file = name == "jemalloc"   ? "libjemalloc.so.2"
                     : name == "mimalloc" ? "libmimalloc.so.2"
                     : name == "tcmalloc" ? "libtcmalloc_minimal.so.4"
                                          : nullptr;
  if (file == nullptr) {
    error = "unknown peer " + name;
    return false;
  }
  void* library = dlopen(file, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    error = std::string(dlerror()) + " (tools/bootstrap.sh installs the peers)";
    return false;
  }
  if (name == "jemalloc") {
    functions.allocate_aligned = &JemallocAligned;
    return Find(library, "malloc", functions.allocate, error) &&
           Find(library, "free", functions.free, error) &&
           Find(library, "mallocx", jemalloc_mallocx, error);
  }
  if (name == "mimalloc") {
    void* (*aligned)(std::size_t, std::size_t) = nullptr;
    bool ok = Find(library, "mi_malloc", functions.allocate, error) &&
              Find(library, "mi_free", functions.free, error) &&
              Find(library, "mi_malloc_aligned", aligned, error);
    // mi_malloc_aligned takes (size, align): adapt to (align, size).
    static void* (*mimalloc_aligned)(std::size_t, std::size_t) = nullptr;
    mimalloc_aligned = aligned;
    functions.allocate_aligned = [](std::size_t align, std::size_t size) {
      return mimalloc_aligned(size, align);
    };
    return ok;
  }
  return Find(library, "tc_malloc", functions.allocate, error) &&
         Find(library, "tc_free", functions.free, error) &&
         Find(library, "tc_memalign", functions.allocate_aligned, error);
}

void ReserveStaticTlsForPeers(char** argv) {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables != nullptr &&
      std::strstr(tunables, "optional_static_tls") != nullptr) {
    return;
  }
  setenv("GLIBC_TUNABLES", "glibc.rtld.optional_static_tls=65536",
         /*overwrite=*/1);
  execv("/proc/self/exe", argv);
}

void* PeerResource::do_allocate(std::size_t bytes, std::size_t alignment) {
  void* block = PeerAllocate(functions_, bytes, alignment);
  if (block == nullptr) throw std::bad_alloc();
  return block;
}

}  // namespace heapkit::bench
