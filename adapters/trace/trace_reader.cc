#include "adapters/trace/trace_reader.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace heapkit::trace {
namespace {

// Reads the fields of one record, remembering where the record began so
// that every error names it.
class Cursor {
 public:
  explicit Cursor(absl::string_view bytes) : bytes_(bytes) {}

  bool AtEnd() const { return offset_ == bytes_.size(); }
  void BeginRecord() { record_offset_ = offset_; }

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("offset ", record_offset_, ": ", what));
  }

  std::optional<std::uint8_t> Byte() {
    if (AtEnd()) return std::nullopt;
    return static_cast<std::uint8_t>(bytes_[offset_++]);
  }

  // Reads an LEB128 varint of at most 10 bytes; nullopt if truncated or
  // overlong (`overlong` says which).
  std::optional<std::uint64_t> Varint(bool& overlong) {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      std::optional<std::uint8_t> byte = Byte();
      if (!byte) return std::nullopt;
      value |= static_cast<std::uint64_t>(*byte & 0x7f) << shift;
      if ((*byte & 0x80) == 0) return value;
    }
    overlong = true;
    return std::nullopt;
  }

 private:
  absl::string_view bytes_;
  std::size_t offset_ = kHeaderSize;
  std::size_t record_offset_ = 0;
};

std::uint32_t LittleEndian32(const char* bytes) {
  std::uint32_t value = 0;
  for (int i = 3; i >= 0; --i) {
    value = (value << 8) | static_cast<std::uint8_t>(bytes[i]);
  }
  return value;
}

absl::Status CheckHeader(absl::string_view bytes) {
  if (bytes.size() < kHeaderSize ||
      std::memcmp(bytes.data(), kMagic, sizeof kMagic) != 0) {
    return absl::InvalidArgumentError(
        "offset 0: not a HeapKit trace (no \"HKTRACE\" header)");
  }
  const std::uint32_t version = LittleEndian32(bytes.data() + 8);
  if (version != kVersion) {
    return absl::InvalidArgumentError(
        absl::StrCat("offset 8: trace format version ", version,
                     "; this build reads version ", kVersion));
  }
  return absl::OkStatus();
}

// Builds the Trace record by record: decodes fields, tracks live blocks by
// address and hands out dense block numbers.
class Parser {
 public:
  explicit Parser(absl::string_view bytes) : cursor_(bytes) {}

  absl::StatusOr<Trace> Run() {
    while (!cursor_.AtEnd()) {
      cursor_.BeginRecord();
      if (absl::Status status = ParseRecord(); !status.ok()) return status;
    }
    trace_.end_live_bytes = live_bytes_;
    trace_.end_live_blocks = static_cast<std::uint32_t>(live_.size());
    return std::move(trace_);
  }

 private:
  struct Live {
    std::uint32_t block;
    std::uint64_t size;
  };

  absl::Status ParseRecord() {
    const std::uint8_t type = *cursor_.Byte();
    if (type < 1 || type > 3) {
      return cursor_.Error(absl::StrFormat("unknown record type 0x%02x", type));
    }
    TraceEvent event{};
    event.type = static_cast<RecordType>(type);
    std::uint64_t thread, delta;
    if (!Number(thread) || !Number(delta)) return Truncated();
    if (thread >= (std::uint64_t{1} << 32)) {
      return cursor_.Error(absl::StrCat("thread number ", thread));
    }
    event.thread = static_cast<std::uint32_t>(thread);
    trace_.threads = std::max(trace_.threads, event.thread + 1);
    if (delta > ~std::uint64_t{0} - time_ns_) {
      return cursor_.Error("time passes 2^64 ns");
    }
    time_ns_ += delta;
    event.time_ns = time_ns_;
    if (event.type != RecordType::kFree) {
      if (absl::Status status = SizeAndAlign(event); !status.ok()) {
        return status;
      }
    }
    std::uint64_t address;
    if (!Address(address)) return Truncated();
    switch (event.type) {
      case RecordType::kAlloc:
        event.address = address;
        return Allocated(event);
      case RecordType::kFree:
        event.address = address;
        return Freed(event);
      case RecordType::kRealloc:
        if (!Address(event.address)) return Truncated();
        return Reallocated(event, address);
    }
    return absl::OkStatus();
  }

  absl::Status SizeAndAlign(TraceEvent& event) {
    std::optional<std::uint8_t> align_log2;
    if (!Number(event.size) || !(align_log2 = cursor_.Byte())) {
      return Truncated();
    }
    if (event.size > kMaxEventSize) {
      return cursor_.Error(absl::StrCat("size ", event.size,
                                        " is larger than any replay serves (",
                                        kMaxEventSize, ")"));
    }
    if (*align_log2 > kMaxAlignLog2) {
      return cursor_.Error(absl::StrCat("alignment 2^", *align_log2,
                                        " is larger than 2^", kMaxAlignLog2));
    }
    event.align_log2 = *align_log2;
    return absl::OkStatus();
  }

  absl::Status Allocated(TraceEvent& event) {
    if (live_.contains(event.address)) {
      return cursor_.Error(absl::StrFormat(
          "allocation at 0x%x, which is still live", event.address));
    }
    event.block = NewBlock();
    live_[event.address] = Live{event.block, event.size};
    AddLive(event.size);
    return Push(event);
  }

  absl::Status Freed(TraceEvent& event) {
    auto it = live_.find(event.address);
    if (it == live_.end()) {
      return cursor_.Error(
          absl::StrFormat("free of 0x%x, which is not live", event.address));
    }
    event.block = it->second.block;
    live_bytes_ -= it->second.size;
    free_blocks_.push_back(event.block);
    live_.erase(it);
    return Push(event);
  }

  absl::Status Reallocated(TraceEvent& event, std::uint64_t old_address) {
    auto it = live_.find(old_address);
    if (it == live_.end()) {
      return cursor_.Error(
          absl::StrFormat("realloc of 0x%x, which is not live", old_address));
    }
    const Live old = it->second;
    live_.erase(it);
    if (live_.contains(event.address)) {
      return cursor_.Error(absl::StrFormat(
          "realloc to 0x%x, which is still live", event.address));
    }
    event.block = old.block;
    live_[event.address] = Live{old.block, event.size};
    live_bytes_ -= old.size;
    AddLive(event.size);
    return Push(event);
  }

  std::uint32_t NewBlock() {
    if (free_blocks_.empty()) return trace_.max_blocks++;
    const std::uint32_t block = free_blocks_.back();
    free_blocks_.pop_back();
    return block;
  }

  void AddLive(std::uint64_t size) {
    live_bytes_ += size;
    if (live_bytes_ > trace_.peak_live_bytes) {
      trace_.peak_live_bytes = live_bytes_;
      trace_.peak_event = trace_.events.size();
    }
  }

  absl::Status Push(const TraceEvent& event) {
    trace_.events.push_back(event);
    return absl::OkStatus();
  }

  bool Number(std::uint64_t& value) {
    std::optional<std::uint64_t> number = cursor_.Varint(overlong_);
    if (number) value = *number;
    return number.has_value();
  }

  bool Address(std::uint64_t& address) {
    std::uint64_t delta;
    if (!Number(delta)) return false;
    last_address_ += static_cast<std::uint64_t>(UnZigZag(delta));
    address = last_address_;
    return true;
  }

  absl::Status Truncated() const {
    return cursor_.Error(overlong_
                             ? "a number longer than 10 bytes"
                             : "record cut short at the end of the trace");
  }

  Cursor cursor_;
  Trace trace_;
  absl::flat_hash_map<std::uint64_t, Live> live_;
  std::vector<std::uint32_t> free_blocks_;
  std::uint64_t live_bytes_ = 0;
  std::uint64_t time_ns_ = 0;
  std::uint64_t last_address_ = 0;
  bool overlong_ = false;
};

}  // namespace

absl::StatusOr<Trace> ParseTrace(absl::string_view bytes) {
  if (absl::Status status = CheckHeader(bytes); !status.ok()) return status;
  return Parser(bytes).Run();
}

absl::StatusOr<Trace> ReadTraceFile(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) {
    return absl::NotFoundError(
        absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream contents;
  contents << file.rdbuf();
  absl::StatusOr<Trace> trace = ParseTrace(contents.str());
  if (!trace.ok()) {
    return absl::Status(trace.status().code(),
                        absl::StrCat(path, ": ", trace.status().message()));
  }
  return trace;
}

}  // namespace heapkit::trace
