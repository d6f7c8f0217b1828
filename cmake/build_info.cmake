# Writes build_info.h with the git commit; rewritten only when it changes (run at build time).
execute_process(COMMAND git rev-parse HEAD WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR commit STREQUAL "")
  set(commit "unknown")
endif()
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE dirty OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(dirty STREQUAL "")
  set(dirty_flag "false")
else()
  set(dirty_flag "true")
endif()
set(content "// Generated at build time by cmake/build_info.cmake.
#include \"build_info.h\"
namespace stagehand::build_info {
const char* const kGitCommit = \"${commit}\";
const bool kGitDirty = ${dirty_flag};
const char* const kBuildType = \"${BUILD_TYPE}\";
const char* const kCompiler = \"${COMPILER}\";
}
")
if(EXISTS ${OUTPUT})
  file(READ ${OUTPUT} old)
else()
  set(old "")
endif()
if(NOT old STREQUAL content)
  file(WRITE ${OUTPUT} "${content}")
endif()
