#ifndef HEAPKIT_ADAPTERS_TRACING_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_TRACING_ALLOCATOR_H_

#include <cstdint>
#include <memory>

#include "absl/base/attributes.h"
#include "absl/status/statusor.h"
#include "adapters/internal/forwarding_allocator.h"
#include "adapters/trace/trace_writer.h"
#include "core/concepts.h"
#include "core/layout.h"

namespace heapkit {

// Records every Alloc and Dealloc of the allocator it wraps as an allocation
// trace (docs/trace_format.md), which `heapkit replay` runs on every backend:
//
//   std::string bytes;
//   heapkit::trace::StringSink sink(&bytes);
//   heapkit::TracingAllocator<heapkit::TlsfByteAllocator> traced;
//   traced.StartTrace(&sink);
//   ... traced.Init(start, size); Alloc and Dealloc as usual ...
//   traced.StopTrace();  // bytes now holds the trace
//
// Owns the allocator it wraps, as every adapter does. Each successful Alloc
// and each Dealloc of a non-null pointer made while a trace is on becomes a
// record; failed Allocs are not recorded. Results are the wrapped allocator's,
// unchanged. Not thread-safe: wrap it in SynchronizedAllocator to share it
// (records are then in the lock's order, one the trace reader accepts).
template <ByteBackend A>
class TracingAllocator final : public internal::ForwardingAllocator<A> {
 public:
  using internal::ForwardingAllocator<A>::ForwardingAllocator;
  ~TracingAllocator() override { StopTrace(); }

  // Starts a new trace into `sink`, which must outlive it; a trace already on
  // is stopped first.
  void StartTrace(trace::TraceSink* sink) {
    StopTrace();
    writer_ = std::make_unique<trace::TraceWriter>(sink, trace::NowNs());
  }

  // Flushes and ends the trace. Returns false if the sink failed at any
  // point (the trace is then incomplete), true otherwise or if none was on.
  bool StopTrace() {
    if (writer_ == nullptr) return true;
    const bool ok = writer_->Flush();
    writer_.reset();
    return ok;
  }

  // Returns the wrapped allocator's block or error; records a block.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override {
    absl::StatusOr<void*> block = this->wrapped_.Alloc(layout);
    if (writer_ != nullptr && block.ok()) {
      writer_->Alloc(trace::ThreadNumber(), trace::NowNs(), layout.size,
                     layout.align, reinterpret_cast<std::uintptr_t>(*block));
    }
    return block;
  }

  // Records the free, then forwards it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE void Dealloc(void* ptr, Layout layout) override {
    if (writer_ != nullptr && ptr != nullptr) {
      writer_->Free(trace::ThreadNumber(), trace::NowNs(),
                    reinterpret_cast<std::uintptr_t>(ptr));
    }
    this->wrapped_.Dealloc(ptr, layout);
  }

 private:
  std::unique_ptr<trace::TraceWriter> writer_;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_TRACING_ALLOCATOR_H_
