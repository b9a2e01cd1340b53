#ifndef HEAPKIT_TESTS_DEFAULT_RESOURCE_H_
#define HEAPKIT_TESTS_DEFAULT_RESOURCE_H_

#include <cstddef>
#include <memory_resource>
#include <new>
#include <string>

#include "absl/strings/string_view.h"
#include "gtest/gtest.h"

namespace heapkit::testing {

// Makes `resource` std::pmr's default resource (std::pmr::
// get_default_resource()) for its lifetime, then restores the one before.
// Scopes must nest. The default resource is one per process, not per thread:
// do not use this while other threads allocate from the default.
class ScopedDefaultResource {
 public:
  explicit ScopedDefaultResource(std::pmr::memory_resource* resource)
      : previous_(std::pmr::set_default_resource(resource)) {}
  ScopedDefaultResource(const ScopedDefaultResource&) = delete;
  ScopedDefaultResource& operator=(const ScopedDefaultResource&) = delete;
  ~ScopedDefaultResource() { std::pmr::set_default_resource(previous_); }

  // Returns the default resource this scope replaced.
  std::pmr::memory_resource* previous() const { return previous_; }

 private:
  std::pmr::memory_resource* previous_;
};

// A memory_resource from which nothing may be allocated: every allocate fails
// the running test (ADD_FAILURE, naming the resource and the request) and
// throws std::bad_alloc; every deallocate fails the test too. Install it as
// the default (ScopedForbiddenDefaultResource) to check that code under test
// allocates only from the resources it is given. Equal only to itself.
class ForbiddenResource final : public std::pmr::memory_resource {
 public:
  // `name` says what the resource stands for in failure messages.
  explicit ForbiddenResource(absl::string_view name = "a ForbiddenResource")
      : name_(name) {}

  // Returns how many allocations were attempted.
  std::size_t attempts() const { return attempts_; }

 private:
  void* do_allocate(std::size_t bytes, std::size_t alignment) override {
    ++attempts_;
    ADD_FAILURE() << "allocate(" << bytes << ", " << alignment << ") from "
                  << name_ << ", which the test forbids";
    throw std::bad_alloc();
  }

  void do_deallocate(void* ptr, std::size_t bytes,
                     std::size_t alignment) override {
    ADD_FAILURE() << "deallocate(" << ptr << ", " << bytes << ", " << alignment
                  << ") to " << name_ << ", which never allocates";
  }

  bool do_is_equal(
      const std::pmr::memory_resource& other) const noexcept override {
    return this == &other;
  }

  std::string name_;
  std::size_t attempts_ = 0;
};

// Makes a ForbiddenResource the default resource for its lifetime, so that any
// allocation from the default fails the running test:
//
//   heapkit::testing::ScopedForbiddenDefaultResource no_default;
//   Phonebook book(&resource);  // Must not touch the default resource.
//
// As ScopedDefaultResource: scopes nest, and the default is per process.
class ScopedForbiddenDefaultResource {
 public:
  ScopedForbiddenDefaultResource()
      : forbidden_("the default resource (forbidden in this scope)"),
        scope_(&forbidden_) {}

  const ForbiddenResource& resource() const { return forbidden_; }

 private:
  ForbiddenResource forbidden_;
  ScopedDefaultResource scope_;
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_DEFAULT_RESOURCE_H_
