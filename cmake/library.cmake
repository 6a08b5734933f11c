# libmatchbox: the layers of MB_LIB_LAYERS as one library that apps link,
# libmatchbox.a and libmatchbox.so (docs/LIBRARY.md). Included by the top
# CMakeLists.txt after the layers' targets exist.
#
# Both are made from the layers' own object files, so nothing is compiled
# twice: the layers are compiled position-independent (the .so needs it) and
# with hidden visibility, so that the .so exports only what the public
# headers declare with MB_API. The per-layer static libraries stay, built
# from the same objects, for the tests (which call internal functions) and
# the CLI.
include(GNUInstallDirs)

set(mb_lib_objects "")
set(mb_lib_deps "")
foreach(layer ${MB_LIB_LAYERS})
  set(t mb_${layer})
  if(NOT TARGET ${t})
    continue() # a layer that does not exist (yet) on this tree
  endif()
  get_target_property(type ${t} TYPE)
  if(NOT type STREQUAL "STATIC_LIBRARY")
    continue() # a layer with no code yet (an INTERFACE library)
  endif()
  set_target_properties(${t} PROPERTIES POSITION_INDEPENDENT_CODE ON C_VISIBILITY_PRESET hidden)
  if(CMAKE_C_COMPILER_ID STREQUAL "GNU")
    # With -fPIC GCC assumes an exported function may be replaced by another
    # library's at load time and so never inlines a call to an MB_API
    # function from inside the library; no app may replace them.
    target_compile_options(${t} PRIVATE -fno-semantic-interposition)
  endif()
  list(APPEND mb_lib_objects $<TARGET_OBJECTS:${t}>)
  # What the layer links besides other layers (threads, libm, PCRE2).
  get_target_property(links ${t} LINK_LIBRARIES)
  foreach(l ${links})
    if(NOT l MATCHES "^mb_")
      list(APPEND mb_lib_deps ${l})
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES mb_lib_deps)

add_library(matchbox_static STATIC ${mb_lib_objects})
add_library(matchbox_shared SHARED ${mb_lib_objects})
target_link_libraries(matchbox_shared PRIVATE ${mb_lib_deps})
set_target_properties(matchbox_static matchbox_shared PROPERTIES
  OUTPUT_NAME matchbox LINKER_LANGUAGE C
  ARCHIVE_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib
  LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/lib)
# libmatchbox.so.0.2.0, soname libmatchbox.so.0 (the major is the ABI).
set_target_properties(matchbox_shared PROPERTIES
  VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR})
if(NOT MB_SANITIZE AND NOT MB_FUZZ)
  # Every symbol resolved at link time: a dependency missing from
  # mb_lib_deps fails here, not in an app. (Clang's sanitizer runtimes are
  # linked into the executable only, so their builds leave them open.)
  target_link_options(matchbox_shared PRIVATE -Wl,--no-undefined)
endif()

install(TARGETS matchbox_static matchbox_shared
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/matchbox.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
file(GLOB mb_public_headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/include/matchbox/*.h)
if(mb_public_headers)
  install(FILES ${mb_public_headers} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/matchbox)
endif()
# matchbox.pc is written at install time, so that it names the prefix
# installed to (`cmake --install --prefix P`, make install PREFIX=P), not
# the one configured.
install(CODE "
  set(PROJECT_VERSION \"${PROJECT_VERSION}\")
  set(MB_PC_LIBDIR \"${CMAKE_INSTALL_LIBDIR}\")
  set(MB_PC_INCLUDEDIR \"${CMAKE_INSTALL_INCLUDEDIR}\")
  foreach(d MB_PC_LIBDIR MB_PC_INCLUDEDIR)
    if(NOT IS_ABSOLUTE \"\${\${d}}\")
      set(\${d} \"\\\${prefix}/\${\${d}}\")
    endif()
  endforeach()
  set(MB_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_SOURCE_DIR}/cmake/matchbox.pc.in\"
                 \"${CMAKE_BINARY_DIR}/matchbox.pc\" @ONLY)
")
install(FILES ${CMAKE_BINARY_DIR}/matchbox.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The example app, built here against the public header and the shared
# library so that an API change that breaks it fails the build at once
# (tests/test_install.sh builds it again against the installed files).
add_executable(example_app ${CMAKE_SOURCE_DIR}/examples/app.c)
target_include_directories(example_app PRIVATE ${CMAKE_SOURCE_DIR}/include)
target_link_libraries(example_app PRIVATE matchbox_shared)
set_target_properties(example_app PROPERTIES OUTPUT_NAME app
  RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/examples)
