# Helpers shared by every layer's CMakeLists.txt.
#
# The layer rules live in cmake/layers.cmake. The include check runs on every build (a header
# included against the rules fails the build: cmake/check_layers.cmake); the link check runs at
# configure time (pw_check_link_layers, called once every target exists).
include(${CMAKE_CURRENT_LIST_DIR}/layers.cmake)
file(GLOB_RECURSE PW_ALL_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/pathways/*.h ${PROJECT_SOURCE_DIR}/pathways/*.cc)
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/layering.stamp
  COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR} -DSTAMP=${PROJECT_BINARY_DIR}/layering.stamp
          -P ${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake
  DEPENDS ${PW_ALL_SOURCES} ${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake
          ${PROJECT_SOURCE_DIR}/cmake/layers.cmake
  COMMENT "Checking layer dependencies")
add_custom_target(pw_layering ALL DEPENDS ${PROJECT_BINARY_DIR}/layering.stamp)

# pw_layer(NAME SRCS ... DEPS ...): one static library per layer folder, named pw_<NAME>.
# A folder whose code is all in headers gets an INTERFACE library (no SRCS).
function(pw_layer NAME)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  if(ARG_SRCS)
    add_library(pw_${NAME} STATIC ${ARG_SRCS})
    target_include_directories(pw_${NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(pw_${NAME} PUBLIC ${ARG_DEPS})
    add_dependencies(pw_${NAME} pw_layering)
  else()
    add_library(pw_${NAME} INTERFACE)
    target_include_directories(pw_${NAME} INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(pw_${NAME} INTERFACE ${ARG_DEPS})
  endif()
  set_property(GLOBAL APPEND PROPERTY PW_LAYER_TARGETS pw_${NAME})
endfunction()

# pw_cc_test(NAME SRCS ... DEPS ... [LABELS ...]): a GoogleTest binary registered with CTest.
function(pw_cc_test NAME)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${NAME} ${ARG_SRCS})
  target_link_libraries(${NAME} PRIVATE ${ARG_DEPS} GTest::gmock_main)
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  add_test(NAME ${NAME} COMMAND ${NAME})
  set_tests_properties(${NAME} PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()

# In a PW_TSAN build, every executable gets the Abseil annotations of tests/tsan/ (see there).
function(pw_link_tsan_annotations)
  add_library(pw_tsan_absl OBJECT ${PROJECT_SOURCE_DIR}/tests/tsan/absl_sync_annotations.cc)
  target_link_libraries(pw_tsan_absl PUBLIC absl::synchronization)
  set(dirs ${PROJECT_SOURCE_DIR})
  while(dirs)
    list(POP_FRONT dirs dir)
    get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
    list(APPEND dirs ${subdirs})
    get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
    foreach(t ${targets})
      get_target_property(type ${t} TYPE)
      if(type STREQUAL "EXECUTABLE")
        target_link_libraries(${t} PRIVATE pw_tsan_absl ${CMAKE_DL_LIBS})
      endif()
    endforeach()
  endwhile()
endfunction()
