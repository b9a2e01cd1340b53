#ifndef HEAPKIT_ADAPTERS_TRACE_TRACE_FORMAT_H_
#define HEAPKIT_ADAPTERS_TRACE_TRACE_FORMAT_H_

// The constants of HeapKit's allocation trace format (docs/trace_format.md):
// a 16-byte header, then one variable-length record per allocation, free or
// reallocation, in an order in which they could have happened. Numbers are
// unsigned LEB128 varints; addresses are zigzag deltas from the previous
// record's address, so that a heap that hands out nearby blocks takes a few
// bytes a record.

#include <cstddef>
#include <cstdint>

namespace heapkit::trace {

// The first 8 bytes of every trace.
inline constexpr char kMagic[8] = {'H', 'K', 'T', 'R', 'A', 'C', 'E', '\0'};

// The version this build writes and reads; bumped on any change of layout.
inline constexpr std::uint32_t kVersion = 1;

// Magic, then the version and a flags word (0), both little-endian uint32.
inline constexpr std::size_t kHeaderSize = 16;

// The first byte of a record. The fields that follow, in order:
//   kAlloc:   thread, time delta, size, log2(align), address
//   kFree:    thread, time delta, address
//   kRealloc: thread, time delta, size, log2(align), old address, new address
// `thread` numbers threads from 0 in the order they first allocate; the time
// delta is nanoseconds since the previous record (the first: since the trace
// began). A realloc that moves nothing has equal addresses.
enum class RecordType : std::uint8_t {
  kAlloc = 1,
  kFree = 2,
  kRealloc = 3,
};

// The longest record: a type byte, six varints of at most 10 bytes and the
// alignment byte.
inline constexpr std::size_t kMaxRecordSize = 1 + 6 * 10 + 1;

// Appends `value` as an unsigned LEB128 varint at `out`; returns the end.
inline std::uint8_t* PutVarint(std::uint8_t* out, std::uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<std::uint8_t>(value | 0x80);
    value >>= 7;
  }
  *out++ = static_cast<std::uint8_t>(value);
  return out;
}

// Maps a signed delta to an unsigned number that is small when |delta| is.
inline std::uint64_t ZigZag(std::int64_t delta) {
  return (static_cast<std::uint64_t>(delta) << 1) ^
         static_cast<std::uint64_t>(delta >> 63);
}

// Inverts ZigZag.
inline std::int64_t UnZigZag(std::uint64_t value) {
  return static_cast<std::int64_t>(value >> 1) ^
         -static_cast<std::int64_t>(value & 1);
}

}  // namespace heapkit::trace

#endif  // HEAPKIT_ADAPTERS_TRACE_TRACE_FORMAT_H_
