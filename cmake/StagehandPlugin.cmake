# SPDX-License-Identifier: Apache-2.0
# stagehand_add_plugin(NAME SOURCES src... [VERSION v] [LIBRARIES lib...] [NO_INSTALL])
#
# Builds a stagehand plugin: a MODULE library with hidden visibility, no undefined symbols, linked against
# the core, the plugin SDK and LibTorch, whose manifest carries NAME, VERSION and the build's ABI facts. Works in
# the stagehand tree (targets stagehand_core, stagehand_sdk) and out of tree after find_package(Stagehand)
# (Stagehand::core, Stagehand::sdk).
function(stagehand_add_plugin NAME)
  cmake_parse_arguments(ARG "NO_INSTALL" "VERSION;OUTPUT_DIRECTORY" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "stagehand_add_plugin(${NAME}): SOURCES is required")
  endif()
  if(NOT ARG_VERSION)
    set(ARG_VERSION "${PROJECT_VERSION}")
    if(NOT ARG_VERSION)
      set(ARG_VERSION "0.0.0")
    endif()
  endif()
  add_library(${NAME} MODULE ${ARG_SOURCES})
  if(TARGET stagehand_core)
    target_link_libraries(${NAME} PRIVATE stagehand_sdk stagehand_core)
  else()
    target_link_libraries(${NAME} PRIVATE Stagehand::sdk Stagehand::core)
  endif()
  target_link_libraries(${NAME} PRIVATE ${ARG_LIBRARIES})
  target_compile_definitions(${NAME} PRIVATE
    STAGEHAND_PLUGIN_NAME="${NAME}" STAGEHAND_PLUGIN_VERSION="${ARG_VERSION}")
  set_target_properties(${NAME} PROPERTIES
    PREFIX "" CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  target_link_options(${NAME} PRIVATE "LINKER:--no-undefined")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${NAME} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED STAGEHAND_PLUGIN_OUTPUT_DIR)
    set_target_properties(${NAME} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${STAGEHAND_PLUGIN_OUTPUT_DIR}")
  endif()
  set_property(GLOBAL APPEND PROPERTY STAGEHAND_ALL_PLUGINS ${NAME})
  # Installed built-ins live in <prefix>/<libdir>/stagehand/plugins: the core library is two folders up.
  set_target_properties(${NAME} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
  if(TARGET stagehand_core AND NOT ARG_NO_INSTALL)
    install(TARGETS ${NAME} LIBRARY DESTINATION ${STAGEHAND_INSTALL_PLUGINDIR})
  endif()
endfunction()
