#ifndef HEAPKIT_ALLOCATORS_SLAB_SLAB_INVARIANTS_IMPL_H_
#define HEAPKIT_ALLOCATORS_SLAB_SLAB_INVARIANTS_IMPL_H_

// The checks of SlabByteAllocator<Backing>: CheckFree, the debug build's
// search for a bad free, and CheckInvariants, the full walk for tests. Kept
// apart from the allocator so that only this file, which
// slab_byte_allocator_impl.h includes, pulls in <map>, <set> and <vector>.

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "allocators/slab/internal/slab_page.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "core/internal/asan.h"
#include "core/internal/bits.h"
#include "core/internal/fatal.h"
#include "core/internal/hex.h"

namespace heapkit {

// Aborts unless `object`, freed with a layout of `size_class` into `slab`
// (whose key matches), starts an object the slab has handed out that is
// neither free in the slab nor parked in the magazine. Linear in the
// magazine's size, so debug builds only.
template <class Backing>
void SlabByteAllocator<Backing>::CheckFree(const Slab* slab,
                                           std::uintptr_t object,
                                           std::size_t size_class) const {
  const void* const ptr = reinterpret_cast<const void*>(object);
  const std::size_t index = slab_internal::IndexOf(object, size_class);
  if (index >= slab->capacity ||
      index * slab->object_size != (object & (kSlabSize - 1))) {
    internal::Fatal(
        "SlabByteAllocator: %p: bad free: not the start of an object", ptr);
  }
  const std::uintptr_t* const magazine = MagazineOf(size_class);
  const std::uintptr_t* const end = magazine + magazine_counts_[size_class];
  if (slab_internal::IsFree(slab, index) ||
      std::find(magazine, end, object) != end) {
    internal::Fatal("SlabByteAllocator: %p: double free: the object is free",
                    ptr);
  }
}

// Checks one slab found current or on the list for `state` of `size_class`
// (any class for the cache), and adds the bytes of its live objects to
// `handed_bytes`.
template <class Backing>
absl::Status SlabByteAllocator<Backing>::CheckSlab(
    const Slab* slab, std::size_t size_class, SlabState state,
    std::size_t& handed_bytes) const {
  const std::uintptr_t base = slab_internal::BaseOf(slab);
  // Takes the parts by value: a slab's fields are copied here, where reading
  // the poisoned metadata is allowed, not in StrCat, where ASan would object.
  auto broken = [base](auto... parts) {
    return absl::InternalError(
        absl::StrCat("SlabByteAllocator invariant broken: slab at ",
                     internal::Hex(base), ": ", parts...));
  };
  if (!internal::IsAligned(base, kSlabSize)) return broken("misaligned");
  if (slab->state != state) {
    return broken("state ", static_cast<int>(slab->state), " on the list of ",
                  static_cast<int>(state));
  }
  if (state == SlabState::kCached) {
    if (slab->key != 0) return broken("cached but keyed");
    return absl::OkStatus();  // Its other fields are stale.
  }
  if (slab->key != KeyFor(size_class) || slab->size_class != size_class ||
      slab->object_size != ClassSize(size_class) ||
      slab->capacity != ObjectsPerSlab(size_class)) {
    return broken("key, class ", slab->size_class, ", size ", slab->object_size,
                  " or capacity ", slab->capacity, " does not match class ",
                  size_class);
  }
  std::size_t free_objects = 0;
  for (std::size_t w = 0; w < slab_internal::kBitmapWords; ++w) {
    const std::uint64_t bits = slab->free_bits[w];
    if (((slab->summary >> w) & 1) != (bits != 0 ? 1u : 0u)) {
      return broken("summary bit ", w, " disagrees with its word");
    }
    for (std::size_t b = 0; b < 64; ++b) {
      if (((bits >> b) & 1) != 0 && 64 * w + b >= slab->capacity) {
        return broken("object ", 64 * w + b, " past the capacity ",
                      slab->capacity, " is marked free");
      }
    }
    free_objects += static_cast<std::size_t>(std::popcount(bits));
  }
  const std::size_t pinned = state == SlabState::kCurrent ? 1 : 0;
  if (slab->live < pinned) return broken("the current slab is not pinned");
  const std::size_t live = slab->live - pinned;
  if (live + free_objects != slab->capacity) {
    return broken(live, " live + ", free_objects, " free objects != capacity ",
                  slab->capacity);
  }
  if (state == SlabState::kFull && free_objects != 0) {
    return broken("on the full list with free objects");
  }
  if (state == SlabState::kPartial && (free_objects == 0 || live == 0)) {
    return broken("on the partial list but full or empty");
  }
  handed_bytes += live * slab->object_size;
  return absl::OkStatus();
}

template <class Backing>
absl::Status SlabByteAllocator<Backing>::CheckInvariants() const {
  auto broken = [](auto&&... parts) {
    return absl::InternalError(
        absl::StrCat("SlabByteAllocator invariant broken: ", parts...));
  };
  if (no_slab_.summary != 0) {
    return broken("the placeholder slab has free objects");
  }

  // The magazines first: every entry a distinct object of a slab of its
  // class, handed out (the slab checks below confirm the slab is live).
  std::set<std::uintptr_t> parked;
  std::map<const Slab*, std::size_t> parked_per_slab;
  std::size_t parked_bytes = 0;
  for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
    if (magazine_counts_[c] > MagazineSize(c)) {
      return broken("magazine ", c, " holds ", magazine_counts_[c],
                    " objects, more than its ", MagazineSize(c));
    }
    for (std::uint32_t i = 0; i < magazine_counts_[c]; ++i) {
      const std::uintptr_t object = MagazineOf(c)[i];
      const Slab* const slab = slab_internal::SlabOf(object);
      const std::size_t index = slab_internal::IndexOf(object, c);
      if (slab->key != KeyFor(c) || index >= slab->capacity ||
          index * ClassSize(c) != (object & (kSlabSize - 1)) ||
          slab_internal::IsFree(slab, index) || !parked.insert(object).second) {
        return broken("magazine ", c, " holds ", internal::Hex(object),
                      ", not a distinct object handed out by a slab of its "
                      "class");
      }
      ++parked_per_slab[slab];
    }
    parked_bytes += std::size_t{magazine_counts_[c]} * ClassSize(c);
  }

  std::vector<const Slab*> slabs;
  std::size_t handed_bytes = 0;
  std::size_t cached = 0;
  // The lambdas read slab metadata too, which is poisoned under ASan.
  auto check_slab =
      [&](const Slab* slab, std::size_t size_class, SlabState state)
          HEAPKIT_NO_SANITIZE_ADDRESS -> absl::Status {
    absl::Status status = CheckSlab(slab, size_class, state, handed_bytes);
    if (!status.ok()) return status;
    const std::size_t pinned = state == SlabState::kCurrent ? 1 : 0;
    if (auto it = parked_per_slab.find(slab); it != parked_per_slab.end()) {
      if (it->second > slab->live - pinned) {
        return broken("slab at ", internal::Hex(slab_internal::BaseOf(slab)),
                      " has ", slab->live - pinned, " live objects but ",
                      it->second, " in a magazine");
      }
      parked_per_slab.erase(it);
    }
    slabs.push_back(slab);
    return absl::OkStatus();
  };
  // Walks one list, checking its links; at most slab_count_ + 1 steps.
  auto check_list =
      [&](const SlabList& list, std::size_t size_class, SlabState state)
          HEAPKIT_NO_SANITIZE_ADDRESS -> absl::Status {
    const Slab* prev = nullptr;
    for (const Slab* slab = list.head; slab != nullptr; slab = slab->next) {
      if (slabs.size() > slab_count_) {
        return broken("more slabs on the lists than the ", slab_count_,
                      " taken");
      }
      if (slab->prev != prev) {
        return broken("slab at ", internal::Hex(slab_internal::BaseOf(slab)),
                      " has a wrong back link");
      }
      absl::Status status = check_slab(slab, size_class, state);
      if (!status.ok()) return status;
      if (state == SlabState::kCached) ++cached;
      prev = slab;
    }
    if (list.tail != prev) return broken("a list's tail is not its last slab");
    return absl::OkStatus();
  };
  for (std::size_t c = 0; c < kNumSizeClasses; ++c) {
    absl::Status status = absl::OkStatus();
    if (current_[c] != &no_slab_) {
      status = check_slab(current_[c], c, SlabState::kCurrent);
    }
    if (status.ok()) status = check_list(partial_[c], c, SlabState::kPartial);
    if (status.ok()) status = check_list(full_[c], c, SlabState::kFull);
    if (!status.ok()) return status;
  }
  absl::Status status = check_list(cached_, 0, SlabState::kCached);
  if (!status.ok()) return status;
  if (!parked_per_slab.empty()) {
    return broken(
        "a magazine holds an object of the slab at ",
        internal::Hex(slab_internal::BaseOf(parked_per_slab.begin()->first)),
        ", which is on no list");
  }

  std::sort(slabs.begin(), slabs.end());
  if (std::adjacent_find(slabs.begin(), slabs.end()) != slabs.end()) {
    return broken("a slab is current or listed twice");
  }
  if (slabs.size() != slab_count_) {
    return broken(slabs.size(), " slabs found, ", slab_count_, " taken");
  }
  if (cached != cached_count_ || cached > kMaxCachedSlabs) {
    return broken(cached, " slabs cached, the count says ", cached_count_);
  }
  std::size_t backing_bytes = 0;
  for (const Slab* slab : slabs) backing_bytes += slab->backing_bytes;
  if (backing_bytes != slab_backing_bytes_ ||
      backing_bytes > backing_.UsedBytes()) {
    return broken("slabs take ", backing_bytes, " backing bytes, the count is ",
                  slab_backing_bytes_, ", the backing uses ",
                  backing_.UsedBytes());
  }
  if (handed_bytes != handed_bytes_ || parked_bytes > handed_bytes) {
    return broken("slabs have handed out ", handed_bytes,
                  " bytes of objects, the count is ", handed_bytes_, ", ",
                  parked_bytes, " of them in magazines");
  }
  if constexpr (requires(const Backing& b) { b.CheckInvariants(); }) {
    return backing_.CheckInvariants();
  }
  return absl::OkStatus();
}

}  // namespace heapkit

#endif  // HEAPKIT_ALLOCATORS_SLAB_SLAB_INVARIANTS_IMPL_H_
