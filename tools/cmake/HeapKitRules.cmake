# The CMake counterparts of the Bazel rules HeapKit's CMakeLists.txt files use.
#
# Every file a rule builds is recorded (global property HEAPKIT_SOURCES), and
# every test by its Bazel label (HEAPKIT_TESTS); the root CMakeLists.txt writes
# both lists into the build tree, where tools/check_build_sync.sh compares them
# with what Bazel builds, so that the two builds cannot drift apart.

# Records FILES (paths relative to the current source directory) as built.
function(heapkit_record_sources)
  foreach(file IN LISTS ARGN)
    cmake_path(ABSOLUTE_PATH file BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
               NORMALIZE OUTPUT_VARIABLE absolute)
    cmake_path(RELATIVE_PATH absolute BASE_DIRECTORY "${PROJECT_SOURCE_DIR}")
    set_property(GLOBAL APPEND PROPERTY HEAPKIT_SOURCES "${absolute}")
  endforeach()
endfunction()

# Applies HeapKit's compiler options to TARGET: its warnings, as errors under
# HEAPKIT_WERROR.
function(heapkit_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra)
  if(HEAPKIT_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()

# heapkit_library(NAME [SRCS file...] [HDRS file...] [DEPS target...]
#                 [INSTALL])
#
# Defines the library heapkit_NAME, also known as HeapKit::NAME: static (or
# shared with BUILD_SHARED_LIBS) when it has SRCS, header-only otherwise. HDRS
# are installed under include/heapkit/ at their path in the repository, so that
# code includes them as it does inside it ("allocators/tlsf/...h"). DEPS are
# linked publicly. INSTALL exports it from the installed package.
function(heapkit_library name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "INSTALL" "" "SRCS;HDRS;DEPS")
  set(target heapkit_${name})
  if(arg_SRCS)
    add_library(${target} ${arg_SRCS})
    set(scope PUBLIC)
    heapkit_warnings(${target})
  else()
    add_library(${target} INTERFACE)
    set(scope INTERFACE)
  endif()
  add_library(HeapKit::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name}
                                             OUTPUT_NAME heapkit_${name})
  target_sources(${target} ${scope} FILE_SET HEADERS
                 BASE_DIRS "${PROJECT_SOURCE_DIR}" FILES ${arg_HDRS})
  target_link_libraries(${target} ${scope} ${arg_DEPS})
  target_compile_features(${target} ${scope} cxx_std_20)
  heapkit_record_sources(${arg_SRCS} ${arg_HDRS})
  if(arg_INSTALL)
    set_property(GLOBAL APPEND PROPERTY HEAPKIT_INSTALLED_TARGETS ${target})
  endif()
endfunction()

# Registers the built executable TARGET as the test LABEL (a Bazel label, so
# that `ctest -R` takes the names `bazel test` does), with ARGS.
function(heapkit_add_test target label)
  add_test(NAME "${label}" COMMAND ${target} ${ARGN})
  set_property(GLOBAL APPEND PROPERTY HEAPKIT_TESTS "${label}")
endfunction()

# heapkit_test_binary(LABEL SRCS file... [DEPS target...] [ARGS arg...])
#
# Builds the GoogleTest binary for the test LABEL (//folder:name) from SRCS,
# linked with the test support library (tests/CMakeLists.txt: every HeapKit
# library, the test kit and gtest_main) and DEPS, and registers it with ARGS.
# Sets heapkit_test_target, the executable's target name, in the caller.
function(heapkit_test_binary label)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SRCS;DEPS;ARGS")
  string(REGEX REPLACE "^//" "" target "${label}")
  string(REGEX REPLACE "[/:]" "_" target "${target}")
  add_executable(${target} ${arg_SRCS})
  target_link_libraries(${target} PRIVATE heapkit_test_support ${arg_DEPS})
  heapkit_warnings(${target})
  heapkit_add_test(${target} "${label}" ${arg_ARGS})
  set(heapkit_test_target ${target} PARENT_SCOPE)
endfunction()

# heapkit_test(NAME SRCS file... [DEPS target...] [ARGS arg...]
#              [COPTS option...] [DEFINES name...])
#
# Defines a GoogleTest binary and registers it as the test //<folder of the
# first source>:NAME, the label Bazel gives it.
function(heapkit_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "SRCS;DEPS;ARGS;COPTS;DEFINES")
  list(GET arg_SRCS 0 first)
  cmake_path(ABSOLUTE_PATH first BASE_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
             NORMALIZE OUTPUT_VARIABLE folder)
  cmake_path(GET folder PARENT_PATH folder)
  cmake_path(RELATIVE_PATH folder BASE_DIRECTORY "${PROJECT_SOURCE_DIR}")
  heapkit_test_binary("//${folder}:${name}"
    SRCS ${arg_SRCS} DEPS ${arg_DEPS} ARGS ${arg_ARGS})
  target_compile_options(${heapkit_test_target} PRIVATE ${arg_COPTS})
  target_compile_definitions(${heapkit_test_target} PRIVATE ${arg_DEFINES})
  heapkit_record_sources(${arg_SRCS})
endfunction()

# heapkit_tests(PATH...)
#
# Defines one heapkit_test per PATH, named after its file and built from
# PATH.cc alone: heapkit_tests(tlsf_block_test internal/tlsf_lists_test).
function(heapkit_tests)
  foreach(path IN LISTS ARGN)
    cmake_path(GET path FILENAME name)
    heapkit_test(${name} SRCS ${path}.cc)
  endforeach()
endfunction()

# The shared suites byte_backend_suites() in tests/byte_backend_suites.bzl runs:
# kind, header and suite name.
set(HEAPKIT_SUITES
    "conformance|tests/byte_allocator_conformance.h|ByteAllocatorConformance"
    "memory_resource|tests/memory_resource_suite.h|MemoryResourceTest"
    "seed_workloads|tests/seed_workloads_suite.h|SeedWorkloadTest"
    "asan_poisoning|tests/asan_poisoning_suite.h|AsanPoisoning")

# heapkit_byte_backend_suites(NAME BACKEND type HDRS header... [DEPS target...]
#                             [ARGS arg...])
#
# Runs every shared suite on one backend, as byte_backend_suites() does in
# Bazel, with the same test names: NAME_conformance_test and so on. BACKEND is
# the C++ type, HDRS the headers that declare it. Does nothing unless
# HEAPKIT_BUILD_SUITES.
function(heapkit_byte_backend_suites name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "BACKEND" "HDRS;DEPS;ARGS")
  if(NOT HEAPKIT_BUILD_SUITES)
    return()
  endif()
  cmake_path(RELATIVE_PATH CMAKE_CURRENT_SOURCE_DIR
             BASE_DIRECTORY "${PROJECT_SOURCE_DIR}" OUTPUT_VARIABLE package)
  foreach(suite IN LISTS HEAPKIT_SUITES)
    string(REPLACE "|" ";" suite "${suite}")
    list(GET suite 0 kind)
    list(GET suite 1 suite_header)
    list(GET suite 2 suite_name)
    set(headers ${arg_HDRS} ${suite_header} tests/backend_name.h)
    list(SORT headers)
    set(includes "")
    foreach(header IN LISTS headers)
      string(APPEND includes "#include \"${header}\"\n")
    endforeach()
    set(test ${name}_${kind}_test)
    set(source "${CMAKE_CURRENT_BINARY_DIR}/${test}.cc")
    file(CONFIGURE OUTPUT "${source}" @ONLY CONTENT [[
// Generated by heapkit_byte_backend_suites() in tools/cmake/HeapKitRules.cmake
// for //@package@:@name@. Do not edit: change the CMakeLists.txt.
@includes@
namespace {

using BackendUnderTest = @arg_BACKEND@;

}  // namespace

namespace heapkit::testing {
namespace {

INSTANTIATE_TYPED_TEST_SUITE_P(All, @suite_name@,
                               ::testing::Types<BackendUnderTest>,
                               BackendName);

}  // namespace
}  // namespace heapkit::testing
]])
    heapkit_test_binary("//${package}:${test}"
      SRCS "${source}" DEPS ${arg_DEPS} ARGS ${arg_ARGS})
  endforeach()
endfunction()
