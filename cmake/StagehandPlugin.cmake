# SPDX-License-Identifier: Apache-2.0
# stagehand_add_plugin(NAME SOURCES src... [VERSION v] [LIBRARIES lib...] [NO_INSTALL] [LIGHT] [NO_DECLARATIONS]
#                      [FACTS_SOURCES src... [FACTS_LIBRARIES lib...]])
#
# Builds a stagehand plugin: a MODULE library with hidden visibility, no undefined symbols, linked against
# the core, the plugin SDK and LibTorch, whose manifest carries NAME, VERSION and the build's ABI facts. Works in
# the stagehand tree (targets stagehand_core, stagehand_sdk) and out of tree after find_package(Stagehand)
# (Stagehand::core, Stagehand::sdk).
#
# After linking, `runner-full declare` writes the plugin's declaration file (NAME.so.decl.json beside it), from which
# `runner check`, `plugins` and `describe` work without opening the plugin, so without loading LibTorch.
#  - LIGHT: the plugin uses no LibTorch (a tokenizer): it links the base library only, and the light runner opens it.
#  - FACTS_SOURCES: the torch-free sources of the plugin's fact functions (ComponentInfo::facts), built into a facts
#    companion facts/NAME.so (STAGEHAND_PLUGIN_FACTS, stagehand/facts_companion.h) that the light runner opens
#    instead of the plugin. Without it, checking a pipeline that uses a component with facts opens the plugins.
#  - NO_DECLARATIONS: no declaration file (the runner then opens the plugins to check a pipeline). For the test
#    fixtures that are broken on purpose: writing one opens the plugin, and a plugin that is refused fails the build.
function(stagehand_add_plugin NAME)
  cmake_parse_arguments(ARG "NO_INSTALL;LIGHT;NO_DECLARATIONS" "VERSION;OUTPUT_DIRECTORY" "SOURCES;LIBRARIES;FACTS_SOURCES;FACTS_LIBRARIES"
                        ${ARGN})
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
  if(ARG_LIGHT AND TARGET stagehand_base)
    target_link_libraries(${NAME} PRIVATE stagehand_base)
  elseif(ARG_LIGHT)
    target_link_libraries(${NAME} PRIVATE Stagehand::base)
  elseif(TARGET stagehand_core)
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
  _stagehand_plugin_declarations(${NAME})
  # Installed built-ins live in <prefix>/<libdir>/stagehand/plugins: the core library is two folders up.
  set_target_properties(${NAME} PROPERTIES INSTALL_RPATH "$ORIGIN/../..")
  if(TARGET stagehand_core AND NOT ARG_NO_INSTALL)
    if(ARG_FACTS_SOURCES)
      install(TARGETS ${NAME}_facts LIBRARY DESTINATION ${STAGEHAND_INSTALL_PLUGINDIR}/facts)
    endif()
    install(TARGETS ${NAME} LIBRARY DESTINATION ${STAGEHAND_INSTALL_PLUGINDIR})
    # Installing rewrites the plugin's RPATH, so its sha256: the declaration file is written again for the installed
    # file (by the runner-full of this build, which opens it beside the installed core library).
    if(_declare)
      set(_installed "\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${STAGEHAND_INSTALL_PLUGINDIR}")
      set(_facts_install "")
      if(ARG_FACTS_SOURCES)
        set(_facts_install "--facts \"${_installed}/facts/$<TARGET_FILE_NAME:${NAME}_facts>\"")
      endif()
      install(CODE "execute_process(COMMAND \"${_declare}\" declare \"${_installed}/$<TARGET_FILE_NAME:${NAME}>\" ${_light_arg} ${_facts_install} RESULT_VARIABLE _rc)
if(NOT _rc EQUAL 0)
  message(WARNING \"no declaration file for plugin ${NAME}: runner check will open the plugins\")
endif()")
    endif()
  endif()
endfunction()

# The facts companion and the declaration file of plugin NAME (see above). Reads ARG_* of the caller.
macro(_stagehand_plugin_declarations NAME)
  set(_decl_args)
  set(_light_arg)
  if(ARG_LIGHT)
    list(APPEND _decl_args --light)
    set(_light_arg --light)
  endif()
  if(ARG_FACTS_SOURCES)
    add_library(${NAME}_facts MODULE ${ARG_FACTS_SOURCES})
    if(TARGET stagehand_base)
      target_link_libraries(${NAME}_facts PRIVATE stagehand_base ${ARG_FACTS_LIBRARIES})
    else()
      target_link_libraries(${NAME}_facts PRIVATE Stagehand::base ${ARG_FACTS_LIBRARIES})
    endif()
    get_target_property(_plugin_dir ${NAME} LIBRARY_OUTPUT_DIRECTORY)
    set_target_properties(${NAME}_facts PROPERTIES
      PREFIX "" OUTPUT_NAME ${NAME} CXX_STANDARD 17 CXX_STANDARD_REQUIRED ON
      CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON INSTALL_RPATH "$ORIGIN/../../..")
    if(_plugin_dir)
      set_target_properties(${NAME}_facts PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${_plugin_dir}/facts")
    endif()
    target_link_options(${NAME}_facts PRIVATE "LINKER:--no-undefined")
    add_dependencies(${NAME} ${NAME}_facts)
    list(APPEND _decl_args --facts $<TARGET_FILE:${NAME}_facts>)
  endif()
  if(ARG_NO_DECLARATIONS)
    set(_declare)
  elseif(TARGET runner_full)
    set(_declare $<TARGET_FILE:runner_full>)
    add_dependencies(${NAME} runner_full)
  elseif(STAGEHAND_RUNNER_FULL)
    set(_declare ${STAGEHAND_RUNNER_FULL})
  else()
    set(_declare)
  endif()
  if(_declare)
    add_custom_command(TARGET ${NAME} POST_BUILD
      COMMAND ${_declare} declare $<TARGET_FILE:${NAME}> ${_decl_args}
      COMMENT "Declaration file of plugin ${NAME}" VERBATIM)
  endif()
endmacro()
