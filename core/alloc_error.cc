#include "core/alloc_error.h"

namespace heapkit {

absl::Status MakeError(AllocError error, absl::string_view message) {
  switch (error) {
    case AllocError::kInvalidParam:
      return absl::InvalidArgumentError(message);
    case AllocError::kMemoryOverlap:
      return absl::AlreadyExistsError(message);
    case AllocError::kNoMemory:
      return absl::ResourceExhaustedError(message);
    case AllocError::kNotAllocated:
      return absl::NotFoundError(message);
  }
  return absl::InternalError(message);
}

std::optional<AllocError> GetAllocError(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
      return AllocError::kInvalidParam;
    case absl::StatusCode::kAlreadyExists:
      return AllocError::kMemoryOverlap;
    case absl::StatusCode::kResourceExhausted:
      return AllocError::kNoMemory;
    case absl::StatusCode::kNotFound:
      return AllocError::kNotAllocated;
    default:
      return std::nullopt;
  }
}

absl::string_view AllocErrorName(AllocError error) {
  switch (error) {
    case AllocError::kInvalidParam:
      return "kInvalidParam";
    case AllocError::kMemoryOverlap:
      return "kMemoryOverlap";
    case AllocError::kNoMemory:
      return "kNoMemory";
    case AllocError::kNotAllocated:
      return "kNotAllocated";
  }
  return "unknown";
}

}  // namespace heapkit
