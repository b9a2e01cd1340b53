#ifndef HEAPKIT_TESTS_ALL_BYTE_BACKENDS_H_
#define HEAPKIT_TESTS_ALL_BYTE_BACKENDS_H_

#include "allocators/byte_backends.h"
#include "gtest/gtest.h"

namespace heapkit::testing {
namespace all_byte_backends_internal {

template <class List>
struct GtestTypes;

template <class... T>
struct GtestTypes<TypeList<T...>> {
  using type = ::testing::Types<T...>;
};

}  // namespace all_byte_backends_internal

// Converts a heapkit::TypeList to the ::testing::Types that typed tests take.
template <class List>
using TypesOf = typename all_byte_backends_internal::GtestTypes<List>::type;

// Every byte backend HeapKit builds (heapkit::ByteBackendTypes, in
// allocators/byte_backends.h), for users' own typed tests:
//
//   template <class Backend>
//   class PhonebookTest : public ::testing::Test {};
//   TYPED_TEST_SUITE(PhonebookTest, heapkit::testing::AllByteBackends,
//                    heapkit::testing::BackendName);  // tests/backend_name.h
//   TYPED_TEST(PhonebookTest, Works) {
//     heapkit::testing::TestResource<TypeParam> resource;
//     ...
//   }
using AllByteBackends = TypesOf<ByteBackendTypes>;

}  // namespace heapkit::testing

#endif  // HEAPKIT_TESTS_ALL_BYTE_BACKENDS_H_
