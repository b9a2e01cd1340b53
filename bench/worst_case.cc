// Measures the worst case of single Alloc and Dealloc calls, in instructions
// counted exactly (bench/instruction_counter.h), for each byte backend at heap
// sizes from 1 MiB to 1 GiB under adversarial patterns, for real-time users
// who need a bound rather than an average. The results are in
// docs/worst_case.md.
//
//   bazel run --config=opt //bench:worst_case -- --markdown
//
// Patterns (each on a fresh backend over its own region):
//   fresh       on an empty heap: allocations of 16 B-4 KiB, each split from
//               the one free block (buddy splits it log2(heap) times), then
//               every block freed in random order (the last frees merge all
//               the way back up).
//   fragmented  half the heap, up to 64 MiB, filled with blocks of 16 B-64 KiB
//               and every other one freed; then random allocations (1 in 8
//               aligned to 16 B-4 KiB) and frees.
//   coalesce    blocks of 16 B-4 KiB in address order with every other one
//               free: each measured free merges with both neighbours.
//   exhausted   the heap filled until the first kNoMemory, then random
//               allocations (most failing, after whatever search and release
//               of cached memory the backend makes) and frees.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_split.h"
#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "bench/instruction_counter.h"
#include "core/layout.h"
#include "fmt/format.h"
#include "tests/arena.h"

ABSL_FLAG(std::string, backends, "tlsf,slab,buddy", "backends to measure");
ABSL_FLAG(std::string, heap_mib, "1,64,1024", "heap sizes, in MiB");
ABSL_FLAG(int, ops, 500, "measured operations per pattern (about)");
ABSL_FLAG(bool, markdown, false, "print Markdown tables for docs/");

namespace heapkit::bench {
namespace {

constexpr int kAllocTag = 0;         // Alignment up to 16 bytes.
constexpr int kAlignedAllocTag = 1;  // Alignment over 16 bytes.
constexpr int kFailedAllocTag = 2;   // An Alloc that returned an error.
constexpr int kFreeTag = 3;
constexpr std::size_t kMiB = std::size_t{1} << 20;

enum class Pattern { kFresh, kFragmented, kCoalesce, kExhausted };
constexpr Pattern kPatterns[] = {Pattern::kFresh, Pattern::kFragmented,
                                 Pattern::kCoalesce, Pattern::kExhausted};

const char* Name(Pattern pattern) {
  switch (pattern) {
    case Pattern::kFresh:
      return "fresh";
    case Pattern::kFragmented:
      return "fragmented";
    case Pattern::kCoalesce:
      return "coalesce";
    case Pattern::kExhausted:
      return "exhausted";
  }
  return "?";
}

// Drives one backend through a pattern, measuring the calls it is told to.
template <class Backend>
class Driver {
 public:
  Driver(Backend& backend, std::size_t heap_bytes)
      : backend_(backend), heap_bytes_(heap_bytes) {}

  void Run(Pattern pattern, int ops) {
    switch (pattern) {
      case Pattern::kFresh:
        for (int i = 0; i < ops; ++i) Alloc(Size(16, 4096), true);
        std::shuffle(live_.begin(), live_.end(), random_);
        while (!live_.empty()) Free(live_.size() - 1, true);
        break;
      case Pattern::kFragmented:
        Fill(std::min(heap_bytes_ / 2, 64 * kMiB), 65536);
        for (std::size_t i = live_.size(); i-- > 0;) {
          if (i % 2 == 1) Free(i, false);
        }
        Churn(ops, 0.5, 65536);
        break;
      case Pattern::kCoalesce: {
        while (live_.size() < 2 * static_cast<std::size_t>(ops) &&
               live_bytes_ < heap_bytes_ / 2 && Alloc(Size(16, 4096), false)) {
        }
        std::sort(live_.begin(), live_.end());
        // Free the odd blocks unmeasured, then the even ones measured, each
        // between two free neighbours.
        std::vector<Block> even;
        for (std::size_t i = 0; i < live_.size(); ++i) {
          if (i % 2 == 0) {
            even.push_back(live_[i]);
          } else {
            backend_.Dealloc(live_[i].ptr, live_[i].layout);
          }
        }
        live_ = std::move(even);
        while (!live_.empty()) Free(live_.size() - 1, true);
        break;
      }
      case Pattern::kExhausted:
        Fill(heap_bytes_, 65536);
        Churn(ops, 0.7, 65536);
        break;
    }
  }

 private:
  struct Block {
    void* ptr;
    Layout layout;
    bool operator<(const Block& other) const { return ptr < other.ptr; }
  };

  Layout Size(std::size_t least, std::size_t most) {
    return Layout{
        std::uniform_int_distribution<std::size_t>(least, most)(random_), 8};
  }

  // A size up to `most`, one time in 8 aligned to 16 B-4 KiB.
  Layout SomeLayout(std::size_t most) {
    Layout layout = Size(16, most);
    if (random_() % 8 == 0) layout.align = std::size_t{16} << (random_() % 9);
    return layout;
  }

  bool Alloc(Layout layout, bool measured) {
    absl::StatusOr<void*> block =
        measured ? MeasureInstructions(kAllocTag,
                                       [&] { return backend_.Alloc(layout); })
                 : backend_.Alloc(layout);
    if (!block.ok()) {
      if (measured) RelabelLastMeasurement(kFailedAllocTag);
      return false;
    }
    if (measured && layout.align > 16) RelabelLastMeasurement(kAlignedAllocTag);
    live_.push_back({*block, layout});
    live_bytes_ += layout.size;
    return true;
  }

  void Free(std::size_t index, bool measured) {
    const Block block = live_[index];
    live_[index] = live_.back();
    live_.pop_back();
    live_bytes_ -= block.layout.size;
    if (measured) {
      MeasureInstructions(kFreeTag,
                          [&] { backend_.Dealloc(block.ptr, block.layout); });
    } else {
      backend_.Dealloc(block.ptr, block.layout);
    }
  }

  // Allocates unmeasured until `bytes` are live or the first failure.
  void Fill(std::size_t bytes, std::size_t most) {
    while (live_bytes_ < bytes && Alloc(SomeLayout(most), false)) {
    }
  }

  // Allocates with probability `p_alloc`, else frees a random block.
  void Churn(int ops, double p_alloc, std::size_t most) {
    std::bernoulli_distribution allocate(p_alloc);
    for (int i = 0; i < ops; ++i) {
      if (allocate(random_) || live_.empty()) {
        Alloc(SomeLayout(most), true);
      } else {
        Free(random_() % live_.size(), true);
      }
    }
  }

  Backend& backend_;
  const std::size_t heap_bytes_;
  std::mt19937_64 random_{20261202};
  std::vector<Block> live_;
  std::size_t live_bytes_ = 0;
};

// Runs `pattern` on a fresh Backend over a fresh region, in the counting
// child; exits with status 2 if the backend refuses the region.
template <class Backend>
void RunPattern(Pattern pattern, std::size_t heap_bytes, int ops) {
  testing::Arena arena(heap_bytes);
  auto backend = std::make_unique<Backend>();
  if (!arena.ok() || !backend->Init(arena.start(), heap_bytes).ok()) _exit(2);
  Driver<Backend>(*backend, heap_bytes).Run(pattern, ops);
}

struct BackendEntry {
  const char* name;
  void (*run)(Pattern, std::size_t, int);
};
constexpr BackendEntry kBackends[] = {
    {"tlsf", &RunPattern<TlsfByteAllocator>},
    {"slab", &RunPattern<SlabByteAllocator<>>},
    {"buddy", &RunPattern<BuddyByteAllocator>},
};

struct Summary {
  std::size_t calls = 0;
  double mean = 0;
  std::uint64_t p99 = 0;
  std::uint64_t max = 0;
};

Summary Summarise(std::vector<std::uint64_t> counts) {
  Summary summary;
  if (counts.empty()) return summary;
  std::sort(counts.begin(), counts.end());
  summary.calls = counts.size();
  double total = 0;
  for (std::uint64_t c : counts) total += static_cast<double>(c);
  summary.mean = total / static_cast<double>(counts.size());
  summary.p99 = counts[counts.size() * 99 / 100];
  summary.max = counts.back();
  return summary;
}

struct Row {
  std::string backend;
  std::size_t heap_mib;
  std::string pattern;
  Summary alloc;
  Summary aligned;
  Summary failed;
  Summary free;
};

// Prints `lines` (the first is the header) as a Markdown table or as text
// columns; the first `text_columns` columns are left-aligned, the rest are
// numbers.
void PrintLines(const std::vector<std::vector<std::string>>& lines,
                std::size_t text_columns, bool markdown) {
  for (std::size_t i = 0; i < lines.size(); ++i) {
    std::string out;
    for (std::size_t c = 0; c < lines[i].size(); ++c) {
      const std::string& cell = lines[i][c];
      if (markdown) {
        out += "| " + cell + " ";
      } else if (c < text_columns) {
        out += fmt::format("{:<11}", cell);
      } else {
        out += fmt::format("{:>9}", cell);
      }
    }
    std::puts((markdown ? out + "|" : out).c_str());
    if (markdown && i == 0) {
      std::string rule;
      for (std::size_t c = 0; c < lines[i].size(); ++c) {
        rule += c < text_columns ? "|---" : "|---:";
      }
      std::puts((rule + "|").c_str());
    }
  }
}

std::string Number(std::uint64_t n) { return std::to_string(n); }
std::string Mean(const Summary& s) { return fmt::format("{:.0f}", s.mean); }

void PrintTable(const std::vector<Row>& rows, bool markdown) {
  std::vector<std::vector<std::string>> lines = {
      {"backend", "heap", "pattern", "allocs", "mean", "p99", "max", "aligned",
       "max", "failed", "max", "frees", "mean", "p99", "max"}};
  for (const Row& r : rows) {
    lines.push_back({r.backend, fmt::format("{} MiB", r.heap_mib), r.pattern,
                     Number(r.alloc.calls), Mean(r.alloc), Number(r.alloc.p99),
                     Number(r.alloc.max), Number(r.aligned.calls),
                     Number(r.aligned.max), Number(r.failed.calls),
                     Number(r.failed.max), Number(r.free.calls), Mean(r.free),
                     Number(r.free.p99), Number(r.free.max)});
  }
  PrintLines(lines, 3, markdown);
  std::puts("");
  // The worst over all patterns, per backend and heap size.
  lines = {{"backend", "heap", "alloc", "aligned", "failed", "free"}};
  for (std::size_t i = 0; i < rows.size();) {
    Row worst = rows[i];
    for (++i; i < rows.size() && rows[i].backend == worst.backend &&
              rows[i].heap_mib == worst.heap_mib;
         ++i) {
      worst.alloc.max = std::max(worst.alloc.max, rows[i].alloc.max);
      worst.aligned.max = std::max(worst.aligned.max, rows[i].aligned.max);
      worst.failed.max = std::max(worst.failed.max, rows[i].failed.max);
      worst.free.max = std::max(worst.free.max, rows[i].free.max);
    }
    lines.push_back({worst.backend, fmt::format("{} MiB", worst.heap_mib),
                     Number(worst.alloc.max), Number(worst.aligned.max),
                     Number(worst.failed.max), Number(worst.free.max)});
  }
  PrintLines(lines, 2, markdown);
}

int Main() {
  const int ops = absl::GetFlag(FLAGS_ops);
  std::vector<Row> rows;
  for (absl::string_view name :
       absl::StrSplit(absl::GetFlag(FLAGS_backends), ',')) {
    const BackendEntry* entry = nullptr;
    for (const BackendEntry& e : kBackends) {
      if (name == e.name) entry = &e;
    }
    if (entry == nullptr) {
      fmt::print(stderr, "worst_case: no backend {}\n", std::string(name));
      return 2;
    }
    for (absl::string_view mib_text :
         absl::StrSplit(absl::GetFlag(FLAGS_heap_mib), ',')) {
      const std::size_t mib = std::stoul(std::string(mib_text));
      for (Pattern pattern : kPatterns) {
        fmt::print(stderr, "{} {} MiB {}...\n", entry->name, mib,
                   Name(pattern));
        absl::StatusOr<InstructionCounts> counts =
            CountInstructions([&] { entry->run(pattern, mib * kMiB, ops); });
        if (!counts.ok()) {
          fmt::print(stderr, "worst_case: {} {} MiB {}: {}\n", entry->name, mib,
                     Name(pattern), counts.status().ToString());
          return 1;
        }
        rows.push_back({entry->name, mib, Name(pattern),
                        Summarise((*counts)[kAllocTag]),
                        Summarise((*counts)[kAlignedAllocTag]),
                        Summarise((*counts)[kFailedAllocTag]),
                        Summarise((*counts)[kFreeTag])});
      }
    }
  }
  PrintTable(rows, absl::GetFlag(FLAGS_markdown));
  return 0;
}

}  // namespace
}  // namespace heapkit::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return heapkit::bench::Main();
}
