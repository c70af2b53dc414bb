# Helpers shared by every layer's CMakeLists.txt.
#
# The layering check runs on every build: a header included against DESIGN.md's layer order
# fails the build (cmake/check_layers.cmake), and each layer links only the layers below it.
file(GLOB_RECURSE PW_ALL_SOURCES CONFIGURE_DEPENDS
     ${PROJECT_SOURCE_DIR}/pathways/*.h ${PROJECT_SOURCE_DIR}/pathways/*.cc)
add_custom_command(
  OUTPUT ${PROJECT_BINARY_DIR}/layering.stamp
  COMMAND ${CMAKE_COMMAND} -DSRC=${PROJECT_SOURCE_DIR} -DSTAMP=${PROJECT_BINARY_DIR}/layering.stamp
          -P ${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake
  DEPENDS ${PW_ALL_SOURCES} ${PROJECT_SOURCE_DIR}/cmake/check_layers.cmake
  COMMENT "Checking layer dependencies")
add_custom_target(pw_layering ALL DEPENDS ${PROJECT_BINARY_DIR}/layering.stamp)

# pw_layer(NAME SRCS ... DEPS ...): one static library per layer folder, named pw_<NAME>.
function(pw_layer NAME)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(pw_${NAME} STATIC ${ARG_SRCS})
  target_include_directories(pw_${NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_link_libraries(pw_${NAME} PUBLIC ${ARG_DEPS})
  add_dependencies(pw_${NAME} pw_layering)
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
