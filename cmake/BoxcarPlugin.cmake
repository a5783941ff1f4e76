# boxcar_add_plugin(<kind> <name> SOURCES <files...> [TESTS <files...>])
#
# Builds a boxcar strategy plugin as a MODULE library named "<kind>-<name>.so" with hidden
# visibility (only the descriptor is exported). In the boxcar tree it also installs the plugin
# and adds its doctest tests to CTest; out of tree it is available after find_package(boxcar).
# Options every plugin library needs: only the descriptor is exported, and no STB_GNU_UNIQUE
# symbols, because glibc never unloads a library that defines one (libstdc++'s inline statics,
# e.g. std::to_string's digit table, would otherwise pin old copies in memory after a swap).
function(boxcar_plugin_compile_options target)
  set_target_properties(${target} PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-fno-gnu-unique>)
endfunction()

function(boxcar_add_plugin kind name)
  cmake_parse_arguments(ARG "" "" "SOURCES;TESTS" ${ARGN})
  set(valid_kinds prioritizer batcher cache_tier conn_manager tuner)
  if(NOT kind IN_LIST valid_kinds)
    message(FATAL_ERROR "boxcar_add_plugin: kind '${kind}' is not one of: ${valid_kinds}")
  endif()
  set(target "${kind}-${name}")
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE boxcar::plugin_api)
  boxcar_plugin_compile_options(${target})
  set_target_properties(${target} PROPERTIES
    PREFIX "" OUTPUT_NAME "${target}")
  if(DEFINED BOXCAR_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${BOXCAR_PLUGIN_OUTPUT_DIR}")
  endif()
  if(DEFINED BOXCAR_PLUGIN_INSTALL_DIR)
    install(TARGETS ${target} LIBRARY DESTINATION "${BOXCAR_PLUGIN_INSTALL_DIR}")
  endif()
  if(ARG_TESTS AND TARGET boxcar_test_main)
    set(test_target "test-${target}")
    add_executable(${test_target} ${ARG_TESTS})
    target_link_libraries(${test_target} PRIVATE boxcar_test_main)
    target_compile_definitions(${test_target} PRIVATE
      BOXCAR_PLUGIN_UNDER_TEST="$<TARGET_FILE:${target}>")
    add_dependencies(${test_target} ${target})
    add_test(NAME ${test_target} COMMAND ${test_target})
  endif()
endfunction()
