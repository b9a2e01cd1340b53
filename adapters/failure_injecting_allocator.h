#ifndef HEAPKIT_ADAPTERS_FAILURE_INJECTING_ALLOCATOR_H_
#define HEAPKIT_ADAPTERS_FAILURE_INJECTING_ALLOCATOR_H_

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <random>

#include "absl/base/attributes.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "adapters/internal/forwarding_allocator.h"
#include "core/alloc_error.h"
#include "core/concepts.h"
#include "core/layout.h"

namespace heapkit {

// Makes chosen Alloc calls fail, to test how code copes with running out of
// memory:
//
//   heapkit::FailureInjectingAllocator<heapkit::TlsfByteAllocator> flaky;
//   ... flaky.Init(start, size) ...
//   flaky.FailNthAlloc(3);  // The fourth Alloc from now fails.
//
// Owns the allocator it wraps: `A` is constructed in place from the
// constructor's arguments (wrap BorrowedAllocator<A> to use one the caller
// owns). Alloc calls are counted from 0 since the last Init() or arming call
// (FailNthAlloc, FailAllocsFrom, FailAllocsRandomly, StopFailing); every call
// counts, whatever its layout. An injected failure returns kNoMemory with a
// message saying it was injected, without calling the wrapped allocator, so it
// changes nothing there; a call chosen to fail whose layout is not IsValid()
// gets the wrapped allocator's kInvalidParam instead, as the ByteAllocator
// contract says. Every other call, and every Dealloc, is forwarded
// unchanged, with the wrapped allocator's result. A new object injects
// nothing. Not thread-safe: wrap it in SynchronizedAllocator to share it.
template <ByteBackend A>
class FailureInjectingAllocator final
    : public internal::ForwardingAllocator<A> {
 public:
  using internal::ForwardingAllocator<A>::ForwardingAllocator;

  // Initialises the wrapped allocator and restarts the armed mode: counts go
  // back to 0 and a random mode's generator back to its seed, so a run from
  // Init() repeats exactly.
  absl::Status Init(std::uintptr_t start, std::size_t size) override {
    Rearm();
    return this->wrapped_.Init(start, size);
  }

  // Returns kNoMemory if this call is chosen to fail, else forwards it.
  ABSL_ATTRIBUTE_ALWAYS_INLINE absl::StatusOr<void*> Alloc(
      Layout layout) override {
    const std::uint64_t call = alloc_calls_++;
    if (mode_ != Mode::kNone && ShouldFail(call)) [[unlikely]] {
      return InjectFailure(call, layout);
    }
    return this->wrapped_.Alloc(layout);
  }

  // Fails only Alloc call `n` (counted from 0) from now on.
  void FailNthAlloc(std::uint64_t n) { Arm(Mode::kNth, n); }

  // Fails Alloc call `n` (counted from 0) from now on, and every later one.
  void FailAllocsFrom(std::uint64_t n) { Arm(Mode::kFrom, n); }

  // Fails each Alloc call from now on with probability `probability`, drawn
  // from a std::mt19937_64 seeded with `seed` (its output is fixed by the C++
  // standard, so a seed gives the same failures everywhere). Returns
  // kInvalidParam, and changes nothing, unless 0 <= probability <= 1.
  absl::Status FailAllocsRandomly(double probability, std::uint64_t seed) {
    if (!(probability >= 0 && probability <= 1)) {
      return MakeError(AllocError::kInvalidParam,
                       absl::StrCat("FailureInjectingAllocator: probability ",
                                    probability, " is not in [0, 1]"));
    }
    // A call fails when a 64-bit draw is below probability * 2^64; 1 fails
    // always.
    always_ = probability == 1;
    threshold_ =
        always_ ? 0 : static_cast<std::uint64_t>(std::ldexp(probability, 64));
    seed_ = seed;
    Arm(Mode::kRandom, 0);
    return absl::OkStatus();
  }

  // Injects no more failures, and restarts the counts.
  void StopFailing() { Arm(Mode::kNone, 0); }

  // Returns the Alloc calls, and the failures injected among them, since the
  // last Init() or arming call.
  std::uint64_t alloc_calls() const { return alloc_calls_; }
  std::uint64_t failures_injected() const { return failures_injected_; }

  // Checks the counters (no more failures than calls) and the wrapped
  // allocator's invariants.
  absl::Status CheckInvariants() const {
    if (failures_injected_ > alloc_calls_) {
      return absl::InternalError(
          absl::StrCat("FailureInjectingAllocator: ", failures_injected_,
                       " failures injected in ", alloc_calls_, " calls"));
    }
    return internal::ForwardingAllocator<A>::CheckInvariants();
  }

 private:
  enum class Mode { kNone, kNth, kFrom, kRandom };

  void Arm(Mode mode, std::uint64_t n) {
    mode_ = mode;
    n_ = n;
    Rearm();
  }

  void Rearm() {
    alloc_calls_ = 0;
    failures_injected_ = 0;
    rng_.seed(seed_);
  }

  // Returns the injected failure of Alloc call `call`, counting it. Out of
  // line, with ShouldFail, so that the inlined Alloc stays a few instructions
  // while no failure is armed.
  ABSL_ATTRIBUTE_NOINLINE absl::StatusOr<void*> InjectFailure(
      std::uint64_t call, Layout layout) {
    // A malformed request stays kInvalidParam, as every ByteAllocator answers
    // it: injecting out of memory would hide the caller's bug.
    if (!layout.IsValid()) return this->wrapped_.Alloc(layout);
    ++failures_injected_;
    return MakeError(
        AllocError::kNoMemory,
        absl::StrCat("FailureInjectingAllocator: injected failure of Alloc "
                     "call #",
                     call, " (size ", layout.size, ", align ", layout.align,
                     ")"));
  }

  ABSL_ATTRIBUTE_NOINLINE bool ShouldFail(std::uint64_t call) {
    switch (mode_) {
      case Mode::kNone:
        return false;
      case Mode::kNth:
        return call == n_;
      case Mode::kFrom:
        return call >= n_;
      case Mode::kRandom:
        // Draws once per call even when the answer is known, so the stream
        // of decisions depends on the seed and the call count only.
        return rng_() < threshold_ || always_;
    }
    return false;
  }

  Mode mode_ = Mode::kNone;
  std::uint64_t n_ = 0;
  std::uint64_t threshold_ = 0;
  bool always_ = false;
  std::uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  std::uint64_t alloc_calls_ = 0;
  std::uint64_t failures_injected_ = 0;
};

}  // namespace heapkit

#endif  // HEAPKIT_ADAPTERS_FAILURE_INJECTING_ALLOCATOR_H_
