#ifndef HEAPKIT_ADAPTERS_TRACE_TRACE_WRITER_H_
#define HEAPKIT_ADAPTERS_TRACE_TRACE_WRITER_H_

#include <time.h>

#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/base/attributes.h"
#include "adapters/trace/trace_format.h"

namespace heapkit::trace {

// Returns the calling thread's number in traces: threads are numbered from 0
// in the order they first ask, once per process. Allocation-free (the malloc
// replacement calls it).
inline std::uint32_t ThreadNumber() {
  static constexpr std::uint32_t kUnset = ~std::uint32_t{0};
  ABSL_CONST_INIT static std::atomic<std::uint32_t> next{0};
  ABSL_CONST_INIT static thread_local std::uint32_t number
      __attribute__((tls_model("initial-exec"))) = kUnset;
  if (number == kUnset) number = next.fetch_add(1, std::memory_order_relaxed);
  return number;
}

// Returns CLOCK_MONOTONIC in nanoseconds: the clock of every trace.
inline std::uint64_t NowNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<std::uint64_t>(now.tv_sec) * 1'000'000'000 +
         static_cast<std::uint64_t>(now.tv_nsec);
}

// Where a TraceWriter's bytes go.
class TraceSink {
 public:
  virtual ~TraceSink() = default;

  // Writes all `size` bytes at `data`; returns false if it could not.
  virtual bool Write(const std::uint8_t* data, std::size_t size) = 0;
};

// Writes to a file descriptor with write(2): never allocates, so the malloc
// replacement can use it. Does not own or close the descriptor.
class FdSink final : public TraceSink {
 public:
  explicit FdSink(int fd) : fd_(fd) {}
  bool Write(const std::uint8_t* data, std::size_t size) override;

 private:
  int fd_;
};

// Appends to a string the caller owns, for traces kept in memory.
class StringSink final : public TraceSink {
 public:
  explicit StringSink(std::string* out) : out_(out) {}
  bool Write(const std::uint8_t* data, std::size_t size) override {
    out_->append(reinterpret_cast<const char*>(data), size);
    return true;
  }

 private:
  std::string* out_;
};

// Encodes allocation records (trace_format.h) into a fixed buffer and hands
// full buffers to a sink. Never allocates. Not thread-safe: callers serialise
// the calls, and must record a free before the block can be handed out again
// and an allocation after it was handed out, so that the trace's order is one
// in which the operations could have happened.
//
// Times are nanoseconds on any monotonic clock, the same for every call.
// Once the sink fails, the writer drops everything and ok() is false.
class TraceWriter {
 public:
  // Writes the header; `start_ns` is the time the trace begins.
  TraceWriter(TraceSink* sink, std::uint64_t start_ns);
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  // Records a block of `size` bytes aligned to `align` (a power of two) at
  // `address`.
  void Alloc(std::uint32_t thread, std::uint64_t time_ns, std::uint64_t size,
             std::uint64_t align, std::uintptr_t address) {
    std::uint8_t* out = Begin(RecordType::kAlloc, thread, time_ns);
    out = PutSizeAndAlign(out, size, align);
    End(PutAddress(out, address));
  }

  // Records the free of the block at `address`.
  void Free(std::uint32_t thread, std::uint64_t time_ns,
            std::uintptr_t address) {
    End(PutAddress(Begin(RecordType::kFree, thread, time_ns), address));
  }

  // Records that the block at `old_address` now holds `size` bytes at
  // `new_address` (the same address if it was resized in place).
  void Realloc(std::uint32_t thread, std::uint64_t time_ns, std::uint64_t size,
               std::uint64_t align, std::uintptr_t old_address,
               std::uintptr_t new_address) {
    std::uint8_t* out = Begin(RecordType::kRealloc, thread, time_ns);
    out = PutSizeAndAlign(out, size, align);
    End(PutAddress(PutAddress(out, old_address), new_address));
  }

  // Hands the buffered bytes to the sink; returns ok().
  bool Flush();

  // Returns false once the sink has failed.
  bool ok() const { return ok_; }

  // Returns the bytes written so far, header included.
  std::uint64_t bytes_written() const { return flushed_ + used_; }

 private:
  static constexpr std::size_t kBufferSize = 16 * 1024;

  std::uint8_t* Begin(RecordType type, std::uint32_t thread,
                      std::uint64_t time_ns) {
    if (used_ + kMaxRecordSize > kBufferSize) Flush();
    std::uint8_t* out = buffer_ + used_;
    *out++ = static_cast<std::uint8_t>(type);
    out = PutVarint(out, thread);
    // A clock read before another thread's record may be a little older.
    out = PutVarint(out, time_ns > last_time_ns_ ? time_ns - last_time_ns_ : 0);
    if (time_ns > last_time_ns_) last_time_ns_ = time_ns;
    return out;
  }
  void End(std::uint8_t* out) { used_ = out - buffer_; }
  static std::uint8_t* PutSizeAndAlign(std::uint8_t* out, std::uint64_t size,
                                       std::uint64_t align) {
    out = PutVarint(out, size);
    *out++ = static_cast<std::uint8_t>(std::countr_zero(align));
    return out;
  }
  std::uint8_t* PutAddress(std::uint8_t* out, std::uintptr_t address) {
    out = PutVarint(out,
                    ZigZag(static_cast<std::int64_t>(address - last_address_)));
    last_address_ = address;
    return out;
  }

  TraceSink* sink_;
  bool ok_ = true;
  std::size_t used_ = 0;
  std::uint64_t flushed_ = 0;
  std::uint64_t last_time_ns_;
  std::uintptr_t last_address_ = 0;
  std::uint8_t buffer_[kBufferSize];
};

}  // namespace heapkit::trace

#endif  // HEAPKIT_ADAPTERS_TRACE_TRACE_WRITER_H_
