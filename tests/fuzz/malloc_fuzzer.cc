// Fuzzes the malloc replacement's entry points (adapters/global/malloc.cc),
// which this binary links in, so that every allocation of the process,
// libFuzzer's own included, runs on HeapKit: malloc, calloc, realloc,
// reallocarray, posix_memalign, aligned_alloc, memalign, valloc, pvalloc,
// malloc_usable_size, free, and operator new and delete in their plain,
// array, aligned and nothrow forms, with sizes from 0 to near SIZE_MAX and
// alignments that are and are not powers of two. Each result is checked
// against the contract malloc.cc states (glibc's semantics): the pointer and
// errno (or return code, or std::bad_alloc) of a failure, the alignment of a
// success, no overlap with a live block, zeroed calloc memory, contents kept
// by realloc (and the old block kept whole when it fails), and usable bytes
// that can all be written without touching another block. Every live block
// carries a pattern checked when it is freed.
//
// Built without AddressSanitizer, which would own malloc: tools/fuzz.sh
// builds it with UBSan only. In a sanitizer build of the tests it is built
// without the replacement, and its corpus test does nothing.

#include <errno.h>
#include <malloc.h>
#include <stdlib.h>
#include <unistd.h>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <limits>
#include <map>
#include <new>

#include "absl/base/internal/raw_logging.h"
#include "tests/fuzz/fuzz_input.h"

namespace heapkit::fuzz {
namespace {

constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();
// Every block is aligned to at least this (alignof(std::max_align_t)).
constexpr std::size_t kMinAlign = 16;
// Caps on what the model holds live, to bound the fuzzer's memory.
constexpr std::size_t kMaxLiveBlocks = 1000;
constexpr std::size_t kMaxLiveBytes = std::size_t{64} << 20;

// How a live block must be freed.
enum class Kind { kMalloc, kNew, kNewArray, kNewAligned };

struct Block {
  std::size_t size;
  std::size_t align;  // What it was asked for (for aligned delete).
  Kind kind;
  std::uint8_t tag;
};

// Returns `function`, hidden from the compiler. The target calls every entry
// point through it: compilers treat the C allocation functions as builtins
// with known effects, where the target tests what malloc.cc really does.
// (Clang assumes that malloc leaves errno alone, so a check of errno after it
// reads the value stored before the call; glibc declares aligned_alloc and
// memalign alloc_align, so UBSan reports a call with an alignment of 0 or 3
// at the caller, however the library treats it.)
template <class F>
F* Opaque(F* function) {
  F* volatile hidden = function;
  return hidden;
}

// The byte of `tag`'s pattern at `offset`.
std::uint8_t PatternByte(std::uint8_t tag, std::size_t offset) {
  return static_cast<std::uint8_t>(tag * 31 + offset * 7 + (offset >> 8));
}

// Calls `visit(offset)` for the offsets of a block of `size` bytes that carry
// its pattern: all of a small block, the ends and one byte a page of a large
// one (filling megabytes on every step would slow the fuzzer to a crawl).
template <class F>
void ForSampledOffsets(std::size_t size, F visit) {
  if (size <= 8192) {
    for (std::size_t i = 0; i < size; ++i) visit(i);
    return;
  }
  for (std::size_t i = 0; i < 4096; ++i) visit(i);
  for (std::size_t i = 4096; i < size - 4096; i += 4096) visit(i);
  for (std::size_t i = size - 4096; i < size; ++i) visit(i);
}

class MallocFuzzer {
 public:
  explicit MallocFuzzer(FuzzInput& in) : in_(in) {}

  void Run() {
    while (!in_.empty()) {
      switch (in_.Byte() % 12) {
        case 0:
        case 1:
          Malloc();
          break;
        case 2:
          Calloc();
          break;
        case 3:
        case 4:
          Realloc();
          break;
        case 5:
          Memalign();
          break;
        case 6:
          New();
          break;
        case 7:
        case 8:
          if (!live_.empty()) Release(Pick());
          break;
        case 9:
          UsableSize();
          break;
        case 10:
          Pages();
          break;
        case 11:
          ReallocArray();
          break;
      }
    }
    while (!live_.empty()) Release(live_.begin());
  }

 private:
  using Live = std::map<std::uintptr_t, Block>;

  std::size_t SomeSize() {
    switch (in_.Byte() % 16) {
      case 0:
        return kMax - in_.Below(1 << 16);  // Fails.
      case 1:
        return (std::size_t{1} << 62) + in_.Below(1 << 16);  // Fails.
      case 2:  // Past the heap's largest class: mapped on its own.
        return in_.Below(std::size_t{2} << 20);
      case 3:
      case 4:
        return in_.Below(1 << 16);
      default:
        return in_.Below(1024);
    }
  }
  static bool MustFail(std::size_t size) {
    return size >= std::size_t{1} << 62;
  }

  // A power of two up to 1 MiB, or (one time in 8) any small number.
  std::size_t SomeAlignment() {
    const std::uint8_t code = in_.Byte();
    return code % 8 == 0 ? in_.Below(100) : std::size_t{1} << (code % 21);
  }

  bool Full() const {
    return live_.size() >= kMaxLiveBlocks || live_bytes_ >= kMaxLiveBytes;
  }

  Live::iterator Pick() {
    auto it = live_.begin();
    std::advance(it, in_.Below(live_.size()));
    return it;
  }

  // Checks a block just returned and records it with a fresh pattern.
  void Track(void* ptr, std::size_t size, std::size_t align, Kind kind,
             const char* what) {
    const std::uintptr_t address = reinterpret_cast<std::uintptr_t>(ptr);
    if (ptr == nullptr)
      ABSL_RAW_LOG(FATAL, "%s(%zu) returned null", what, size);
    if (address % std::max(align, kMinAlign) != 0) {
      ABSL_RAW_LOG(FATAL, "%s(%zu) returned %p, not aligned to %zu", what, size,
                   ptr, std::max(align, kMinAlign));
    }
    const std::size_t extent = std::max<std::size_t>(size, 1);
    auto next = live_.lower_bound(address);
    if (next != live_.end() && next->first < address + extent) {
      ABSL_RAW_LOG(FATAL,
                   "%s(%zu) returned %p, overlapping the live block at "
                   "%#zx",
                   what, size, ptr, static_cast<std::size_t>(next->first));
    }
    if (next != live_.begin()) {
      const auto& [start, block] = *std::prev(next);
      if (start + std::max<std::size_t>(block.size, 1) > address) {
        ABSL_RAW_LOG(FATAL,
                     "%s(%zu) returned %p, inside the live block at %#zx", what,
                     size, ptr, static_cast<std::size_t>(start));
      }
    }
    const std::uint8_t tag = ++serial_;
    auto* bytes = static_cast<std::uint8_t*>(ptr);
    ForSampledOffsets(size,
                      [&](std::size_t i) { bytes[i] = PatternByte(tag, i); });
    live_.emplace(address, Block{size, align, kind, tag});
    live_bytes_ += size;
  }

  // Checks that the bytes of `block`'s pattern below `limit`, now at
  // `address`, still hold it.
  static void CheckPattern(std::uintptr_t address, const Block& block,
                           std::size_t limit, const char* when) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(address);
    ForSampledOffsets(block.size, [&](std::size_t i) {
      if (i < limit && bytes[i] != PatternByte(block.tag, i)) {
        ABSL_RAW_LOG(FATAL,
                     "%s: byte %zu of the %zu-byte block at %#zx changed", when,
                     i, block.size, static_cast<std::size_t>(address));
      }
    });
  }

  void Forget(Live::iterator it) {
    live_bytes_ -= it->second.size;
    live_.erase(it);
  }

  // Frees a live block the way its kind says, after checking its pattern.
  void Release(Live::iterator it) {
    const auto [address, block] = *it;
    CheckPattern(address, block, block.size, "free");
    Forget(it);
    void* ptr = reinterpret_cast<void*>(address);
    switch (block.kind) {
      case Kind::kMalloc:
        std::free(ptr);
        break;
      case Kind::kNew:
        if (in_.Byte() % 2) {
          ::operator delete(ptr);
        } else {
          ::operator delete(ptr, block.size);
        }
        break;
      case Kind::kNewArray:
        ::operator delete[](ptr);
        break;
      case Kind::kNewAligned:
        if (in_.Byte() % 2) {
          ::operator delete (ptr, std::align_val_t{block.align});
        } else {
          ::operator delete (ptr, block.size, std::align_val_t{block.align});
        }
        break;
    }
  }

  // Expects a failed call to have returned null and set errno to `code`.
  static void ExpectFailed(void* ptr, int code, const char* what,
                           std::size_t size) {
    if (ptr != nullptr || errno != code) {
      ABSL_RAW_LOG(FATAL, "%s(%zu) gave %p, errno %d; expected null, errno %d",
                   what, size, ptr, errno, code);
    }
  }

  void Malloc() {
    const std::size_t size = SomeSize();
    if (Full() && !MustFail(size)) return;
    errno = 0;
    void* ptr = Opaque(std::malloc)(size);
    if (MustFail(size)) return ExpectFailed(ptr, ENOMEM, "malloc", size);
    Track(ptr, size, kMinAlign, Kind::kMalloc, "malloc");
  }

  void Calloc() {
    const std::size_t count = in_.Byte() % 4 == 0 ? SomeSize() : in_.Below(64);
    const std::size_t size = SomeSize();
    std::size_t bytes;
    const bool overflows = __builtin_mul_overflow(count, size, &bytes);
    if (Full() && !overflows && !MustFail(bytes)) return;
    if (!overflows && !MustFail(bytes) && bytes > kMaxLiveBytes) return;
    errno = 0;
    void* ptr = Opaque(std::calloc)(count, size);
    if (overflows || MustFail(bytes)) {
      return ExpectFailed(ptr, ENOMEM, "calloc", bytes);
    }
    const auto* data = static_cast<const std::uint8_t*>(ptr);
    ForSampledOffsets(bytes, [&](std::size_t i) {
      if (data != nullptr && data[i] != 0) {
        ABSL_RAW_LOG(FATAL, "calloc(%zu, %zu): byte %zu is not zero", count,
                     size, i);
      }
    });
    Track(ptr, bytes, kMinAlign, Kind::kMalloc, "calloc");
  }

  // Reallocates a live malloc block (or null) to `size`, checking the
  // contract; `what` names the call for messages.
  template <class F>
  void Resize(std::size_t size, const char* what, F call) {
    auto it = live_.end();
    if (!live_.empty() && in_.Byte() % 8 != 0) {
      it = Pick();
      if (it->second.kind != Kind::kMalloc) return;
    }
    if (Full() && !MustFail(size)) return;
    void* old =
        it == live_.end() ? nullptr : reinterpret_cast<void*>(it->first);
    errno = 0;
    void* ptr = call(old);
    if (MustFail(size)) {
      ExpectFailed(ptr, ENOMEM, what, size);
      if (it != live_.end())
        CheckPattern(it->first, it->second, it->second.size,
                     "a failed realloc");
      return;
    }
    if (it == live_.end()) {
      Track(ptr, size, kMinAlign, Kind::kMalloc, what);
      return;
    }
    const Block block = it->second;
    Forget(it);
    if (size == 0) {  // Freed: glibc's realloc(p, 0).
      if (ptr != nullptr)
        ABSL_RAW_LOG(FATAL, "%s(p, 0) did not return null", what);
      return;
    }
    CheckPattern(reinterpret_cast<std::uintptr_t>(ptr), block,
                 std::min(block.size, size), what);
    Track(ptr, size, kMinAlign, Kind::kMalloc, what);
  }

  void Realloc() {
    const std::size_t size = SomeSize();
    Resize(size, "realloc",
           [&](void* old) { return Opaque(std::realloc)(old, size); });
  }

  void ReallocArray() {
    const std::size_t count = in_.Below(64);
    const std::size_t size = SomeSize();
    std::size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
      if (live_.empty()) return;
      auto it = Pick();
      if (it->second.kind != Kind::kMalloc) return;
      errno = 0;
      void* ptr =
          Opaque(reallocarray)(reinterpret_cast<void*>(it->first), count, size);
      ExpectFailed(ptr, ENOMEM, "reallocarray (overflowing)", size);
      CheckPattern(it->first, it->second, it->second.size,
                   "a failed reallocarray");
      return;
    }
    Resize(bytes, "reallocarray",
           [&](void* old) { return Opaque(reallocarray)(old, count, size); });
  }

  void Memalign() {
    const std::size_t align = SomeAlignment();
    const std::size_t size = in_.Byte() % 8 == 0 ? SomeSize() : in_.Below(4096);
    if (Full() && !MustFail(size)) return;
    const bool power = std::has_single_bit(align);
    errno = 0;
    switch (in_.Byte() % 3) {
      case 0: {
        void* ptr = reinterpret_cast<void*>(0x1);
        const int code = Opaque(posix_memalign)(&ptr, align, size);
        const int expected = !power || align % sizeof(void*) != 0 ? EINVAL
                             : MustFail(size)                     ? ENOMEM
                                                                  : 0;
        if (code != expected ||
            (code != 0 && ptr != reinterpret_cast<void*>(1))) {
          ABSL_RAW_LOG(FATAL,
                       "posix_memalign(%zu, %zu) gave %d, expected %d "
                       "(and the pointer untouched on failure)",
                       align, size, code, expected);
        }
        if (code == 0) Track(ptr, size, align, Kind::kMalloc, "posix_memalign");
        return;
      }
      case 1: {
        void* ptr = Opaque(aligned_alloc)(align, size);
        if (!power) return ExpectFailed(ptr, EINVAL, "aligned_alloc", size);
        if (MustFail(size))
          return ExpectFailed(ptr, ENOMEM, "aligned_alloc", size);
        Track(ptr, size, align, Kind::kMalloc, "aligned_alloc");
        return;
      }
      case 2: {
        void* ptr = Opaque(memalign)(align, size);
        if (MustFail(size)) return ExpectFailed(ptr, ENOMEM, "memalign", size);
        // An alignment that is not a power of two is rounded up to one.
        Track(ptr, size, std::bit_ceil(std::max<std::size_t>(align, 1)),
              Kind::kMalloc, "memalign");
        return;
      }
    }
  }

  void Pages() {
    const std::size_t page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    const std::size_t size =
        in_.Byte() % 8 == 0 ? SomeSize() : in_.Below(20000);
    if (Full() && !MustFail(size)) return;
    errno = 0;
    if (in_.Byte() % 2) {
      void* ptr = Opaque(valloc)(size);
      if (MustFail(size)) return ExpectFailed(ptr, ENOMEM, "valloc", size);
      Track(ptr, size, page, Kind::kMalloc, "valloc");
    } else {
      void* ptr = Opaque(pvalloc)(size);
      if (MustFail(size)) return ExpectFailed(ptr, ENOMEM, "pvalloc", size);
      // pvalloc rounds the size up to whole pages (0 to one page).
      const std::size_t rounded =
          size == 0 ? page : (size + page - 1) / page * page;
      if (malloc_usable_size(ptr) < rounded) {
        ABSL_RAW_LOG(FATAL, "pvalloc(%zu): %zu usable bytes, fewer than %zu",
                     size, malloc_usable_size(ptr), rounded);
      }
      Track(ptr, rounded, page, Kind::kMalloc, "pvalloc");
    }
  }

  void New() {
    const std::size_t size = in_.Byte() % 8 == 0 ? SomeSize() : in_.Below(4096);
    if (Full() && !MustFail(size)) return;
    const std::uint8_t form = in_.Byte() % 5;
    const std::size_t align =
        form >= 3 ? std::size_t{1} << (in_.Byte() % 21) : kMinAlign;
    void* ptr = nullptr;
    bool threw = false;
    try {
      switch (form) {
        case 0:
          ptr = ::operator new(size);
          break;
        case 1:
          ptr = ::operator new[](size);
          break;
        case 2:
          ptr = ::operator new(size, std::nothrow);
          break;
        case 3:
          ptr = ::operator new (size, std::align_val_t{align});
          break;
        case 4:
          ptr = ::operator new (size, std::align_val_t{align}, std::nothrow);
          break;
      }
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    const bool nothrow = form == 2 || form == 4;
    if (MustFail(size)) {
      if (nothrow ? ptr != nullptr : !threw) {
        ABSL_RAW_LOG(FATAL,
                     "operator new (form %d) of %zu bytes did not fail "
                     "as it should",
                     form, size);
      }
      return;
    }
    if (threw)
      ABSL_RAW_LOG(FATAL, "operator new (form %d) of %zu threw", form, size);
    const Kind kind = form == 1   ? Kind::kNewArray
                      : form >= 3 ? Kind::kNewAligned
                                  : Kind::kNew;
    Track(ptr, size, align, kind, "operator new");
  }

  // malloc_usable_size of a live block: at least its size, and every usable
  // byte writable without touching another block (their patterns would show).
  void UsableSize() {
    if (live_.empty()) return;
    auto it = Pick();
    auto* bytes = reinterpret_cast<std::uint8_t*>(it->first);
    const std::size_t usable = malloc_usable_size(bytes);
    if (usable < it->second.size) {
      ABSL_RAW_LOG(FATAL, "malloc_usable_size %zu < the block's %zu bytes",
                   usable, it->second.size);
    }
    if (usable - it->second.size <= 8192) {
      std::memset(bytes + it->second.size, 0xA5, usable - it->second.size);
    }
    if (malloc_usable_size(nullptr) != 0) {
      ABSL_RAW_LOG(FATAL, "malloc_usable_size(nullptr) is not 0");
    }
  }

  FuzzInput& in_;
  Live live_;
  std::size_t live_bytes_ = 0;
  std::uint8_t serial_ = 0;
};

}  // namespace
}  // namespace heapkit::fuzz

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data,
                                      std::size_t size) {
#ifdef HEAPKIT_MALLOC_LINKED
  heapkit::fuzz::FuzzInput in(data, size);
  heapkit::fuzz::MallocFuzzer(in).Run();
#else
  (void)data;
  (void)size;
#endif
  return 0;
}
