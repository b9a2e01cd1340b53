#ifndef HEAPKIT_TESTS_BACKEND_NAME_H_
#define HEAPKIT_TESTS_BACKEND_NAME_H_

#include <cxxabi.h>

#include <cctype>
#include <cstdlib>
#include <memory>
#include <string>
#include <typeinfo>

namespace heapkit::testing {

// Names a typed test instantiation after its type parameter, as
// INSTANTIATE_TYPED_TEST_SUITE_P's name generator: the demangled type without
// "heapkit::" and without punctuation, e.g. "SlabByteAllocator" for
// heapkit::SlabByteAllocator<>. So an alias such as DefaultByteAllocator shows
// the backend it stands for. Falls back to the mangled name if demangling
// fails.
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
    std::erase_if(name, [](char c) {
      return !std::isalnum(static_cast<unsigned char>(c));
    });
    return name;
  }
};

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_BACKEND_NAME_H_
