#ifndef HEAPKIT_TESTS_FUZZ_FUZZ_INPUT_H_
#define HEAPKIT_TESTS_FUZZ_FUZZ_INPUT_H_

#include <cstddef>
#include <cstdint>

namespace heapkit::fuzz {

// Reads a fuzzer's input as a stream of small numbers; reads past the end
// return 0, so every input decodes to some sequence of operations.
class FuzzInput {
 public:
  FuzzInput(const std::uint8_t* data, std::size_t size)
      : data_(data), size_(size) {}

  bool empty() const { return offset_ >= size_; }

  std::uint8_t Byte() { return offset_ < size_ ? data_[offset_++] : 0; }

  // Returns a little-endian number of `bytes` bytes (at most 8).
  std::uint64_t Number(int bytes) {
    std::uint64_t value = 0;
    for (int i = 0; i < bytes; ++i) value |= std::uint64_t{Byte()} << (8 * i);
    return value;
  }

  // Returns a number in [0, bound) (bound > 0).
  std::uint64_t Below(std::uint64_t bound) { return Number(4) % bound; }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
  std::size_t offset_ = 0;
};

}  // namespace heapkit::fuzz

#endif  // HEAPKIT_TESTS_FUZZ_FUZZ_INPUT_H_
