#include "adapters/trace/trace_writer.h"

#include <errno.h>
#include <unistd.h>

namespace heapkit::trace {

bool FdSink::Write(const std::uint8_t* data, std::size_t size) {
  while (size > 0) {
    const ssize_t written = ::write(fd_, data, size);
    if (written < 0 && errno == EINTR) continue;
    if (written <= 0) return false;
    data += written;
    size -= static_cast<std::size_t>(written);
  }
  return true;
}

TraceWriter::TraceWriter(TraceSink* sink, std::uint64_t start_ns)
    : sink_(sink), last_time_ns_(start_ns) {
  std::memcpy(buffer_, kMagic, sizeof kMagic);
  std::uint8_t* out = buffer_ + sizeof kMagic;
  const std::uint32_t words[2] = {kVersion, 0};  // Then the flags.
  for (std::uint32_t word : words) {
    for (int byte = 0; byte < 4; ++byte) *out++ = (word >> (8 * byte)) & 0xff;
  }
  used_ = kHeaderSize;
}

bool TraceWriter::Flush() {
  if (ok_ && used_ > 0) ok_ = sink_->Write(buffer_, used_);
  if (ok_) flushed_ += used_;
  used_ = 0;
  return ok_;
}

}  // namespace heapkit::trace
