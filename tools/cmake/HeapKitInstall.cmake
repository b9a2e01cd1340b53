# Installs HeapKit: the libraries and headers, the HeapKit:: targets with
# HeapKitConfig.cmake and its version file, and heapkit.pc for pkg-config.
# Headers go under include/heapkit/ at their path in the repository, so code
# includes them as it does inside it: #include "allocators/tlsf/...h".
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(HEAPKIT_INCLUDE_DIR "${CMAKE_INSTALL_INCLUDEDIR}/heapkit")
set(HEAPKIT_CMAKE_DIR "${CMAKE_INSTALL_LIBDIR}/cmake/HeapKit")

get_property(installed GLOBAL PROPERTY HEAPKIT_INSTALLED_TARGETS)
install(TARGETS ${installed} EXPORT HeapKitTargets
  ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  LIBRARY DESTINATION "${CMAKE_INSTALL_LIBDIR}"
  RUNTIME DESTINATION "${CMAKE_INSTALL_BINDIR}"
  FILE_SET HEADERS DESTINATION "${HEAPKIT_INCLUDE_DIR}"
  INCLUDES DESTINATION "${HEAPKIT_INCLUDE_DIR}")
install(EXPORT HeapKitTargets NAMESPACE HeapKit::
        DESTINATION "${HEAPKIT_CMAKE_DIR}")

set(HEAPKIT_WITH_TEST_KIT ${GTest_FOUND})
configure_package_config_file(tools/cmake/HeapKitConfig.cmake.in
  "${PROJECT_BINARY_DIR}/HeapKitConfig.cmake"
  INSTALL_DESTINATION "${HEAPKIT_CMAKE_DIR}")
write_basic_package_version_file("${PROJECT_BINARY_DIR}/HeapKitConfigVersion.cmake"
  COMPATIBILITY SameMinorVersion)
install(FILES "${PROJECT_BINARY_DIR}/HeapKitConfig.cmake"
              "${PROJECT_BINARY_DIR}/HeapKitConfigVersion.cmake"
        DESTINATION "${HEAPKIT_CMAKE_DIR}")

# pkg-config: every library but the malloc replacement and the test kit, with
# the default backend's define, as HeapKit::default gives it.
string(TOUPPER "HEAPKIT_DEFAULT_ALLOCATOR_${HEAPKIT_ALLOCATOR}" HEAPKIT_PC_DEFINES)
if(HEAPKIT_CHECKED)
  string(APPEND HEAPKIT_PC_DEFINES " -DHEAPKIT_CHECKED")
endif()
# From the .pc file's folder up to the prefix: lib/pkgconfig gives ../..
string(REGEX REPLACE "[^/]+" ".." HEAPKIT_PC_UP "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
configure_file(tools/cmake/heapkit.pc.in "${PROJECT_BINARY_DIR}/heapkit.pc" @ONLY)
install(FILES "${PROJECT_BINARY_DIR}/heapkit.pc"
        DESTINATION "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
