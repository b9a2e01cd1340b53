#ifndef HEAPKIT_TESTS_BYTE_BACKENDS_H_
#define HEAPKIT_TESTS_BYTE_BACKENDS_H_

#include <cxxabi.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>

#include "allocators/buddy/buddy_byte_allocator.h"
#include "allocators/slab/slab_byte_allocator.h"
#include "allocators/tlsf/tlsf_byte_allocator.h"
#include "gtest/gtest.h"

namespace heapkit::testing {

// Every byte backend the suites in tests/ run over. A new backend joins every
// suite (conformance, pmr, seed workloads) by adding itself here.
using ByteBackends = ::testing::Types<BuddyByteAllocator, TlsfByteAllocator,
                                      SlabByteAllocator<>>;

// Names each instantiation after its backend class without namespaces or
// punctuation, e.g. "BuddyByteAllocator".
struct BackendName {
  template <class T>
  static std::string GetName(int) {
    std::unique_ptr<char, decltype(&std::free)> demangled(
        abi::__cxa_demangle(typeid(T).name(), nullptr, nullptr, nullptr),
        &std::free);
    std::string name = demangled ? demangled.get() : typeid(T).name();
    for (std::size_t at; (at = name.find("heapkit::")) != std::string::npos;) {
      name.erase(at, 9);
    }
    std::erase_if(name, [](char c) { return !std::isalnum(c); });
    return name;
  }
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_BYTE_BACKENDS_H_
