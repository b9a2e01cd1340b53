#include "core/internal/hex.h"

#include "absl/strings/str_cat.h"

namespace heapkit::internal {

std::string Hex(std::uintptr_t value) {
  return absl::StrCat("0x", absl::Hex(value));
}

std::string Describe(const Region& region) {
  return absl::StrCat("[", Hex(region.start), ", ", Hex(region.end), ")");
}

}  // namespace heapkit::internal
